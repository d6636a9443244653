"""Property-based run of schemathesis (from PyPI) against the live app on loopback, bounded in time.

For every operation of the OpenAPI document (the prefixed twins `/api`, `/epay2`,
`/redesign-payform` share their handlers, so they are left out), schemathesis generates
requests from the described schemas; no answer may be a 5xx or contradict the document
(status code, content type, body schema). Tokens: service-token operations get a real
service token, payment-token operations a real payment token, so generated bodies reach
the validation code instead of stopping at 401.

Speed keeps the run long enough to matter within CI time: one keep-alive HTTP session for all
cases, and tokens fetched once and again only after a case that may have forgotten them (a reset).

The app under test only delivers callbacks to 127.0.0.1 (`callback_allowed_hosts`), so
generated postLink URLs never cause network traffic, and waits are capped by the schema.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from mock_epay.app import create_app
from mock_epay.settings import TEST_CLIENT_ID, TEST_CLIENT_SECRET, TEST_TERMINAL_ID, Settings
from mock_epay.web.admin import callbacks as admin_callbacks
from tests.test_openapi import app_document

WAIT_CAP = 0.2
MAX_EXAMPLES = 40  # per operation (was 20); a 100-example run (~2.5 min) finds nothing more on this branch
PREFIXED = ("/api/", "/epay2/", "/redesign-payform/")
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance, content_type_conformance]


class LiveMock:
    """The mock on a free loopback port, served from a background event loop."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.runner: web.AppRunner | None = None

    def start(self) -> str:
        self.thread.start()
        return asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(timeout=20)

    async def _start(self) -> str:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        settings = Settings(log_requests=False, seed=5, callback_allowed_hosts=("127.0.0.1",),
                            callback_max_attempts=1, callback_timeout=1.0, scenario_hang_seconds=1.0,
                            scenario_time_scale=0.001)
        self.runner = web.AppRunner(create_app(settings))
        await self.runner.setup()
        await web.SockSite(self.runner, sock).start()
        return f"http://127.0.0.1:{sock.getsockname()[1]}"

    def stop(self) -> None:
        if self.runner is not None:
            asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(timeout=20)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)


def token(base_url: str, **fields: str) -> str:
    form = {"grant_type": "client_credentials", "scope": "webapi payment transfer",
            "client_id": TEST_CLIENT_ID,
            "client_secret": TEST_CLIENT_SECRET, **fields}
    request = urllib.request.Request(base_url + "/oauth2/token", data=urllib.parse.urlencode(form).encode())
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())["access_token"]


@pytest.fixture(scope="module")
def live_url() -> Iterator[str]:
    with pytest.MonkeyPatch.context() as patch:
        # Negative cases send any timeout; the app caps it, and here the cap is short.
        patch.setattr(admin_callbacks, "MAX_WAIT_SECONDS", WAIT_CAP)
        mock = LiveMock()
        url = mock.start()
        yield url
        mock.stop()


class Tokens:
    """A service and a payment token for the live mock, fetched again after a reset forgot them."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self._cache: dict[str, str] = {}

    def get(self, scheme: str) -> str:
        if scheme not in self._cache:
            fields = {"invoiceID": "000000001", "amount": "100", "currency": "KZT",
                      "terminal": TEST_TERMINAL_ID} if scheme == "paymentToken" else {}
            self._cache[scheme] = token(self.base_url, **fields)
        return self._cache[scheme]

    def forget(self) -> None:
        self._cache.clear()


@pytest.fixture(scope="module")
def tokens(live_url: str) -> Tokens:
    return Tokens(live_url)


@pytest.fixture(scope="module")
def session() -> Iterator[requests.Session]:
    with requests.Session() as shared:
        yield shared


@pytest.fixture(scope="module")
def openapi_schema() -> Any:
    document = app_document()
    document["paths"] = {p: ops for p, ops in document["paths"].items() if not p.startswith(PREFIXED)}
    for parameter in document["paths"]["/_mock/callbacks/wait"]["get"]["parameters"]:
        if parameter["name"] == "timeout":
            parameter["schema"]["maximum"] = WAIT_CAP  # the app allows 60 s; the run must stay short
    return schemathesis.openapi.from_dict(document)


schema = schemathesis.pytest.from_fixture("openapi_schema")


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
          phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
def test_no_server_errors_and_no_answer_contradicts_the_description(case, live_url, tokens, session):
    security = case.operation.definition.raw.get("security") or [{}]
    scheme = next(iter(security[0]), None)
    headers = {}
    if scheme in ("serviceToken", "paymentToken"):
        headers["Authorization"] = f"Bearer {tokens.get(scheme)}"
    if case.operation.path == "/_mock/callbacks/wait" and "timeout" not in (case.query or {}):
        case.query = {**(case.query or {}), "timeout": str(WAIT_CAP)}  # the default would be 5 s
    try:
        case.call_and_validate(base_url=live_url, session=session, headers=headers, checks=CHECKS,
                               timeout=10)
    finally:
        if case.operation.path == "/_mock/reset":
            tokens.forget()
