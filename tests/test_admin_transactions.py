"""Admin transactions API: list with filters, one transaction with history and deliveries, merchants."""

from __future__ import annotations

import pytest

from mock_epay.gateway.models import Merchant, SeedCard, Terminal
from mock_epay.settings import DEFAULT_MERCHANT, TEST_CLIENT_ID, Settings
from tests.conftest import get_service_token, get_token
from tests.test_cards_auth import LOCKED_CARD, pay, payment_body

OTHER_CARD = "bbbbbbbb-0000-4000-8000-000000000002"
OTHER = Merchant("other-shop", "other-secret-123", "Other shop",
                 (Terminal("aaaaaaaa-0000-4000-8000-000000000001", "90000001"),),
                 saved_cards=(SeedCard("testuser1", "5522042705066736", id=OTHER_CARD),))


async def paid(client, invoice: str, card: str | None = None, amount: int = 100, **extra) -> dict:
    """Pay `invoice` by saved card without any postLink (the callback is logged as skipped)."""
    token = await get_token(client, invoiceID=invoice, amount=str(amount))
    body = payment_body(invoiceId=invoice, amount=amount, postLink=None, failurePostLink=None, **extra)
    if card:
        body["cardId"] = {"id": card}
    response = await pay(client, token, body)
    return await response.json()


async def test_transactions_are_listed_newest_first_in_the_mocks_own_shape(client):
    first = await paid(client, "000000101")
    await paid(client, "000000102", card=LOCKED_CARD, amount=12500)
    response = await client.get("/_mock/transactions")
    assert response.status == 200
    body = await response.json()
    assert body["total"] == 2
    newest, oldest = body["transactions"]
    assert [newest["invoiceId"], oldest["invoiceId"]] == ["000000102", "000000101"]
    assert newest["status"] == "REJECT" and newest["reasonCode"] == 465 and newest["amount"] == 12500
    assert oldest == {
        "id": first["id"], "clientId": TEST_CLIENT_ID, "invoiceId": "000000101", "amount": 100,
        "orgAmount": 100, "chargedAmount": 100, "refundedAmount": 0, "currency": "KZT",
        "status": "CHARGE", "reasonCode": 0, "reason": "success",
        "terminalId": oldest["terminalId"], "accountId": "testuser1", "description": "test",
        "cardMask": "440563...5096", "cardType": "VISA", "cardId": first["cardID"], "secure": False,
        "createdDate": oldest["createdDate"], "source": "cards/auth",
        "callbacks": {"count": 1, "attempts": 0, "latestStatus": "skipped"},
    }
    assert oldest["createdDate"].endswith("+05:00")


async def test_filters_by_invoice_status_and_limit(client):
    for number in range(201, 205):
        await paid(client, f"000000{number}")
    await paid(client, "000000299", card=LOCKED_CARD)

    async def invoices(query: str) -> list[str]:
        response = await client.get("/_mock/transactions?" + query)
        assert response.status == 200, await response.text()
        return [tx["invoiceId"] for tx in (await response.json())["transactions"]]

    assert await invoices("invoiceId=000000203") == ["000000203"]
    assert await invoices("status=REJECT") == ["000000299"]
    assert await invoices("status=REJECT,CHARGE&limit=2") == ["000000299", "000000204"]
    assert await invoices(f"clientId={TEST_CLIENT_ID}&status=AUTH") == []


@pytest.mark.parametrize(("query", "names"), [
    ("status=PAID", "unknown status 'PAID'"),
    ("limit=ten", "'limit' must be a whole number"),
    ("limit=0", "'limit' must be from 1"),
    ("clientId=nobody", "unknown merchant 'nobody'"),
])
async def test_bad_filters_are_a_400_in_the_banks_format(client, query, names):
    response = await client.get("/_mock/transactions?" + query)
    assert response.status == 400
    body = await response.json()
    assert body["code"] == -1 and names in body["message"]


async def test_one_transaction_shows_its_history_and_deliveries(client):
    payment = await paid(client, "000000301")
    service = await get_service_token(client)
    refund = await client.post(f"/operation/{payment['id']}/refund?amount=40",
                               headers={"Authorization": f"Bearer {service}"})
    assert refund.status == 200
    response = await client.get(f"/_mock/transactions/{payment['id']}")
    assert response.status == 200
    body = await response.json()
    assert body["invoiceId"] == "000000301" and body["status"] == "REFUND"
    assert body["refundedAmount"] == 40 and body["amount"] == 60
    assert [(h["status"], h["amount"]) for h in body["history"]] == [("CHARGE", 100), ("REFUND", 40)]
    assert body["history"][1]["note"] == "refund"
    [delivery] = body["deliveries"]
    assert delivery["status"] == "skipped" and delivery["transactionId"] == payment["id"]
    assert delivery["body"]["cardMask"] == "440563...5096"


async def test_an_unknown_transaction_is_a_404(client):
    response = await client.get("/_mock/transactions/no-such-id")
    assert response.status == 404
    assert (await response.json())["code"] == 102


async def test_the_admin_sees_every_merchant_but_never_a_secret(make_client):
    client = await make_client(Settings(merchants=(DEFAULT_MERCHANT, OTHER), log_requests=False))
    await paid(client, "000000401")
    token = await get_token(client, client_id="other-shop", client_secret="other-secret-123",
                            terminal=OTHER.terminals[0].id, invoiceID="000000402")
    response = await pay(client, token, payment_body(invoiceId="000000402", terminalId=OTHER.terminals[0].id,
                                                     cardId={"id": OTHER_CARD}, postLink=None,
                                                     failurePostLink=None))
    assert response.status == 200, await response.text()
    listed = await (await client.get("/_mock/transactions?clientId=other-shop")).json()
    assert [tx["invoiceId"] for tx in listed["transactions"]] == ["000000402"]
    everything = await (await client.get("/_mock/transactions")).json()
    assert [tx["clientId"] for tx in everything["transactions"]] == ["other-shop", TEST_CLIENT_ID]
    merchants = await client.get("/_mock/merchants")
    text = await merchants.text()
    assert "other-secret-123" not in text and DEFAULT_MERCHANT.client_secret not in text
    names = {m["clientId"]: m for m in (await merchants.json())["merchants"]}
    assert names["other-shop"]["terminals"] == [
        {"id": OTHER.terminals[0].id, "number": "90000001", "twoStage": False, "autoCancelSeconds": None}
    ]
