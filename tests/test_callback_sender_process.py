"""Callbacks sent from the helper process (`callback_sender: process`, what `mock-epay serve` uses):
delivered as inline ones are, failures recorded and retried, a worker that dies replaced, and
nothing left behind when the server stops."""

# ruff: noqa: F811  (the `merchant` and `gateway` fixtures are imported from tests.test_callbacks)
from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from mock_epay.callbacks.sender_worker import FrameReader, FrameWriter
from mock_epay.settings import build_settings
from mock_epay.web.app_keys import DISPATCHER
from tests.conftest import TOKEN_PATH, token_form
from tests.test_callbacks import (  # noqa: F401  (fixtures)
    FakeMerchant,
    free_port,
    gateway,
    merchant,
    pay_invoice,
    wait_callback,
)
from tests.test_cards_auth import payment_body
from tests.test_cli import wait_healthy

PROCESS = {"callback_sender": "process"}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (exited, not yet reaped) counts as gone
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    return state != "Z"


async def _gone(pid: int, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        await asyncio.sleep(0.02)
    return False


async def test_a_callback_is_delivered_from_a_helper_process(gateway, merchant):
    client = await gateway(**PROCESS)
    dispatcher = client.server.app[DISPATCHER]
    assert dispatcher.sender_pid is None  # nothing started before the first callback

    await pay_invoice(client, "600000001", postLink=merchant.url("/paid"))
    delivery = await wait_callback(client, "600000001")

    assert delivery["status"] == "delivered"
    assert delivery["attempts"][0]["responseStatus"] == 200
    assert delivery["attempts"][0]["responseBody"] == "OK"
    (received,) = await merchant.wait_for_requests(1)
    assert received.path == "/paid"
    assert received.headers["X-Mock-Epay-Callback"] == "1"
    assert received.json()["invoiceId"] == "600000001"
    pid = dispatcher.sender_pid
    assert pid is not None and pid != os.getpid() and _alive(pid)
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    assert b"mock_epay.callbacks.sender_worker" in cmdline


async def test_many_callbacks_at_once_each_arrive_once(gateway, merchant):
    client = await gateway(**PROCESS)
    invoices = [f"6100000{n:02d}" for n in range(30)]
    await asyncio.gather(*(pay_invoice(client, invoice, postLink=merchant.url()) for invoice in invoices))
    for invoice in invoices:
        assert (await wait_callback(client, invoice))["status"] == "delivered"
    received = await merchant.wait_for_requests(len(invoices))
    assert sorted(r.json()["invoiceId"] for r in received) == invoices


async def test_a_refused_connection_is_a_failed_attempt_then_retried(gateway, merchant):
    port = free_port()
    client = await gateway(callback_max_attempts=3, **PROCESS)
    await pay_invoice(client, "600000002", postLink=f"http://127.0.0.1:{port}/cb")
    delivery = await wait_callback(client, "600000002")

    assert delivery["status"] == "failed"
    assert len(delivery["attempts"]) == 3
    assert all("connection refused" in a["error"] for a in delivery["attempts"])


async def test_a_merchant_error_is_retried_until_it_answers_2xx(gateway, merchant):
    merchant.fail_next = 2
    client = await gateway(**PROCESS)
    await pay_invoice(client, "600000003", postLink=merchant.url())
    delivery = await wait_callback(client, "600000003")

    assert delivery["status"] == "delivered"
    assert [a["responseStatus"] for a in delivery["attempts"]] == [500, 500, 200]
    assert delivery["attempts"][0]["responseBody"] == "merchant is broken"


async def test_a_worker_killed_mid_attempt_fails_that_attempt_and_a_new_one_delivers(gateway, merchant):
    merchant.gate = asyncio.Event()  # the merchant holds the first request
    client = await gateway(**PROCESS)
    dispatcher = client.server.app[DISPATCHER]
    await pay_invoice(client, "600000004", postLink=merchant.url())
    await merchant.wait_for_requests(1)
    first = dispatcher.sender_pid
    assert first is not None

    os.kill(first, signal.SIGKILL)
    merchant.gate.set()
    delivery = await wait_callback(client, "600000004")

    assert delivery["status"] == "delivered"
    assert "sender process ended" in delivery["attempts"][0]["error"]
    assert delivery["attempts"][-1]["responseStatus"] == 200
    assert dispatcher.sender_pid not in (None, first)
    assert await _gone(first)


async def test_stopping_the_server_stops_its_helper_process(gateway, merchant):
    client = await gateway(**PROCESS)
    await pay_invoice(client, "600000005", postLink=merchant.url())
    await wait_callback(client, "600000005")
    pid = client.server.app[DISPATCHER].sender_pid
    assert pid is not None

    await client.close()

    assert await _gone(pid)


async def test_without_a_helper_process_callbacks_go_inline(gateway, merchant, monkeypatch, caplog):
    monkeypatch.setattr(sys, "executable", "/nonexistent/python3")
    client = await gateway(**PROCESS)
    with caplog.at_level(logging.WARNING, logger="mock_epay.callbacks"):
        await pay_invoice(client, "600000006", postLink=merchant.url())
        delivery = await wait_callback(client, "600000006")

    assert delivery["status"] == "delivered"
    assert client.server.app[DISPATCHER].sender_pid is None
    assert "sender process did not start" in caplog.text


def test_auto_means_inline_in_process_and_the_setting_is_checked():
    assert build_settings({}, {}).callback_sender == "auto"
    assert build_settings({}, {"MOCK_EPAY_CALLBACK_SENDER": "Inline"}).callback_sender == "inline"
    with pytest.raises(Exception, match="MOCK_EPAY_CALLBACK_SENDER"):
        build_settings({}, {"MOCK_EPAY_CALLBACK_SENDER": "thread"})


def test_mock_epay_serve_sends_callbacks_from_a_helper_process(tmp_path: Path):
    """What a user runs: `mock-epay serve`, a payment with a postLink, the callback arrives."""
    receiver = subprocess.Popen([sys.executable, "-c", _RECEIVER], stdout=subprocess.PIPE, text=True)
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "mock_epay", "serve", "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert receiver.stdout is not None
        receiver_port = int(receiver.stdout.readline())
        wait_healthy(port, time.monotonic() + 15)
        _pay_over_http(port, "600000007", f"http://127.0.0.1:{receiver_port}/cb")
        line = receiver.stdout.readline()
        assert json.loads(line)["invoiceId"] == "600000007"
        workers = [pid for pid in _children(server.pid)
                   if b"sender_worker" in Path(f"/proc/{pid}/cmdline").read_bytes()]
        assert len(workers) == 1
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=15)
        receiver.kill()
        receiver.wait()
    assert not any(_alive(pid) for pid in workers)


_RECEIVER = """
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers()
        self.wfile.write(b"OK")
        print(body.decode(), flush=True)
    def log_message(self, *args): pass
server = http.server.HTTPServer(("127.0.0.1", 0), H)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError):
                continue
            if ppid == pid:
                found.append(int(entry))
    return found


def _pay_over_http(port: int, invoice: str, post_link: str) -> None:
    base = f"http://127.0.0.1:{port}"
    form = urllib.parse.urlencode(token_form(invoiceID=invoice)).encode()
    with urllib.request.urlopen(f"{base}{TOKEN_PATH}", form, timeout=5) as answer:
        token = json.load(answer)["access_token"]
    body = json.dumps(payment_body(invoiceId=invoice, postLink=post_link, failurePostLink=post_link)).encode()
    request = urllib.request.Request(f"{base}/payments/cards/auth", body, method="POST", headers={
        "Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=5) as answer:
        assert answer.status == 200


# -- frames -----------------------------------------------------------------------------------


class _Pipe:
    """A write transport that keeps what it is given."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.closed = False

    def write(self, data: bytes) -> None:
        self.data += data

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True


async def test_frames_survive_any_split_of_the_stream():
    pipe = _Pipe()
    writer = FrameWriter(pipe)  # type: ignore[arg-type]
    messages: list[Any] = [[n, f"http://x/{n}", os.urandom(n * 37 % 5000), "d" * n, None] for n in range(60)]
    for message in messages:
        writer.write(message)
    await asyncio.sleep(0)  # one loop turn: one write
    stream = bytes(pipe.data)
    rng = random.Random(7)
    for _ in range(20):
        got: list[Any] = []
        reader = FrameReader(got.append)
        position = 0
        while position < len(stream):
            step = rng.randint(1, 700)
            reader.feed(stream[position:position + step])
            position += step
        assert got == messages


def test_a_frame_longer_than_the_limit_is_refused():
    reader = FrameReader(lambda frame: None)
    with pytest.raises(ValueError):
        reader.feed((2**31).to_bytes(4, "little") + b"x")


async def test_a_url_as_the_merchant_wrote_it_reaches_the_worker_whatever_it_holds(merchant):
    """The worker gets the wire URL (ASCII) and, for its log lines, the URL as written: Cyrillic as
    it is, a lone surrogate (which MessagePack cannot carry) as U+FFFD."""
    from mock_epay.callbacks.sender_process import ProcessSender
    from mock_epay.callbacks.targets import TargetPolicy
    from mock_epay.settings import Settings

    sender = ProcessSender(Settings(), TargetPolicy(()))
    await sender.start()
    try:
        for shown in (merchant.url("/путь"), merchant.url("/\ud800x"), None):
            exchange = await sender.send(merchant.url("/%D0%BF"), b"{}", "dlv-x", shown)
            assert exchange.response_status == 200, exchange
    finally:
        await sender.close()
    assert [r.path for r in merchant.requests] == ["/п"] * 3


async def test_a_cyrillic_post_link_is_delivered_percent_encoded_from_the_worker(gateway, merchant):
    client = await gateway(**PROCESS)
    await pay_invoice(client, "600000008", postLink=merchant.url("/оплата"), failurePostLink=None)
    delivery = await wait_callback(client, "600000008")

    assert delivery["status"] == "delivered"
    assert delivery["url"] == merchant.url("/оплата")
    (received,) = await merchant.wait_for_requests(1)
    assert received.path == "/оплата"  # aiohttp decodes the percent-encoded path it was sent
