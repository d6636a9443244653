"""Operations whose outcome a scenario forces (retry testing), and callbacks after operations."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web

from mock_epay.app import create_app
from mock_epay.gateway.models import OperationAttempt, Outcome, OutcomeKind, evolve
from mock_epay.scenarios.engine import ScenarioEngine
from mock_epay.settings import DEFAULT_MERCHANT, Settings
from mock_epay.web.app_keys import DISPATCHER, ENGINE, GATEWAY
from tests.conftest import get_service_token, get_token
from tests.test_cards_auth import pay, payment_body
from tests.test_operations import (
    SHOP_CREDENTIALS,
    assert_refused,
    operate,
    pay_shop,
    pay_test,
    status_of,
    two_stage_settings,
)


class ScriptedEngine(ScenarioEngine):
    """The real engine for payments; operations get the scripted outcomes in turn, then None."""

    def __init__(self, outcomes: list[Outcome | None]) -> None:
        super().__init__()
        self._outcomes: Iterator[Outcome | None] = iter(outcomes)
        self.attempts: list[OperationAttempt] = []

    def decide_operation(self, attempt: OperationAttempt) -> Outcome | None:
        self.attempts.append(attempt)
        return next(self._outcomes, None)


SERVER_ERROR = Outcome(kind=OutcomeKind.SERVER_ERROR, http_status=500, message="internal error",
                       rule="refund fails twice")


async def scripted_client(aiohttp_client: Any, clock: Any, outcomes: list[Outcome | None],
                          settings: Settings | None = None):
    app = create_app(settings or Settings(seed=3, log_requests=False), clock)
    engine = ScriptedEngine(outcomes)
    app[ENGINE] = app[GATEWAY].engine = engine
    return await aiohttp_client(app), engine


async def test_refund_fails_with_500_twice_then_succeeds(aiohttp_client, clock):
    client, engine = await scripted_client(aiohttp_client, clock, [SERVER_ERROR, SERVER_ERROR])
    tx_id = await pay_test(client)
    token = await get_service_token(client)
    for _ in range(2):
        response = await operate(client, token, tx_id, "refund", params={"amount": "40"})
        assert response.status == 500
        assert await response.json() == {"code": -1, "message": "internal error"}
        assert (await status_of(client, token, "000000001"))["amount"] == 100  # nothing refunded
    response = await operate(client, token, tx_id, "refund", params={"amount": "40"})
    assert response.status == 200
    assert (await status_of(client, token, "000000001"))["amount"] == 60
    assert [a.operation for a in engine.attempts] == ["refund"] * 3
    assert engine.attempts[0].amount == 40 and engine.attempts[0].transaction_id == tx_id


async def test_server_error_with_a_raw_body(aiohttp_client, clock):
    gateway = Outcome(kind=OutcomeKind.SERVER_ERROR, http_status=502, body="<html>Bad Gateway</html>")
    client, _ = await scripted_client(aiohttp_client, clock, [gateway])
    tx_id = await pay_test(client)
    response = await operate(client, await get_service_token(client), tx_id, "refund")
    assert response.status == 502
    assert await response.text() == "<html>Bad Gateway</html>"


async def test_charge_answers_400_code_100(aiohttp_client, clock):
    decline = Outcome(kind=OutcomeKind.DECLINE, reason_code=100, message="operation failed",
                      http_status=400)
    client, engine = await scripted_client(aiohttp_client, clock, [decline],
                                           two_stage_settings())
    tx_id = await pay_shop(client)
    token = await get_service_token(client, **SHOP_CREDENTIALS)
    response = await operate(client, token, tx_id, "charge", headers={"X-Mock-Scenario": "charge-fails"})
    await assert_refused(response, 100, "operation failed")
    assert (await status_of(client, token, "000000101"))["statusName"] == "AUTH"
    assert engine.attempts[0].scenario == "charge-fails"
    assert engine.attempts[0].amount == 100  # the full amount when none was given
    assert (await operate(client, token, tx_id, "charge")).status == 200


async def test_a_delayed_outcome_still_cannot_overdraw(aiohttp_client, clock):
    slow = Outcome(kind=OutcomeKind.APPROVE, delay_ms=5)
    client, _ = await scripted_client(aiohttp_client, clock, [slow] * 20)
    tx_id = await pay_test(client)
    token = await get_service_token(client)
    responses = await asyncio.gather(*(
        operate(client, token, tx_id, "refund", params={"amount": "30"}) for _ in range(20)))
    assert [r.status for r in responses].count(200) == 3
    assert (await status_of(client, token, "000000001"))["amount"] == 10


async def test_the_dispatcher_hears_about_successful_operations_only(client, monkeypatch):
    heard: list[tuple[str, str, float]] = []
    dispatcher = client.app[DISPATCHER]
    monkeypatch.setattr(dispatcher, "operation_finished",
                        lambda tx, operation, amount: heard.append((tx.id, operation, amount)))
    tx_id = await pay_test(client)
    token = await get_service_token(client)
    await operate(client, token, tx_id, "refund", params={"amount": "5"})  # refused
    await operate(client, token, tx_id, "refund", params={"amount": "25"})
    assert heard == [(tx_id, "refund", 25)]


@pytest.mark.parametrize("opted_in", [True, False])
async def test_callbacks_after_operations_are_a_merchant_setting(aiohttp_client, make_client, opted_in):
    received: list[dict[str, Any]] = []

    async def post_link(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.Response(text="OK")

    receiver = web.Application()
    receiver.router.add_post("/hook", post_link)
    merchant_server = await aiohttp_client(receiver)
    url = str(merchant_server.make_url("/hook"))

    merchant = evolve(DEFAULT_MERCHANT, callbacks_after_operations=opted_in)
    client = await make_client(Settings(seed=5, log_requests=False, merchants=(merchant,)))
    response = await pay(client, await get_token(client), payment_body(postLink=url, failurePostLink=None))
    tx_id = (await response.json())["id"]
    await _wait_for(lambda: len(received) >= 1)
    token = await get_service_token(client)
    assert (await operate(client, token, tx_id, "refund", params={"amount": "20"})).status == 200
    if opted_in:
        await _wait_for(lambda: len(received) >= 2)
        assert received[1]["invoiceId"] == "000000001"
        return
    # A later payment's callback is the marker: an operation callback would have been queued first.
    marker = await pay(client, await get_token(client, invoiceID="000000002"),
                       payment_body(invoiceId="000000002", postLink=url, failurePostLink=None))
    assert marker.status == 200
    await _wait_for(lambda: any(body["invoiceId"] == "000000002" for body in received))
    assert [body["invoiceId"] for body in received] == ["000000001", "000000002"]


async def _wait_for(condition: Any, attempts: int = 200) -> None:
    for _ in range(attempts):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met within 2 seconds")
