"""Errors as values: `EpayError(status, code, message)`, raised anywhere, rendered once (web/errors.py).

A leaf: it imports only the codes (itself a leaf), so every layer can raise it.
"""

from __future__ import annotations

from mock_epay.gateway.codes import GENERIC


class EpayError(Exception):
    """An error answered in the bank's format: HTTP `status`, body `{"code", "message"}`."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def bad_request(message: str, code: int = GENERIC) -> EpayError:
    """A 400 in the bank's format (code -1 unless told)."""
    return EpayError(400, code, message)


def unauthorized(message: str) -> EpayError:
    """A 401 with the bank's generic code."""
    return EpayError(401, GENERIC, message)
