"""Requests are decoded through their declarations: the bank's error names the field as the client wrote it.

The token form and the cards/auth body are folded (spellings, null as absent), decoded into
`TokenRequest` / `CardPaymentRequest` by msgspec, and a missing or wrongly typed field is a
400 in the bank's format, never a 500 and never msgspec's own wording.
"""

from __future__ import annotations

from mock_epay.settings import TEST_CLIENT_ID, TEST_CLIENT_SECRET, TEST_TERMINAL_ID
from mock_epay.wire.bank_requests import normalise_card_payment
from tests.conftest import get_token
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
