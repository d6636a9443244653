"""A sandbox on SQLite survives SIGKILL: payments, tokens, duplicate protection and pending callbacks.

Real processes: `python -m mock_epay serve --store sqlite:///...` on a free port; the merchant's
postLink points at a loopback port where nothing listens until after the restart.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.conftest import TOKEN_PATH, service_form, token_form
from tests.test_cards_auth import payment_body
from tests.test_cli import free_port, wait_healthy

PAYMENTS = 20


def serve(port: int, db: Path) -> subprocess.Popen:
    env = {**os.environ, "MOCK_EPAY_LOG_REQUESTS": "0"}
    process = subprocess.Popen(
        [sys.executable, "-m", "mock_epay", "serve", "--port", str(port), "--store", f"sqlite://{db}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    wait_healthy(port, time.monotonic() + 30)
    return process


def call(port: int, method: str, path: str, *, form: dict | None = None, body: Any = None,
         token: str | None = None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data = None
    if form is not None:
        data = urllib.parse.urlencode(form).encode()
    elif body is not None:
        data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
    url = f"http://127.0.0.1:{port}{path}"
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read() or b"null")


def deliveries(port: int, status: str) -> list[dict[str, Any]]:
    return call(port, "GET", f"/_mock/deliveries?status={status}&limit=100")[1]["deliveries"]


def pay(port: int, invoice: str, post_link: str) -> tuple[int, Any]:
    _, issued = call(port, "POST", TOKEN_PATH, form=token_form(invoiceID=invoice))
    return call(port, "POST", "/payments/cards/auth", token=issued["access_token"],
                body=payment_body(invoiceId=invoice, postLink=post_link, failurePostLink=post_link))


class Merchant(BaseHTTPRequestHandler):
    received: Counter[str] = Counter()

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        Merchant.received[self.path] += 1
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"OK")

    def log_message(self, *args: Any) -> None:
        pass


def test_twenty_payments_and_their_callbacks_survive_a_sigkill(tmp_path: Path):
    db = tmp_path / "sandbox.db"
    merchant_port = free_port()
    invoices = [f"{700000100 + n}" for n in range(PAYMENTS)]
    port = free_port()
    first = serve(port, db)
    try:
        _, service = call(port, "POST", TOKEN_PATH, form=service_form())
        answers = [pay(port, inv, f"http://127.0.0.1:{merchant_port}/cb/{inv}") for inv in invoices]
        assert all(status == 200 for status, _ in answers), answers[:2]
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)

    port = free_port()
    started = time.monotonic()
    second = serve(port, db)
    restart_s = time.monotonic() - started
    server = ThreadingHTTPServer(("127.0.0.1", merchant_port), Merchant)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        found = [call(port, "GET", f"/check-status/payment/transaction/{inv}", token=service["access_token"])
                 for inv in invoices]
        assert [answer["transaction"]["statusName"] for _, answer in found] == ["CHARGE"] * PAYMENTS
        status, again = pay(port, invoices[0], f"http://127.0.0.1:{merchant_port}/again")
        assert status == 400 and again["code"] == -1 and again["message"] == "dublicate transaction"

        deadline = time.monotonic() + 90  # generous: a loaded CI machine retries slowly
        while len(delivered := deliveries(port, "delivered")) < PAYMENTS and time.monotonic() < deadline:
            call(port, "POST", "/_mock/clock/advance?seconds=60")  # the resumed retries are due at once
            time.sleep(0.2)
        if sorted(d["invoiceId"] for d in delivered) != invoices:
            everyone = call(port, "GET", "/_mock/deliveries?limit=100")[1]["deliveries"]
            print("NOT DELIVERED:", [d for d in everyone if d["status"] != "delivered"])
        assert sorted(d["invoiceId"] for d in delivered) == invoices
        assert Merchant.received == Counter({f"/cb/{inv}": 1 for inv in invoices})
        attempts = sum(len(d["attempts"]) for d in delivered)
    finally:
        server.shutdown()
        second.send_signal(signal.SIGTERM)
        second.wait(20)
    print(f"\nSIGKILL after {PAYMENTS} payments; restart on the file in {restart_s:.2f} s: "
          f"{PAYMENTS}/{PAYMENTS} found by status with a pre-kill token, duplicate refused, "
          f"{len(delivered)}/{PAYMENTS} callbacks delivered once each ({attempts} attempts in all)")


def test_a_scenario_override_and_its_sequence_position_survive_a_sigkill(tmp_path: Path):
    db = tmp_path / "sandbox.db"
    rule = {"name": "twice-then-approve", "description": "survives the restart", "times": 3,
            "match": {"invoiceId": "700000901"},
            "outcomes": [{"result": "decline", "reasonCode": 465}, {"result": "decline", "reasonCode": 484},
                         {"result": "approve"}]}
    port = free_port()
    first = serve(port, db)
    try:
        assert call(port, "POST", "/_mock/scenarios", body=rule)[0] in (200, 201)
        assert pay(port, "700000901", "http://127.0.0.1:9/cb")[1]["code"] == 465
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    port = free_port()
    second = serve(port, db)
    try:
        listed = call(port, "GET", "/_mock/scenarios")[1]["overrides"]
        assert [(o["name"], o["remaining"]) for o in listed] == [("twice-then-approve", 2)]
        assert pay(port, "700000901", "http://127.0.0.1:9/cb")[1]["code"] == 484  # the second step
        status, paid = pay(port, "700000901", "http://127.0.0.1:9/cb")
        assert status == 200 and paid["status"] == "CHARGE"
        assert call(port, "GET", "/_mock/scenarios")[1]["overrides"] == []
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(20)
