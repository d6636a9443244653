"""The token form's one-pass path (`_plain_token_request`) gives what the field-by-field checks give."""

from __future__ import annotations

from typing import Any

import pytest

from mock_epay.gateway.errors import EpayError
from mock_epay.web.bank import oauth

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
    from mock_epay.wire.bank_requests import TOKEN_TYPE_MESSAGES, normalise_token_request
    from mock_epay.wire.bank_requests import TokenRequest as Shape
    from mock_epay.wire.decode import decode

    form = normalise_token_request(dict(BASE))
    decoded = decode(Shape, form, TOKEN_TYPE_MESSAGES, form.spelled)
    assert oauth._plain_token_request(decoded, True) is not None
