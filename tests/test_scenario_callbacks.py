"""The shipped chaos rules' callback outcomes, delivered to a real merchant server on loopback."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from aiohttp import web

from tests.conftest import get_token
from tests.test_cards_auth import payment_body

_invoices = itertools.count(880000001)


@pytest.fixture
async def merchant(aiohttp_server) -> Any:
    """A shop that records every postLink it receives."""
    received: list[dict[str, Any]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.Response(text="OK")

    app = web.Application()
    app.router.add_post("/epay/callback", hook)
    server = await aiohttp_server(app)
    server.received = received
    server.post_link = str(server.make_url("/epay/callback"))
    return server


async def pay(client, merchant, amount: int) -> str:
    invoice = f"{next(_invoices):09d}"
    token = await get_token(client, invoiceID=invoice, amount=str(amount))
    body = payment_body(invoiceId=invoice, amount=amount, postLink=merchant.post_link,
                        failurePostLink=None)
    response = await client.post("/payments/cards/auth", json=body,
                                 headers={"Authorization": f"Bearer {token}"})
    assert response.status == 200, await response.text()
    return invoice


async def deliveries(client, invoice: str) -> list[dict[str, Any]]:
    answer = await (await client.get(f"/_mock/deliveries?invoiceId={invoice}")).json()
    return answer["deliveries"]


async def test_callback_twice_rule_delivers_the_same_body_twice(client, merchant):
    invoice = await pay(client, merchant, 7002)
    for _ in range(2):
        await client.get(f"/_mock/callbacks/wait?invoiceId={invoice}&timeout=5")
    logged = await deliveries(client, invoice)
    assert len(logged) == 2 and all(d["status"] == "delivered" for d in logged)
    bodies = [b for b in merchant.received if b["invoiceId"] == invoice]
    assert len(bodies) == 2 and bodies[0] == bodies[1] and bodies[0]["code"] == "ok"


async def test_callback_lost_rule_sends_nothing_and_says_so_in_the_log(client, merchant):
    invoice = await pay(client, merchant, 7404)
    logged = await deliveries(client, invoice)
    assert [d["status"] for d in logged] == ["skipped"]
    assert not [b for b in merchant.received if b["invoiceId"] == invoice]


async def test_callback_delayed_rule_arrives_after_the_delay_on_the_mock_clock(client, merchant):
    invoice = await pay(client, merchant, 7060)
    early = await client.get(f"/_mock/callbacks/wait?invoiceId={invoice}&timeout=0.2")
    assert early.status == 408  # nothing yet: the callback waits 60 s of mock time
    assert not [b for b in merchant.received if b["invoiceId"] == invoice]
    assert (await client.post("/_mock/clock/advance?seconds=61")).status == 200
    done = await client.get(f"/_mock/callbacks/wait?invoiceId={invoice}&timeout=5")
    assert done.status == 200
    assert [b["invoiceId"] for b in merchant.received] == [invoice]
