"""`form_fields` reads a urlencoded body as aiohttp's `request.post()` reads it (yarl's
`query_to_pairs`, the first of repeated keys kept): the same fields, or the same 400 / 413; its
UTF-8 path, which unquotes only what holds an escape or a `+`, included."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from yarl import query_to_pairs

from mock_epay.gateway.errors import EpayError
from mock_epay.web import form_body


def _reference(raw: bytes, charset: str, max_fields: int) -> Any:
    try:
        pairs = query_to_pairs(raw.rstrip().decode(charset), encoding=charset) if raw else []
    except (ValueError, LookupError):
        return ("error", 400)
    if len(pairs) > max_fields:
        return ("error", 413)
    values: dict[str, str] = {}
    for key, value in pairs:
        values.setdefault(key, value)
    return ("ok", values)


def _outcome(raw: bytes, charset: str = "utf-8", max_fields: int = 1000) -> Any:
    try:
        return ("ok", form_body.form_fields(raw, charset, max_fields))
    except EpayError as exc:
        return ("error", exc.status)


CASES = [
    b"", b"   ", b"&", b"&&&", b"a", b"a=", b"=a", b"=", b"a=1&a=2", b"a=%31&a=2", b"%61=1&a=2",
    b"a=1+2", b"a+b=1", b"a%2Bb=1", b"a=%zz", b"a=%", b"a=%2", b"a=%e2%82%ac", b"a=%ff", b"a=%ed%a0%80",
    b"a=%00", b"a=%0d%0a", b"a=1&&b=2", b"a=1&b=2&", b"&a=1", b"a==1", b"a=1=2", b"a=%3D&b=%26",
    b"\xff=1", b"a=\xd0\xb9", b"a=%D0%B9+%D0%B9", b"scope=webapi%20payment&client_id=test",
    b"a=1\r\n", b"a=1 \t", b"a=%20 ", b"a=1;b=2", b"a=%u0041",
]


@pytest.mark.parametrize("raw", CASES)
@pytest.mark.parametrize("charset", ["utf-8", "UTF-8", "latin-1", "cp1251", "no-such-charset"])
def test_form_fields_reads_a_body_as_aiohttp_does(raw: bytes, charset: str) -> None:
    assert _outcome(raw, charset) == _reference(raw, charset, 1000)


@pytest.mark.parametrize("max_fields", [0, 1, 2, 3])
@pytest.mark.parametrize("raw", [b"", b"a=1", b"a=1&b=2", b"a=1&&&b=2", b"a=%31&a=%32&a=3", b"&&&&",
                                 b"a&b&c"])
def test_the_field_cap_counts_fields_as_aiohttp_does(raw: bytes, max_fields: int) -> None:
    assert _outcome(raw, "utf-8", max_fields) == _reference(raw, "utf-8", max_fields)


_FORM_PIECES = [*"ab=&%+ 2fF0D9\u00e9\u0439\u20ac", "%2", "%e2%82", "%ZZ", "%3D", "%26"]
_FORM_TEXT = st.lists(st.sampled_from(_FORM_PIECES), max_size=30).map("".join)


@settings(max_examples=400, deadline=None)
@given(text=_FORM_TEXT, max_fields=st.integers(min_value=0, max_value=6))
def test_form_fields_matches_aiohttps_reading_for_any_form(text: str, max_fields: int) -> None:
    raw = text.encode("utf-8")
    assert _outcome(raw, "utf-8", max_fields) == _reference(raw, "utf-8", max_fields)


@settings(max_examples=200, deadline=None)
@given(raw=st.binary(max_size=40))
def test_form_fields_matches_aiohttps_reading_for_any_bytes(raw: bytes) -> None:
    assert _outcome(raw) == _reference(raw, "utf-8", 1000)
