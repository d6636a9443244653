"""The pytest plugin as a merchant's test suite uses it: a Flask shop (sync) and an aiohttp shop (async)
pay through the `mock_epay` fixture and see the callback, without a single sleep."""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
from aiohttp import ClientSession, web
from flask import Flask, jsonify
from flask import request as flask_request
from werkzeug.serving import make_server

from mock_epay.app import create_app
from mock_epay.testing import MockEpay, MockEpayError, MockEpayServer


def has_route(method: str, path: str) -> bool:
    """Whether the app serves `method path` (admin endpoints land from parallel work)."""
    app = create_app()
    return any(r.method == method and r.resource is not None
               and r.resource.canonical.replace("{_slash}", "").rstrip("/") == path
               for r in app.router.routes())


needs_scenarios_api = pytest.mark.skipif(not has_route("POST", "/_mock/scenarios"),
                                         reason="POST /_mock/scenarios has not landed yet")

# ---------------------------------------------------------------------------------------------
# A tiny Flask shop, written the way a merchant writes one: requests to the bank, a postLink view.


def flask_shop(epay: MockEpay) -> Flask:
    app = Flask("shop")
    app.config.update(EPAY=epay, PUBLIC_URL="", PAID={})

    @app.post("/orders/<invoice_id>/pay")
    def pay(invoice_id: str) -> Any:
        bank = app.config["EPAY"]
        token = requests.post(bank.oauth_url, data={
            "grant_type": "client_credentials", "scope": "webapi payment",
            "client_id": bank.client_id, "client_secret": bank.client_secret,
            "invoiceID": invoice_id, "amount": "2500", "currency": "KZT", "terminal": bank.terminal_id,
        }, timeout=10).json()["access_token"]
        answer = requests.post(f"{bank.api_url}/payments/cards/auth", json={
            "amount": 2500, "currency": "KZT", "name": "TEST", "terminalId": bank.terminal_id,
            "invoiceId": invoice_id, "description": "order", "accountId": bank.account_id,
            "email": "buyer@example.com", "phone": "77001112233", "language": "rus",
            "postLink": f"{app.config['PUBLIC_URL']}/epay/postlink",
            "failurePostLink": f"{app.config['PUBLIC_URL']}/epay/postlink",
            "paymentType": "cardId", "cardId": {"id": bank.card_ids["visa"]},
        }, headers={"Authorization": f"Bearer {token}"}, timeout=10)
        return jsonify(answer.json()), answer.status_code

    @app.post("/epay/postlink")
    def postlink() -> Any:
        body = flask_request.get_json()
        app.config["PAID"][body["invoiceId"]] = body
        return "", 200

    return app


@pytest.fixture
def live_flask_shop(mock_epay: MockEpay) -> Iterator[Flask]:
    """The shop served on a free loopback port (like Django's LiveServerTestCase), so postLinks reach it."""
    app = flask_shop(mock_epay)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    app.config["PUBLIC_URL"] = f"http://127.0.0.1:{server.port}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield app
    server.shutdown()
    thread.join(timeout=10)


def test_sync_flask_shop_pays_and_receives_the_postlink(mock_epay, live_flask_shop):
    response = live_flask_shop.test_client().post("/orders/000000123/pay")
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["status"] == "CHARGE"

    delivery = mock_epay.wait_for_callback("000000123")

    assert delivery["status"] == "delivered" and delivery["body"]["code"] == "ok"
    paid = live_flask_shop.config["PAID"]["000000123"]
    assert paid["code"] == "ok" and paid["amount"] == 2500 and paid["invoiceId"] == "000000123"


# ---------------------------------------------------------------------------------------------
# The same story in an async shop (aiohttp), on the test's own event loop.


def aiohttp_shop(epay: MockEpay, paid: dict[str, dict]) -> web.Application:
    async def pay(request: web.Request) -> web.Response:
        invoice_id = request.match_info["invoice_id"]
        public_url = f"{request.scheme}://{request.host}"
        async with ClientSession() as http:
            async with http.post(epay.oauth_url, data={
                "grant_type": "client_credentials", "scope": "webapi payment",
                "client_id": epay.client_id, "client_secret": epay.client_secret,
                "invoiceID": invoice_id, "amount": "990", "currency": "KZT", "terminal": epay.terminal_id,
            }) as token_answer:
                token = (await token_answer.json())["access_token"]
            async with http.post(f"{epay.api_url}/payments/cards/auth", json={
                "amount": 990, "currency": "KZT", "name": "TEST", "terminalId": epay.terminal_id,
                "invoiceId": invoice_id, "description": "order", "accountId": epay.account_id,
                "postLink": f"{public_url}/epay/postlink", "language": "rus",
                "paymentType": "cardId", "cardId": {"id": epay.card_ids["mastercard"]},
            }, headers={"Authorization": f"Bearer {token}"}) as answer:
                return web.json_response(await answer.json(), status=answer.status)

    async def postlink(request: web.Request) -> web.Response:
        body = await request.json()
        paid[body["invoiceId"]] = body
        return web.Response()

    app = web.Application()
    app.router.add_post("/orders/{invoice_id}/pay", pay)
    app.router.add_post("/epay/postlink", postlink)
    return app


async def test_async_aiohttp_shop_pays_and_receives_the_postlink(mock_epay, aiohttp_client):
    paid: dict[str, dict] = {}
    shop = await aiohttp_client(aiohttp_shop(mock_epay, paid))

    response = await shop.post("/orders/000000456/pay")
    assert response.status == 200, await response.text()
    assert (await response.json())["status"] == "CHARGE"

    delivery = await mock_epay.aio.wait_for_callback("000000456")

    assert delivery["status"] == "delivered"

    assert paid["000000456"]["code"] == "ok" and paid["000000456"]["amount"] == 990


# ---------------------------------------------------------------------------------------------
# The fixture itself.


def _status(url: str, headers: dict[str, str] | None = None) -> int:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_fixture_is_ready_when_it_returns_and_gives_urls_and_credentials(mock_epay):
    assert mock_epay.base_url.startswith("http://127.0.0.1:")
    assert not mock_epay.base_url.endswith(":0")
    assert _status(mock_epay.url("/_mock/health")) == 200  # no waiting: it already listens
    assert mock_epay.oauth_url == f"{mock_epay.base_url}/epay2/oauth2/token"
    assert mock_epay.api_url == f"{mock_epay.base_url}/api"
    assert (mock_epay.client_id, mock_epay.terminal_id) == ("test", "67e34d63-102f-4bd1-898e-370781d0074d")
    assert mock_epay.client_secret == "yF587AV9Ms94qN2QShFzVR3vFnWkhjbAK3sG"
    assert mock_epay.account_id == "testuser1"
    assert set(mock_epay.card_ids) == {"visa", "mastercard", "locked"}
    assert mock_epay.settings is not None and mock_epay.settings.base_url == mock_epay.base_url
    assert mock_epay.health()["status"] == "ok"


def test_request_log_shows_what_the_merchant_sent(mock_epay):
    answer = requests.post(mock_epay.oauth_url, data={"grant_type": "client_credentials"}, timeout=10)
    assert answer.status_code == 400
    log = mock_epay.request_log()
    assert [entry["path"] for entry in log] == ["/epay2/oauth2/token"]
    assert log[0]["status"] == 400


@pytest.mark.mock_epay(admin_token="marker-token", seed=7)
def test_marker_sets_the_servers_settings_and_the_handle_follows(mock_epay):
    assert mock_epay.settings.seed == 7
    assert mock_epay.admin_token == "marker-token"
    assert _status(mock_epay.url("/_mock/requests")) == 401
    assert mock_epay.request_log() == []  # the handle sends the token


def test_admin_errors_raise_with_the_banks_code_and_message(mock_epay):
    with MockEpayServer(mock_epay.settings.with_overrides(admin_token="right")) as guarded:
        wrong = MockEpay(guarded.base_url, admin_token="wrong")
        with pytest.raises(MockEpayError) as caught:
            wrong.request_log()
        assert caught.value.status == 401 and caught.value.code == -1
        assert "admin token is wrong" in str(caught.value)
        assert guarded.request_log() == []


def test_connect_reads_url_and_token_from_the_environment(monkeypatch):
    monkeypatch.setenv("MOCK_EPAY_URL", "http://localhost:8080/")
    monkeypatch.setenv("MOCK_EPAY_ADMIN_TOKEN", "ci-token")
    handle = MockEpay.connect()
    assert handle.base_url == "http://localhost:8080"
    assert handle.admin_token == "ci-token"
    assert handle.oauth_url == "http://localhost:8080/epay2/oauth2/token"
    assert MockEpay.connect("http://mock:8080", admin_token="x").admin_token == "x"


def test_connect_drives_a_server_started_elsewhere():
    with MockEpayServer() as started:
        remote = MockEpay.connect(started.base_url, admin_token="")
        assert remote.health()["status"] == "ok"
        assert remote.settings is None


def test_server_stops_at_teardown_and_frees_its_port():
    server = MockEpayServer()
    handle = server.start()
    assert handle.health()["status"] == "ok"
    server.stop()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(handle.url("/_mock/health"), timeout=5)
    server.stop()  # a second stop is harmless


# ---------------------------------------------------------------------------------------------
# The admin helpers, each against the endpoint it wraps.


def pay_with_saved_card(epay: MockEpay, invoice_id: str, amount: int = 100, post_link: str | None = None,
                        card: str = "visa") -> requests.Response:
    token = requests.post(epay.oauth_url, data={
        "grant_type": "client_credentials", "scope": "webapi payment", "client_id": epay.client_id,
        "client_secret": epay.client_secret, "invoiceID": invoice_id, "amount": str(amount),
        "currency": "KZT", "terminal": epay.terminal_id,
    }, timeout=10).json()["access_token"]
    body = {"amount": amount, "currency": "KZT", "name": "TEST", "terminalId": epay.terminal_id,
            "invoiceId": invoice_id, "description": "order", "accountId": epay.account_id,
            "language": "rus", "paymentType": "cardId", "cardId": {"id": epay.card_ids[card]}}
    if post_link:
        body["postLink"] = post_link
    return requests.post(f"{epay.api_url}/payments/cards/auth", json=body,
                         headers={"Authorization": f"Bearer {token}"}, timeout=10)


@pytest.fixture
def postlink_sink() -> Iterator[str]:
    """A merchant endpoint that answers 200 to anything, on its own thread (for sync tests)."""
    app = Flask("sink")
    app.add_url_rule("/cb", "cb", lambda: ("", 200), methods=["POST"])
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.port}/cb"
    server.shutdown()
    thread.join(timeout=10)


def test_deliveries_lists_the_callbacks_of_an_invoice(mock_epay, postlink_sink):
    assert pay_with_saved_card(mock_epay, "000000201", post_link=postlink_sink).status_code == 200
    assert pay_with_saved_card(mock_epay, "000000202", post_link=postlink_sink).status_code == 200
    mock_epay.wait_for_callback("000000201")
    mock_epay.wait_for_callback("000000202")

    mine = mock_epay.deliveries(invoice_id="000000201")
    assert [(d["invoiceId"], d["status"], d["url"]) for d in mine] == [
        ("000000201", "delivered", postlink_sink)]
    assert len(mock_epay.deliveries(status="delivered")) == 2
    assert mock_epay.deliveries(status="failed") == []


def test_wait_for_callback_that_never_comes_raises_with_the_mocks_reason(mock_epay):
    with pytest.raises(MockEpayError) as caught:
        mock_epay.wait_for_callback("000000999", timeout=0.1)
    assert caught.value.status == 408
    assert "no callback was queued" in str(caught.value)


def test_advance_clock_expires_a_payment_token_without_sleeping(mock_epay):
    token = requests.post(mock_epay.oauth_url, data={
        "grant_type": "client_credentials", "scope": "webapi payment", "client_id": mock_epay.client_id,
        "client_secret": mock_epay.client_secret, "invoiceID": "000000301", "amount": "100",
        "currency": "KZT", "terminal": mock_epay.terminal_id,
    }, timeout=10).json()["access_token"]
    mock_epay.advance_clock(mock_epay.settings.payment_token_ttl + 1)
    answer = requests.post(f"{mock_epay.api_url}/payments/cards/auth", json={
        "amount": 100, "currency": "KZT", "terminalId": mock_epay.terminal_id, "invoiceId": "000000301",
        "accountId": mock_epay.account_id, "paymentType": "cardId",
        "cardId": {"id": mock_epay.card_ids["visa"]},
    }, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert answer.status_code == 401


def test_reset_forgets_payments_so_an_invoice_can_be_paid_again(mock_epay_session):
    epay = mock_epay_session
    assert pay_with_saved_card(epay, "000000401").status_code == 200
    assert pay_with_saved_card(epay, "000000401").status_code == 400  # one success per invoice
    epay.reset()
    assert epay.request_log() == []
    assert pay_with_saved_card(epay, "000000401").status_code == 200


async def test_async_helpers_do_not_block_the_loop(mock_epay):
    health, log = await asyncio.gather(mock_epay.aio.health(), mock_epay.aio.request_log())
    assert health["status"] == "ok" and log == []
    with pytest.raises(AttributeError):
        mock_epay.aio.base_url  # noqa: B018 - only helpers are wrapped


@needs_scenarios_api
def test_add_scenario_applies_to_the_next_n_payments_then_clear(mock_epay):
    mock_epay.add_scenario(match={"amount": 100}, outcome={"preset": "insufficient_funds"}, times=1)
    assert mock_epay.scenarios()

    declined = pay_with_saved_card(mock_epay, "000000501")
    assert declined.status_code == 400 and declined.json()["code"] == 484
    assert pay_with_saved_card(mock_epay, "000000502").status_code == 200  # only the next one

    mock_epay.add_scenario(match={"amount": 100}, outcome={"preset": "insufficient_funds"}, times=5)
    mock_epay.clear_scenarios()
    assert pay_with_saved_card(mock_epay, "000000503").status_code == 200


@pytest.fixture
def recording_admin() -> Iterator[tuple[MockEpay, list[tuple[str, str, str | None, bytes]]]]:
    """A stand-in admin API on loopback that notes each request (method, path, Content-Type, body)."""
    seen: list[tuple[str, str, str | None, bytes]] = []

    class Recorder(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            seen.append((self.command, self.path.split("?")[0], self.headers.get("Content-Type"),
                         self.rfile.read(length)))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        do_GET = do_POST = do_DELETE = _answer

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield MockEpay(f"http://127.0.0.1:{server.server_port}"), seen
    server.shutdown()
    thread.join(timeout=10)


def test_state_changing_helpers_send_json_so_a_guarded_admin_api_accepts_them(recording_admin):
    epay, seen = recording_admin
    epay.reset()
    epay.advance_clock(5)
    epay.clear_scenarios()
    epay.add_scenario(match={"amount": 100}, outcome={"result": "approve"})
    epay.deliveries()
    changing = [(method, path, kind) for method, path, kind, _ in seen if method != "GET"]
    assert changing == [("POST", "/_mock/reset", "application/json"),
                        ("POST", "/_mock/clock/advance", "application/json"),
                        ("DELETE", "/_mock/scenarios/overrides", "application/json"),
                        ("POST", "/_mock/scenarios", "application/json")]
    assert all(json.loads(body) is not None for method, _, _, body in seen if method != "GET")
    assert seen[-1][:3] == ("GET", "/_mock/deliveries", None)  # reads send no body


# ---------------------------------------------------------------------------------------------
# Scopes, overrides and loading, as a user's own suite would see them (pytester).

_CONFTEST = """
from importlib.metadata import entry_points
_installed = any(ep.value == "mock_epay.pytest_plugin" for ep in entry_points(group="pytest11"))
pytest_plugins = [] if _installed else ["mock_epay.pytest_plugin"]
"""


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(_CONFTEST)
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    return pytester


def test_function_scope_gives_each_test_a_fresh_server_and_session_scope_shares_one(suite):
    suite.makepyfile("""
        seen = {"function": set(), "session": set()}

        def test_one(mock_epay, mock_epay_session):
            seen["function"].add(mock_epay.base_url)
            seen["session"].add(mock_epay_session.base_url)

        def test_two(mock_epay, mock_epay_session):
            seen["function"].add(mock_epay.base_url)
            seen["session"].add(mock_epay_session.base_url)

        def test_counts():
            assert len(seen["function"]) == 2
            assert len(seen["session"]) == 1
    """)
    suite.runpytest_inprocess("-p", "no:cacheprovider").assert_outcomes(passed=3)


def test_settings_fixture_can_be_overridden(suite):
    suite.makepyfile("""
        import pytest
        from mock_epay.settings import Settings

        @pytest.fixture
        def mock_epay_settings():
            return Settings(seed=42, admin_token="from-fixture")

        def test_it(mock_epay):
            assert mock_epay.settings.seed == 42
            assert mock_epay.admin_token == "from-fixture"
            assert mock_epay.health()["status"] == "ok"
    """)
    suite.runpytest_inprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_marker_with_a_config_file_and_a_wrong_setting(suite):
    suite.makefile(".yaml", epay="""
merchants:
  - client_id: shop
    client_secret: shop-secret
    terminals: [{id: 11111111-2222-3333-4444-555555555555}]
""")
    suite.makepyfile("""
        import pytest

        @pytest.mark.mock_epay(config="epay.yaml")
        def test_config(mock_epay):
            ids = [m.client_id for m in mock_epay.settings.merchants]
            assert ids == ["test", "shop"]

        @pytest.mark.mock_epay(sede=1)
        def test_typo(mock_epay):
            pass
    """)
    result = suite.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*unknown setting(s) sede*"])


def test_marker_is_registered(suite):
    result = suite.runpytest_inprocess("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.mock_epay(config=None, **settings)*"])


# ---------------------------------------------------------------------------------------------
# A merchant's project as it is on day one: plain pytest, no asyncio plugin, no asyncio_mode.

_PLAIN_PROJECT = """
import json
import threading
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

received = []


class PostLink(BaseHTTPRequestHandler):
    def do_POST(self):
        received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def shop_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), PostLink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/epay/postlink"
    server.shutdown()


def post(url, data=None, body=None, token=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if body is not None:
        data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
    elif data is not None:
        data = urllib.parse.urlencode(data).encode()
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data, headers=headers)) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())


def pay(epay, invoice_id, post_link, amount=100):
    token = post(epay.oauth_url, data={
        "grant_type": "client_credentials", "scope": "webapi payment", "client_id": epay.client_id,
        "client_secret": epay.client_secret, "invoiceID": invoice_id, "amount": str(amount),
        "currency": "KZT", "terminal": epay.terminal_id})[1]["access_token"]
    return post(f"{epay.api_url}/payments/cards/auth", token=token, body={
        "amount": amount, "currency": "KZT", "terminalId": epay.terminal_id, "invoiceId": invoice_id,
        "description": "order", "accountId": epay.account_id, "paymentType": "cardId",
        "cardId": {"id": epay.card_ids["visa"]}, "postLink": post_link})


def test_no_asyncio_plugin_is_loaded(pytestconfig):
    assert not pytestconfig.pluginmanager.has_plugin("asyncio")
    assert not pytestconfig.pluginmanager.has_plugin("aiohttp")


def test_a_paid_order_gets_its_postlink(mock_epay, shop_url):
    status, answer = pay(mock_epay, "000000123", shop_url)
    assert status == 200, answer
    delivery = mock_epay.wait_for_callback("000000123")
    assert delivery["status"] == "delivered" and received[-1]["invoiceId"] == "000000123"
    assert [d["invoiceId"] for d in mock_epay.deliveries()] == ["000000123"]


def test_a_scenario_declines_the_next_payment_then_reset(mock_epay, shop_url):
    mock_epay.add_scenario(match={}, outcome={"result": "decline", "reasonCode": 484})
    status, answer = pay(mock_epay, "000000124", shop_url)
    assert status == 400 and answer["code"] == 484
    mock_epay.advance_clock(60)
    mock_epay.reset()
    assert mock_epay.request_log() == []


def test_the_session_server_too(mock_epay_session, shop_url):
    assert pay(mock_epay_session, "000000125", shop_url)[0] == 200
    mock_epay_session.reset()
"""


def plain_pytest(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, *plugins: str) -> Any:
    """pytest in a subprocess with no plugin but mock-epay's (and `plugins`), as in a fresh project."""
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    args = ["-p", "mock_epay.pytest_plugin", "-p", "no:cacheprovider"]
    for plugin in plugins:
        args += ["-p", plugin]
    return pytester.runpytest_subprocess(*args)


def test_sync_fixtures_and_helpers_work_in_a_plain_pytest_project(pytester, monkeypatch):
    pytester.makepyfile(test_shop=_PLAIN_PROJECT)
    plain_pytest(pytester, monkeypatch).assert_outcomes(passed=4)


def test_async_tests_need_an_asyncio_plugin_as_the_docs_say(pytester, monkeypatch):
    pytester.makepyfile(test_async_shop="""
        async def test_health(mock_epay):
            assert (await mock_epay.aio.health())["status"] == "ok"
    """)
    without = plain_pytest(pytester, monkeypatch)
    without.assert_outcomes(failed=1)
    without.stdout.fnmatch_lines(["*async def functions are not natively supported*"])

    pytester.makeini("[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n")
    plain_pytest(pytester, monkeypatch, "pytest_asyncio.plugin").assert_outcomes(passed=1)
