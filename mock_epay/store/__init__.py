"""The only owner of state, behind the store contract."""
