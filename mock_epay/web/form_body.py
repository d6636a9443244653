"""Urlencoded bodies: a form's bytes read into its fields as aiohttp's `request.post()` reads them.

Right-stripped, decoded with the request's charset, split as yarl's `query_to_pairs` splits it, the
first of repeated keys kept, aiohttp's cap on the number of fields kept. Synchronous, so the fast
lane (web/fast_lane.py) reads a body already received the same way as the handlers (web/readers.py).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from yarl import query_to_pairs

from mock_epay.gateway.codes import GENERIC
from mock_epay.gateway.errors import EpayError, bad_request

try:  # the unquoter `query_to_pairs` decodes with (yarl's C one); where it is gone, `query_to_pairs` alone
    from yarl._quoters import UNQUOTER_PLUS

    _unquote_plus: Any = UNQUOTER_PLUS
except ImportError:  # pragma: no cover - another yarl
    _unquote_plus = None


def max_form_fields(request: web.BaseRequest) -> int:
    """aiohttp's cap on a form's fields (`client_max_fields`; 1000, its default, where it has none)."""
    return int(getattr(request, "client_max_fields", 1000))


def form_fields(raw: bytes, charset: str = "utf-8", max_fields: int = 1000) -> dict[str, Any]:
    """A urlencoded body's fields, the first of repeated keys winning.

    The same decoding as aiohttp's `request.post()` (body right-stripped, decoded with the
    request's charset, then what `yarl.query_to_pairs` makes of it) without its MultiDict. More than
    `max_fields` fields (aiohttp's `client_max_fields`) answer 413. Synchronous, so the fast lane
    (web/fast_lane.py) reads a body already received the same way.
    """
    try:
        text = raw.rstrip().decode(charset) if raw else ""
        _check_field_count(text, max_fields)
        if "%" in text and _unquote_plus is not None and charset.lower() in ("utf-8", "utf8"):
            return _utf8_fields(text)
        pairs = query_to_pairs(text, encoding=charset)
    except (ValueError, LookupError) as exc:  # LookupError: a charset Python does not know
        raise bad_request(f"malformed form body: {exc}") from exc
    values: dict[str, Any] = {}
    for key, value in pairs:
        if key not in values:
            values[key] = value
    return values


def _utf8_fields(text: str) -> dict[str, Any]:
    """`query_to_pairs` of a UTF-8 form with percent escapes, the first of repeated keys kept; a name
    or value is unquoted only when it holds an escape or a `+` (any other reads as it is)."""
    values: dict[str, Any] = {}
    unquote = _unquote_plus
    for part in text.split("&"):
        if part:
            name, _, value = part.partition("=")
            if "%" in name or "+" in name:
                name = unquote(name)
            if name not in values:
                values[name] = unquote(value) if "%" in value or "+" in value else value
    return values


def _check_field_count(text: str, max_fields: int) -> None:
    """413 when the form has more than `max_fields` fields (aiohttp's cap; empty ones not counted)."""
    if text.count("&") >= max_fields:  # enough separators for too many: count the fields
        count = sum(1 for part in text.split("&") if part)
        if count > max_fields:
            raise EpayError(413, GENERIC, f"the form has {count} fields; at most {max_fields} are accepted")
