"""Leaf helpers with no knowledge of the bank's flows: clock, fake data, LZString, package data."""
