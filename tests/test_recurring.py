"""A subscription business charges a saved card on a schedule: subscribe, move the clock, see renewals."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from aiohttp import web

from tests.conftest import get_service_token, get_token
from tests.test_cryptopay import card_json, cryptopay

DAY = 24 * 3600
_invoices = itertools.count(660000001)


@pytest.fixture
async def merchant(aiohttp_server) -> Any:
    """A shop on loopback that records every postLink it receives."""
    received: list[dict[str, Any]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.Response(text="OK")

    app = web.Application()
    app.router.add_post("/epay/callback", hook)
    server = await aiohttp_server(app, host="127.0.0.1")
    server.received = received
    server.post_link = str(server.make_url("/epay/callback"))
    return server


async def first_payment(client, merchant, **overrides: Any) -> dict[str, Any]:
    fields = {"cardSave": True, "postLink": merchant.post_link, **overrides}
    response = await cryptopay(client, card_json().decode(), invoice=f"{next(_invoices):09d}", **fields)
    assert response.status == 200, await response.text()
    return await response.json()


async def subscribe(client, transaction_id: str, frequency: str = "MONTHLY", token: str | None = None):
    token = token or await get_service_token(client)
    return await client.post("/recurrent/subscribe", json={"transactionId": transaction_id,
                                                           "paymentFrequency": frequency},
                             headers={"Authorization": f"Bearer {token}"})


async def wait_for_callbacks(client, merchant, count: int) -> None:
    for _ in range(100):
        if len(merchant.received) >= count:
            return
        await client.get("/_mock/callbacks/wait?timeout=0.2")
    raise AssertionError(f"{len(merchant.received)} callbacks received, {count} expected")


async def test_a_monthly_subscription_renews_three_times_in_95_days_with_postlinks(client, merchant):
    paid = await first_payment(client, merchant)
    response = await subscribe(client, paid["id"])
    assert response.status == 200, await response.text()
    answer = await response.json()
    assert set(answer) == {"createdDate", "paymentFrequency", "lastPaymentDate", "clientId", "invoiceId",
                           "amount", "currency", "reference"}
    assert answer["paymentFrequency"] == "MONTHLY" and answer["invoiceId"] == paid["invoiceID"]
    assert answer["amount"] == 100 and answer["reference"] == paid["reference"]
    assert answer["clientId"] == "test"
    assert len(answer["createdDate"]) == len("2025-02-07T21:22:44.3828015+0500")
    assert answer["createdDate"][-5:] == "+0500"

    advanced = await client.post(f"/_mock/clock/advance?seconds={95 * DAY}")
    assert advanced.status == 200
    listed = (await (await client.get("/_mock/subscriptions")).json())["subscriptions"]
    assert len(listed) == 1 and listed[0]["renewals"] == 3 and len(listed[0]["chargeIds"]) == 3
    renewals = [await (await client.get(f"/_mock/transactions/{tx}")).json() for tx in listed[0]["chargeIds"]]
    assert all(r["status"] == "CHARGE" and r["source"] == "recurring" and r["cardId"] == paid["cardID"]
               and r["amount"] == 100 for r in renewals)
    assert len({r["invoiceId"] for r in renewals}) == 3

    await wait_for_callbacks(client, merchant, 4)  # the first payment's and the three renewals'
    renewed = {body["invoiceId"] for body in merchant.received} - {paid["invoiceID"]}
    assert renewed == {r["invoiceId"] for r in renewals}
    assert all(body["code"] == "ok" for body in merchant.received)


@pytest.mark.parametrize(("frequency", "days", "renewals"), [("WEEKLY", 22, 3), ("QUARTERLY", 200, 2)])
async def test_weekly_and_quarterly_schedules(client, merchant, frequency, days, renewals):
    paid = await first_payment(client, merchant)
    assert (await subscribe(client, paid["id"], frequency)).status == 200
    await client.post(f"/_mock/clock/advance?seconds={days * DAY}")
    listed = (await (await client.get("/_mock/subscriptions")).json())["subscriptions"]
    assert listed[0]["renewals"] == renewals


async def test_renewals_stop_at_the_end_of_the_term(client, merchant):
    paid = await first_payment(client, merchant)
    await subscribe(client, paid["id"])
    await client.post(f"/_mock/clock/advance?seconds={800 * DAY}")
    listed = (await (await client.get("/_mock/subscriptions")).json())["subscriptions"]
    assert listed[0]["renewals"] == 12 and listed[0]["nextPaymentDate"] is None


async def test_subscribing_twice_returns_the_same_subscription(client, merchant):
    paid = await first_payment(client, merchant)
    first = await (await subscribe(client, paid["id"])).json()
    token = await get_token(client, invoiceID=paid["invoiceID"])  # the SDK reuses the payment token
    again = await (await subscribe(client, paid["id"], token=token)).json()
    assert first == again
    assert len((await (await client.get("/_mock/subscriptions")).json())["subscriptions"]) == 1


async def test_a_cancelled_subscription_makes_no_more_renewals(client, merchant):
    paid = await first_payment(client, merchant)
    await subscribe(client, paid["id"])
    await client.post(f"/_mock/clock/advance?seconds={32 * DAY}")
    subscription = (await (await client.get("/_mock/subscriptions")).json())["subscriptions"][0]
    cancelled = await client.delete(f"/_mock/subscriptions/{subscription['id']}")
    assert cancelled.status == 200 and (await cancelled.json())["subscription"]["active"] is False
    await client.post(f"/_mock/clock/advance?seconds={90 * DAY}")
    after = (await (await client.get("/_mock/subscriptions")).json())["subscriptions"][0]
    assert after["renewals"] == 1 and after["active"] is False
    missing = await client.delete("/_mock/subscriptions/no-such-id")
    assert missing.status == 404 and set(await missing.json()) == {"code", "message"}


async def test_a_declined_renewal_goes_to_failure_postlink_and_the_subscription_goes_on(client, merchant):
    """A scenario rule on the amount declines every renewal; the subscription keeps its schedule."""
    paid = await first_payment(client, merchant)
    await subscribe(client, paid["id"])
    rule = {"name": "renewals-decline", "match": {"source": "recurring"},
            "outcome": {"result": "decline", "reasonCode": 484}, "times": 2}
    added = await client.post("/_mock/scenarios", json=rule)
    assert added.status == 201, await added.text()
    await client.post(f"/_mock/clock/advance?seconds={62 * DAY}")
    subscription = (await (await client.get("/_mock/subscriptions")).json())["subscriptions"][0]
    assert subscription["renewals"] == 2 and subscription["active"]
    declined = [await (await client.get(f"/_mock/transactions/{tx}")).json()
                for tx in subscription["chargeIds"]]
    assert [d["reasonCode"] for d in declined] == [484, 484]


@pytest.mark.parametrize(("body", "status", "code"), [
    ({"transactionId": "00000000-0000-4000-8000-000000000000", "paymentFrequency": "MONTHLY"}, 400, 102),
    ({"transactionId": "x", "paymentFrequency": "DAILY"}, 400, -1),
    ({"paymentFrequency": "MONTHLY"}, 400, -1),
])
async def test_bad_subscribe_requests_are_refused_in_the_banks_format(client, body, status, code):
    token = await get_service_token(client)
    response = await client.post("/recurrent/subscribe", json=body,
                                 headers={"Authorization": f"Bearer {token}"})
    assert response.status == status and (await response.json())["code"] == code


async def test_a_transaction_without_a_saved_card_cannot_be_subscribed(client, merchant):
    paid = await first_payment(client, merchant, cardSave=False)
    response = await subscribe(client, paid["id"])
    assert response.status == 400 and "saved card" in (await response.json())["message"]


async def test_another_merchants_transaction_is_not_found(make_client, merchant):
    from mock_epay.gateway.models import Merchant, Terminal
    from mock_epay.settings import DEFAULT_MERCHANT, Settings

    other = Merchant("other", "other-secret", "Other", (Terminal("t-other", "90000009"),))
    client = await make_client(Settings(merchants=(DEFAULT_MERCHANT, other), log_requests=False))
    paid = await first_payment(client, merchant)
    token = await get_service_token(client, client_id="other", client_secret="other-secret")
    response = await subscribe(client, paid["id"], token=token)
    assert response.status == 400 and (await response.json())["code"] == 102
