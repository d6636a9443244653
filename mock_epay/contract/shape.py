"""What an answer looks like, without its volatile values: one descriptor per field.

`describe(exchange)` maps field names to short descriptors: the HTTP status, the media type,
the body's kind, and for every JSON path (`$.transaction.statusName`, `$[].ID`) its JSON type,
plus the value for enumerations (statusName, resultCode, code, status, reasonCode, token_type)
and the format of strings (RFC 3339 with offset, UUID, n digits, card mask, URL, empty); random
tokens and references (OPAQUE_KEYS) are only `opaque` or `empty`.
Ids, tokens, times and texts are never part of a descriptor, so two gateways agree when their
answers have the same shape.
"""

from __future__ import annotations

import re
from typing import Any

from mock_epay.contract.client import Exchange

HTTP_STATUS = "HTTP status"
CONTENT_TYPE = "Content-Type"
BODY = "body"
STEP = "step"
ABSENT = "absent"
ENUM_KEYS = frozenset({"statusName", "resultCode", "code", "status", "reasonCode", "token_type"})
# Random strings whose format is not part of the contract: a random hex intReference is now and then
# all digits, which must not read as drift. Only "empty" or not is compared for them.
OPAQUE_KEYS = frozenset({
    "access_token", "refresh_token", "intReference", "IntReference", "CardHash", "Token",
})

_FORMATS = (
    ("uuid", re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")),
    ("rfc3339", re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?[+-]\d{2}:\d{2}")),
    ("rfc3339 utc", re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z")),
    ("datetime, offset without colon", re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?[+-]\d{4}")),
    ("datetime without offset", re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?")),
    ("card mask", re.compile(r"\d{4,6}[.*Xx]{2,9}\d{4}")),
    ("url", re.compile(r"https?://\S+")),
)
_DIGITS = re.compile(r"-?\d+")
_DECIMAL = re.compile(r"-?\d+\.\d+")


def describe(exchange: Exchange) -> dict[str, str]:
    """Field -> descriptor for one exchange; a skipped step is one field, `step: not run`."""
    if exchange.skipped:
        return {STEP: "not run"}
    shape = {
        HTTP_STATUS: str(exchange.status),
        CONTENT_TYPE: exchange.content_type or "(none)",
        BODY: exchange.body_kind,
    }
    if exchange.body_kind == "json":
        _describe_value(exchange.json, "$", None, shape)
    shape.update(exchange.facts)
    return shape


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def string_format(text: str) -> str:
    """The format of a string value: `uuid`, `rfc3339`, `digits(12)`, `card mask`, `empty`, `text`..."""
    if text == "":
        return "empty"
    for name, pattern in _FORMATS:
        if pattern.fullmatch(text):
            return name
    if _DIGITS.fullmatch(text):
        return f"digits({len(text.lstrip('-'))})"
    if _DECIMAL.fullmatch(text):
        return "decimal"
    return "text"


def descriptor(value: Any, key: str | None) -> str:
    """One value's descriptor: its JSON type, then its value (enumerations) or format (strings)."""
    kind = json_type(value)
    if key in ENUM_KEYS and kind in ("string", "integer", "number", "boolean"):
        return f"{kind} {_literal(value)}"
    if kind == "string" and key in OPAQUE_KEYS:
        return "string empty" if value == "" else "string opaque"
    if kind == "string":
        return f"string {string_format(value)}"
    return kind


def _describe_value(value: Any, path: str, key: str | None, shape: dict[str, str]) -> None:
    _merge(shape, path, descriptor(value, key))
    if isinstance(value, dict):
        for child_key, child in value.items():
            _describe_value(child, f"{path}.{child_key}", str(child_key), shape)
    elif isinstance(value, list):
        for item in value:
            _describe_value(item, f"{path}[]", key, shape)


def _merge(shape: dict[str, str], path: str, new: str) -> None:
    """Items of one array may differ (a null here, a string there): keep every descriptor seen."""
    seen = shape.get(path)
    if seen is None:
        shape[path] = new
    elif new not in seen.split(" | "):
        shape[path] = " | ".join(sorted([*seen.split(" | "), new]))


def _literal(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
