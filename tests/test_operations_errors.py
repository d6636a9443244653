"""Operations refused: tokens, unknown ids, bad or disagreeing amounts, wrong states; and what is accepted."""

from __future__ import annotations

import aiohttp
import pytest

from mock_epay.web.app_keys import STORE
from tests.conftest import get_service_token, get_token
from tests.test_operations import (
    NO_CALLBACKS,
    assert_refused,
    operate,
    pay_shop,
    pay_test,
    shop_service_token,
    status_of,
    two_stage_settings,
)

UNKNOWN_ID = "00000000-0000-0000-0000-000000000000"


@pytest.fixture
async def shop_client(make_client):
    return await make_client(two_stage_settings())


async def test_operations_need_a_token(client):
    tx_id = await pay_test(client)
    response = await client.post(f"/operation/{tx_id}/refund")
    assert response.status == 401
    assert "Authorization" in (await response.json())["message"]


async def test_a_payment_token_is_not_enough(client):
    tx_id = await pay_test(client)
    payment_token = await get_token(client, invoiceID="000000002")
    response = await operate(client, payment_token, tx_id, "refund")
    assert response.status == 401
    assert "service token" in (await response.json())["message"]


@pytest.mark.parametrize("operation", ["charge", "cancel", "refund"])
async def test_unknown_transaction_id(client, operation):
    token = await get_service_token(client)
    await assert_refused(await operate(client, token, UNKNOWN_ID, operation), 102, "transaction not found")


async def test_the_invoice_number_is_not_the_transaction_id(client):
    await pay_test(client)
    token = await get_service_token(client)
    await assert_refused(await operate(client, token, "000000001", "refund"), 102, "transaction not found")


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"params": {"amount": "abc"}}, ["query parameter 'amount' must be a number"]),
        ({"params": {"amount": "-5"}}, ["query parameter 'amount' must be a positive number"]),
        ({"params": {"amount": "0"}}, ["must be a positive number"]),
        ({"params": {"amount": "10.005"}}, ["more than 2 decimal places"]),
        ({"json": {"amount": "x"}}, ["body field 'amount' must be a number"]),
        ({"json": {"amount": True}}, ["body field 'amount' must be a number"]),
        ({"params": {"amount": "20"}, "json": {"amount": 30}},
         ["query parameter 'amount' (20)", "body field 'amount' (30) differ"]),
        ({"params": {"amount": "5"}}, ["refund amount 5 is below the minimum refund of 10"]),
        ({"params": {"amount": "100.01"}}, ["exceeds the refundable remainder 100"]),
    ],
)
async def test_bad_refund_amounts_are_named(client, kwargs, words):
    tx_id = await pay_test(client)
    token = await get_service_token(client)
    await assert_refused(await operate(client, token, tx_id, "refund", **kwargs), 100, *words)
    tx = await status_of(client, token, "000000001")
    assert (tx["statusName"], tx["amount"]) == ("CHARGE", 100)


async def test_same_amount_in_query_and_body_is_accepted(client):
    tx_id = await pay_test(client)
    token = await get_service_token(client)
    response = await operate(client, token, tx_id, "refund", params={"amount": "25"},
                             json={"amount": 25.0})
    assert response.status == 200
    assert (await status_of(client, token, "000000001"))["amount"] == 75


async def test_malformed_body_is_refused(client):
    tx_id = await pay_test(client)
    token = await get_service_token(client)
    response = await operate(client, token, tx_id, "refund", data=b"{amount:",
                             headers={"Content-Type": "application/json"})
    assert response.status == 400
    assert "malformed JSON" in (await response.json())["message"]


async def test_form_body_and_trailing_slash_are_tolerated(client):
    tx_id = await pay_test(client)
    token = await get_service_token(client)
    response = await client.post(f"/api/operation/{tx_id}/refund/", data={"amount": "40"},
                                 headers={"Authorization": f"bearer {token}"})
    assert response.status == 200, await response.text()
    assert (await status_of(client, token, "000000001"))["amount"] == 60


async def test_charge_above_the_authorised_amount(shop_client):
    tx_id = await pay_shop(shop_client)
    token = await shop_service_token(shop_client)
    await assert_refused(await operate(shop_client, token, tx_id, "charge", json={"amount": 150}),
                         100, "charge amount 150 exceeds the authorised amount 100")


async def test_partial_cancel_is_refused(shop_client):
    tx_id = await pay_shop(shop_client)
    token = await shop_service_token(shop_client)
    await assert_refused(await operate(shop_client, token, tx_id, "cancel", params={"amount": "50"}),
                         100, "full authorised amount only (100)")
    assert (await operate(shop_client, token, tx_id, "cancel", params={"amount": "100"})).status == 200


async def test_declined_payment_cannot_be_refunded(client):
    from tests.test_cards_auth import LOCKED_CARD, pay, payment_body

    body = payment_body(cardId={"id": LOCKED_CARD}, **NO_CALLBACKS)
    response = await pay(client, await get_token(client), body)
    assert response.status == 400
    token = await get_service_token(client)
    tx = await status_of(client, token, "000000001")
    assert tx["statusName"] == "REJECT"
    await assert_refused(await operate(client, token, tx["id"], "refund"), 100, "status is REJECT")


async def test_external_id_is_recorded_in_the_history(client):
    tx_id = await pay_test(client)
    token = await get_service_token(client)
    await operate(client, token, tx_id, "refund", params={"amount": "10", "externalId": "refund-77"})
    await operate(client, token, tx_id, "refund", json={"amount": 15, "externalID": "refund-78"})
    history = client.app[STORE].transaction("test", tx_id).history
    assert [(h.status.value, h.amount, h.note) for h in history[-2:]] == [
        ("REFUND", 10, "refund externalID=refund-77"),
        ("REFUND", 15, "refund externalID=refund-78"),
    ]


@pytest.mark.parametrize("api", [False, True])
async def test_legacy_operation_status_by_invoice(client, api):
    tx_id = await pay_test(client)
    token = await get_service_token(client)
    await operate(client, token, tx_id, "refund", params={"amount": "30"})
    response = await client.get(("/api" if api else "") + "/operation/000000001",
                                headers={"Authorization": f"Bearer {token}"})
    assert response.status == 200
    body = await response.json()
    assert body["id"] == tx_id
    assert body["invoiceId"] == "000000001"
    assert body["code"] == "REFUND"
    assert body["amount"] == 70
    assert body["secure"] == "false"
    assert body["reasonCode"] == 0
    missing = await client.get("/operation/999999999", headers={"Authorization": f"Bearer {token}"})
    await assert_refused(missing, 100, "not found")


async def test_json_labelled_as_a_form_is_read_as_json(client):
    """`curl -d '{"amount": 30}'` sends JSON as application/x-www-form-urlencoded."""
    tx_id = await pay_test(client)
    token = await get_service_token(client)
    response = await operate(client, token, tx_id, "refund", data=b'{"amount": 30}',
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status == 200
    assert (await status_of(client, token, "000000001"))["amount"] == 70


async def test_multipart_form_body_is_read(client):
    tx_id = await pay_test(client)
    token = await get_service_token(client)
    form = aiohttp.FormData({"amount": "40", "externalID": "R-9"}, default_to_multipart=True)
    response = await operate(client, token, tx_id, "refund", data=form)
    assert response.status == 200, await response.text()
    assert (await status_of(client, token, "000000001"))["amount"] == 60
