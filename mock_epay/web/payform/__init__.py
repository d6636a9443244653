"""The hosted payment page, its input parser and the mock ACS."""
