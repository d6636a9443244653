"""Payment by saved card: `POST /payments/cards/auth`, its validation, duplicates and isolation."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from mock_epay.gateway.models import Merchant, SeedCard, Terminal
from mock_epay.settings import DEFAULT_MERCHANT, TEST_TERMINAL_ID, Settings
from mock_epay.web.app_keys import STORE as STORE_KEY
from tests.conftest import TOKEN_PATH, get_token, token_form

VISA_CARD = "e7e2587f-de26-4f41-ae1f-80c1fea31728"
MASTERCARD_CARD = "22f2c5db-64d8-475f-8066-af3de3dc8233"
LOCKED_CARD = "16aae4f4-6d24-4a17-b1c6-c09ce7659efb"


def payment_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "amount": 100,
        "currency": "KZT",
        "name": "TEST TEST",
        "terminalId": TEST_TERMINAL_ID,
        "invoiceId": "000000001",
        "description": "test",
        "accountId": "testuser1",
        "email": "buyer@example.com",
        "phone": "77472261170",
        "backLink": "http://127.0.0.1:9/order/1123",
        "failureBackLink": "http://127.0.0.1:9/order/1123/fail",
        "postLink": "http://127.0.0.1:9/order/1123",
        "failurePostLink": "http://127.0.0.1:9/order/1123/fail",
        "language": "rus",
        "paymentType": "cardId",
        "cardId": {"id": VISA_CARD},
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


async def pay(client, token: str, body: dict[str, Any], path: str = "/payments/cards/auth",
              header: str = "Authorization", scheme: str = "Bearer"):
    return await client.post(path, json=body, headers={header: f"{scheme} {token}"})


@pytest.mark.parametrize("path", ["/payments/cards/auth", "/api/payments/cards/auth"])
async def test_seed_example_pays_and_answers_the_documented_body(client, path):
    token = await get_token(client)
    response = await pay(client, token, payment_body(), path=path)
    assert response.status == 200
    body = await response.json()
    documented = {"id", "accountId", "amount", "amountBonus", "currency", "description", "email",
                  "invoiceID", "language", "phone", "reference", "intReference", "secure3D",
                  "cardID"}
    assert documented <= set(body)
    assert body["invoiceID"] == "000000001"
    assert body["cardID"] == VISA_CARD
    assert body["amount"] == 100 and isinstance(body["amount"], int)
    assert body["amountBonus"] == 0
    assert body["secure3D"] is None
    assert body["code"] == 0
    assert body["status"] == "CHARGE"  # the test terminal is one-stage
    assert len(body["reference"]) == 12 and body["reference"].isdigit()
    assert len(body["approvalCode"]) == 6 and body["approvalCode"].isdigit()
    assert len(body["intReference"]) == 16


async def test_two_stage_terminal_answers_auth(make_client):
    two_stage = Merchant(
        client_id="shop", client_secret="s3cret", name="Shop",
        terminals=(Terminal(id="11111111-2222-3333-4444-555555555555", number="90000001",
                            two_stage=True),),
        saved_cards=(SeedCard("u1", "4405639704015096", "aaaaaaaa-0000-0000-0000-000000000001"),),
    )
    client = await make_client(Settings(log_requests=False, merchants=(DEFAULT_MERCHANT, two_stage)))
    token = await get_token(client, client_id="shop", client_secret="s3cret",
                            terminal="11111111-2222-3333-4444-555555555555")
    response = await pay(client, token, payment_body(
        terminalId="11111111-2222-3333-4444-555555555555", accountId="u1",
        cardId={"id": "aaaaaaaa-0000-0000-0000-000000000001"}))
    assert response.status == 200
    assert (await response.json())["status"] == "AUTH"


@pytest.mark.parametrize(
    ("header", "scheme"),
    [("Authorization", "Bearer"), ("Authorization", "bearer"), ("Authorize", "bearer"),
     ("Authorization", "BEARER")],
)
async def test_authorization_header_tolerance(client, header, scheme):
    token = await get_token(client)
    response = await pay(client, token, payment_body(), header=header, scheme=scheme)
    assert response.status == 200


async def test_card_id_as_plain_string_and_lowercase_key(client):
    token = await get_token(client)
    body = payment_body(cardId=None, cardid=MASTERCARD_CARD)
    response = await pay(client, token, body)
    assert response.status == 200
    assert (await response.json())["cardID"] == MASTERCARD_CARD


async def test_amount_as_numeric_string(client):
    token = await get_token(client)
    response = await pay(client, token, payment_body(amount="100"))
    assert response.status == 200


async def test_unicode_description_within_125_bytes(client):
    token = await get_token(client)
    description = "Оплата заказа №42 " + "ж" * 45  # 2 bytes per Cyrillic letter
    assert len(description.encode()) <= 125
    response = await pay(client, token, payment_body(description=description))
    assert response.status == 200
    assert (await response.json())["description"] == description
    assert description in await response.text()  # UTF-8 text, not \u escapes
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"


async def test_extra_fields_are_ignored(client):
    token = await get_token(client)
    response = await pay(client, token, payment_body(cardSave=True, somethingNew={"a": 1}))
    assert response.status == 200


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"amount": None}, "amount"),
        ({"amount": -100}, "amount"),
        ({"amount": 0}, "amount"),
        ({"amount": 100.001}, "amount"),
        ({"amount": True}, "amount"),
        ({"amount": [100]}, "amount"),
        ({"currency": None}, "currency"),
        ({"currency": 398}, "currency"),
        ({"terminalId": None}, "terminalId"),
        ({"invoiceId": None}, "invoiceId"),
        ({"invoiceId": "12345"}, "invoiceId"),
        ({"invoiceId": "INV0001"}, "invoiceId"),
        ({"description": None}, "description"),
        ({"description": "я" * 63}, "description"),
        ({"description": 42}, "description"),
        ({"paymentType": "card"}, "paymentType"),
        ({"cardId": None}, "cardId"),
        ({"cardId": {"number": "x"}}, "cardId"),
        ({"cardId": {"id": ""}}, "cardId.id"),
        ({"language": "de"}, "language"),
        ({"postLink": "javascript:alert(1)"}, "postLink"),
        ({"recurrent": "maybe"}, "recurrent"),
        ({"invoiceIdAlt": "12"}, "invoiceIdAlt"),
    ],
)
async def test_validation_errors_name_the_field(client, overrides, field):
    token = await get_token(client)
    response = await pay(client, token, payment_body(**overrides))
    assert response.status == 400, await response.text()
    body = await response.json()
    assert set(body) == {"code", "message"}
    assert body["code"] == -1
    assert repr(field) in body["message"] or field in body["message"]


async def test_description_of_exactly_125_bytes_is_accepted(client):
    token = await get_token(client)
    response = await pay(client, token, payment_body(description="ж" * 62 + "x"))
    assert response.status == 200


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"amount": 200}, "amount"),
        ({"currency": "USD"}, "currency"),
        ({"invoiceId": "000000002"}, "invoiceId"),
        ({"terminalId": "00000000-0000-0000-0000-000000000000"}, "terminalId"),
    ],
)
async def test_payment_must_match_its_token(client, overrides, field):
    token = await get_token(client)
    response = await pay(client, token, payment_body(**overrides))
    assert response.status == 400
    message = (await response.json())["message"]
    assert field in message and "does not match" in message


async def test_service_token_cannot_pay(client):
    response = await client.post(TOKEN_PATH, data=token_form(
        invoiceID=None, amount=None, currency=None, terminal=None))
    token = (await response.json())["access_token"]
    response = await pay(client, token, payment_body())
    assert response.status == 401
    assert "payment token" in (await response.json())["message"]


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "missing Authorization"),
        ({"Authorization": "Basic abc"}, "Bearer"),
        ({"Authorization": "Bearer"}, "Bearer"),
        ({"Authorization": "Bearer NOPE_NOPE_NOPE_NOPE_12"}, "invalid access token"),
    ],
)
async def test_missing_or_bad_token(client, headers, message):
    response = await client.post("/payments/cards/auth", json=payment_body(), headers=headers)
    assert response.status == 401
    assert message in (await response.json())["message"]


async def test_unknown_card(client):
    token = await get_token(client)
    response = await pay(client, token, payment_body(cardId={"id": "nope"}))
    assert response.status == 400
    assert "not found" in (await response.json())["message"]


async def test_card_of_another_account(client):
    token = await get_token(client)
    response = await pay(client, token, payment_body(accountId="someone-else"))
    assert response.status == 400
    assert "does not belong" in (await response.json())["message"]


async def test_locked_test_card_declines_with_465(client):
    token = await get_token(client)
    response = await pay(client, token, payment_body(cardId={"id": LOCKED_CARD}))
    assert response.status == 400
    body = await response.json()
    assert body["code"] == 465
    assert body["message"]


async def test_second_payment_for_a_paid_invoice_is_a_duplicate(client):
    first = await pay(client, await get_token(client), payment_body())
    assert first.status == 200
    second = await pay(client, await get_token(client), payment_body())
    assert second.status == 400
    assert await second.json() == {"code": -1, "message": "dublicate transaction"}


async def test_same_last_six_digits_is_a_duplicate(client):
    assert (await pay(client, await get_token(client, invoiceID="1000123456"),
                      payment_body(invoiceId="1000123456"))).status == 200
    token = await get_token(client, invoiceID="2000123456")
    response = await pay(client, token, payment_body(invoiceId="2000123456"))
    assert response.status == 400
    assert (await response.json())["message"] == "dublicate transaction"


async def test_declined_invoice_may_be_retried(client):
    declined = await pay(client, await get_token(client),
                         payment_body(cardId={"id": LOCKED_CARD}))
    assert declined.status == 400
    retried = await pay(client, await get_token(client), payment_body())
    assert retried.status == 200


async def test_hundred_concurrent_payments_for_one_invoice_give_one_success(client):
    tokens = [await get_token(client) for _ in range(100)]
    responses = await asyncio.gather(*(pay(client, t, payment_body()) for t in tokens))
    statuses = sorted(r.status for r in responses)
    assert statuses.count(200) == 1
    assert statuses.count(400) == 99
    for response in responses:
        if response.status == 400:
            assert (await response.json())["message"] == "dublicate transaction"


async def test_another_merchants_card_is_not_found(make_client):
    other = Merchant(
        client_id="other", client_secret="pw", name="Other",
        terminals=(Terminal(id="99999999-2222-3333-4444-555555555555", number="90000009"),),
    )
    client = await make_client(Settings(log_requests=False, merchants=(DEFAULT_MERCHANT, other)))
    token = await get_token(client, client_id="other", client_secret="pw",
                            terminal="99999999-2222-3333-4444-555555555555")
    response = await pay(client, token, payment_body(
        terminalId="99999999-2222-3333-4444-555555555555"))
    assert response.status == 400
    assert "not found" in (await response.json())["message"]


async def test_memory_is_bounded_oldest_transactions_are_forgotten(make_client):
    client = await make_client(Settings(log_requests=False, max_transactions=100))
    store = client.server.app[STORE_KEY]
    for number in range(150):
        invoice = f"{number + 100000:09d}"
        token = await get_token(client, invoiceID=invoice)
        assert (await pay(client, token, payment_body(invoiceId=invoice, postLink=None,
                                                      failurePostLink=None))).status == 200
    assert len(list(store.transactions())) == 100
    assert store.transaction_for_invoice("test", "000100000") is None
    assert store.transaction_for_invoice("test", "000100149") is not None
    # the forgotten invoice is no longer remembered as paid; the remembered one still is
    assert not store.invoice_succeeded("test", "000100000")
    assert store.invoice_succeeded("test", "000100149")
