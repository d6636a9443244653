"""Test helpers: `MockEpay`, a handle on a running mock, and `MockEpayServer`, which runs one in-process.

`MockEpay` knows the URLs and the default merchant's credentials, and wraps the admin
API under `/_mock/` (scenario overrides, deliveries, waiting for a callback, the clock,
reset). It talks HTTP only, so the same handle works for a server started by the pytest
fixtures, by `MockEpayServer` in a unittest/Django test case, or in a Docker container
(`MockEpay.connect("http://localhost:8080", admin_token=...)`).

`handle.create_merchant()` makes a merchant of its own on the server (`POST /_mock/merchants`)
and returns a handle bound to it: its credentials, terminal and saved cards, and helpers
scoped to it (deliveries, waiting for a callback, reset, scenario overrides aimed at its
terminal), so tests sharing one server never see each other's payments.

Every helper is synchronous (stdlib `urllib`, no extra dependency). In async tests use
`handle.aio.<helper>(...)`: the same call run in a worker thread, so the test's event
loop keeps serving (an aiohttp merchant on that loop can receive the callback meanwhile).
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from mock_epay.settings import (
    TEST_ACCOUNT_ID,
    TEST_CLIENT_ID,
    TEST_CLIENT_SECRET,
    TEST_SAVED_CARDS,
    TEST_TERMINAL_ID,
    Settings,
)

__all__ = ["MockEpay", "MockEpayError", "MockEpayServer", "SAVED_CARDS"]

# The default merchant's saved cards for account `testuser1`, by a short name.
SAVED_CARDS: dict[str, str] = {
    "visa": TEST_SAVED_CARDS[0].id or "",
    "mastercard": TEST_SAVED_CARDS[1].id or "",
    "locked": TEST_SAVED_CARDS[2].id or "",
}
_START_TIMEOUT = 30.0
_STOP_TIMEOUT = 30.0


class MockEpayError(Exception):
    """An admin API call that did not succeed; carries the HTTP status and the bank-format body."""

    def __init__(self, method: str, url: str, status: int, body: Any) -> None:
        message = body.get("message") if isinstance(body, dict) else None
        super().__init__(f"{method} {url} -> HTTP {status}: {message or body}")
        self.status = status
        self.body = body
        self.code = body.get("code") if isinstance(body, dict) else None


@dataclass
class MockEpay:
    """Where a mock-epay server is and how to drive it; helpers call its admin API over HTTP."""

    base_url: str
    admin_token: str | None = None
    client_id: str = TEST_CLIENT_ID
    client_secret: str = TEST_CLIENT_SECRET
    terminal_id: str = TEST_TERMINAL_ID
    account_id: str = TEST_ACCOUNT_ID
    card_ids: Mapping[str, str] = field(default_factory=lambda: dict(SAVED_CARDS))
    timeout: float = 10.0
    settings: Settings | None = None  # the server's settings when it runs in this process
    scoped: bool = False  # bound to a merchant of its own: helpers see only its deliveries and state

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")

    @classmethod
    def connect(cls, base_url: str | None = None, *, admin_token: str | None = None,
                **fields: Any) -> MockEpay:
        """A handle on a server that is already running (Docker, another process).

        `base_url` defaults to $MOCK_EPAY_URL, then http://127.0.0.1:8080; `admin_token`
        defaults to $MOCK_EPAY_ADMIN_TOKEN.
        """
        url = base_url or os.environ.get("MOCK_EPAY_URL") or "http://127.0.0.1:8080"
        token = admin_token if admin_token is not None else os.environ.get("MOCK_EPAY_ADMIN_TOKEN")
        return cls(url, admin_token=token or None, **fields)

    # -- URLs a merchant configures -------------------------------------------------------
    @property
    def oauth_url(self) -> str:
        """The token endpoint, as on the legacy test host (`.../epay2/oauth2/token`)."""
        return f"{self.base_url}/epay2/oauth2/token"

    @property
    def api_url(self) -> str:
        """The API base, as on the legacy test host (`.../api`); append `/payments/cards/auth` etc."""
        return f"{self.base_url}/api"

    @property
    def widget_url(self) -> str:
        """The payment widget script (`payment-api.js`)."""
        return f"{self.base_url}/payform/payment-api.js"

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    # -- the admin API ------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        return self._call("GET", "/_mock/health")

    def request_log(self, limit: int = 100) -> list[dict[str, Any]]:
        """The last requests the mock answered (bank paths only, card numbers masked)."""
        return _unwrap(self._call("GET", "/_mock/requests", {"limit": limit}), "requests")

    def add_scenario(self, rule: Mapping[str, Any] | None = None, *, times: int = 1,
                     **rule_fields: Any) -> Any:
        """Apply a scenario rule to the next `times` matching payments, e.g.

        `add_scenario(outcome={"result": "decline", "reasonCode": 484}, times=1)`; the rule has the
        same shape as one rule of a scenario YAML file (`match`, `outcome`, ...).
        """
        body = {**(rule or {}), **rule_fields, "times": times}
        if self.scoped:  # aimed at this merchant's terminal, so other tests on the server are unaffected
            body["match"] = {"terminal": self.terminal_id, **(body.get("match") or {})}
        return self._call("POST", "/_mock/scenarios", body=body)

    def create_merchant(self, **fields: Any) -> MockEpay:
        """A new merchant on this server, and a handle bound to it (`POST /_mock/merchants`).

        `fields` are the request's, e.g. `name="job 42"`, `twoStage=True`, `autoCancelSeconds=60`,
        `savedCards=[{"accountId": "u1", "cardNumber": "4405639704015096"}]`; the handle's
        `card_ids` names each saved card by its `id` (and by its position, "0", "1", ...).
        """
        created = self._call("POST", "/_mock/merchants", body=fields)
        cards = created["savedCards"]
        card_ids = {str(n): card["id"] for n, card in enumerate(cards)}
        card_ids.update({card["id"]: card["id"] for card in cards})
        return replace(self, client_id=created["clientId"], client_secret=created["clientSecret"],
                       terminal_id=created["terminalId"],
                       account_id=cards[0]["accountId"] if cards else self.account_id,
                       card_ids=card_ids, scoped=True)

    def delete_merchant(self, client_id: str | None = None, *, force: bool = False) -> None:
        """Remove a merchant (this handle's by default) with all its data (`DELETE /_mock/merchants/...`)."""
        target = urllib.parse.quote(client_id or self.client_id, safe="")
        self._call("DELETE", f"/_mock/merchants/{target}", {"force": force} if force else None)

    def scenarios(self) -> Any:
        return self._call("GET", "/_mock/scenarios")

    def clear_scenarios(self) -> Any:
        """Drop the rules added with `add_scenario` (the loaded scenario files stay)."""
        return self._call("DELETE", "/_mock/scenarios/overrides")

    def deliveries(self, invoice_id: str | None = None, status: str | None = None) -> list[dict[str, Any]]:
        """Callback deliveries (postLink / failurePostLink attempts), optionally filtered."""
        query = {"invoiceId": invoice_id, "status": status, "clientId": self._scope}
        return _unwrap(self._call("GET", "/_mock/deliveries", query), "deliveries")

    def wait_for_callback(self, invoice_id: str, timeout: float = 10.0) -> dict[str, Any]:
        """Block until the callback for `invoice_id` was delivered or finally failed; its delivery record.

        The server long-polls (at most 60 s); no callback in time raises `MockEpayError` (HTTP 408).
        """
        query = {"invoiceId": invoice_id, "timeout": timeout, "clientId": self._scope}
        return self._call("GET", "/_mock/callbacks/wait", query, http_timeout=timeout + self.timeout)

    def advance_clock(self, seconds: float) -> Any:
        """Move the mock's clock forward (token expiry, auto-cancel, retry timers) instead of sleeping."""
        return self._call("POST", "/_mock/clock/advance", {"seconds": seconds})

    def reset(self) -> Any:
        """Forget tokens, transactions, finished deliveries and scenario overrides; the clock restarts.

        A handle bound to a merchant of its own forgets only that merchant's state."""
        return self._call("POST", "/_mock/reset", {"client_id": self._scope})

    @property
    def _scope(self) -> str | None:
        """The client id the admin helpers are limited to, or None for the whole server."""
        return self.client_id if self.scoped else None

    def cryptogram(self, card: str, exp: str, cvc: str, terminal: str | None = None) -> str:
        """A cryptogram of this card for the server's `/public.rsa` key (what `cryptogram` carries)."""
        from mock_epay.cryptogram_command import make_cryptogram

        pem = str(self._call("GET", "/public.rsa"))
        return make_cryptogram(pem, card, exp, cvc, terminal or self.terminal_id)

    def subscriptions(self) -> list[dict[str, Any]]:
        """Recurring subscriptions with their renewals (`GET /_mock/subscriptions`)."""
        return _unwrap(self._call("GET", "/_mock/subscriptions"), "subscriptions")

    @property
    def aio(self) -> AsyncMockEpay:
        """The same helpers as coroutines, for async tests."""
        return AsyncMockEpay(self)

    # -- plumbing -----------------------------------------------------------------------
    def _call(self, method: str, path: str, query: Mapping[str, Any] | None = None,
              body: Any = None, http_timeout: float | None = None) -> Any:
        url = self.url(path)
        params = {k: _query_value(v) for k, v in (query or {}).items() if v is not None}
        if params:
            url = f"{url}?{urllib.parse.urlencode(params)}"
        headers = {"Accept": "application/json"}
        data = None
        if body is None and method != "GET":
            body = {}  # state-changing admin calls are JSON, even when they carry nothing
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        if self.admin_token:
            headers["Authorization"] = f"Bearer {self.admin_token}"
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with _OPENER.open(request, timeout=http_timeout or self.timeout) as response:
                return _decode(response.read())
        except urllib.error.HTTPError as exc:
            raise MockEpayError(method, url, exc.code, _decode(exc.read())) from None


class AsyncMockEpay:
    """`MockEpay`'s helpers as coroutines (each runs in a worker thread)."""

    def __init__(self, handle: MockEpay) -> None:
        self._handle = handle

    def __getattr__(self, name: str) -> Any:
        helper = getattr(self._handle, name)
        if not callable(helper):
            raise AttributeError(name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            return await asyncio.to_thread(helper, *args, **kwargs)

        call.__name__ = name
        return call


# The mock is local: never send its admin traffic through an HTTP proxy from the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _decode(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")


def _unwrap(data: Any, key: str) -> Any:
    """`{"deliveries": [...]}` -> `[...]`; other shapes are returned unchanged."""
    if isinstance(data, dict) and isinstance(data.get(key), list):
        return data[key]
    return data


class MockEpayServer:
    """A mock-epay server on a free loopback port, run by a background thread with its own loop.

    `start()` returns when the server accepts connections; `stop()` runs the app's
    cleanup (the callback dispatcher stops) and joins the thread. Usable as a context
    manager: `with MockEpayServer() as epay: ...` (unittest, Django's test cases).
    """

    def __init__(self, settings: Settings | None = None) -> None:
        self._settings = settings or Settings()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: Any = None
        self.handle: MockEpay | None = None

    def start(self) -> MockEpay:
        if self.handle is not None:
            return self.handle
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        settings = replace(self._settings, host="127.0.0.1", port=port)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"mock-epay:{port}",
                                        daemon=True)
        self._thread.start()
        try:
            future = asyncio.run_coroutine_threadsafe(self._serve(settings, sock), self._loop)
            future.result(timeout=_START_TIMEOUT)
        except BaseException:
            sock.close()
            self._shutdown_loop()
            raise
        self.handle = MockEpay(settings.base_url, admin_token=settings.admin_token, settings=settings)
        return self.handle

    async def _serve(self, settings: Settings, sock: socket.socket) -> None:
        from aiohttp import web

        from mock_epay.app import create_app
        from mock_epay.web.app_keys import DISPATCHER
        from mock_epay.web.server import GuardedAppRunner

        app = create_app(settings)
        # The connection handler `mock-epay serve` uses: header deadline, connection cap, fast lane.
        self._runner = GuardedAppRunner(app, settings.header_timeout, access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()
        app[DISPATCHER].set_listen_addresses([(settings.host, settings.port)])

    def stop(self) -> None:
        if self._loop is None:
            return
        try:
            if self._runner is not None:
                future = asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop)
                future.result(timeout=_STOP_TIMEOUT)
        finally:
            self._runner = None
            self.handle = None
            self._shutdown_loop()

    def _shutdown_loop(self) -> None:
        loop, thread = self._loop, self._thread
        self._loop = self._thread = None
        if loop is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join(timeout=_STOP_TIMEOUT)
        pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()

    def __enter__(self) -> MockEpay:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
