"""The bank's error body `{"code": int, "message": str}` (spec 2.1), sent by every endpoint on failure."""

from __future__ import annotations

from mock_epay.wire.shape import Shape


class Error(Shape):
    """The bank's error format (spec 2.1): a negative or bank-specific `code` and a readable `message`."""

    code: int
    message: str
