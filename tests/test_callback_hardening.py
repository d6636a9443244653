"""Callback delivery never wedges, never loops, never starves another merchant.

Each test is a story a merchant's developer lived through: a Cyrillic postLink, a
postLink pointing back at the mock, one hung shop holding everyone up, a shared
instance whose allowed name resolves to the metadata service, a forged log line,
and a mock in Docker that cannot reach the host's 127.0.0.1.
"""
# ruff: noqa: F811  (the `merchant` and `gateway` fixtures are imported from tests.test_callbacks)

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from mock_epay.app import create_app
from mock_epay.callbacks.dispatcher import CallbackDispatcher
from mock_epay.callbacks.hints import loggable, running_in_container
from mock_epay.callbacks.http_client import HttpAnswer, PlainHttpClient
from mock_epay.callbacks.sender import CALLBACK_MARKER
from mock_epay.callbacks.targets import TargetPolicy, TargetRefused
from mock_epay.settings import Settings
from mock_epay.web.app_keys import DISPATCHER, GATEWAY, STORE
from tests.test_callbacks import (  # noqa: F401
    WAIT,
    free_port,
    gateway,
    merchant,
    pay_invoice,
    until,
    wait_callback,
)
from tests.test_cards_auth import LOCKED_CARD, MASTERCARD_CARD

LOG = "mock_epay.callbacks"
FORGE_PATH = "/_mock/callbacks/forge"


class RawPathMerchant:
    """A merchant that records the request target exactly as it arrived on the wire."""

    def __init__(self) -> None:
        self.raw_paths: list[str] = []
        self.bodies: list[bytes] = []
        self.arrived_at: list[float] = []
        self._server: TestServer | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        self.raw_paths.append(request.raw_path)
        self.bodies.append(await request.read())
        self.arrived_at.append(time.perf_counter())
        return web.Response(text="OK")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._server = TestServer(app, host="127.0.0.1", port=0)
        await self._server.start_server()

    @property
    def base(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.port}"

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.close()


@pytest.fixture
async def raw_merchant() -> RawPathMerchant:
    shop = RawPathMerchant()
    await shop.start()
    yield shop
    await shop.stop()


class HungMerchant:
    """Accepts connections, reads the request, never answers; counts connections held open."""

    def __init__(self) -> None:
        self.open = 0
        self.most_open = 0
        self._writers: list[asyncio.StreamWriter] = []
        self._server: asyncio.Server | None = None

    async def _hold(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        self.open += 1
        self.most_open = max(self.most_open, self.open)
        try:
            while await reader.read(65536):
                pass
        finally:
            self.open -= 1

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._hold, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def stop(self) -> None:
        for writer in self._writers:
            writer.close()
        if self._server is not None:
            self._server.close()


async def gateway_with_transport(aiohttp_client: Any, clock: Any, http: PlainHttpClient,
                                 **overrides: Any) -> Any:
    """A mock gateway whose dispatcher sends plain-http callbacks through `http`."""
    values: dict[str, Any] = {"seed": 1234, "log_requests": False, "callback_backoff": 0.01}
    values.update(overrides)
    settings = Settings(**values)
    app = create_app(settings, clock)
    app[DISPATCHER] = app[GATEWAY].callbacks = CallbackDispatcher(app[STORE], settings, clock, http=http)
    return await aiohttp_client(app)


# -- URLs and bodies that cannot be sent as they are ------------------------------------------


async def test_a_post_link_with_a_cyrillic_path_arrives_percent_encoded(gateway, raw_merchant):
    client = await gateway()
    base = raw_merchant.base
    await pay_invoice(client, "500000001", postLink=f"{base}/путь?заказ=1", failurePostLink=None)
    delivery = await wait_callback(client, "500000001")

    assert delivery["status"] == "delivered"
    assert raw_merchant.raw_paths == ["/%D0%BF%D1%83%D1%82%D1%8C?%D0%B7%D0%B0%D0%BA%D0%B0%D0%B7=1"]
    assert delivery["url"] == f"{base}/путь?заказ=1"  # the log shows the URL as the merchant wrote it


async def test_a_body_with_a_lone_surrogate_is_delivered_as_a_json_escape(gateway, raw_merchant):
    """The admin API refuses such a body (400), but a body built in code still must not wedge a delivery."""
    client = await gateway()
    base = raw_merchant.base
    forged = client.app[DISPATCHER].forge(f"{base}/cb", {"description": "broken \ud800 text"})
    done = await (await client.get(WAIT, params={"deliveryId": forged.id})).json()

    assert done["status"] == "delivered"
    [raw] = raw_merchant.bodies
    raw.decode("utf-8")  # valid UTF-8 on the wire
    assert json.loads(raw) == {"description": "broken \ud800 text"}


async def test_the_admin_forge_endpoint_refuses_a_body_with_a_lone_surrogate(gateway, raw_merchant):
    client = await gateway()
    payload = '{"url": "' + raw_merchant.base + '/cb", "body": {"description": "broken \\ud800 text"}}'
    response = await client.post(FORGE_PATH, data=payload, headers={"Content-Type": "application/json"})

    assert response.status == 400
    assert "body.description" in (await response.json())["message"]
    assert raw_merchant.bodies == []


class FlakyTransport(PlainHttpClient):
    """The real plain-http client, except that its first `failures` sends raise `error`."""

    def __init__(self, failures: int, error: Exception) -> None:
        super().__init__()
        self.failures = failures
        self.error = error

    async def post(self, url: str, body: bytes, headers: Any, keep: int = 4096) -> HttpAnswer:
        if self.failures > 0:
            self.failures -= 1
            raise self.error
        return await super().post(url, body, headers, keep)


async def test_an_exception_in_the_transport_is_a_failed_attempt_retried_on_the_clock(
        aiohttp_client, clock, merchant):
    error = UnicodeEncodeError("latin-1", "путь", 0, 1, "ordinal not in range(256)")
    client = await gateway_with_transport(aiohttp_client, clock, FlakyTransport(1, error),
                                          callback_backoff=5.0)
    await pay_invoice(client, "500000002", postLink=merchant.url(), failurePostLink=None)
    [delivery] = client.app[DISPATCHER].select(invoice_id="500000002")
    await until(lambda: delivery.waiting and len(delivery.attempts) == 1)
    assert delivery.status == "pending"
    assert delivery.attempts[0].error.startswith("unexpected error: UnicodeEncodeError")

    clock.advance(60)  # the retry is due: the next attempt goes out and is delivered
    result = await wait_callback(client, "500000002")
    assert result["status"] == "delivered"
    assert [a["responseStatus"] for a in result["attempts"]] == [None, 200]


async def test_a_transport_that_always_raises_ends_failed_and_frees_the_invoices_chain(
        aiohttp_client, clock, merchant):
    client = await gateway_with_transport(aiohttp_client, clock, FlakyTransport(3, RuntimeError("bug")),
                                          callback_max_attempts=3)
    await pay_invoice(client, "500000003", card=LOCKED_CARD, postLink=merchant.url("/first"),
                      failurePostLink=None)  # a decline: the invoice may be paid again
    first = await wait_callback(client, "500000003")
    assert first["status"] == "failed"
    assert first["error"] == "gave up after 3 attempt(s): unexpected error: RuntimeError: bug"
    assert [a["error"] for a in first["attempts"]] == ["unexpected error: RuntimeError: bug"] * 3

    # A later callback of the same invoice is not stuck behind the broken one.
    await pay_invoice(client, "500000003", card=MASTERCARD_CARD, postLink=merchant.url("/second"),
                      failurePostLink=None)
    assert (await wait_callback(client, "500000003"))["status"] == "delivered"
    assert [r.path for r in merchant.requests] == ["/second"]


# -- the mock's own admin API ---------------------------------------------------------------------


async def test_a_post_link_at_the_mocks_own_forge_endpoint_is_refused_not_looped(gateway):
    client = await gateway()
    own_forge = f"http://127.0.0.1:{client.server.port}{FORGE_PATH}"
    await pay_invoice(client, "500000010", postLink=own_forge, failurePostLink=None)
    delivery = await wait_callback(client, "500000010")
    await asyncio.sleep(0.3)  # a loop would have filled the log by now

    dispatcher = client.app[DISPATCHER]
    assert len(dispatcher.log) == 1
    assert delivery["status"] == "failed" and delivery["error"].startswith("target refused:")
    assert "refuses callbacks" in delivery["error"]
    [attempt] = delivery["attempts"]  # answered 403 once, never retried
    assert attempt["responseStatus"] == 403
    assert json.loads(attempt["responseBody"])["code"] == -1

    # The mock has learnt its own port: the next one is refused before anything is sent.
    await pay_invoice(client, "500000011", postLink=own_forge, failurePostLink=None)
    again = await wait_callback(client, "500000011")
    assert again["attempts"] == [] and "own admin API" in again["error"]
    assert len(dispatcher.log) == 2


async def test_callbacks_to_any_admin_path_of_the_mock_are_refused_before_sending(gateway):
    client = await gateway()
    port = client.server.port
    client.app[DISPATCHER].set_listen_addresses([("0.0.0.0", port)])
    await client.post("/_mock/clock/advance", params={"seconds": "0"})
    for n, url in enumerate([f"http://127.0.0.1:{port}/_mock/reset",
                             f"http://localhost:{port}/_mock/clock/advance?seconds=3600",
                             f"http://127.0.0.1:{port}/%5Fmock/reset"]):
        invoice = f"50000002{n}"
        await pay_invoice(client, invoice, postLink=url, failurePostLink=None)
        delivery = await wait_callback(client, invoice)
        assert delivery["status"] == "failed" and delivery["attempts"] == [], url
        assert "own admin API" in delivery["error"]


async def test_the_forge_and_replay_endpoints_refuse_a_request_that_is_a_callback(gateway, merchant):
    client = await gateway()
    marked = {CALLBACK_MARKER: "1"}
    forged = await client.post(FORGE_PATH, json={"url": merchant.url(), "body": {}}, headers=marked)
    assert forged.status == 403
    assert set(await forged.json()) == {"code", "message"}
    replayed = await client.post("/_mock/deliveries/dlv-1/replay", headers=marked)
    assert replayed.status == 403
    assert merchant.requests == [] and len(client.app[DISPATCHER].log) == 0


async def test_every_callback_carries_the_mock_marker_header(gateway, merchant):
    client = await gateway()
    await pay_invoice(client, "500000030", postLink=merchant.url(), failurePostLink=None)
    await wait_callback(client, "500000030")
    assert merchant.requests[0].headers[CALLBACK_MARKER] == "1"


# -- one hung merchant ------------------------------------------------------------------------------


async def test_a_healthy_merchant_is_not_held_up_by_more_hung_callbacks_than_one_host_may_hold(
        gateway, raw_merchant):
    client = await gateway(callback_timeout=5.0, callback_shutdown_grace=0.1)
    hung = HungMerchant()
    hung_url = await hung.start()
    try:
        hung_count = Settings().callback_per_host_concurrency + 48  # more than one host may hold
        for n in range(hung_count):
            response = await client.post(FORGE_PATH, json={"url": f"{hung_url}/cb", "body": {"n": n}})
            assert response.status == 202
        await until(lambda: hung.open >= 8)
        healthy_url = f"{raw_merchant.base}/cb"
        sent = time.perf_counter()
        response = await client.post(FORGE_PATH, json={"url": healthy_url, "body": {"healthy": True}})
        forged = await response.json()
        done = await (await client.get(WAIT, params={"deliveryId": forged["id"], "timeout": "8"})).json()
        delay = raw_merchant.arrived_at[0] - sent
        print(f"healthy merchant's callback arrived {delay * 1000:.0f} ms after it was queued "
              f"behind {hung_count} hung ones ({hung.most_open} connections held by the hung merchant)")
        assert done["status"] == "delivered"
        assert delay < 3.0  # 9.5 s when the hung merchant could take every global slot
        assert hung.most_open == Settings().callback_per_host_concurrency
    finally:
        await client.close()
        await hung.stop()


# -- resolved addresses in allow-list mode ---------------------------------------------------------


class FixedDns(PlainHttpClient):
    """The real client, with DNS answering `addresses` for every name."""

    def __init__(self, policy: TargetPolicy, addresses: list[str]) -> None:
        super().__init__(address_filter=policy.safe_addresses)
        self._answer = addresses

    async def _resolve(self, host: str, port: int) -> list[str]:
        return list(self._answer)


async def test_an_allowed_name_resolving_to_the_metadata_service_is_refused(aiohttp_client, clock):
    hosts = ("shop.test",)
    client = await gateway_with_transport(aiohttp_client, clock,
                                          FixedDns(TargetPolicy(hosts), ["169.254.169.254"]),
                                          callback_allowed_hosts=hosts, callback_timeout=0.5,
                                          callback_max_attempts=2)
    await pay_invoice(client, "500000040", postLink="http://shop.test/cb", failurePostLink=None)
    delivery = await wait_callback(client, "500000040")
    assert delivery["status"] == "failed"
    assert delivery["error"].startswith("target refused: host 'shop.test' resolves to 169.254.169.254")
    assert len(delivery["attempts"]) == 1  # refused for good, not retried


@pytest.mark.parametrize(("hosts", "host", "addresses", "kept"), [
    (("shop.test",), "shop.test", ["169.254.169.254"], None),
    (("shop.test",), "shop.test", ["fe80::1"], None),
    (("shop.test",), "shop.test", ["::ffff:169.254.169.254"], None),
    (("shop.test",), "shop.test", ["fd00:ec2::254"], None),
    (("shop.test",), "shop.test", ["127.0.0.1"], None),  # DNS rebinding onto this machine
    (("shop.test",), "shop.test", ["169.254.1.1", "203.0.113.7"], ["203.0.113.7"]),
    (("shop.test", "127.0.0.1"), "shop.test", ["127.0.0.1"], ["127.0.0.1"]),  # loopback listed
    ((), "shop.test", ["169.254.169.254"], None),
    ((), "shop.test", ["127.0.0.1"], ["127.0.0.1"]),  # local use: loopback is the point
])
def test_resolved_addresses_are_checked_in_both_modes(hosts, host, addresses, kept):
    policy = TargetPolicy(hosts)
    if kept is None:
        with pytest.raises(TargetRefused):
            policy.safe_addresses(host, addresses)
    else:
        assert policy.safe_addresses(host, addresses) == kept


def test_a_listed_metadata_address_is_still_refused():
    assert TargetPolicy(("169.254.169.254",)).refusal("http://169.254.169.254/latest") is not None


# -- what reaches the log ----------------------------------------------------------------------------


async def test_a_post_link_with_crlf_cannot_forge_a_log_line(gateway, caplog):
    caplog.set_level(logging.WARNING, logger=LOG)
    client = await gateway(callback_max_attempts=1)
    url = f"http://127.0.0.1:{free_port()}/cb\r\n2025-01-01 mock_epay FORGED LINE"
    await pay_invoice(client, "500000050", postLink=url, failurePostLink=None)
    await wait_callback(client, "500000050")
    lines = [r.getMessage() for r in caplog.records if r.name == LOG]
    assert lines
    assert not any("\r" in line or "\n" in line for line in lines)
    assert any("/cb\\r\\n2025-01-01 mock_epay FORGED LINE" in line for line in lines)


def test_loggable_escapes_control_characters_repr_style():
    assert loggable("a\r\nb\tc\x1b[31m") == "a\\r\\nb\\tc\\x1b[31m"
    assert loggable("путь") == "путь"
    assert loggable("back\\slash") == "back\\\\slash"
    assert loggable("x\u2028y\ud800") == "x\\u2028y\\ud800"


async def test_the_first_failed_attempt_is_logged_at_once_and_one_line_per_attempt(
        gateway, clock, caplog):
    caplog.set_level(logging.WARNING, logger=LOG)
    client = await gateway(callback_backoff=5.0)
    client.app[DISPATCHER].in_container = False  # no Docker hint line in this count
    await pay_invoice(client, "500000060", postLink=f"http://127.0.0.1:{free_port()}/cb",
                      failurePostLink=None)
    [delivery] = client.app[DISPATCHER].select(invoice_id="500000060")
    await until(lambda: delivery.waiting)  # the first attempt failed; the retry is seconds away
    [first] = [r.getMessage() for r in caplog.records if delivery.id in r.getMessage()]
    assert "attempt 1 of 5 failed (cannot connect (connection refused)" in first

    for _ in range(4):
        clock.advance(120)
        await asyncio.sleep(0.05)
    assert (await wait_callback(client, "500000060"))["status"] == "failed"
    lines = [r.getMessage() for r in caplog.records if delivery.id in r.getMessage()]
    assert len(lines) == 5  # four retried attempts, then the final failure
    assert "failed: gave up after 5 attempt(s)" in lines[-1]


# -- Docker -----------------------------------------------------------------------------------------


async def test_in_a_container_a_refused_loopback_callback_logs_a_docker_hint_once(gateway, caplog):
    caplog.set_level(logging.WARNING, logger=LOG)
    client = await gateway(callback_max_attempts=3)
    client.app[DISPATCHER].in_container = True
    url = f"http://127.0.0.1:{free_port()}/cb"
    for invoice in ("500000070", "500000071"):
        await pay_invoice(client, invoice, postLink=url, failurePostLink=None)
        await wait_callback(client, invoice)
    hints = [r.getMessage() for r in caplog.records if "host.docker.internal" in r.getMessage()]
    assert len(hints) == 1  # six refused attempts to one target, one hint
    assert "127.0.0.1 is this container" in hints[0]
    assert "--add-host=host.docker.internal:host-gateway" in hints[0]


async def test_outside_a_container_no_docker_hint_is_logged(gateway, caplog):
    caplog.set_level(logging.WARNING, logger=LOG)
    client = await gateway(callback_max_attempts=1)
    client.app[DISPATCHER].in_container = False
    await pay_invoice(client, "500000072", postLink=f"http://127.0.0.1:{free_port()}/cb",
                      failurePostLink=None)
    await wait_callback(client, "500000072")
    assert "host.docker.internal" not in caplog.text


@pytest.mark.parametrize(("files", "inside"), [
    ({".dockerenv": ""}, True),
    ({"run/.containerenv": ""}, True),
    ({"proc/1/cgroup": "0::/system.slice/docker-3f2a.scope\n"}, True),
    ({"proc/1/cgroup": "12:pids:/kubepods/besteffort/pod1\n"}, True),
    ({"proc/1/cgroup": "0::/init.scope\n"}, False),
    ({}, False),
])
def test_container_detection(tmp_path: Path, files: dict[str, str], inside: bool):
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert running_in_container(tmp_path) is inside


def test_a_url_refused_as_the_mocks_own_follows_addresses_learnt_later() -> None:
    """The refusal is kept per URL, and forgotten when the mock learns another address of its own."""
    from mock_epay.callbacks.targets import SelfAddresses

    own = SelfAddresses()
    url = "http://127.0.0.1:18555/_mock/callbacks/forge"
    assert own.refusal(url) is None
    own.add("127.0.0.1", 18555)
    assert "own admin API" in (own.refusal(url) or "")
    assert own.refusal("http://127.0.0.1:18555/shop/hook") is None


def test_a_callback_body_is_compact_utf8_json_and_what_msgspec_cannot_write_still_goes_out():
    from mock_epay.callbacks.sending import encode_body

    body = {"invoiceId": "000000001", "amount": 100.5, "name": "Қазақ", "ok": True, "none": None}
    expected = '{"invoiceId":"000000001","amount":100.5,"name":"Қазақ","ok":true,"none":null}'
    assert encode_body(body) == expected.encode()
    assert encode_body({"text": "a\ud800b"}) == b'{"text":"a\\ud800b"}'  # a lone surrogate, escaped
    assert encode_body({"big": 2**70}) == b'{"big":1180591620717411303424}'  # past 64 bits, exact
    assert encode_body("raw text \ud800") == b"raw text \\ud800"  # a string goes verbatim
