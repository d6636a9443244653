"""The token form's one-pass path (`_plain_token_request`) gives what the field-by-field checks give."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from mock_epay.gateway.errors import EpayError
from mock_epay.web.bank import oauth
from mock_epay.web.readers import is_valid_text
from tests.test_fast_lane import TOKEN_FIELDS, TOKEN_VALUES

BASE = {"grant_type": "client_credentials", "scope": "webapi  payment", "client_id": "test",
        "client_secret": "secret", "terminal": "67e34d63-102f-4bd1-898e-370781d0074d",
        "invoiceID": "100000001", "amount": "100", "currency": "KZT"}

VARIANTS: list[dict[str, Any]] = [
    {}, {"invoiceID": ""}, {"invoiceID": None}, {"amount": 100}, {"amount": "100.5"}, {"amount": "0"},
    {"amount": 0}, {"amount": "1.234"}, {"amount": "-1"}, {"amount": True}, {"amount": 10**13},
    {"currency": "kzt"}, {"currency": "KZT\n"}, {"currency": " KZT"}, {"currency": "KZTT"},
    {"invoiceID": "1234567\n"}, {"invoiceID": "12345"}, {"invoiceID": " 1234567"}, {"invoiceID": 1234567},
    {"invoiceID": "abc1234567"}, {"invoiceID": "١٢٣٤٥٦٧"}, {"terminal": ""}, {"terminal": " t "},
    {"terminal": "", "invoiceID": ""}, {"scope": " a\tb "}, {"scope": "x" * 513}, {"scope": ""},
    {"client_id": 7}, {"client_id": "é"}, {"client_secret": "s\n"}, {"postLink": "http://x/cb"},
    {"postLink": ""}, {"secret_hash": "h"}, {"failurePostLink": "ftp://x"}, {"InvoiceID": "7654321"},
    {"terminalId": "t2"}, {"curency": "USD"},
    {"invoiceID": None, "currency": 0.0}, {"invoiceID": "", "amount": "x"},  # no invoice: still checked
]


def _outcome(form: dict[str, Any], strict: bool) -> Any:
    try:
        return oauth.parse_token_request(dict(form), strict)
    except EpayError as exc:
        return ("error", exc.status, exc.code, str(exc))


@pytest.mark.parametrize("strict", [True, False])
@pytest.mark.parametrize("change", VARIANTS)
def test_plain_path_matches_the_field_checks(change: dict[str, Any], strict: bool,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    form = {**BASE, **change}
    quick = _outcome(form, strict)
    monkeypatch.setattr(oauth, "_plain_token_request", lambda decoded, strict: None)
    assert quick == _outcome(form, strict)


def test_the_usual_form_takes_the_plain_path() -> None:
    import msgspec

    from mock_epay.wire.bank_requests import TOKEN_TYPE_MESSAGES, normalise_token_request
    from mock_epay.wire.bank_requests import TokenRequest as Shape
    from mock_epay.wire.decode import decode

    assert oauth._plain_token_request(dict(BASE), True) is not None  # the body as it came
    form = normalise_token_request(dict(BASE))
    decoded = decode(Shape, form, TOKEN_TYPE_MESSAGES, form.spelled)
    assert oauth._plain_token_request(msgspec.structs.asdict(decoded), True) is not None  # folded


def _parsed(parse: Any, form: dict[str, Any], strict: bool) -> Any:
    try:
        return parse(form, strict)
    except EpayError as exc:
        return (exc.status, exc.code, exc.message)


def _field_by_field(form: dict[str, Any], strict: bool) -> Any:
    return oauth.parse_folded_token_request(form, strict, one_pass=False)


@settings(max_examples=400, deadline=None)
@given(changes=st.dictionaries(st.sampled_from(TOKEN_FIELDS),
                               st.one_of(st.none(), TOKEN_VALUES, st.integers(), st.floats()), max_size=5),
       drop=st.sets(st.sampled_from(TOKEN_FIELDS), max_size=3), strict=st.booleans())
def test_the_one_pass_token_check_gives_what_the_field_by_field_checks_give(
        changes: dict[str, Any], drop: set[str], strict: bool) -> None:
    """Property: `parse_token_request` (one pass on the body as it came, else folded, decoded and
    checked, with the one pass again) equals the field-by-field checks alone."""
    form = {**BASE, **changes}
    for name in drop:
        form.pop(name, None)
    # as the body readers give them: a lone surrogate in JSON is refused before (a form's is replaced)
    assume(all(is_valid_text(value) for value in form.values() if isinstance(value, str)))
    expected = _parsed(_field_by_field, form, strict)
    assert _parsed(oauth.parse_token_request, form, strict) == expected
    assert _parsed(oauth.parse_folded_token_request, form, strict) == expected
