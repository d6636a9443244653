"""Two server processes on one PostgreSQL store: callbacks go out once; scenario state and clock are shared.

Real processes (`mock-epay serve --store postgresql://...`) on a fresh schema of the session's
throwaway cluster, and a real loopback receiver for the merchant's postLink that is down, hanging
or answering as each story needs. Counts come from the receiver and from the shared store.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.conftest import TOKEN_PATH, token_form
from tests.pg_cluster import pg_store_url, postgres_url  # noqa: F401  (fixtures)
from tests.test_cli import free_port, wait_healthy
from tests.test_durable_restart import call, pay

CALLBACK_TIMEOUT = "3"  # seconds; the lease on an attempt is twice that (docs/durable.md)


def serve(port: int, store_url: str) -> subprocess.Popen:
    env = {**os.environ, "MOCK_EPAY_LOG_REQUESTS": "0", "MOCK_EPAY_CALLBACK_TIMEOUT": CALLBACK_TIMEOUT}
    return subprocess.Popen(
        [sys.executable, "-m", "mock_epay", "serve", "--port", str(port), "--store", store_url],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)


@pytest.fixture
def two_ports(pg_store_url: str) -> Iterator[tuple[list[int], list[subprocess.Popen], str]]:  # noqa: F811
    ports = [free_port(), free_port()]
    processes = [serve(port, pg_store_url) for port in ports]
    try:
        for port in ports:
            wait_healthy(port, time.monotonic() + 30)
        yield ports, processes, pg_store_url
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(20)


class Receiver(BaseHTTPRequestHandler):
    """The merchant's postLink: answers 200, or holds each request without answering while `hang`."""

    answered: Counter[str] = Counter()
    held: Counter[str] = Counter()
    hang = threading.Event()
    released = threading.Event()

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if Receiver.hang.is_set():
            Receiver.held[self.path] += 1
            Receiver.released.wait(60)
            return  # the connection closes without an answer
        Receiver.answered[self.path] += 1
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"OK")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[int, Any]]:
    """A port for the postLink and a function that starts listening on it (the merchant comes up)."""
    Receiver.answered, Receiver.held = Counter(), Counter()
    Receiver.hang.clear()
    Receiver.released.clear()
    port = free_port()
    servers: list[ThreadingHTTPServer] = []

    def start() -> None:
        server = ThreadingHTTPServer(("127.0.0.1", port), Receiver)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)

    yield port, start
    Receiver.released.set()
    for server in servers:
        server.shutdown()


def stored_deliveries(url: str) -> list[tuple[str, str, str | None, float | None]]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute("SELECT invoice_id, status, claimed_by, lease_until FROM deliveries "
                            "ORDER BY seq").fetchall()


def wait_for(check: Any, what: str, seconds: float = 60.0, poke: Any = None) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        if poke is not None:
            poke()
        time.sleep(0.2)


def test_callbacks_queued_on_two_processes_while_the_merchant_is_down_arrive_once_each(two_ports, receiver):
    (ports, _, url), (merchant_port, start_merchant) = two_ports, receiver
    invoices = [f"{710000100 + n}" for n in range(10)]
    for n, invoice in enumerate(invoices):  # split across both processes
        status, answer = pay(ports[n % 2], invoice, f"http://127.0.0.1:{merchant_port}/cb/{invoice}")
        assert status == 200, answer
    wait_for(lambda: all(len(d["attempts"]) >= 1 for port in ports
                         for d in call(port, "GET", "/_mock/deliveries?limit=100")[1]["deliveries"]),
             "the first failed attempt of every callback")
    start_merchant()

    def all_final() -> bool:
        kept = stored_deliveries(url)
        return len(kept) == len(invoices) and all(status != "pending" for _, status, _, _ in kept)

    # the clock moved on one process: the other follows, and the retries are due at once on both
    wait_for(all_final, "every callback delivered", poke=lambda: call(ports[0], "POST",
                                                                       "/_mock/clock/advance?seconds=60"))
    assert sorted((inv, status) for inv, status, _, _ in stored_deliveries(url)) == [
        (inv, "delivered") for inv in invoices]
    assert Receiver.answered == Counter({f"/cb/{inv}": 1 for inv in invoices})


def test_a_process_killed_mid_attempt_leaves_its_callbacks_to_the_other_after_the_lease(two_ports, receiver):
    (ports, processes, url), (merchant_port, start_merchant) = two_ports, receiver
    Receiver.hang.set()  # the merchant accepts the requests and never answers them
    start_merchant()
    invoices = [f"{710000200 + n}" for n in range(5)]
    for invoice in invoices:
        status, answer = pay(ports[0], invoice, f"http://127.0.0.1:{merchant_port}/cb/{invoice}")
        assert status == 200, answer
    wait_for(lambda: sum(Receiver.held.values()) == len(invoices), "the first process's attempts")
    processes[0].send_signal(signal.SIGKILL)  # mid-attempt: its claims stay until their lease runs out
    processes[0].wait(10)
    claimed = stored_deliveries(url)
    assert [(status, owner is not None) for _, status, owner, _ in claimed] == [("pending", True)] * 5
    Receiver.hang.clear()
    Receiver.released.set()

    wait_for(lambda: all(status == "delivered" for _, status, _, _ in stored_deliveries(url)),
             "the second process to adopt and deliver them")
    assert Receiver.answered == Counter({f"/cb/{inv}": 1 for inv in invoices})
    listed = call(ports[1], "GET", "/_mock/deliveries?limit=100")[1]["deliveries"]
    delivered = {d["invoiceId"]: d for d in listed}
    assert sorted(delivered) == invoices and all(d["status"] == "delivered" for d in delivered.values())


def test_a_sequence_override_added_on_one_process_gives_one_of_each_over_two(two_ports):
    ports, _, _ = two_ports
    rule = {"name": "decline-then-approve", "description": "over two processes", "times": 2,
            "match": {"invoiceId": "000000901"},
            "outcomes": [{"result": "decline", "reasonCode": 465}, {"result": "approve"}]}
    status, added = call(ports[0], "POST", "/_mock/scenarios", body=rule)
    assert status in (200, 201), added
    listed = call(ports[1], "GET", "/_mock/scenarios")[1]["overrides"]
    assert [(o["name"], o["remaining"]) for o in listed] == [("decline-then-approve", 2)]
    first = pay(ports[1], "000000901", "http://127.0.0.1:9/cb")
    second = pay(ports[0], "000000901", "http://127.0.0.1:9/cb")
    assert first[1]["code"] == 465 and second == (200, second[1]) and second[1]["status"] == "CHARGE"
    assert call(ports[1], "GET", "/_mock/scenarios")[1]["overrides"] == []


def test_the_clock_advanced_on_one_process_expires_a_token_on_the_other(two_ports):
    ports, _, _ = two_ports
    _, issued = call(ports[0], "POST", TOKEN_PATH, form=token_form(invoiceID="000000902"))
    assert call(ports[1], "POST", "/_mock/clock/advance?seconds=3600")[0] == 200
    status, answer = call(ports[0], "POST", "/payments/cards/auth", token=issued["access_token"],
                          body={"amount": 100})
    assert status == 401, answer
