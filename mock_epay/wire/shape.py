"""The base of every declared JSON shape and the one encoder that writes them.

A shape is a `msgspec.Struct` whose field names are the bank's exact JSON keys
(`invoiceID`, `cardId`, `ID`, ...), in the order the mock sends them. `Shape` forbids
unknown keys, so its JSON Schema says `additionalProperties: false`; a field that may be
absent defaults to `UNSET` and is then left out of the JSON.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

import msgspec
from msgspec import UNSET, UnsetType

__all__ = ["UNSET", "Shape", "UnsetType", "amount_json", "declared", "encode", "to_builtins"]

_ENCODER = msgspec.json.Encoder()
S = TypeVar("S", bound="Shape")


class Shape(msgspec.Struct, forbid_unknown_fields=True):
    """A JSON object the mock sends or reads; its fields are its keys."""


def encode(value: Any) -> bytes:
    """JSON bytes of a shape (or of plain data holding shapes); non-ASCII text as UTF-8, not escapes.

    Text that cannot be UTF-8 (a lone surrogate in a forged callback body) is written as a
    `\\ud800` escape instead, as JSON allows."""
    try:
        return _ENCODER.encode(value)
    except UnicodeEncodeError:
        return json.dumps(msgspec.to_builtins(value)).encode("ascii")


def to_builtins(value: Any) -> Any:
    """A shape as plain dicts and lists (for callers that keep or change the body before sending)."""
    return msgspec.to_builtins(value)


def amount_json(value: float) -> int | float:
    """Integral amounts as JSON integers (100, not 100.0), as the bank writes them."""
    return int(value) if float(value).is_integer() else round(value, 2)


def declared(shape: type[S], data: Any) -> S:
    """Plain data built elsewhere (a dict from the delivery log, the journal, the scenario engine) as
    `shape`; a key the declaration does not name, or a value of another type, is an error here,
    never silently sent."""
    return msgspec.convert(data, shape)
