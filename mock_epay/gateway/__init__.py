"""The bank's domain: models, codes, lifecycle, tokens, sandbox cards and the payment services."""
