"""The admin token: `/_mock/` needs it when set, the bank's paths never do, exposed servers must have one."""

from __future__ import annotations

import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from mock_epay.settings import Settings, build_settings
from mock_epay.web.admin_guard import (
    AUTO_TOKEN,
    COOKIE_NAME,
    exposure_problem,
    is_loopback,
    needs_admin_token,
    resolve_admin_token,
)
from tests.conftest import get_token
from tests.test_cards_auth import pay, payment_body
from tests.test_cli import free_port, wait_healthy

TOKEN = "s3cret-admin"


@pytest.fixture
async def guarded(make_client):
    return await make_client(Settings(log_requests=False, admin_token=TOKEN))


async def test_health_stays_open_so_ci_can_wait_on_it(guarded):
    response = await guarded.get("/_mock/health")
    assert response.status == 200
    assert (await response.json())["status"] == "ok"


async def test_admin_path_without_token_is_refused_in_bank_format(guarded):
    response = await guarded.get("/_mock/requests")
    assert response.status == 401
    body = await response.json()
    assert set(body) == {"code", "message"}
    assert body["code"] == -1
    assert "Authorization: Bearer" in body["message"] and "X-Mock-Admin-Token" in body["message"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


async def test_wrong_token_is_refused_and_says_so(guarded):
    response = await guarded.get("/_mock/requests", headers={"Authorization": "Bearer nope"})
    assert response.status == 401
    assert "wrong" in (await response.json())["message"]


@pytest.mark.parametrize("headers", [
    {"Authorization": f"Bearer {TOKEN}"},
    {"Authorization": f"bearer {TOKEN}"},
    {"X-Mock-Admin-Token": TOKEN},
])
async def test_token_in_a_header_opens_the_admin_api(guarded, headers):
    response = await guarded.get("/_mock/requests", headers=headers)
    assert response.status == 200
    assert "requests" in await response.json()


async def test_query_token_sets_a_cookie_the_browser_keeps_using(guarded):
    response = await guarded.get(f"/_mock/requests?token={TOKEN}")
    assert response.status == 200
    cookie = response.cookies[COOKIE_NAME]
    assert cookie.value == TOKEN
    assert cookie["httponly"] and cookie["path"] == "/_mock/"
    again = await guarded.get("/_mock/requests")  # the client's cookie jar sends it back
    assert again.status == 200


async def test_unknown_admin_paths_are_refused_before_they_are_looked_up(guarded):
    response = await guarded.get("/_mock/anything")
    assert response.status == 401


@pytest.mark.parametrize("path", [
    "/_mock/requests/", "/%5Fmock/requests", "/_mock/health/../requests", "/_mock//requests",
    "/_mock/static/../requests",
])
async def test_path_tricks_never_reach_an_admin_handler(guarded, path):
    response = await guarded.get(path)
    assert response.status in (401, 404)


async def test_the_banks_paths_never_need_the_admin_token(guarded):
    token = await get_token(guarded)
    response = await pay(guarded, token, payment_body())
    assert response.status == 200, await response.text()
    assert (await response.json())["status"] == "CHARGE"


async def test_without_an_admin_token_the_admin_api_is_open(client):
    response = await client.get("/_mock/requests")
    assert response.status == 200


def test_public_paths():
    assert not needs_admin_token("/payments/cards/auth")
    assert not needs_admin_token("/_mock/health")
    assert not needs_admin_token("/_mock/health/")
    assert not needs_admin_token("/_mock/static/app.css")
    assert not needs_admin_token("/_mock/acs/123")
    assert needs_admin_token("/_mock/")
    assert needs_admin_token("/_mock/staticfoo")
    assert needs_admin_token("/_mock/healthz")
    assert needs_admin_token("/_mock/scenarios")


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.1.2.3", True), ("::1", True), ("[::1]", True), ("localhost", True),
    ("0.0.0.0", False), ("::", False), ("", False), ("10.0.0.5", False), ("example.com", False),
])
def test_loopback_detection(host, loopback):
    assert is_loopback(host) is loopback


def test_exposed_server_without_token_is_refused_with_the_ways_out():
    problem = exposure_problem(Settings(host="0.0.0.0"))
    assert problem is not None
    for hint in ("--admin-token", "MOCK_EPAY_ADMIN_TOKEN", "auto", "MOCK_EPAY_ALLOW_OPEN_ADMIN"):
        assert hint in problem
    assert exposure_problem(Settings(host="0.0.0.0", admin_token="t")) is None
    assert exposure_problem(Settings(host="0.0.0.0", allow_open_admin=True)) is None
    assert exposure_problem(Settings(host="127.0.0.1")) is None


def test_auto_token_is_random_unless_the_open_admin_api_was_allowed():
    first = resolve_admin_token(Settings(admin_token=AUTO_TOKEN)).admin_token
    second = resolve_admin_token(Settings(admin_token=AUTO_TOKEN)).admin_token
    assert first and second and first != second and len(first) >= 20
    assert resolve_admin_token(Settings(admin_token=AUTO_TOKEN, allow_open_admin=True)).admin_token is None
    assert resolve_admin_token(Settings(admin_token="mine")).admin_token == "mine"


def test_open_admin_opt_out_from_env_and_config(tmp_path: Path):
    assert build_settings({}, {"MOCK_EPAY_ALLOW_OPEN_ADMIN": "1"}).allow_open_admin is True
    assert build_settings({}, {"MOCK_EPAY_ALLOW_OPEN_ADMIN": "0"}).allow_open_admin is False
    config = tmp_path / "c.yaml"
    config.write_text("allow_open_admin: true\nadmin_token: abc\n")
    settings = build_settings({"config_file": config}, {})
    assert settings.allow_open_admin is True and settings.admin_token == "abc"


def test_cli_refuses_a_non_loopback_bind_without_a_token():
    # Refused before binding anything, so no socket is opened on 0.0.0.0.
    result = subprocess.run(
        [sys.executable, "-m", "mock_epay", "serve", "--host", "0.0.0.0", "--port", str(free_port())],
        capture_output=True, text=True, timeout=30, env={"PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 2
    assert "refusing to bind '0.0.0.0' without an admin token" in result.stderr
    assert "Traceback" not in result.stderr


def _get(url: str, token: str | None = None) -> int:
    request = urllib.request.Request(url, headers={"X-Mock-Admin-Token": token} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_cli_auto_token_is_generated_and_printed():
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "mock_epay", "serve", "--port", str(port), "--admin-token", AUTO_TOKEN],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        token = None
        deadline = time.monotonic() + 15
        assert process.stdout is not None
        while token is None and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            match = re.search(r"admin token \(generated.*\): (\S+)", line)
            token = match.group(1) if match else None
        assert token, "the generated token was not printed"
        base = f"http://127.0.0.1:{port}"
        assert wait_healthy(port, time.monotonic() + 15)["status"] == "ok"
        assert _get(f"{base}/_mock/requests") == 401
        assert _get(f"{base}/_mock/requests", token) == 200
    finally:
        process.terminate()
        process.communicate(timeout=10)
