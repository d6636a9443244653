"""Reading request bodies and checking single fields, with errors that name the field.

Each `parse_*` function takes a raw value and the field's name and returns a clean
value or raises `EpayError` (HTTP 400, or 413/415 for the body itself). Routes compose
these into their request dataclasses; nothing here knows about a particular endpoint.
"""

from __future__ import annotations

import json
import math
import re
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

import msgspec
from aiohttp import web

from mock_epay.gateway.codes import GENERIC
from mock_epay.gateway.errors import EpayError, bad_request
from mock_epay.web.form_body import form_fields, max_form_fields

INVOICE_ID_RE = re.compile(r"^[0-9]{6,15}$")
CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
MAX_DESCRIPTION_BYTES = 125
_MAX_AMOUNT = 999_999_999_999
_PLAIN_AMOUNT_RE = re.compile(r"^[0-9]{1,12}(\.[0-9]{1,2})?$")
LANGUAGES = {"RUS": "RUS", "RU": "RU", "ENG": "ENG", "EN": "EN", "KAZ": "KAZ", "KZ": "KZ"}
_JSON_TYPES = ("application/json", "text/plain", "application/octet-stream", "")
FAST_JSON_TYPES = _JSON_TYPES[:3]  # the Content-Type headers, as sent, a JSON body on the fast lane may have
FORM_TYPE = "application/x-www-form-urlencoded"


def unsupported_media(message: str) -> EpayError:
    return EpayError(415, GENERIC, message)


async def read_json_object(request: web.Request) -> dict[str, Any]:
    """The body as a JSON object; clear 4xx errors for anything else.

    JSON sent without a Content-Type (or as text/plain) is accepted, as many HTTP
    clients do that; form bodies are refused with 415.
    """
    content_type = request.content_type if request.headers.get("Content-Type") else ""
    if content_type not in _JSON_TYPES and not content_type.endswith("+json"):
        raise unsupported_media(
            f"Content-Type must be application/json, got {content_type!r}"
        )
    return json_body(await request.read())


def json_body(raw: bytes) -> dict[str, Any]:
    """A request body that must be a JSON object (`json_object`), refused when empty."""
    if not raw.strip():
        raise bad_request("request body is empty; a JSON object is required")
    return json_object(raw)


# -- JSON text ------------------------------------------------------------------------------------

MAX_JSON_DEPTH = 32  # no request shape nests deeper than a few levels
MAX_INT_DIGITS = 64  # past Python's int-string limit (4,300 digits) int() raises; no field needs 64


class _NotJson(ValueError):
    """A number literal that is not JSON (`NaN`, `Infinity`) or not representable."""


def _parse_int(text: str) -> int:
    if len(text) > MAX_INT_DIGITS:
        raise _NotJson(f"an integer of {len(text)} digits (at most {MAX_INT_DIGITS} are accepted)")
    return int(text)


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NotJson(f"the number {text[:40]} is out of range")
    return value


def _parse_constant(name: str) -> Any:
    raise _NotJson(f"{name} is not a JSON value")


_DECODER = json.JSONDecoder(parse_int=_parse_int, parse_float=_parse_float, parse_constant=_parse_constant)


_QUICK_DECODER = msgspec.json.Decoder()
_NOT_QUICK = object()
_INT_BOUNDS = (-(10 ** (MAX_INT_DIGITS - 1)), 10**MAX_INT_DIGITS)  # exclusive: "-" counts as a digit


def _quick_json(raw: bytes) -> Any:
    """`raw` decoded by msgspec when it is plain JSON that `decode_json`'s reader gives the same value
    for; `_NOT_QUICK` for anything else (an error, a BOM, an out-of-range number, a too-long integer),
    which the standard reader then decodes and names the problem of."""
    try:
        data = _QUICK_DECODER.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        return _NOT_QUICK
    low, high = _INT_BOUNDS
    pending = [data]
    while pending:  # msgspec reads integers of any length; the standard reader refuses long ones
        value = pending.pop()
        kind = type(value)
        if kind is dict:
            pending.extend(value.values())
        elif kind is list:
            pending.extend(value)
        elif kind is int and not low < value < high:
            return _NOT_QUICK
    return data


def decode_json(raw: bytes | str) -> Any:
    """Strict JSON: no NaN/Infinity, no out-of-range numbers, valid Unicode, at most MAX_JSON_DEPTH deep.

    Every problem is a 400 `EpayError` whose message starts with "malformed JSON" or names the field.
    """
    if isinstance(raw, bytes):
        data = _quick_json(raw)
        if data is not _NOT_QUICK:
            if b"\\u" in raw or raw.count(b"{") + raw.count(b"[") > MAX_JSON_DEPTH:
                check_json_values(data)  # as below
            return data
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError as exc:
        raise bad_request("request body is not valid UTF-8") from exc
    try:
        data = _DECODER.decode(text.lstrip("\ufeff"))
    except json.JSONDecodeError as exc:
        raise bad_request(f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc
    except _NotJson as exc:
        raise bad_request(f"malformed JSON: {exc}") from exc
    except RecursionError as exc:
        raise bad_request(f"malformed JSON: nested more than {MAX_JSON_DEPTH} levels deep") from exc
    if "\\u" in text or text.count("{") + text.count("[") > MAX_JSON_DEPTH:
        check_json_values(data)  # only escapes make surrogates; only brackets make depth
    return data


def json_object(raw: bytes | str) -> dict[str, Any]:
    """`decode_json`, which must give an object."""
    data = decode_json(raw)
    if not isinstance(data, dict):
        raise bad_request(f"request body must be a JSON object, got {type(data).__name__}")
    return data


def check_json_values(data: Any) -> None:
    """Refuse nesting deeper than MAX_JSON_DEPTH and text that is not valid Unicode (lone surrogates)."""
    pending: list[tuple[Any, str, int]] = [(data, "", 0)]
    while pending:
        value, path, depth = pending.pop()
        if depth > MAX_JSON_DEPTH:
            raise bad_request(f"malformed JSON: nested more than {MAX_JSON_DEPTH} levels deep")
        if isinstance(value, str):
            check_text(value, path or "body")
        elif isinstance(value, dict):
            for key, item in value.items():
                if not is_valid_text(key):
                    raise bad_request(f"a field name under {path or 'the body'!r} is not valid Unicode "
                                      "(it holds a lone UTF-16 surrogate)")
                pending.append((item, f"{path}.{key}" if path else key, depth + 1))
        elif isinstance(value, list):
            pending.extend((item, f"{path}[{index}]", depth + 1) for index, item in enumerate(value))


def is_valid_text(text: str) -> bool:
    """False for strings that cannot be written as UTF-8 (a lone surrogate from a `\\ud800` escape)."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_text(text: str, field: str) -> str:
    if not is_valid_text(text):
        raise bad_request(f"field {field[:80]!r} is not valid Unicode (it holds a lone UTF-16 surrogate)")
    return text


async def read_form_or_json(request: web.Request) -> dict[str, Any]:
    """A urlencoded, multipart or JSON body as a flat dict of field -> value."""
    content_type = request.content_type if request.headers.get("Content-Type") else ""
    if content_type == FORM_TYPE:
        return await _read_urlencoded(request)
    if content_type == "multipart/form-data":
        return await _read_posted_form(request)
    if content_type in ("application/json",) or content_type.endswith("+json"):
        return await read_json_object(request)
    raise unsupported_media(
        "Content-Type must be multipart/form-data, application/x-www-form-urlencoded "
        f"or application/json, got {content_type or 'none'!r}"
    )


async def _read_urlencoded(request: web.Request) -> dict[str, Any]:
    """A urlencoded body as a dict (the first of repeated keys wins), read once as bytes
    (`form_fields`); a method without a body to post (GET) reads as aiohttp's `request.post()` does."""
    if request.method not in request.POST_METHODS:
        return await _read_posted_form(request)
    return form_fields(await request.read(), request.charset or "utf-8", max_form_fields(request))


async def _read_posted_form(request: web.Request) -> dict[str, Any]:
    """A form body through aiohttp's `request.post()` (multipart, or a urlencoded one on a GET)."""
    try:
        form = await request.post()
    except ValueError as exc:
        raise bad_request(f"malformed form body: {exc}") from exc
    values: dict[str, Any] = {}
    for key, value in form.items():
        if not isinstance(value, str):
            raise bad_request(f"field {key!r}: file uploads are not accepted")
        values.setdefault(key, value)
    return values


def first_present(data: dict[str, Any], *names: str) -> tuple[str, Any]:
    """The first of several accepted spellings present in `data` (name, value)."""
    for name in names:
        if name in data:
            return name, data[name]
    return names[0], None


def require(value: Any, field: str) -> Any:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise bad_request(f"field {field!r} is required")
    return value


def is_plain_text(value: Any, max_length: int = 1024) -> bool:
    """ASCII text needing no trimming, at most `max_length` long: `parse_str` passes it unchanged."""
    return type(value) is str and len(value) <= max_length and value.isascii() and value == value.strip()


def is_plain_amount(value: Any) -> bool:
    """A positive int or a digits-and-up-to-2-decimals string in range: `parse_amount`'s quick path."""
    if type(value) is int:
        return 0 < value <= _MAX_AMOUNT
    return type(value) is str and _PLAIN_AMOUNT_RE.match(value) is not None and float(value) > 0


def parse_str(value: Any, field: str, *, max_length: int = 1024) -> str:
    if is_plain_text(value, max_length):
        return value  # the usual value: every check below passes it unchanged
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise bad_request(f"field {field!r} must be a string")
    text = str(value).strip()
    if len(text) > max_length:
        raise bad_request(f"field {field!r} is longer than {max_length} characters")
    return check_text(text, field)


def optional_str(value: Any, field: str, *, max_length: int = 1024) -> str:
    if value is None:
        return ""
    return parse_str(value, field, max_length=max_length)


def parse_invoice_id(value: Any, field: str, *, strict: bool = True) -> str:
    require(value, field)
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise bad_request(f"field {field!r} must be a string of 6 to 15 digits")
    text = check_text(str(value).strip(), field)
    if strict and not INVOICE_ID_RE.match(text):
        raise bad_request(f"field {field!r} must be 6 to 15 digits, got {text[:40]!r}")
    if not strict and not 1 <= len(text) <= 64:
        raise bad_request(f"field {field!r} must be 1 to 64 characters")
    return text


def parse_amount(value: Any, field: str = "amount", *, allow_zero: bool = False) -> float:
    """A positive amount in tenge, number or numeric string, at most 2 decimal places."""
    if is_plain_amount(value):  # the common case, checked cheaply
        return float(value)
    require(value, field)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise bad_request(f"field {field!r} must be a number")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation as exc:
        raise bad_request(f"field {field!r} must be a number, got {str(value)[:40]!r}") from exc
    if not number.is_finite():
        raise bad_request(f"field {field!r} must be a finite number")
    if number < 0 or (number == 0 and not allow_zero):
        raise bad_request(f"field {field!r} must be a positive number, got {value}")
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2 and number != number.quantize(Decimal("0.01")):
        raise bad_request(f"field {field!r} has more than 2 decimal places: {value}")
    if number > _MAX_AMOUNT:
        raise bad_request(f"field {field!r} is too large: {value}")
    amount = float(number)
    if not math.isfinite(amount):
        raise bad_request(f"field {field!r} must be a finite number")
    return amount


def parse_currency(value: Any, field: str = "currency") -> str:
    require(value, field)
    text = parse_str(value, field, max_length=8).upper()
    if not CURRENCY_RE.match(text):
        raise bad_request(f"field {field!r} must be a 3-letter currency code such as KZT")
    return text


def parse_description(value: Any, field: str = "description", *, required: bool = True) -> str:
    if required:
        require(value, field)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise bad_request(f"field {field!r} must be a string")
    size = len(check_text(value, field).encode("utf-8"))
    if size > MAX_DESCRIPTION_BYTES:
        raise bad_request(
            f"field {field!r} is {size} bytes of UTF-8; at most {MAX_DESCRIPTION_BYTES} are allowed"
        )
    return value


def parse_bool(value: Any, field: str) -> bool:
    if value is None or value == "":
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise bad_request(f"field {field!r} must be a boolean (true or false)")


def parse_language(value: Any, field: str = "language") -> str:
    if value is None or value == "":
        return "RU"
    text = parse_str(value, field, max_length=8).upper()
    if text not in LANGUAGES:
        raise bad_request(f"field {field!r} must be one of rus, eng, kaz (any case), got {text!r}")
    return LANGUAGES[text]


# Links accepted before (a merchant sends the same few): the checks are pure, so an accepted
# text is accepted again. Bounded; only short texts are kept.
_ACCEPTED_LINKS: dict[tuple[str, str], str] = {}
_ACCEPTED_LINKS_KEPT = 256
_ACCEPTED_LINK_LENGTH = 512


def _accepted(kind: str, value: Any) -> str | None:
    return _ACCEPTED_LINKS.get((kind, value)) if type(value) is str else None


def _accept(kind: str, text: str) -> str:
    if len(text) <= _ACCEPTED_LINK_LENGTH:
        if len(_ACCEPTED_LINKS) >= _ACCEPTED_LINKS_KEPT:
            _ACCEPTED_LINKS.clear()
        _ACCEPTED_LINKS[(kind, text)] = text
    return text


def parse_url(value: Any, field: str) -> str | None:
    """An optional http(s) URL; empty means absent."""
    if value is None or value == "":
        return None
    known = _accepted("url", value)
    if known is not None:
        return known
    text = parse_str(value, field, max_length=2048)
    if not text:
        return None
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise bad_request(f"field {field!r} must be an http or https URL, got {text[:80]!r}")
    return _accept("url", text) if text == value else text


# backLink / failureBackLink: where the buyer's browser or app goes back to. Any absolute URI
# (an app deep link such as `myapp://payment-return` too), except schemes that run code or
# carry a document when a page navigates to them.
_URI_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):(.+)$", re.DOTALL)
SCRIPT_SCHEMES = frozenset({"javascript", "vbscript", "data", "blob", "filesystem", "about"})


# In ASCII text, what str.isspace() or a control character matches:
_ASCII_SPACE_OR_CONTROL_RE = re.compile(r"[\x00-\x20\x7f]")


def _has_space_or_control(text: str) -> bool:
    """Whitespace (any Unicode space) or a control character anywhere in `text`."""
    if text.isascii():
        return _ASCII_SPACE_OR_CONTROL_RE.search(text) is not None
    return any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text)


def parse_back_link(value: Any, field: str) -> str | None:
    """An optional absolute URI the buyer is sent back to; empty means absent.

    Refused: no scheme, nothing after the scheme, whitespace or control characters
    (browsers drop them, so `java\tscript:` would pass a naive check), and the
    script-capable schemes of `SCRIPT_SCHEMES`.
    """
    if value is None or value == "":
        return None
    known = _accepted("back", value)
    if known is not None:
        return known
    text = parse_str(value, field, max_length=2048)
    if not text:
        return None
    if _has_space_or_control(text):
        raise bad_request(f"field {field!r} must be a URI without spaces or control characters")
    match = _URI_SCHEME_RE.match(text)
    if match is None or match.group(2).strip("/") == "":
        raise bad_request(
            f"field {field!r} must be an absolute URI such as https://shop.kz/done or "
            f"myapp://payment-return, got {text[:80]!r}"
        )
    scheme = match.group(1).lower()
    if scheme in SCRIPT_SCHEMES:
        raise bad_request(f"field {field!r} must not be a {scheme}: URI (the page would run or show it)")
    if scheme in ("http", "https") and not urlsplit(text).hostname:
        raise bad_request(f"field {field!r} must name a host, got {text[:80]!r}")
    return _accept("back", text) if text == value else text


def parse_card_id(value: Any, field: str = "cardId") -> str:
    """`cardId` as `{"id": "..."}` (every working integration) or a bare string (RU doc table)."""
    require(value, field)
    if isinstance(value, dict):
        if "id" not in value:
            raise bad_request(f"field {field!r} must be an object with an 'id' or a string")
        value = value["id"]
        field = f"{field}.id"
        require(value, field)
    return parse_str(value, field, max_length=64)


def parse_limit(raw: str | None, *, default: int, maximum: int, name: str = "limit") -> int:
    """A row count from the query (`?limit=`): ASCII digits, 1 to `maximum`; empty means `default`."""
    if raw is None or raw == "":
        return default
    text = raw.strip()
    if not _LIMIT_RE.fullmatch(text):
        raise bad_request(
            f"query parameter {name!r} must be a whole number from 1 to {maximum}, got {raw[:40]!r}"
        )
    if not 1 <= int(text) <= maximum:
        raise bad_request(f"query parameter {name!r} must be from 1 to {maximum}, got {int(text)}")
    return int(text)


_LIMIT_RE = re.compile(r"[0-9]{1,9}", re.ASCII)
