"""postLink / failurePostLink callbacks, delivered to a real merchant server on 127.0.0.1.

The merchant here is a small aiohttp app that records every request and can be told
to answer 500, to hold requests until released, or to be down altogether.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from mock_epay.app import create_app
from mock_epay.callbacks.dispatcher import SHUTDOWN_ERROR
from mock_epay.core.clock import Clock
from mock_epay.gateway.models import CallbackMode, CallbackPlan, Outcome, PaymentAttempt, evolve
from mock_epay.scenarios.engine import ScenarioEngine
from mock_epay.settings import DEFAULT_MERCHANT, Settings
from mock_epay.web.app_keys import DISPATCHER, ENGINE, GATEWAY, STORE
from tests.conftest import get_token
from tests.test_cards_auth import LOCKED_CARD, MASTERCARD_CARD, pay, payment_body

WAIT = "/_mock/callbacks/wait"


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    raw: bytes

    def json(self) -> Any:
        import json

        return json.loads(self.raw)


class FakeMerchant:
    """A merchant backend that records callbacks; behaviour is switchable per test."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.fail_next = 0  # answer 500 to this many requests
        self.gate: asyncio.Event | None = None  # when set, requests wait for it
        self.port = 0
        self._server: TestServer | None = None
        self._arrived = asyncio.Event()

    async def _handle(self, request: web.Request) -> web.Response:
        self.requests.append(Received(request.method, request.path, dict(request.headers),
                                      await request.read()))
        self._arrived.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.fail_next > 0:
            self.fail_next -= 1
            return web.Response(status=500, text="merchant is broken")
        return web.Response(text="OK")

    async def start(self, port: int = 0) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._server = TestServer(app, host="127.0.0.1", port=port)
        await self._server.start_server()
        self.port = self._server.port

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.close()
            self._server = None

    def url(self, path: str = "/postlink") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def wait_for_requests(self, count: int, timeout: float = 5.0) -> list[Received]:
        async with asyncio.timeout(timeout):
            while len(self.requests) < count:
                self._arrived.clear()
                await self._arrived.wait()
        return self.requests


@pytest.fixture
async def merchant() -> FakeMerchant:
    shop = FakeMerchant()
    await shop.start()
    yield shop
    if shop.gate is not None:
        shop.gate.set()
    await shop.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PlanEngine:
    """A test double for the scenario engine: the real decision, with a forced callback plan."""

    def __init__(self, plan: CallbackPlan) -> None:
        self._real = ScenarioEngine()
        self._plan = plan

    def decide(self, attempt: PaymentAttempt) -> Outcome:
        return evolve(self._real.decide(attempt), callback=self._plan)


GatewayFactory = Callable[..., Awaitable[TestClient]]


@pytest.fixture
def gateway(aiohttp_client: Any, clock: Clock) -> GatewayFactory:
    """Start a mock gateway; keyword arguments override settings, `plan=` forces a callback plan."""

    async def make(plan: CallbackPlan | None = None, **overrides: Any) -> TestClient:
        values: dict[str, Any] = {"seed": 1234, "log_requests": False, "callback_backoff": 0.01}
        values.update(overrides)
        app = create_app(Settings(**values), clock)
        if plan is not None:
            app[ENGINE] = app[GATEWAY].engine = PlanEngine(plan)
        return await aiohttp_client(app)

    return make


async def pay_invoice(client: TestClient, invoice: str, card: str | None = None,
                      token_fields: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    """Pay `invoice` by saved card through cards/auth; returns the answer's JSON."""
    token = await get_token(client, invoiceID=invoice, **(token_fields or {}))
    body = payment_body(invoiceId=invoice, **fields)
    if card:
        body["cardId"] = {"id": card}
    response = await pay(client, token, body)
    return await response.json()


async def wait_callback(client: TestClient, invoice: str, timeout: float = 5) -> dict[str, Any]:
    response = await client.get(WAIT, params={"invoiceId": invoice, "timeout": str(timeout)})
    assert response.status == 200, await response.text()
    return await response.json()


async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll in-process state until `predicate()` holds (bounded)."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.005)


# -- bodies and headers ---------------------------------------------------------------

CURRENT_KEYS = {
    "id", "dateTime", "invoiceId", "invoiceIdAlt", "amount", "currency", "terminal", "accountId",
    "description", "language", "cardMask", "cardType", "issuer", "issuerBankCountry", "reference",
    "approvalCode", "secure", "secureDetails", "tokenRecipient", "code", "reason", "reasonCode",
    "name", "email", "phone", "ip", "ipCountry", "ipCity", "ipRegion", "ipDistrict", "ipLongitude",
    "ipLatitude", "cardId",
}


async def test_a_successful_payment_posts_the_documented_json_to_the_post_link(gateway, merchant):
    client = await gateway()
    answer = await pay_invoice(client, "100000001", token_fields={"secret_hash": "JDKCNDDGGDTPSKJD"},
                               postLink=merchant.url("/ok"), failurePostLink=merchant.url("/fail"))
    delivery = await wait_callback(client, "100000001")

    assert delivery["status"] == "delivered"
    [request] = merchant.requests
    assert request.method == "POST" and request.path == "/ok"
    assert request.headers["Content-Type"] == "application/json"
    body = request.json()
    assert set(body) == CURRENT_KEYS | {"secret_hash"}
    assert body["id"] == answer["id"]
    assert body["invoiceId"] == "100000001"
    assert body["code"] == "ok" and body["reason"] == "success"
    assert body["reasonCode"] == 0 and isinstance(body["reasonCode"], int)
    assert body["secure"] == "no"
    assert body["amount"] == 100 and isinstance(body["amount"], int)
    assert body["cardMask"] == "440563...5096" and body["cardType"] == "VISA"
    assert body["cardId"] == "e7e2587f-de26-4f41-ae1f-80c1fea31728"  # paid with a saved card
    assert body["secret_hash"] == "JDKCNDDGGDTPSKJD"
    assert body["ipCountry"] is None and body["ipLongitude"] == 0  # nulls, not missing keys
    assert body["dateTime"].endswith("+05:00") and len(body["dateTime"].split(".")[1]) == 9 + 6
    assert "4405639704015096" not in request.raw.decode()  # never the full card number
    assert delivery["body"] == body


async def test_a_declined_payment_posts_an_error_body_to_the_failure_post_link(gateway, merchant):
    client = await gateway()
    await pay_invoice(client, "100000002", card=LOCKED_CARD,
                      postLink=merchant.url("/ok"), failurePostLink=merchant.url("/fail"))
    await wait_callback(client, "100000002")

    [request] = merchant.requests
    assert request.path == "/fail"
    assert request.headers["Content-Type"] == "application/json"
    body = request.json()
    assert set(body) == CURRENT_KEYS  # no secret_hash key when none was given
    assert body["code"] == "error"
    assert body["reasonCode"] == 465 and isinstance(body["reasonCode"], int)
    assert body["reason"] and body["reason"] != "success"
    assert body["approvalCode"] is None and body["cardId"] is None
    assert body["cardMask"] == "400303...7597"
    assert "4003032704547597" not in request.raw.decode()


async def test_a_failure_goes_to_the_post_link_when_no_failure_url_was_given(gateway, merchant):
    client = await gateway()
    await pay_invoice(client, "100000003", card=LOCKED_CARD,
                      postLink=merchant.url("/only"), failurePostLink=None)
    await wait_callback(client, "100000003")
    [request] = merchant.requests
    assert request.path == "/only" and request.json()["code"] == "error"


async def test_the_payment_requests_urls_win_over_the_tokens(gateway, merchant):
    client = await gateway()
    await pay_invoice(client, "100000004",
                      token_fields={"postLink": merchant.url("/from-token")},
                      postLink=merchant.url("/from-payment"), failurePostLink=None)
    await wait_callback(client, "100000004")
    assert [r.path for r in merchant.requests] == ["/from-payment"]

    await pay_invoice(client, "100000005",
                      token_fields={"postLink": merchant.url("/from-token")},
                      postLink=None, failurePostLink=None)
    await wait_callback(client, "100000005")
    assert [r.path for r in merchant.requests][-1] == "/from-token"


async def test_a_merchant_set_to_the_legacy_format_gets_the_seed_body(gateway, merchant):
    legacy = evolve(DEFAULT_MERCHANT, callback_format="legacy")
    client = await gateway(merchants=(legacy,))
    await pay_invoice(client, "100000006", postLink=merchant.url("/ok"), failurePostLink=None)
    await pay_invoice(client, "100000007", card=LOCKED_CARD, postLink=merchant.url("/ok"),
                      failurePostLink=None)
    await wait_callback(client, "100000006")
    await wait_callback(client, "100000007")
    ok, error = (r.json() for r in merchant.requests)
    assert set(ok) == {"amount", "currency", "reference", "approvalCode", "code", "secure",
                       "accountId", "invoiceId"}
    assert ok["code"] == 0 and ok["secure"] == "No"
    assert error["code"] == -1 and "message" in error and "reason" not in error


async def test_no_post_link_at_all_is_logged_as_skipped(gateway):
    client = await gateway()
    await pay_invoice(client, "100000008", postLink=None, failurePostLink=None)
    delivery = await wait_callback(client, "100000008")
    assert delivery["status"] == "skipped"
    assert "no postLink" in delivery["error"]


# -- delivery semantics -----------------------------------------------------------------


async def test_the_payment_answer_does_not_wait_for_the_callback(gateway, merchant):
    client = await gateway()
    merchant.gate = asyncio.Event()  # the merchant holds every callback
    answer = await pay_invoice(client, "100000010", postLink=merchant.url(), failurePostLink=None)
    assert answer["status"] == "CHARGE"
    await merchant.wait_for_requests(1)
    [delivery] = client.app[DISPATCHER].select(invoice_id="100000010")
    assert delivery.status == "pending"  # the merchant has not answered yet
    merchant.gate.set()
    assert (await wait_callback(client, "100000010"))["status"] == "delivered"


async def test_a_callback_answered_with_500_is_retried_until_a_2xx(gateway, merchant):
    client = await gateway()
    merchant.fail_next = 2
    await pay_invoice(client, "100000011", postLink=merchant.url(), failurePostLink=None)
    delivery = await wait_callback(client, "100000011")

    assert delivery["status"] == "delivered"
    assert [a["responseStatus"] for a in delivery["attempts"]] == [500, 500, 200]
    assert [a["attempt"] for a in delivery["attempts"]] == [1, 2, 3]
    assert delivery["attempts"][0]["responseBody"] == "merchant is broken"
    assert delivery["attempts"][2]["responseBody"] == "OK"
    assert all(a["durationMs"] >= 0 for a in delivery["attempts"])
    bodies = [r.raw for r in merchant.requests]
    assert len(bodies) == 3 and len(set(bodies)) == 1  # the same body every time


async def test_a_callback_gives_up_after_the_attempt_limit(gateway, merchant):
    client = await gateway(callback_max_attempts=3)
    merchant.fail_next = 100
    await pay_invoice(client, "100000012", postLink=merchant.url(), failurePostLink=None)
    delivery = await wait_callback(client, "100000012")
    assert delivery["status"] == "failed"
    assert len(delivery["attempts"]) == 3 and len(merchant.requests) == 3
    assert delivery["error"] == "gave up after 3 attempt(s): HTTP 500"
    assert delivery["nextRetryAt"] is None


async def test_a_merchant_that_does_not_answer_in_time_is_retried(gateway, merchant):
    client = await gateway(callback_timeout=0.2)
    merchant.gate = asyncio.Event()  # hold the first request past the timeout
    await pay_invoice(client, "100000013", postLink=merchant.url(), failurePostLink=None)
    await merchant.wait_for_requests(1)
    dispatcher = client.app[DISPATCHER]
    [delivery] = dispatcher.select(invoice_id="100000013")
    await until(lambda: len(delivery.attempts) == 1 and delivery.attempts[0].error is not None)
    merchant.gate.set()
    result = await wait_callback(client, "100000013")
    assert result["attempts"][0]["error"] == "timed out after 0.2 s"
    assert result["status"] == "delivered" and len(result["attempts"]) == 2


async def test_connection_refused_is_retried_on_the_clock_until_the_merchant_is_back(gateway, clock):
    # Default backoff (seconds, on the mock clock): nothing is retried until the clock moves.
    client = await gateway(callback_backoff=5.0)
    shop = FakeMerchant()
    port = free_port()  # nobody listens here yet
    await pay_invoice(client, "100000014", postLink=f"http://127.0.0.1:{port}/cb", failurePostLink=None)
    [delivery] = client.app[DISPATCHER].select(invoice_id="100000014")
    await until(lambda: delivery.waiting and len(delivery.attempts) == 1)
    assert delivery.attempts[0].error.startswith("cannot connect (connection refused)")
    shown = await (await client.get(f"/_mock/deliveries/{delivery.id}")).json()
    assert shown["status"] == "pending" and shown["nextRetryAt"] is not None

    await shop.start(port)
    try:
        clock.advance(60)
        result = await wait_callback(client, "100000014")
        assert result["status"] == "delivered"
        assert [a["responseStatus"] for a in result["attempts"]] == [None, 200]
        assert len(shop.requests) == 1
    finally:
        await shop.stop()


async def test_a_merchant_down_for_30_seconds_receives_every_callback_that_was_due(gateway, clock):
    client = await gateway(callback_backoff=5.0)  # the default schedule: ~5, 10, 20, 40 s
    dispatcher = client.app[DISPATCHER]
    port = free_port()
    invoices = [f"2000000{n:02d}" for n in range(5)]
    for invoice in invoices:
        await pay_invoice(client, invoice, postLink=f"http://127.0.0.1:{port}/cb", failurePostLink=None)
    deliveries = [d for invoice in invoices for d in dispatcher.select(invoice_id=invoice)]

    def all_waiting() -> bool:
        return all(d.waiting and d.due_at > clock.monotonic() for d in deliveries)

    await until(all_waiting)
    for _ in range(30):  # thirty seconds of downtime, one second at a time
        clock.advance(1)
        await until(all_waiting)
    assert all(d.status == "pending" for d in deliveries)

    shop = FakeMerchant()
    await shop.start(port)  # the merchant comes back on the same port
    try:
        clock.advance(120)
        for invoice in invoices:
            assert (await wait_callback(client, invoice))["status"] == "delivered"
        assert sorted(r.json()["invoiceId"] for r in shop.requests) == invoices
        assert all(len(d.attempts) <= 5 for d in deliveries)
    finally:
        await shop.stop()


async def test_callbacks_of_one_invoice_are_delivered_in_order(gateway, merchant):
    client = await gateway()
    merchant.gate = asyncio.Event()
    merchant.fail_next = 2
    # A decline, then a successful retry of the same invoice.
    await pay_invoice(client, "100000015", card=LOCKED_CARD, postLink=merchant.url("/ok"),
                      failurePostLink=merchant.url("/fail"))
    await merchant.wait_for_requests(1)  # the failure callback is being held
    await pay_invoice(client, "100000015", card=MASTERCARD_CARD, postLink=merchant.url("/ok"),
                      failurePostLink=merchant.url("/fail"))
    first, second = client.app[DISPATCHER].select(invoice_id="100000015")
    assert second.attempts == []  # waits for the first to finish
    merchant.gate.set()

    delivery = await wait_callback(client, "100000015")
    assert delivery["id"] == second.id and delivery["status"] == "delivered"
    assert [(r.path, r.json()["code"]) for r in merchant.requests] == [
        ("/fail", "error"), ("/fail", "error"), ("/fail", "error"), ("/ok", "ok")]


async def test_different_invoices_do_not_wait_for_each_other(gateway, merchant):
    client = await gateway()
    held = merchant.gate = asyncio.Event()
    await pay_invoice(client, "100000016", postLink=merchant.url("/slow"), failurePostLink=None)
    await merchant.wait_for_requests(1)
    merchant.gate = None  # later requests are answered at once
    await pay_invoice(client, "100000017", postLink=merchant.url("/fast"), failurePostLink=None)
    assert (await wait_callback(client, "100000017"))["status"] == "delivered"
    [slow] = client.app[DISPATCHER].select(invoice_id="100000016")
    assert slow.status == "pending"
    held.set()
    assert (await wait_callback(client, "100000016"))["status"] == "delivered"


# -- scenario callback plans --------------------------------------------------------------


async def test_sent_twice_delivers_two_identical_callbacks(gateway, merchant):
    client = await gateway(plan=CallbackPlan(CallbackMode.TWICE))
    await pay_invoice(client, "100000020", postLink=merchant.url(), failurePostLink=None)
    await wait_callback(client, "100000020")
    first, second = merchant.requests
    assert first.raw == second.raw
    log = (await (await client.get("/_mock/deliveries", params={"invoiceId": "100000020"})).json())
    assert [d["note"] for d in log["deliveries"]] == ["sent twice (2/2)", "sent twice (1/2)"]


async def test_a_delayed_callback_waits_for_the_clock(gateway, merchant, clock):
    client = await gateway(plan=CallbackPlan(CallbackMode.DELAY, delay_ms=30_000))
    await pay_invoice(client, "100000021", postLink=merchant.url(), failurePostLink=None)
    [delivery] = client.app[DISPATCHER].select(invoice_id="100000021")
    early = await client.get(WAIT, params={"invoiceId": "100000021", "timeout": "0"})
    assert early.status == 408
    assert delivery.attempts == [] and merchant.requests == []
    clock.advance(30)
    assert (await wait_callback(client, "100000021"))["status"] == "delivered"
    assert len(merchant.requests) == 1


async def test_a_skipped_callback_is_logged_and_never_sent(gateway, merchant):
    client = await gateway(plan=CallbackPlan(CallbackMode.SKIP))
    await pay_invoice(client, "100000022", postLink=merchant.url(), failurePostLink=None)
    delivery = await wait_callback(client, "100000022")
    assert delivery["status"] == "skipped" and delivery["url"] == merchant.url()
    assert delivery["attempts"] == [] and merchant.requests == []


# -- safety ---------------------------------------------------------------------------------


async def test_a_host_outside_the_allow_list_is_refused_without_a_request(gateway, merchant):
    client = await gateway(callback_allowed_hosts=("shop.example", "*.merchant.test"))
    await pay_invoice(client, "100000030", postLink=merchant.url(), failurePostLink=None)
    delivery = await wait_callback(client, "100000030")
    assert delivery["status"] == "failed"
    assert delivery["error"] == "target refused: host '127.0.0.1' is not in callback_allowed_hosts"
    assert delivery["attempts"] == [] and merchant.requests == []


async def test_named_hosts_on_the_allow_list_are_delivered(gateway, merchant):
    client = await gateway(callback_allowed_hosts=("127.0.0.1",))
    await pay_invoice(client, "100000031", postLink=merchant.url(), failurePostLink=None)
    assert (await wait_callback(client, "100000031"))["status"] == "delivered"


async def test_link_local_metadata_addresses_are_refused_by_default(gateway):
    client = await gateway()
    await pay_invoice(client, "100000032", postLink="http://169.254.169.254/latest/meta-data",
                      failurePostLink=None)
    delivery = await wait_callback(client, "100000032")
    assert delivery["status"] == "failed" and "link-local" in delivery["error"]


# -- shutdown -------------------------------------------------------------------------------


async def test_shutdown_marks_undelivered_callbacks_failed(gateway, clock):
    client = await gateway(callback_backoff=5.0)
    dispatcher = client.app[DISPATCHER]
    await pay_invoice(client, "100000040", postLink=f"http://127.0.0.1:{free_port()}/cb",
                      failurePostLink=None)
    [delivery] = dispatcher.select(invoice_id="100000040")
    await until(lambda: delivery.waiting)  # first attempt refused, retry in a few seconds

    await client.close()  # runs the app's cleanup, as SIGTERM does

    assert delivery.status == "failed" and delivery.error == SHUTDOWN_ERROR
    assert len(delivery.attempts) == 1


async def test_shutdown_finishes_a_callback_in_flight_within_the_grace_period(gateway, merchant):
    client = await gateway()
    dispatcher = client.app[DISPATCHER]
    merchant.gate = asyncio.Event()
    await pay_invoice(client, "100000041", postLink=merchant.url(), failurePostLink=None)
    await merchant.wait_for_requests(1)
    stopping = asyncio.create_task(client.close())
    await until(lambda: dispatcher._closing)
    merchant.gate.set()
    await stopping
    [delivery] = dispatcher.select(invoice_id="100000041")
    assert delivery.status == "delivered"


async def test_shutdown_fails_a_hanging_callback_after_the_grace_period(gateway, merchant):
    client = await gateway(callback_shutdown_grace=0.05)
    dispatcher = client.app[DISPATCHER]
    merchant.gate = asyncio.Event()  # never released before shutdown
    await pay_invoice(client, "100000042", postLink=merchant.url(), failurePostLink=None)
    await merchant.wait_for_requests(1)
    await client.close()
    [delivery] = dispatcher.select(invoice_id="100000042")
    assert delivery.status == "failed" and delivery.error == SHUTDOWN_ERROR
    assert delivery.attempts[0].error.startswith("cancelled")


# -- operations ---------------------------------------------------------------------------------


async def test_operation_callbacks_follow_the_payment_callback_for_opted_in_merchants(gateway, merchant):
    opted_in = evolve(DEFAULT_MERCHANT, callbacks_after_operations=True)
    client = await gateway(merchants=(opted_in,))
    answer = await pay_invoice(client, "100000050", postLink=merchant.url(), failurePostLink=None)
    tx = client.app[STORE].transaction("test", answer["id"])
    client.app[DISPATCHER].operation_finished(tx, "refund", 40)
    await merchant.wait_for_requests(2)
    await wait_callback(client, "100000050")
    payment, refund = (r.json() for r in merchant.requests)
    assert "operation" not in payment
    assert refund["operation"] == "refund" and refund["operationAmount"] == 40
