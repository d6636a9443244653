"""The bank's server-to-server API: OAuth tokens, payments, operations, saved cards."""
