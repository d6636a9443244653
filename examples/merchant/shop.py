"""A tiny merchant backend (stdlib only) that pays through ePay and records postLinks.

It is the `merchant` service of the example docker-compose.yml; point it at the real
bank by changing the EPAY_* variables, nothing else.

    POST /orders/<invoiceId>/pay    get a token, pay with the customer's saved card
    POST /epay/postlink             the bank's callback (postLink and failurePostLink)
    GET  /orders/<invoiceId>        what the callback said about the order (404 until it came)

Environment: EPAY_OAUTH_URL, EPAY_API_URL, EPAY_CLIENT_ID, EPAY_CLIENT_SECRET,
EPAY_TERMINAL_ID, EPAY_ACCOUNT_ID, EPAY_CARD_ID, SHOP_PUBLIC_URL (how the bank reaches
this shop), SHOP_HOST, SHOP_PORT.
"""

from __future__ import annotations

import json
import os
import re
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DEFAULTS = {
    "EPAY_OAUTH_URL": "http://127.0.0.1:8080/epay2/oauth2/token",
    "EPAY_API_URL": "http://127.0.0.1:8080/api",
    "EPAY_CLIENT_ID": "test",
    "EPAY_CLIENT_SECRET": "yF587AV9Ms94qN2QShFzVR3vFnWkhjbAK3sG",
    "EPAY_TERMINAL_ID": "67e34d63-102f-4bd1-898e-370781d0074d",
    "EPAY_ACCOUNT_ID": "testuser1",
    "EPAY_CARD_ID": "e7e2587f-de26-4f41-ae1f-80c1fea31728",
    "SHOP_PUBLIC_URL": "http://127.0.0.1:5000",
    "SHOP_HOST": "127.0.0.1",
    "SHOP_PORT": "5000",
}
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _post(url: str, data: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=data, headers=headers, method="POST")
    try:
        with _DIRECT.open(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def pay(config: Mapping[str, str], invoice_id: str, amount: int) -> tuple[int, Any]:
    """The merchant's payment: a payment token for this invoice, then cards/auth with a saved card."""
    form = urllib.parse.urlencode({
        "grant_type": "client_credentials", "scope": "webapi payment",
        "client_id": config["EPAY_CLIENT_ID"], "client_secret": config["EPAY_CLIENT_SECRET"],
        "invoiceID": invoice_id, "amount": str(amount), "currency": "KZT",
        "terminal": config["EPAY_TERMINAL_ID"],
    }).encode()
    status, token = _post(config["EPAY_OAUTH_URL"], form,
                          {"Content-Type": "application/x-www-form-urlencoded"})
    if status != 200:
        return status, token
    postlink = f"{config['SHOP_PUBLIC_URL'].rstrip('/')}/epay/postlink"
    body = json.dumps({
        "amount": amount, "currency": "KZT", "name": "TEST BUYER", "terminalId": config["EPAY_TERMINAL_ID"],
        "invoiceId": invoice_id, "description": f"order {invoice_id}", "accountId": config["EPAY_ACCOUNT_ID"],
        "language": "rus", "postLink": postlink, "failurePostLink": postlink,
        "paymentType": "cardId", "cardId": {"id": config["EPAY_CARD_ID"]},
    }).encode()
    return _post(f"{config['EPAY_API_URL'].rstrip('/')}/payments/cards/auth", body,
                 {"Content-Type": "application/json", "Authorization": f"Bearer {token['access_token']}"})


class Shop(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, config: Mapping[str, str]) -> None:
        self.config = dict(config)
        self.callbacks: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()
        super().__init__((self.config["SHOP_HOST"], int(self.config["SHOP_PORT"])), _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: Shop

    def _answer(self, status: int, body: Any) -> None:
        raw = json.dumps(body, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if self.path == "/epay/postlink":
            body = json.loads(raw or b"{}")
            with self.server.lock:
                self.server.callbacks[str(body.get("invoiceId"))] = body
            self._answer(200, {"received": True})  # the bank wants a quick 200
            return
        match = re.fullmatch(r"/orders/([0-9]{6,15})/pay", self.path)
        if match:
            amount = int(json.loads(raw or b"{}").get("amount", 1000))
            status, answer = pay(self.server.config, match.group(1), amount)
            self._answer(status, answer)
            return
        self._answer(404, {"error": "not found"})

    def do_GET(self) -> None:  # noqa: N802
        match = re.fullmatch(r"/orders/([0-9]{6,15})", self.path)
        with self.server.lock:
            callback = self.server.callbacks.get(match.group(1)) if match else None
        if callback is None:
            self._answer(404, {"error": "no callback for this order yet"})
        else:
            self._answer(200, callback)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        print(f"shop: {self.command} {self.path} -> {args[1] if len(args) > 1 else ''}", flush=True)


def main() -> None:
    config = {key: os.environ.get(key, default) for key, default in DEFAULTS.items()}
    shop = Shop(config)
    print(f"shop listening on {config['SHOP_HOST']}:{config['SHOP_PORT']}", flush=True)
    shop.serve_forever()


if __name__ == "__main__":
    main()
