"""Decoding a normalised request into its declaration, with msgspec's errors as the bank's error body.

`decode(shape, body, messages)` runs `msgspec.convert` (in C) over a body whose spellings were
already folded (wire/bank_requests.py). A missing field, a blank one or a value of the wrong
JSON type becomes a 400 `{"code": -1, "message": "field '<name as the client spelled it>' ..."}`,
worded as the field's own check words it (`messages`: field -> the text after its name).
`decode_explained(shape, body, explain)` is the same decoding for bodies whose errors are worded
another way (the admin API's): `explain(field, value)` gives the error for the field that failed.
`decode_refusing(shape, body, refuse)` is the same for shapes whose errors the bank words
otherwise (the invoice-link search's `invalid search parameter`, QR's `postLink is not a valid URL`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

import msgspec

from mock_epay.gateway.errors import EpayError, bad_request

S = TypeVar("S", bound=msgspec.Struct)
MUST_BE_TEXT = "must be a string"
_MISSING_RE = re.compile(r"^Object missing required field `([^`]+)`(?: - at `\$([^`]*)`)?")
_AT_RE = re.compile(r" - at `\$\.?([^`]*)`$")
Explain = Callable[[str, Any], EpayError]


def decode(shape: type[S], body: dict[str, Any], messages: dict[str, str], spelled: dict[str, str]) -> S:
    """`body` as `shape`; a field that fails is a 400 naming it as the client wrote it (`spelled`)."""
    try:
        return msgspec.convert(body, shape)
    except msgspec.ValidationError as exc:
        raise field_error(str(exc), body, messages, spelled) from exc


def _top_field(path: str) -> str:
    return re.split(r"[.\[]", path, maxsplit=1)[0]


def field_error(text: str, body: dict[str, Any], messages: dict[str, str],
                spelled: dict[str, str]) -> EpayError:
    """The bank's error for one msgspec validation message about `body`."""
    missing = _MISSING_RE.match(text)
    if missing is not None:
        field, under = missing.group(1), (missing.group(2) or "").lstrip(".")
        if under:  # a nested object lacks a field: the outer field is malformed
            name = _top_field(under)
            return bad_request(f"field {spelled.get(name, name)!r} {messages.get(name, MUST_BE_TEXT)}")
        return bad_request(f"field {spelled.get(field, field)!r} is required")
    at = _AT_RE.search(text)
    name = _top_field(at.group(1)) if at else ""
    value = body.get(name)
    shown = spelled.get(name, name)
    if isinstance(value, str) and not value.strip():
        return bad_request(f"field {shown!r} is required")
    message = messages.get(name, MUST_BE_TEXT).format(value=str(value)[:40])
    return bad_request(f"field {shown!r} {message}")


def failed_field(text: str) -> str:
    """The top-level field a msgspec validation message is about ("" for the body itself)."""
    missing = _MISSING_RE.match(text)
    if missing is not None:
        under = (missing.group(2) or "").lstrip(".")
        return _top_field(under) if under else missing.group(1)
    at = _AT_RE.search(text)
    return _top_field(at.group(1)) if at else ""


def decode_explained(shape: type[S], body: dict[str, Any], explain: Explain) -> S:
    """`body` as `shape`; the field that fails is worded by `explain(field, value)` (its own check)."""
    try:
        return msgspec.convert(body, shape)
    except msgspec.ValidationError as exc:
        field = failed_field(str(exc))
        raise explain(field, body.get(field)) from exc


def is_missing(text: str) -> bool:
    """Whether a msgspec validation message is about a required field left out."""
    return _MISSING_RE.match(text) is not None


def error_path(text: str) -> str:
    """Where a msgspec validation message points: `paging.skip`, `searchParameters[0].name`."""
    missing = _MISSING_RE.match(text)
    if missing is not None:
        under = (missing.group(2) or "").lstrip(".")
        return f"{under}.{missing.group(1)}" if under else missing.group(1)
    at = _AT_RE.search(text)
    return at.group(1) if at else ""


def decode_refusing(shape: type[S], body: dict[str, Any], refuse: Callable[[str], EpayError | None],
                    messages: dict[str, str] | None = None) -> S:
    """`decode` for a shape whose errors the bank words in its own way: `refuse(path)` gives the error for a
    failing field (`error_path`), or None for the usual `field '<name>' ...` wording."""
    try:
        return msgspec.convert(body, shape)
    except msgspec.ValidationError as exc:
        refusal = refuse(error_path(str(exc)))
        raise refusal or field_error(str(exc), body, messages or {}, {}) from exc


def absent_nulls(body: dict[str, Any], blank_means_absent: tuple[str, ...] = ()) -> dict[str, Any]:
    """The normalisation of a shape with one spelling per field: a JSON `null` is an absent field, and so is
    a falsy value of a field in `blank_means_absent` (its default applies). `body` itself when nothing
    changes, so a clean body costs one scan."""
    if None not in body.values() and all(body.get(name, True) for name in blank_means_absent):
        return body
    return {k: v for k, v in body.items() if v is not None and (k not in blank_means_absent or v)}
