"""The fast lane (web/fast_lane.py): the token route answered in the connection handler.

Each request here goes both ways, to one server as `mock-epay serve` runs it (the lane on) and to
one on aiohttp's plain runner (router, middleware, handler), both with the same seed, so the same
tokens are drawn: status, headers (but `Date`) and body must agree byte for byte. The lane must
also be taken where it should (else aiohttp's internals moved and it silently went away) and left
where a request needs aiohttp (a query, `Expect`, a charset, HTTP/1.0, `Connection: close`).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mock_epay.app import create_app
from mock_epay.core.clock import Clock
from mock_epay.settings import TEST_TERMINAL_ID, Settings
from mock_epay.web.app_keys import FAST_LANE, STORE
from mock_epay.web.fast_lane import FastLane
from tests.conftest import TOKEN_PATH, served, service_form, token_form
from tests.fuzz_mutations import HOSTILE_TEXT
from tests.test_cards_auth import payment_body

FORM = "application/x-www-form-urlencoded"


def _settings() -> Settings:
    return Settings(seed=99, log_requests=True, max_body_bytes=32768)


@pytest.fixture
async def pair(aiohttp_client: Any) -> tuple[Any, Any]:
    """(lane, plain): the same app twice, served with and without the fast lane."""
    lane = await aiohttp_client(served(create_app(_settings(), Clock())))
    plain = await aiohttp_client(create_app(_settings(), Clock()))
    return lane, plain


def _lane(client: Any) -> FastLane:
    return client.server.app[FAST_LANE]


async def _both(pair: tuple[Any, Any], path: str, body: bytes | str, content_type: str | None = FORM,
                **headers: str) -> tuple[int, dict[str, str], bytes]:
    answers = []
    for client in pair:
        sent = {"Content-Type": content_type} if content_type else {}
        sent.update(headers)
        response = await client.post(path, data=body, headers=sent)
        answers.append((response.status, _comparable(response.headers), await response.read()))
    assert answers[0] == answers[1]
    return answers[0]


def _comparable(headers: Any) -> dict[str, str]:
    return {name: value for name, value in headers.items() if name != "Date"}


def _urlencoded(form: dict[str, Any]) -> str:
    return urlencode(form)


CASES = [
    ("payment token", _urlencoded(token_form()), FORM),
    ("service token", _urlencoded(service_form()), FORM),
    ("token as JSON", json.dumps(token_form()), "application/json"),
    ("wrong secret", _urlencoded(token_form(client_secret="nope")), FORM),
    ("no grant_type", _urlencoded(token_form(grant_type=None)), FORM),
    ("unknown terminal", _urlencoded(token_form(terminal="nope")), FORM),
    ("letters in invoiceID", _urlencoded(token_form(invoiceID="12ab56")), FORM),
    ("negative amount", _urlencoded(token_form(amount="-1")), FORM),
    ("fractional amount", _urlencoded(token_form(amount="10.005")), FORM),
    ("huge amount", _urlencoded(token_form(amount="9" * 400)), FORM),
    ("lone surrogate", _urlencoded(token_form()) + "&scope=%ED%A0%80", FORM),
    ("bytes that are not UTF-8", b"grant_type=client_credentials&scope=\xff\xfe", FORM),
    ("spaces and spellings",
     _urlencoded(token_form(invoiceID=None, InvoiceID=" 000000123 ", scope=" a  b ")), FORM),
    ("postLink", _urlencoded(token_form(postLink="http://127.0.0.1:9/cb")), FORM),
    ("password grant", "grant_type=password&username=nobody&password=x&scope=webapi", FORM),
    ("too many fields", "&".join(f"f{i}=1" for i in range(1200)), FORM),
    ("empty body", "", FORM),
    ("malformed JSON", '{"grant_type": ', "application/json"),
    ("JSON that is not an object", "[1, 2]", "application/json"),
    ("deep JSON", "[" * 5000 + "]" * 5000, "application/json"),
]


@pytest.mark.parametrize(("name", "body", "content_type"), CASES, ids=[case[0] for case in CASES])
async def test_the_lane_answers_as_the_handler_does(pair: tuple[Any, Any], name: str, body: str | bytes,
                                                    content_type: str) -> None:
    lane, _ = pair
    before = _lane(lane).answered
    status, _, answer = await _both(pair, TOKEN_PATH, body, content_type)
    assert _lane(lane).answered == before + 1, "the request went past the lane"
    assert status < 500, answer
    assert json.loads(answer)  # the bank's JSON, never a traceback


@pytest.mark.parametrize("path", ["/oauth2/token", "/oauth2/token/",
                                  "/epay2/oauth2/token", "/epay2/oauth2/token/"])
async def test_every_spelling_of_the_token_path_is_on_the_lane(pair: tuple[Any, Any], path: str) -> None:
    lane, _ = pair
    before = _lane(lane).answered
    status, headers, _ = await _both(pair, path, _urlencoded(token_form()))
    assert (status, headers["Access-Control-Allow-Origin"]) == (200, "*")
    assert _lane(lane).answered == before + 1


@pytest.mark.parametrize(("path", "content_type", "headers"), [
    (TOKEN_PATH + "?x=1", FORM, {}),
    (TOKEN_PATH, FORM + "; charset=utf-8", {}),
    (TOKEN_PATH, "multipart/form-data; boundary=x", {}),
    (TOKEN_PATH, None, {}),
    (TOKEN_PATH, FORM, {"Expect": "100-continue"}),
    (TOKEN_PATH, FORM, {"Connection": "close"}),
], ids=["query", "charset", "multipart", "no content type", "expect", "connection close"])
async def test_requests_that_need_aiohttp_go_the_usual_way_and_answer_the_same(
        pair: tuple[Any, Any], path: str, content_type: str | None, headers: dict[str, str]) -> None:
    lane, _ = pair
    before = _lane(lane).answered
    body = _urlencoded(token_form()) if "multipart" not in (content_type or "") else "--x--\r\n"
    await _both(pair, path, body, content_type, **headers)
    assert _lane(lane).answered == before


async def test_a_body_over_the_limit_is_the_usual_413(pair: tuple[Any, Any]) -> None:
    status, _, answer = await _both(pair, TOKEN_PATH, _urlencoded(token_form()) + "&pad=" + "x" * 40000)
    assert status == 413, answer


async def test_the_lane_keeps_the_journal_and_the_request_log(pair: tuple[Any, Any],
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    lane, _ = pair
    response = await lane.post(TOKEN_PATH, data=token_form(invoiceID="000777001"))
    assert response.status == 200
    entries = lane.server.app[STORE].journal(1)
    journal = await (await lane.get("/_mock/requests?limit=1")).json()
    entry = journal["requests"][0]
    assert (entry["method"], entry["path"], entry["status"]) == ("POST", TOKEN_PATH, 200)
    assert "invoiceID=000777001" in entry["body"] and "access_token" in entry["responseBody"]
    assert entries[0][7] == "test"  # the merchant the entry belongs to (admin answers filter by it)
    lane.server.app[FAST_LANE]._journal.access_log.flush()
    assert f"POST {TOKEN_PATH} 200" in capsys.readouterr().err


async def test_pipelined_requests_are_answered_in_order_on_one_connection(pair: tuple[Any, Any]) -> None:
    lane, _ = pair
    reader, writer = await asyncio.open_connection("127.0.0.1", lane.server.port)
    bodies = [_urlencoded(token_form(invoiceID=f"00088800{i}")) for i in range(3)]
    bodies.insert(1, "grant_type=client_credentials")  # an error between two tokens
    raw = "".join(f"POST {TOKEN_PATH} HTTP/1.1\r\nHost: x\r\nContent-Type: {FORM}\r\n"
                  f"Content-Length: {len(body)}\r\n\r\n{body}" for body in bodies)
    writer.write(raw.encode())
    await writer.drain()
    statuses = []
    for _ in bodies:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
        statuses.append(int(head.split(b" ")[1]))
        await reader.readexactly(length)
    writer.close()
    assert statuses == [200, 400, 200, 200]


async def test_a_http_1_0_request_goes_the_usual_way() -> None:
    app = create_app(_settings(), Clock())
    server = served(app)
    await server.start_server()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        body = _urlencoded(token_form())
        writer.write(f"POST {TOKEN_PATH} HTTP/1.0\r\nContent-Type: {FORM}\r\n"
                     f"Content-Length: {len(body)}\r\n\r\n{body}".encode())
        answer = await asyncio.wait_for(reader.read(), 5)  # HTTP/1.0: the server closes after one answer
        writer.close()
    finally:
        await server.close()
    assert answer.startswith(b"HTTP/1.0 200") or answer.startswith(b"HTTP/1.1 200")
    assert app[FAST_LANE].answered == 0


def test_a_header_value_with_a_line_break_is_never_written() -> None:
    lane = create_app(_settings(), Clock())[FAST_LANE]
    response = web.Response(body=b"{}", content_type="application/json")
    response.headers["X-Bad"] = "a\r\nSet-Cookie: evil=1"
    written = lane._http_bytes(response)
    assert written.startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
    assert b"evil" not in written


TOKEN_FIELDS = ("grant_type", "scope", "client_id", "client_secret", "invoiceID", "InvoiceID", "invoiceId",
                "amount", "currency", "curency", "terminal", "terminalId", "postLink", "failurePostLink",
                "secret_hash", "username", "password", "refresh_token", "extra")
TOKEN_VALUES = st.one_of(st.sampled_from(HOSTILE_TEXT), st.text(max_size=12),
                    st.sampled_from(["client_credentials", "password", "refresh_token", "100", "KZT",
                                     "000000001", TEST_TERMINAL_ID, "test", "http://127.0.0.1:9/cb"]))


def _hostile_body(form: dict[str, Any], as_json: bool, tail: str) -> bytes:
    if as_json:
        return (json.dumps(form) + tail).encode("utf-8", "surrogatepass")
    return (urlencode(form, errors="surrogatepass") + tail).encode("ascii", "surrogateescape")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(changes=st.dictionaries(st.sampled_from(TOKEN_FIELDS), st.one_of(st.none(), TOKEN_VALUES), max_size=5),
       as_json=st.booleans(), tail=st.sampled_from(["", "&", "&&x", "%", "=%E2%82", "&a=%ff", "]"]))
def test_hostile_token_requests_answer_the_same_on_the_lane_and_off_it(
        changes: dict[str, Any], as_json: bool, tail: str) -> None:
    """Property: whatever the form or JSON body, the lane and aiohttp's handler answer alike."""
    form = {**token_form(), **{k: v for k, v in changes.items() if v is not None}}
    for name in (k for k, v in changes.items() if v is None):
        form.pop(name, None)
    body = _hostile_body(form, as_json, tail)
    content_type = "application/json" if as_json else FORM
    answers = _PAIR.answer(body, content_type)
    assert answers[0] == answers[1]
    assert answers[0][0] < 500, answers[0]


class _BothWays:
    """The two servers of the property test on a loop of their own (hypothesis runs sync tests)."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.clients: list[Any] = []

    def answer(self, body: bytes, content_type: str) -> list[tuple[int, dict[str, str], bytes]]:
        if self.loop is None:
            self.loop = asyncio.new_event_loop()
            self.clients = self.loop.run_until_complete(self._start())
        lane = self.clients[0].server.app[FAST_LANE]
        before = lane.answered
        answers = [self.loop.run_until_complete(self._post(client, body, content_type))
                   for client in self.clients]
        assert lane.answered == before + 1, "the request went past the lane"
        return answers

    async def _start(self) -> list[Any]:
        clients = [TestClient(served(create_app(_settings(), Clock()))),
                   TestClient(TestServer(create_app(_settings(), Clock())))]
        for client in clients:
            await client.start_server()
        return clients

    @staticmethod
    async def _post(client: Any, body: bytes, content_type: str) -> tuple[int, dict[str, str], bytes]:
        response = await client.post(TOKEN_PATH, data=body, headers={"Content-Type": content_type})
        return response.status, _comparable(response.headers), await response.read()

    def close(self) -> None:
        if self.loop is not None:
            for client in self.clients:
                self.loop.run_until_complete(client.close())
            self.loop.close()
            self.loop = None


_PAIR = _BothWays()


@pytest.fixture(autouse=True, scope="module")
def _close_the_pair() -> Any:
    yield
    _PAIR.close()



def _lane_counts(client: Any) -> tuple[int, int]:
    lane = _lane(client)
    return lane.answered, lane.written_ahead


async def _pay_both(pair: tuple[Any, Any], invoice: str, content_type: str = "application/json",
                    **fields: Any) -> list[tuple[int, list[tuple[str, str]], bytes]]:
    """A token, then cards/auth with it, on both servers: each one's (status, headers, body)."""
    answers = []
    for client in pair:
        form = token_form(invoiceID=invoice, amount=str(fields.get("amount", 100)))
        token = (await (await client.post(TOKEN_PATH, data=form)).json())
        body = json.dumps(payment_body(invoiceId=invoice, **fields)).encode()
        response = await client.post("/payments/cards/auth", data=body, headers={
            "Authorization": f"Bearer {token['access_token']}", "Content-Type": content_type})
        answers.append((response.status, sorted(_comparable(response.headers)), await response.read()))
    return answers


async def test_a_payment_is_answered_on_the_lane_as_its_route_answers_it(pair: tuple[Any, Any]) -> None:
    lane = pair[0]
    before = _lane_counts(lane)
    answers = await _pay_both(pair, "000555001")
    assert answers[0] == answers[1]
    assert answers[0][0] == 200
    assert json.loads(answers[0][2])["invoiceID"] == "000555001"
    assert _lane_counts(lane)[0] == before[0] + 2  # the token and the payment


async def test_a_payment_with_a_charset_is_read_ahead_and_written_in_one_pass(pair: tuple[Any, Any]) -> None:
    lane = pair[0]
    before = _lane_counts(lane)
    answers = await _pay_both(pair, "000555002", content_type="application/json; charset=utf-8")
    assert answers[0] == answers[1]
    assert answers[0][0] == 200
    assert _lane_counts(lane) == (before[0] + 1, before[1] + 1)  # token on the lane, payment read ahead


@pytest.mark.parametrize(("invoice", "fields", "status"), [
    ("000555003", {"amount": 7003}, 200),  # slow-3s: the answer waits (scaled to 3 ms)
    ("000555004", {"amount": 7777}, 504),  # hang: held for scenario_hang_seconds, then a gateway timeout
    ("000555005", {"amount": 7500}, 500),  # server-error-500 after its decision
    ("000555006", {"cardId": {"id": "no-such-card"}}, 400),
    ("000555007", {"terminalId": "other"}, 400),
])
async def test_a_payment_answer_that_waits_or_fails_is_the_same_on_the_lane(
        aiohttp_client: Any, invoice: str, fields: dict[str, Any], status: int) -> None:
    from tests.test_scenario_library import library_settings

    def settings() -> Settings:
        return library_settings(seed=5, scenario_hang_seconds=0.05)

    pair = (await aiohttp_client(served(create_app(settings(), Clock()))),
            await aiohttp_client(create_app(settings(), Clock())))
    answers = await _pay_both(pair, invoice, **fields)
    if fields.get("amount") == 7500:
        assert json.loads(answers[0][2])["code"] == json.loads(answers[1][2])["code"]
    else:
        assert answers[0] == answers[1]
    assert answers[0][0] == status
    assert _lane(pair[0]).answered == 2


async def test_a_payment_held_on_the_lane_counts_among_the_requests_in_flight(aiohttp_client: Any) -> None:
    from mock_epay.web.app_keys import IN_FLIGHT
    from tests.test_scenario_library import library_settings

    client = await aiohttp_client(served(create_app(library_settings(scenario_hang_seconds=0.5), Clock())))
    form = token_form(invoiceID="000555008", amount="7777")
    token = (await (await client.post(TOKEN_PATH, data=form)).json())
    paying = asyncio.ensure_future(client.post("/payments/cards/auth", json=payment_body(
        invoiceId="000555008", amount=7777), headers={"Authorization": f"Bearer {token['access_token']}"}))
    in_flight = client.server.app[IN_FLIGHT]
    for _ in range(100):
        if in_flight:
            break
        await asyncio.sleep(0.01)
    assert len(in_flight) == 1
    assert (await paying).status == 504
    assert not in_flight


READ_AHEAD_CASES = [
    ("GET", "/_mock/openapi.json", None, None),
    ("GET", "/no/such/path", None, None),
    ("DELETE", "/oauth2/token", None, None),
    ("POST", "/payments/cards/auth", b'{"amount": 100}', "application/json; charset=utf-8"),
    ("POST", "/payments/cards/auth", b"{", "application/json; charset=utf-8"),
    ("POST", "/operation/abc/refund", b'{"amount": 1' + b"0" * 5000 + b"}", "application/json"),
    ("POST", "/operation/abc/refund", b"", "application/json"),
    ("GET", "/check-status/payment/transaction/000000001", None, None),
    ("POST", "/_mock/clock/advance", b'{"seconds": "x"}', "application/json"),
    ("GET", "/_mock/merchants", None, None),
]


@pytest.mark.parametrize(("method", "path", "body", "content_type"), READ_AHEAD_CASES,
                         ids=[f"{c[0]} {c[1]}" for c in READ_AHEAD_CASES])
async def test_answers_written_for_requests_read_ahead_are_aiohttps_byte_for_byte(
        pair: tuple[Any, Any], method: str, path: str, body: bytes | None, content_type: str | None) -> None:
    answers = []
    for client in pair:
        headers = {"Content-Type": content_type} if content_type else {}
        response = await client.request(method, path, data=body, headers=headers)
        answers.append((response.status, _comparable(response.headers), await response.read()))
    assert answers[0] == answers[1]
    assert _lane(pair[0]).written_ahead >= 1


async def test_head_requests_and_answers_without_a_body_are_left_to_aiohttp(pair: tuple[Any, Any]) -> None:
    lane, _ = pair
    for method, path in (("HEAD", "/_mock/openapi.json"), ("OPTIONS", "/oauth2/token")):  # the 2nd: 204
        before = _lane_counts(lane)
        statuses = [(await client.request(method, path)).status for client in pair]
        assert statuses[0] == statuses[1]
        assert _lane_counts(lane) == before


def test_a_header_value_with_a_lone_carriage_return_is_never_written() -> None:
    lane = create_app(_settings(), Clock())[FAST_LANE]
    response = web.Response(body=b"{}", content_type="application/json")
    response.headers["X-Bad"] = "a\rSet-Cookie: evil=1"
    assert lane._http_bytes(response).startswith(b"HTTP/1.1 500 Internal Server Error\r\n")


def test_a_remembered_head_still_carries_this_answers_length() -> None:
    lane = create_app(_settings(), Clock())[FAST_LANE]
    for body in (b"{}", b'{"a": 1}'):
        written = lane._http_bytes(web.Response(body=body, content_type="application/json"))
        assert f"\r\nContent-Length: {len(body)}\r\n".encode() in written and written.endswith(body)


def _routed(client: Any) -> int:
    return _lane(client).routed


KNOWN_ROUTE_CASES = [
    ("POST", "/payments/cards/auth", b'{"amount": 100}', {"Content-Type": "application/json; charset=utf-8"}),
    ("GET", "/_mock/openapi.json", None, {}),
    ("POST", "/_mock/clock/advance", b'{"seconds": 1}',
     {"Content-Type": "application/json", "Origin": "https://evil.example"}),  # the admin guard refuses
    ("POST", "/_mock/clock/advance", b'{"seconds": "x"}', {"Content-Type": "application/json"}),
    ("GET", "/payments/cards/auth", None, {}),  # a method the path does not take: 405, each time
]


@pytest.mark.parametrize(("method", "path", "body", "headers"), KNOWN_ROUTE_CASES,
                         ids=[f"{c[0]} {c[1]}" for c in KNOWN_ROUTE_CASES])
async def test_a_route_met_before_skips_the_router_and_answers_the_same(
        pair: tuple[Any, Any], method: str, path: str, body: bytes | None, headers: dict[str, str]) -> None:
    """The second request to a method and plain path takes the route the router gave the first (its
    middleware included: journal, errors, admin guard), and answers as aiohttp's way does, each time."""
    lane, _ = pair
    answers: list[list[tuple[int, dict[str, str], bytes]]] = [[], []]
    for _ in range(3):
        for side, client in enumerate(pair):
            response = await client.request(method, path, data=body, headers=headers,
                                            skip_auto_headers=("Content-Type",) if body is None else ())
            answers[side].append((response.status, _comparable(response.headers), await response.read()))
    assert answers[0] == answers[1]
    if answers[0][0][0] != 405:  # a method the path does not take is never remembered
        assert _routed(lane) == 2


@pytest.mark.parametrize(("method", "path"), [("DELETE", "/oauth2/token"),  # 405
                                              ("GET", "/no/such/path"),  # 404
                                              ("GET", "/check-status/payment/transaction/000000001")])
async def test_unknown_paths_wrong_methods_and_routes_with_values_are_never_remembered(
        pair: tuple[Any, Any], method: str, path: str) -> None:
    lane, _ = pair
    statuses = [(await lane.request(method, path)).status for _ in range(3)]
    assert len(set(statuses)) == 1
    assert _routed(lane) == 0


async def test_an_expect_header_goes_through_the_router_even_on_a_known_route(pair: tuple[Any, Any]) -> None:
    lane, _ = pair
    for _ in range(2):
        assert (await lane.get("/_mock/openapi.json")).status == 200
    before = _routed(lane)
    response = await lane.post("/_mock/clock/advance", json={"seconds": 0},
                               headers={"Expect": "100-continue"})
    assert response.status == 200
    assert _routed(lane) == before


async def test_a_token_between_two_other_requests_on_one_connection_keeps_the_order(
        pair: tuple[Any, Any]) -> None:
    """Pipelined: a request the lane does not answer, then a token request, then another: the
    answers keep their order."""
    lane, _ = pair
    reader, writer = await asyncio.open_connection("127.0.0.1", lane.server.port)
    body = _urlencoded(token_form(invoiceID="000777001"))
    token = (f"POST {TOKEN_PATH} HTTP/1.1\r\nHost: x\r\nContent-Type: {FORM}\r\n"
             f"Content-Length: {len(body)}\r\n\r\n{body}")
    other = "GET /_mock/health HTTP/1.1\r\nHost: x\r\n\r\n"
    writer.write((other + token + other + token).encode())
    await writer.drain()
    kinds = []
    for _ in range(4):
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
        answer = await reader.readexactly(length)
        kinds.append("token" if b"access_token" in answer or b"invoice" in answer.lower() else "health")
    writer.close()
    assert kinds == ["health", "token", "health", "token"]


async def test_an_idle_connection_after_an_answer_on_the_lane_is_closed_at_the_keepalive_timeout() -> None:
    from mock_epay.web.server import GuardedAppRunner

    app = create_app(_settings(), Clock())
    runner = GuardedAppRunner(app, 0.0, keepalive_timeout=0.3)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        body = _urlencoded(token_form())
        writer.write(f"POST {TOKEN_PATH} HTTP/1.1\r\nHost: x\r\nContent-Type: {FORM}\r\n"
                     f"Content-Length: {len(body)}\r\n\r\n{body}".encode())
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
        await reader.readexactly(length)
        assert app[FAST_LANE].answered == 1
        assert await asyncio.wait_for(reader.read(), 3) == b""  # closed by the server, idle
        writer.close()
    finally:
        await runner.cleanup()


async def test_a_remembered_route_is_one_entry_whatever_the_query(pair: tuple[Any, Any]) -> None:
    """The router never reads the query, so requests to one path with different queries share the
    remembered route (and do not fill the memo), and each still sees its own query."""
    lane, _ = pair
    statuses = []
    for query in ("status=bogus", "limit=1", "kind=nope", "invoiceId=000123001", "status=delivered"):
        answers = [await client.get(f"/_mock/deliveries?{query}") for client in pair]
        bodies = [await answer.read() for answer in answers]
        assert bodies[0] == bodies[1]
        statuses.append(answers[0].status)
    assert statuses == [400, 200, 400, 200, 200]  # each request read its own query
    assert _routed(lane) == 4
    assert len(_lane(lane)._known) == 1
