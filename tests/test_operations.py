"""Charge, cancel and refund through HTTP: the merchant's full flows on one- and two-stage terminals."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from mock_epay.gateway.models import Merchant, SeedCard, Terminal, evolve
from mock_epay.settings import DEFAULT_MERCHANT, Settings
from tests.conftest import get_service_token, get_token
from tests.test_cards_auth import pay, payment_body

SHOP_TERMINAL = "11111111-2222-3333-4444-555555555555"
SHOP_CARD = "aaaaaaaa-0000-0000-0000-000000000001"
SHOP = Merchant(
    client_id="shop", client_secret="s3cret", name="Two-stage shop",
    terminals=(Terminal(id=SHOP_TERMINAL, number="90000001", two_stage=True),),
    saved_cards=(SeedCard("u1", "4405639704015096", SHOP_CARD),),
)
SHOP_CREDENTIALS = {"client_id": "shop", "client_secret": "s3cret"}
# No postLink: these flows are about operations, and an unreachable host only slows the teardown.
NO_CALLBACKS: dict[str, Any] = {"postLink": None, "failurePostLink": None}


def two_stage_settings(**merchant_overrides: Any) -> Settings:
    shop = evolve(SHOP, **merchant_overrides)
    return Settings(seed=7, log_requests=False, merchants=(DEFAULT_MERCHANT, shop))


@pytest.fixture
async def shop_client(make_client) -> TestClient:
    return await make_client(two_stage_settings())


async def pay_shop(client: TestClient, invoice_id: str = "000000101", amount: float = 100) -> str:
    """A successful payment on the two-stage terminal; returns the transaction id (status AUTH)."""
    token = await get_token(client, terminal=SHOP_TERMINAL, invoiceID=invoice_id, amount=str(amount),
                            **SHOP_CREDENTIALS)
    response = await pay(client, token, payment_body(
        terminalId=SHOP_TERMINAL, accountId="u1", cardId={"id": SHOP_CARD}, invoiceId=invoice_id,
        amount=amount, **NO_CALLBACKS))
    assert response.status == 200, await response.text()
    body = await response.json()
    assert body["status"] == "AUTH"
    return body["id"]


async def pay_test(client: TestClient, invoice_id: str = "000000001", amount: float = 100) -> str:
    """A successful payment on the default one-stage terminal (status CHARGE)."""
    token = await get_token(client, invoiceID=invoice_id, amount=str(amount))
    response = await pay(client, token, payment_body(invoiceId=invoice_id, amount=amount, **NO_CALLBACKS))
    assert response.status == 200, await response.text()
    return (await response.json())["id"]


async def shop_service_token(client: TestClient) -> str:
    return await get_service_token(client, **SHOP_CREDENTIALS)


async def operate(client: TestClient, token: str, tx_id: str, operation: str, *,
                  api: bool = False, **kwargs: Any):
    path = ("/api" if api else "") + f"/operation/{tx_id}/{operation}"
    headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
    return await client.post(path, headers=headers, **kwargs)


async def status_of(client: TestClient, token: str, invoice_id: str) -> dict[str, Any]:
    response = await client.get(f"/check-status/payment/transaction/{invoice_id}",
                                headers={"Authorization": f"Bearer {token}"})
    assert response.status == 200, await response.text()
    return (await response.json())["transaction"]


async def assert_refused(response, code: int, *words: str) -> None:
    assert response.status == 400, await response.text()
    body = await response.json()
    assert body["code"] == code
    for word in words:
        assert word in body["message"], body["message"]


# -- the flows of the issue ------------------------------------------------------------------------


async def test_two_stage_pay_partial_charge_then_partial_refunds_to_zero(shop_client):
    client = shop_client
    tx_id = await pay_shop(client, amount=1000)
    token = await shop_service_token(client)
    tx = await status_of(client, token, "000000101")
    assert (tx["statusName"], tx["amount"], tx["orgAmount"], tx["payoutAmount"]) == ("AUTH", 1000, 1000, 0)

    response = await operate(client, token, tx_id, "charge", params={"amount": "700"})
    assert response.status == 200
    assert await response.read() == b""
    tx = await status_of(client, token, "000000101")
    assert (tx["statusName"], tx["amount"], tx["orgAmount"], tx["payoutAmount"]) == ("CHARGE", 700, 1000, 700)

    assert (await operate(client, token, tx_id, "refund", params={"amount": "200"})).status == 200
    tx = await status_of(client, token, "000000101")
    assert (tx["statusName"], tx["amount"], tx["payoutAmount"]) == ("REFUND", 500, 500)

    assert (await operate(client, token, tx_id, "refund", json={"amount": 450.5},
                          params={"externalID": "R-2"})).status == 200
    tx = await status_of(client, token, "000000101")
    assert (tx["statusName"], tx["amount"], tx["payoutAmount"]) == ("REFUND", 49.5, 49.5)

    assert (await operate(client, token, tx_id, "refund")).status == 200  # the rest
    tx = await status_of(client, token, "000000101")
    assert (tx["statusName"], tx["amount"], tx["orgAmount"], tx["payoutAmount"]) == ("REFUND", 0, 1000, 0)

    await assert_refused(await operate(client, token, tx_id, "refund", params={"amount": "10"}),
                         100, "already fully refunded")


@pytest.mark.parametrize("api", [False, True])
async def test_pay_then_cancel(shop_client, api):
    tx_id = await pay_shop(shop_client)
    token = await shop_service_token(shop_client)
    response = await operate(shop_client, token, tx_id, "cancel", api=api)
    assert response.status == 200 and await response.read() == b""
    tx = await status_of(shop_client, token, "000000101")
    assert tx["statusName"] == "CANCEL"
    assert tx["payoutAmount"] == 0
    await assert_refused(await operate(shop_client, token, tx_id, "charge"), 100,
                         "status is CANCEL", "only possible from AUTH")


async def test_refund_on_auth_is_refused(shop_client):
    tx_id = await pay_shop(shop_client)
    token = await shop_service_token(shop_client)
    await assert_refused(await operate(shop_client, token, tx_id, "refund"), 100,
                         "cannot refund", "status is AUTH", "only possible from CHARGE or REFUND")
    assert (await status_of(shop_client, token, "000000101"))["statusName"] == "AUTH"


async def test_charge_twice_is_refused(shop_client):
    tx_id = await pay_shop(shop_client)
    token = await shop_service_token(shop_client)
    assert (await operate(shop_client, token, tx_id, "charge")).status == 200
    await assert_refused(await operate(shop_client, token, tx_id, "charge"), 100,
                         "cannot charge", "status is CHARGE")


async def test_one_stage_payment_refunds_in_full_with_and_without_api(client):
    tx_id = await pay_test(client)
    token = await get_service_token(client)
    await assert_refused(await operate(client, token, tx_id, "charge"), 100, "status is CHARGE")
    await assert_refused(await operate(client, token, tx_id, "cancel"), 100, "status is CHARGE")
    assert (await operate(client, token, tx_id, "refund", api=True,
                          params={"amount": "30"})).status == 200
    assert (await operate(client, token, tx_id, "refund", api=False)).status == 200
    tx = await status_of(client, token, "000000001")
    assert (tx["statusName"], tx["amount"], tx["orgAmount"]) == ("REFUND", 0, 100)


async def test_fifty_concurrent_refunds_of_ten_on_a_hundred_give_exactly_ten(client):
    tx_id = await pay_test(client)
    token = await get_service_token(client)
    responses = await asyncio.gather(*(
        operate(client, token, tx_id, "refund", params={"amount": "10"}) for _ in range(50)
    ))
    statuses = [r.status for r in responses]
    assert statuses.count(200) == 10
    assert statuses.count(400) == 40
    bodies = [await r.json() for r in responses if r.status == 400]
    assert all(b["code"] == 100 for b in bodies)
    tx = await status_of(client, token, "000000001")
    assert (tx["statusName"], tx["amount"], tx["payoutAmount"]) == ("REFUND", 0, 0)


async def test_concurrent_charge_and_cancel_of_one_auth_have_exactly_one_winner(shop_client):
    token = await shop_service_token(shop_client)
    for n in range(5):
        invoice = f"00000020{n}"
        tx_id = await pay_shop(shop_client, invoice_id=invoice)
        charge, cancel = await asyncio.gather(
            operate(shop_client, token, tx_id, "charge"), operate(shop_client, token, tx_id, "cancel"))
        assert sorted([charge.status, cancel.status]) == [200, 400]
        final = (await status_of(shop_client, token, invoice))["statusName"]
        assert final == ("CHARGE" if charge.status == 200 else "CANCEL")


async def test_another_merchants_token_cannot_charge_refund_cancel_or_list_cards(shop_client):
    client = shop_client
    shop_tx = await pay_shop(client)
    test_tx = await pay_test(client)
    test_token = await get_service_token(client)
    shop_token = await shop_service_token(client)
    for operation in ("charge", "cancel", "refund"):
        await assert_refused(await operate(client, test_token, shop_tx, operation), 102,
                             "transaction not found")
        await assert_refused(await operate(client, shop_token, test_tx, operation), 102,
                             "transaction not found")
    response = await client.get("/cards/u1", headers={"Authorization": f"Bearer {test_token}"})
    assert (await response.json())["code"] == 1373
    response = await client.get("/cards/testuser1", headers={"Authorization": f"Bearer {shop_token}"})
    assert (await response.json())["code"] == 1373
    assert (await status_of(client, shop_token, "000000101"))["statusName"] == "AUTH"
    assert (await status_of(client, test_token, "000000001"))["statusName"] == "CHARGE"
