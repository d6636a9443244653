"""The token endpoint: encodings, aliases, token kinds, expiry and every validation rule."""

from __future__ import annotations

import aiohttp
import pytest

from mock_epay.settings import TEST_TERMINAL_ID, ConfigError, Settings, build_settings
from tests.conftest import TOKEN_PATH, service_form, token_form


@pytest.mark.parametrize("path", ["/epay2/oauth2/token", "/oauth2/token", "/oauth2/token/"])
async def test_payment_token_from_urlencoded_form(client, path):
    response = await client.post(path, data=token_form())
    assert response.status == 200
    body = await response.json()
    assert set(body) == {"access_token", "expires_in", "refresh_token", "scope", "token_type"}
    assert len(body["access_token"]) == 22
    assert body["expires_in"] == "1200"  # a string for payment tokens
    assert body["refresh_token"] == ""
    assert body["token_type"] == "Bearer"
    assert body["scope"].endswith("payment")


async def test_payment_token_from_multipart_form(client):
    form = aiohttp.FormData()
    for key, value in token_form().items():
        form.add_field(key, value)
    form._is_multipart = True  # force multipart/form-data like a browser FormData
    response = await client.post(TOKEN_PATH, data=form)
    assert response.status == 200, await response.text()


async def test_payment_token_from_json_body(client):
    response = await client.post(TOKEN_PATH, json=token_form(amount=100))
    assert response.status == 200, await response.text()


async def test_service_token_expiry_is_a_string_like_the_payment_tokens(client):
    response = await client.post(TOKEN_PATH, data=service_form())
    body = await response.json()
    assert response.status == 200
    assert body["expires_in"] == "7200"  # the bank's iOS SDK and Go clients decode a String


async def test_service_token_may_name_a_terminal(client):
    response = await client.post(TOKEN_PATH, data=service_form(terminal=TEST_TERMINAL_ID))
    assert response.status == 200


@pytest.mark.parametrize("field", ["invoiceID", "InvoiceID", "invoiceId"])
async def test_invoice_field_spellings(client, field):
    form = token_form(invoiceID=None)
    form[field] = "123456789"
    response = await client.post(TOKEN_PATH, data=form)
    assert response.status == 200
    assert (await response.json())["expires_in"] == "1200"


async def test_curency_typo_is_accepted(client):
    form = token_form(currency=None, curency="KZT")
    response = await client.post(TOKEN_PATH, data=form)
    assert response.status == 200


async def test_unknown_fields_are_ignored(client):
    response = await client.post(TOKEN_PATH, data=token_form(description="x", cardSave="true"))
    assert response.status == 200


async def test_expiry_types_are_configurable(make_client):
    client = await make_client(
        Settings(log_requests=False, payment_expires_in_as_string=False,
                 service_expires_in_as_string=False, payment_token_ttl=600)
    )
    payment = await (await client.post(TOKEN_PATH, data=token_form())).json()
    service = await (await client.post(TOKEN_PATH, data=service_form())).json()
    assert payment["expires_in"] == 600
    assert service["expires_in"] == 7200


def test_expiry_types_come_from_env_vars():
    settings = build_settings({}, {"MOCK_EPAY_PAYMENT_EXPIRES_IN_AS_STRING": "false",
                                   "MOCK_EPAY_SERVICE_EXPIRES_IN_AS_STRING": "0"})
    assert (settings.payment_expires_in_as_string, settings.service_expires_in_as_string) == (False, False)
    with pytest.raises(ConfigError, match="MOCK_EPAY_SERVICE_EXPIRES_IN_AS_STRING"):
        build_settings({}, {"MOCK_EPAY_SERVICE_EXPIRES_IN_AS_STRING": "maybe"})


@pytest.mark.parametrize(
    ("overrides", "status", "names"),
    [
        ({"client_secret": "wrong"}, 401, "client_secret"),
        ({"client_id": "nobody"}, 401, "client_id"),
        ({"client_id": None}, 400, "client_id"),
        ({"client_secret": None}, 400, "client_secret"),
        ({"grant_type": None}, 400, "grant_type"),
        ({"grant_type": "authorization_code"}, 400, "grant_type"),
        ({"grant_type": "password"}, 400, "username"),
        ({"scope": None}, 400, "scope"),
        ({"invoiceID": "12345"}, 400, "invoiceID"),
        ({"invoiceID": "1234567890123456"}, 400, "invoiceID"),
        ({"invoiceID": "INV-000001"}, 400, "invoiceID"),
        ({"amount": "-5"}, 400, "amount"),
        ({"amount": "abc"}, 400, "amount"),
        ({"amount": "10.555"}, 400, "amount"),
        ({"amount": "NaN"}, 400, "amount"),
        ({"amount": None}, 400, "amount"),
        ({"currency": None}, 400, "currency"),
        ({"currency": "tenge"}, 400, "currency"),
        ({"terminal": None}, 400, "terminal"),
        ({"terminal": "00000000-0000-0000-0000-000000000000"}, 400, "terminal"),
        ({"postLink": "ftp://example.kz/x"}, 400, "postLink"),
    ],
)
async def test_bad_token_requests(client, overrides, status, names):
    response = await client.post(TOKEN_PATH, data=token_form(**overrides))
    assert response.status == status
    body = await response.json()
    assert set(body) == {"code", "message"}
    assert isinstance(body["code"], int)
    assert names in body["message"]


async def test_fractional_amount_with_two_decimals_is_fine(client):
    response = await client.post(TOKEN_PATH, data=token_form(amount="12.22"))
    assert response.status == 200


async def test_zero_amount_for_card_verification(client):
    response = await client.post(TOKEN_PATH, data=token_form(amount="0", currency="USD"))
    assert response.status == 200


async def test_lenient_invoice_ids_when_switched_off(make_client):
    client = await make_client(Settings(log_requests=False, strict_invoice_id=False))
    response = await client.post(TOKEN_PATH, data=token_form(invoiceID="12-1738952601"))
    assert response.status == 200


async def test_wrong_content_type_is_refused(client):
    response = await client.post(
        TOKEN_PATH, data="grant_type=client_credentials", headers={"Content-Type": "text/xml"}
    )
    assert response.status == 415
    assert "Content-Type" in (await response.json())["message"]


async def test_malformed_json_body(client):
    response = await client.post(
        TOKEN_PATH, data="{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status == 400
    assert "malformed JSON" in (await response.json())["message"]


async def test_cors_free_get_is_not_allowed(client):
    response = await client.get(TOKEN_PATH)
    assert response.status == 405
    assert (await response.json())["code"] == -1
