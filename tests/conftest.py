"""Shared fixtures: an in-process mock gateway reached over real HTTP (pytest-aiohttp)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from importlib.metadata import entry_points
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from mock_epay.app import create_app
from mock_epay.core.clock import Clock
from mock_epay.settings import (
    TEST_CLIENT_ID,
    TEST_CLIENT_SECRET,
    TEST_TERMINAL_ID,
    Settings,
)
from mock_epay.web.server import GuardedAppRunner

TOKEN_PATH = "/epay2/oauth2/token"


def _plugin_installed() -> bool:
    """True when the installed package already registers the pytest plugin (entry point pytest11)."""
    return any(ep.value == "mock_epay.pytest_plugin" for ep in entry_points(group="pytest11"))


# An installed mock-epay loads its fixtures through the entry point; a bare checkout loads them here.
pytest_plugins = ["pytester"] + ([] if _plugin_installed() else ["mock_epay.pytest_plugin"])


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def settings() -> Settings:
    return Settings(seed=1234, log_requests=False)


class ServedTestServer(TestServer):
    """A test server with the connection handler `mock-epay serve` uses (web/server.py), so the
    fast lane answers the token route as it does in production."""

    async def _make_runner(self, **kwargs: Any) -> web.AppRunner:
        return GuardedAppRunner(self.app, 0.0, **kwargs)


def served(app: web.Application) -> ServedTestServer:
    return ServedTestServer(app)


@pytest.fixture
async def client(aiohttp_client: Any, settings: Settings, clock: Clock) -> TestClient:
    """The app as `mock-epay serve` runs it (fast lane on); tests calling `aiohttp_client(create_app())`
    themselves get aiohttp's plain runner, so the suite covers both ways to the token route."""
    return await aiohttp_client(served(create_app(settings, clock)))


@pytest.fixture
def make_client(aiohttp_client: Any, clock: Clock) -> Callable[..., Awaitable[TestClient]]:
    async def make(settings: Settings) -> TestClient:
        return await aiohttp_client(served(create_app(settings, clock)))

    return make


def token_form(**overrides: Any) -> dict[str, Any]:
    """A payment-token request for the public test merchant."""
    form: dict[str, Any] = {
        "grant_type": "client_credentials",
        "scope": "webapi usermanagement email_send verification statement statistics payment",
        "client_id": TEST_CLIENT_ID,
        "client_secret": TEST_CLIENT_SECRET,
        "invoiceID": "000000001",
        "amount": "100",
        "currency": "KZT",
        "terminal": TEST_TERMINAL_ID,
    }
    form.update(overrides)
    return {k: v for k, v in form.items() if v is not None}


def service_form(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {"invoiceID": None, "amount": None, "currency": None, "terminal": None}
    fields.update(overrides)
    return token_form(**fields)


async def get_token(client: TestClient, **overrides: Any) -> str:
    response = await client.post(TOKEN_PATH, data=token_form(**overrides))
    assert response.status == 200, await response.text()
    return (await response.json())["access_token"]


async def get_service_token(client: TestClient, **overrides: Any) -> str:
    response = await client.post(TOKEN_PATH, data=service_form(**overrides))
    assert response.status == 200, await response.text()
    return (await response.json())["access_token"]
