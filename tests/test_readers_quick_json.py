"""`decode_json`'s msgspec path gives exactly what its standard-library reader gives: the value, or
the same 400 (the quick path steps aside for anything unusual)."""

from __future__ import annotations

from typing import Any

import pytest

from mock_epay.gateway.errors import EpayError
from mock_epay.web import readers

CASES = [
    b'{"amount": 100, "cardId": {"id": "e7e2587f"}, "data": [1, 2.5, null, true, "x"]}',
    b"1e400", b"-1e400", b"1e-400", b'{"a":1,"a":2}', b'{"a":1,"b":2,"a":3}', b'{"a":"\x01"}',
    b'{"a":"\\ud800"}', b'{"a":"\\ud83d\\ude00"}', b'\xef\xbb\xbf{}', b'{"a":"\xff"}', b'{"a":NaN}',
    b'{"a":Infinity}', b'{"a":-Infinity}', b'{"a":-0}', b'{"a":-0.0}', b'{"a":1.00000000000000000000001}',
    b" {} ", b"{}x", b'{"a":01}', b'{"a":1.}', b'{"a":.5}', b'{"a":"\\u0000"}', b'{"\\ud800":1}', b"[1,2]",
    b'{"a":"\\/"}', b'{"a":1E+2}', b'{"a":9007199254740993}', b'{"a":18446744073709551616}',
    b'{"a":-9223372036854775809}', b'{"a":"\xed\xa0\x80"}', b'{"a":true,"b":null}', b'{"a":"\t"}',
    b"\t{}\n", b'{"a" : 1 }', b'{"a":"\x7f"}', b'{"a":"\xc0\x80"}', b'{"a":1e308}', b'{"a":2e308}',
    b'{"a":123456789012345678901234567890.5}', b'{"a": 4.9e-324}', b"\x00{}", b"{}\x00", b"\r\n{}\r\n",
    b'{"a":"\xe2\x80\xa8"}', b'{"a":"\xd0\xb9"}', b"", b"   ", b"null", b'"text"', b"{", b'{"a":}',
    b"1" * 64, b"1" * 65, b"-" + b"1" * 63, b"-" + b"1" * 64, b'{"a":[' + b"9" * 65 + b"]}",
    b'{"a":' + b"[" * 31 + b"]" * 31 + b"}", b'{"a":' + b"[" * 32 + b"]" * 32 + b"}",
    b'{"a":' + b"[" * 40 + b"]" * 40 + b"}", b"[" * 3000 + b"]" * 3000,
    b'{"a":"{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{"}',
    b'{"a":1}garbage', b'{"a":tru}', b'{"a":"\\x"}', b'{"a":"\\u12"}', b"{'a':1}",
]


def _outcome(raw: bytes) -> Any:
    try:
        value = readers.decode_json(raw)
    except EpayError as exc:
        return ("error", exc.status, exc.code, str(exc))
    return ("ok", repr(value), [type(v) for v in value.values()] if isinstance(value, dict) else type(value))


@pytest.mark.parametrize("raw", CASES)
def test_quick_json_matches_the_standard_reader(raw: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    quick = _outcome(raw)
    monkeypatch.setattr(readers, "_quick_json", lambda raw: readers._NOT_QUICK)
    assert quick == _outcome(raw)


def test_a_usual_body_takes_the_quick_path() -> None:
    assert readers._quick_json(CASES[0]) is not readers._NOT_QUICK
