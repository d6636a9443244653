"""Requests are decoded through their declarations: the bank's error names the field as the client wrote it.

The token form and the cards/auth body are folded (spellings, null as absent), decoded into
`TokenRequest` / `CardPaymentRequest` by msgspec, and a missing or wrongly typed field is a
400 in the bank's format, never a 500 and never msgspec's own wording. The password and refresh
grants, the invoice link, its search and the QR bill are decoded the same way, each search and
QR refusal worded as the bank words it (code 100).
"""

from __future__ import annotations

from typing import Any

import pytest

from mock_epay.settings import DEFAULT_MERCHANT, TEST_CLIENT_ID, TEST_CLIENT_SECRET, TEST_TERMINAL_ID
from mock_epay.wire.bank_requests import normalise_card_payment
from tests.conftest import get_service_token, get_token
from tests.test_cards_auth import pay, payment_body

TOKEN_FORM = {"grant_type": "client_credentials", "scope": "webapi payment", "client_id": TEST_CLIENT_ID,
              "client_secret": TEST_CLIENT_SECRET}


async def test_a_token_field_of_the_wrong_json_type_is_named_as_the_client_spelled_it(client):
    body = {**TOKEN_FORM, "InvoiceID": ["000000001"], "amount": 100, "currency": "KZT",
            "terminal": TEST_TERMINAL_ID}
    response = await client.post("/oauth2/token", json=body)
    assert response.status == 400
    message = "field 'InvoiceID' must be a string of 6 to 15 digits"
    assert await response.json() == {"code": -1, "message": message}


async def test_a_json_null_token_field_counts_as_absent(client):
    response = await client.post("/oauth2/token", json={**TOKEN_FORM, "scope": None})
    assert response.status == 400
    assert await response.json() == {"code": -1, "message": "field 'scope' is required"}
    service = await client.post("/oauth2/token", json={**TOKEN_FORM, "invoiceID": None})
    assert service.status == 200, await service.text()


async def test_a_grant_type_with_spaces_around_it_is_read_trimmed(client):
    response = await client.post("/oauth2/token", data={**TOKEN_FORM, "grant_type": " client_credentials "})
    assert response.status == 200, await response.text()


async def test_a_card_id_object_without_id_and_a_wrongly_typed_flag_are_the_banks_errors(client):
    token = await get_token(client)
    no_id = await pay(client, token, payment_body(cardId={"ID": "x"}))
    assert no_id.status == 400
    assert (await no_id.json())["message"] == "field 'cardId' must be an object with an 'id' or a string"
    flag = await pay(client, token, payment_body(recurrent=[True]))
    assert flag.status == 400
    assert (await flag.json())["message"] == "field 'recurrent' must be a boolean (true or false)"


def test_normalising_folds_the_other_spellings_and_drops_nulls():
    folded = normalise_card_payment({"terminal": "t-1", "cardID": {"id": "c"}, "email": None})
    assert dict(folded) == {"terminalId": "t-1", "cardId": {"id": "c"}}
    assert folded.spelling("cardId") == "cardID"


# -- the password and refresh grants, invoice links and QR: decoded through their declarations ------

CABINET = {"grant_type": "password", "username": "test@mock-epay.kz", "password": "Test-cabinet-1"}


async def bank_error(response: Any) -> tuple[int, dict[str, Any]]:
    return response.status, await response.json()


@pytest.mark.parametrize(("body", "status", "error"), [
    ({**CABINET, "username": True}, 400, {"code": -1, "message": "field 'username' must be a string"}),
    ({**CABINET, "password": None}, 400, {"code": -1, "message": "field 'password' is required"}),
    ({**CABINET, "scope": ["webapi"]}, 400, {"code": -1, "message": "field 'scope' must be a string"}),
    ({**CABINET, "password": "nope"}, 401, {"code": -1, "message": "invalid username or password"}),
    ({"grant_type": "refresh_token", "refresh_token": 7}, 401,
     {"code": -1, "message": "invalid refresh_token"}),
    ({"grant_type": "refresh_token", "refresh_token": {}}, 400,
     {"code": -1, "message": "field 'refresh_token' must be a string"}),
])
async def test_a_password_or_refresh_grant_off_its_declaration_is_refused(client, body, status, error):
    assert await bank_error(await client.post("/oauth2/token", json=body)) == (status, error)


async def test_an_empty_scope_of_the_password_grant_means_the_cabinets_default(client):
    token = await (await client.post("/oauth2/token", json={**CABINET, "scope": False})).json()
    assert token["scope"].startswith("webapi") and token["refresh_token"]


@pytest.mark.parametrize(("search", "message"), [
    ({"paging": {"skip": "²"}}, "field 'paging.skip' must be a non-negative integer"),  # was a 500
    ({"paging": {"size": True}}, "field 'paging.limit' must be a non-negative integer"),
    ({"paging": []}, "field 'paging' must be an object"),
    ({"searchParameters": {}}, "field 'searchParameters' must be an array"),
    ({"searchParameters": [{"name": "id", "method": "="}]}, "invalid search parameter"),
    ({"orderParameters": [{"field": 5}]}, "invalid order parameter"),
    ({"orderParameters": {"field": "id", "typeOrder": 5}}, "typeOrder must be ASC or DESC"),
])
async def test_a_link_search_that_does_not_fit_its_declaration_is_a_code_100(client, search, message):
    headers = {"Authorization": f"Bearer {await get_service_token(client)}"}
    response = await client.post("/invoice-links", json=search, headers=headers)
    assert await bank_error(response) == (400, {"code": 100, "message": message})


@pytest.mark.parametrize(("overrides", "message"), [
    ({"amount": [1180]}, "field 'amount' must be a number"),
    ({"card_save": 1}, "field 'card_save' must be a boolean (true or false)"),
    ({"data": 5}, "field 'data' must be a string"),
    ({"shop_id": None}, "field 'shop_id' is required"),
])
async def test_a_link_that_does_not_fit_its_declaration_names_the_field(client, overrides, message):
    headers = {"Authorization": f"Bearer {await get_service_token(client)}"}
    body = {"shop_id": DEFAULT_MERCHANT.shop_id, "invoice_id": "121738945359", "amount": 1180, **overrides}
    response = await client.post("/invoice", json=body, headers=headers)
    assert await bank_error(response) == (400, {"code": -1, "message": message})


async def test_a_qr_link_of_the_wrong_json_type_gets_the_banks_wording(client):
    headers = {"Authorization": f"Bearer {await get_token(client, invoiceID='000000501')}"}
    response = await client.post("/payment/qr/generate", json={"failurePostLink": 5}, headers=headers)
    assert await bank_error(response) == (400, {"code": 100, "message": "failurePostLink is not a valid URL"})
