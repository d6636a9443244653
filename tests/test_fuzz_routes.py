"""Hostile requests to every route the app registers never get a 5xx, a malformed error or a traceback.

The routes come from `app.router.routes()`, so a new endpoint is fuzzed without touching this file.
Requests go over real HTTP to the in-process app (aiohttp's test server): hostile methods, path ids,
query strings, headers (tokens that are real, wrong, huge or non-ASCII) and bodies (JSON with huge
integers, NaN, lone surrogates, deep nesting and wrong types; forms and multipart with invalid UTF-8;
raw bytes), under every content type. Two passes: a fixed sweep (each route x each hostile body) and a
bounded hypothesis run (derandomized, so CI sees the same examples every time).

Chaos amounts (7xxx) and real scenario names are never generated: those 5xx are documented answers.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from yarl import URL

from mock_epay.app import create_app
from mock_epay.core.lzstring import compress_to_encoded_uri_component
from mock_epay.settings import (
    TEST_CABINET_LOGIN,
    TEST_CABINET_PASSWORD,
    TEST_CLIENT_ID,
    TEST_CLIENT_SECRET,
    TEST_P2P_TERMINAL_ID,
    TEST_SHOP_ID,
    TEST_TERMINAL_ID,
    Settings,
)
from mock_epay.web.admin import callbacks as admin_callbacks
from tests.conftest import served

MAX_EXAMPLES = 500
WATCHED_LOGGERS = ("aiohttp.server", "aiohttp.web", "aiohttp.access", "mock_epay")
VISA_CARD_ID = "e7e2587f-de26-4f41-ae1f-80c1fea31728"
STATUS_PATHS = re.compile(r"^(/api)?/check-status/")  # answers {"resultCode", "resultMessage"}

PLAUSIBLE: dict[str, Any] = {
    "grant_type": "client_credentials", "scope": "webapi payment", "client_id": TEST_CLIENT_ID,
    "client_secret": TEST_CLIENT_SECRET, "invoiceID": "000000001", "invoiceId": "000000001",
    "amount": 100, "currency": "KZT", "terminal": TEST_TERMINAL_ID, "terminalId": TEST_TERMINAL_ID,
    "description": "fuzz", "cardId": {"id": VISA_CARD_ID}, "accountId": "testuser1", "name": "A B",
    "email": "a@b.kz", "phone": "77000000000", "language": "rus", "paymentType": "cardId",
    "postLink": "http://127.0.0.1:9/cb", "failurePostLink": "http://127.0.0.1:9/fail",
    "backLink": "http://127.0.0.1:9/ok", "recurrent": False, "data": "{}", "externalID": "e1",
    "seconds": 1, "times": 1, "match": {"amount": 1}, "outcome": {"preset": "insufficient_funds"},
    "url": "http://127.0.0.1:9/forge", "body": {"x": 1}, "cardNumber": "4405639704015096",
    "expiry": "01/30", "cvc": "123", "holder": "A B", "code": "1234", "MD": "x", "PaRes": "Y",
    "TermUrl": "http://127.0.0.1:9/term", "isShortForm": "true", "secret_hash": "s",
    # the products' fields (tests/test_fuzz_products.py starts from each product's own valid body)
    "cryptogram": json.dumps({"hpan": "4405639704015096", "expDate": "0127", "cvc": "321"}), "cardSave": True,
    "shop_id": TEST_SHOP_ID, "invoice_id": "000000001", "expire_period": "1d", "transactionId": VISA_CARD_ID,
    "paymentFrequency": "MONTHLY", "billNumber": "100000000001",
    "order": {"id": "000000001", "amount": 100, "currency": "KZT", "terminalId": TEST_P2P_TERMINAL_ID},
    "card": {"sender": {"transferType": "TYPEPAN", "cardCred": "4405639704015096", "cvc": "321",
                        "expire": {"month": "01", "year": "27"}},
             "receiver": {"transferType": "TYPEPAN", "cardCred": "5522042705066736"}},
    "paging": {"page": 0, "size": 10}, "orderParameters": [{"field": "created_date", "typeOrder": "DESC"}],
    "searchParameters": [{"name": "created_date", "method": "between",
                          "searchParameter": ["2020-01-01T00:00:00Z", "2100-01-01T00:00:00Z"]}],
}
INVOICE_FIELDS = ("invoiceID", "invoiceId", "invoice_id")
QUERY_NAMES = ("limit", "amount", "timeout", "seconds", "params", "token", "client_id", "clientId",
               "invoiceId", "transactionId", "deliveryId", "status", "kind", "externalID", "Access",
               "isShortForm", "mockAutoPay", "mockAutoPayMs", "MD", "TermUrl", "result", "reference")
HOSTILE_TEXT = ("", " ", "\ud800", "a\udfffb", "\x00", "9" * 5000, "-0", "NaN", "Infinity", "1e400",
                "\u00b3", "\u0663", "\U0001d7d8", "../../etc/passwd", "%", "%zz", "<script>", "' OR 1=1",
                "жетон", "x" * 3000, "0", "-1", "1.5", "true", "null", "{}", "[]")
JSON_LITERALS = ("9" * 5000, "-" + "9" * 5000, "1e400", "-1e400", "NaN", "Infinity", "-Infinity", "-0",
                 "1E-400", "0.001", '"\\ud800"', '"\\udfff\\ud800x"', "[" * 3000 + "]" * 3000,
                 '{"a": ' * 500 + "1" + "}" * 500, "true", "null", "{}", "[]", '""', "12345678901234567890",
                 '"7500"', "-100", "1.123", '"' + "x" * 20000 + '"')
CONTENT_TYPES = ("application/json", "application/json; charset=utf-8", "text/plain",
                 "application/x-www-form-urlencoded", "multipart/form-data; boundary=B",
                 "multipart/form-data", "application/xml", "application/vnd.api+json", "image/png",
                 "text/html; charset=latin-1", "жжж/ж", "application/json; charset=nonsense", None)
AUTH_KINDS = ("none", "service", "payment", "transfer", "password", "garbage", "non-ascii", "basic", "huge",
              "typo-header")
METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "PROPFIND")


def raw_quote(text: str) -> str:
    """Percent-encode any text, lone surrogates included (as the invalid UTF-8 bytes they stand for)."""
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


def json_with(fields: dict[str, Any], replaced: dict[str, str]) -> str:
    """`fields` as JSON text with each of `replaced` set to a literal (which json.dumps cannot write)."""
    parts = [f"{json.dumps(k)}: {json.dumps(v)}" for k, v in fields.items() if k not in replaced]
    parts += [f"{json.dumps(k)}: {literal}" for k, literal in replaced.items()]
    return "{" + ", ".join(parts) + "}"


def form_with(fields: dict[str, Any], replaced: dict[str, str]) -> bytes:
    values = {**{k: v if isinstance(v, str) else json.dumps(v) for k, v in fields.items()}, **replaced}
    return "&".join(f"{raw_quote(k)}={raw_quote(v)}" for k, v in values.items()).encode("ascii")


def multipart_with(fields: dict[str, Any], replaced: dict[str, str], *, file_part: bool) -> bytes:
    values = {**{k: v if isinstance(v, str) else json.dumps(v) for k, v in fields.items()}, **replaced}
    parts = [b'--B\r\nContent-Disposition: form-data; name="' + k.encode("utf-8", "surrogatepass")
             + b'"\r\n\r\n' + v.encode("utf-8", "surrogatepass") + b"\r\n" for k, v in values.items()]
    if file_part:
        parts.append(b'--B\r\nContent-Disposition: form-data; name="f"; filename="a.bin"\r\n'
                     b"Content-Type: application/octet-stream\r\n\r\n\xff\xfe\x00\r\n")
    return b"".join(parts) + b"--B--\r\n"


@dataclass
class HostileRequest:
    method: str
    path: str
    query: str = ""
    auth: str = "none"
    content_type: str | None = None
    body: bytes = b""
    extra_headers: dict[str, str] = field(default_factory=dict)
    route: str = ""  # the route template the request was made from
    invoice: str = "000000001"  # the body's invoice (and order) id: a payment token is minted for it


@dataclass
class Target:
    """The app on the test server, its event loop, and what it logged at ERROR or with a traceback."""

    loop: asyncio.AbstractEventLoop
    client: TestClient
    problems: list[logging.LogRecord]
    seen: list[str] = field(default_factory=list)

    def run(self, coroutine: Any) -> Any:
        return self.loop.run_until_complete(coroutine)

    async def token(self, payment: bool, invoice: str = "000000001", scope: str = "webapi payment") -> str:
        form = {k: PLAUSIBLE[k] for k in ("grant_type", "client_id", "client_secret")} | {"scope": scope}
        if payment:
            form.update(invoiceID=invoice, amount="100", currency="KZT", terminal=TEST_TERMINAL_ID)
        if scope == "cabinet":  # the password grant of invoice links
            form = {"grant_type": "password", "username": TEST_CABINET_LOGIN,
                    "password": TEST_CABINET_PASSWORD}
        response = await self.client.post("/oauth2/token", data=form)
        assert response.status == 200, await response.text()
        return (await response.json())["access_token"]

    async def headers_for(self, request: HostileRequest) -> dict[str, str]:
        headers = dict(request.extra_headers)
        if request.content_type is not None:
            headers["Content-Type"] = request.content_type
        auth = request.auth
        if auth in ("service", "payment"):
            headers["Authorization"] = f"Bearer {await self.token(auth == 'payment', request.invoice)}"
        elif auth in ("transfer", "password"):
            scope = "transfer" if auth == "transfer" else "cabinet"
            headers["Authorization"] = f"Bearer {await self.token(False, scope=scope)}"
        elif auth == "garbage":
            headers["Authorization"] = "Bearer not-a-token"
        elif auth == "non-ascii":
            headers["Authorization"] = "Bearer жетон\u00e9"
            headers["X-Mock-Admin-Token"] = "ток\u00e9н"
        elif auth == "basic":
            headers["Authorization"] = "Basic dGVzdDp0ZXN0"
        elif auth == "huge":
            headers["Authorization"] = "Bearer " + "a" * 6000
        elif auth == "typo-header":
            headers["Authorize"] = f"bearer {await self.token(False)}"
        return headers

    async def send(self, request: HostileRequest) -> None:
        self.problems.clear()
        url = URL(request.path + (f"?{request.query}" if request.query else ""), encoded=True)
        headers = await self.headers_for(request)
        response = await self.client.request(request.method, url, data=request.body or None,
                                             headers=headers, allow_redirects=False,
                                             skip_auto_headers=("Content-Type",))
        text = await response.read()
        where = f"{request.method} {request.path[:120]}?{request.query[:120]} ({request.content_type})"
        self.seen.append(request.route)
        assert response.status < 500, f"{where} -> {response.status}: {text[:300]!r}"
        if response.content_type == "application/json" and text and request.method != "HEAD":
            body = json.loads(text)
            if 400 <= response.status < 500:
                check_error_shape(request.path, body, where)
        assert not self.problems, f"{where} logged: {[_logged(r) for r in self.problems]}"


def _logged(record: logging.LogRecord) -> str:
    return logging.Formatter().format(record)[-1500:]


def check_error_shape(path: str, body: Any, where: str) -> None:
    if STATUS_PATHS.match(path) and isinstance(body, dict) and set(body) == {"resultCode", "resultMessage"}:
        return  # the status call's documented not-found answer
    assert isinstance(body, dict) and set(body) == {"code", "message"}, f"{where}: {body!r}"
    assert isinstance(body["code"], int) and not isinstance(body["code"], bool), f"{where}: {body!r}"
    assert isinstance(body["message"], str), f"{where}: {body!r}"


class _Collector(logging.Handler):
    def __init__(self, problems: list[logging.LogRecord]) -> None:
        super().__init__(logging.DEBUG)
        self.problems = problems

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info or record.levelno >= logging.ERROR:
            self.problems.append(record)


def fuzz_settings() -> Settings:
    return Settings(log_requests=True, seed=7, callback_allowed_hosts=("127.0.0.1",), callback_max_attempts=1,
                    callback_timeout=0.2, scenario_hang_seconds=0.2, scenario_time_scale=0.001)


def routes_of(app: web.Application) -> list[tuple[str, str]]:
    return [(route.method, route.resource.canonical) for route in app.router.routes()
            if route.resource is not None]


async def _started_client() -> TestClient:
    client = TestClient(served(create_app(fuzz_settings())))  # as `mock-epay serve` runs it (fast lane)
    await client.start_server()
    return client


@contextmanager
def running_target() -> Iterator[Target]:
    """The fuzzing app on a test server, with the watched loggers collecting problems."""
    problems: list[logging.LogRecord] = []
    collector = _Collector(problems)
    loggers = [logging.getLogger(name) for name in WATCHED_LOGGERS]
    for logger in loggers:
        logger.addHandler(collector)
    loop = asyncio.new_event_loop()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(admin_callbacks, "MAX_WAIT_SECONDS", 0.05)  # generated waits stay short
        client = loop.run_until_complete(_started_client())
        try:
            yield Target(loop, client, problems)
        finally:
            loop.run_until_complete(client.close())
            loop.close()
            for logger in loggers:
                logger.removeHandler(collector)


@pytest.fixture(scope="module")
def target() -> Iterator[Target]:
    with running_target() as running:
        yield running


APP_ROUTES = routes_of(create_app(fuzz_settings()))


def fill(template: str, value: str) -> str:
    return re.sub(r"\{[^}]+\}", lambda _: raw_quote(value), template)


def params_value(replaced: dict[str, str]) -> str:
    """A `?params=` value as halyk.pay makes it, from the plausible payment object with `replaced` fields."""
    return compress_to_encoded_uri_component(json_with(PLAUSIBLE, replaced))


# -- the fixed sweep: every route, every hostile body ------------------------------------------------

SWEEP_BODIES: list[tuple[str | None, bytes]] = [
    ("application/json", json_with(PLAUSIBLE, {"amount": "9" * 5000}).encode()),
    ("application/json", json_with(PLAUSIBLE, {"email": '"\\ud800"', "scope": '"\\udfff"'}).encode()),
    ("application/json", json_with(PLAUSIBLE, {"amount": "NaN", "seconds": "1e400"}).encode()),
    ("text/plain", ('{"a": ' + "[" * 100_000 + "]" * 100_000 + "}").encode()),
    ("application/x-www-form-urlencoded", form_with(PLAUSIBLE, {"scope": "\ud800", "amount": "9" * 5000})),
    ("multipart/form-data; boundary=B", multipart_with(PLAUSIBLE, {"email": "\udfff"}, file_part=True)),
    ("application/octet-stream", b"\xff\xfe\x00\x80garbage"),
]
SWEEP_QUERY = "&".join(f"{name}={raw_quote(value)}" for name, value in (
    ("limit", "\u00b3"), ("timeout", "9" * 5000), ("amount", "\ud800"), ("clientId", "\udfff"),
    ("params", params_value({"description": '"\\ud800"'})), ("seconds", "NaN")))


@pytest.mark.parametrize(("method", "template"), APP_ROUTES, ids=[f"{m} {t}" for m, t in APP_ROUTES])
def test_every_route_answers_hostile_bodies_and_ids_without_a_5xx(target, method, template):
    path = fill(template, "\ud800")
    for content_type, body in SWEEP_BODIES:
        target.run(target.send(HostileRequest(method, path, SWEEP_QUERY, "service", content_type, body)))
    target.run(target.send(HostileRequest(method, fill(template, "9" * 5000), auth="non-ascii")))


# -- the property-based run --------------------------------------------------------------------------

hostile_text = st.one_of(st.sampled_from(HOSTILE_TEXT),
                         st.text(st.characters(categories=["L", "N", "Cs", "Cc", "Zs", "So"]), max_size=30))
safe_amounts = st.integers(-10**6, 10**6).filter(lambda n: not 7000 <= n <= 7999)
json_literal = st.one_of(st.sampled_from(JSON_LITERALS), safe_amounts.map(str),
                         st.floats(allow_nan=False, allow_infinity=False).map(json.dumps),
                         hostile_text.map(json.dumps))


@st.composite
def hostile_requests(draw: st.DrawFn) -> HostileRequest:
    method, template = draw(st.sampled_from(APP_ROUTES))
    if draw(st.integers(0, 4)) == 0:
        method = draw(st.sampled_from(METHODS))
    path = re.sub(r"\{[^}]+\}", lambda _: raw_quote(draw(st.one_of(
        st.sampled_from(["000000001", VISA_CARD_ID, "testuser1", "dlv-1", "payform.css"]), hostile_text))),
        template)
    names = draw(st.lists(st.one_of(st.sampled_from(QUERY_NAMES), hostile_text), max_size=4))
    query_values = {name: draw(hostile_text) for name in names}
    if "params" in query_values and draw(st.booleans()):
        query_values["params"] = params_value(draw(st.dictionaries(st.sampled_from(sorted(PLAUSIBLE)),
                                                                   json_literal, max_size=2)))
    query = "&".join(f"{raw_quote(k)}={raw_quote(v)}" for k, v in query_values.items())
    invoice = f"{draw(st.integers(1, 10**9 - 1)):09d}"  # a fresh one, so a payment is not a duplicate
    plausible = {**PLAUSIBLE, **{name: invoice for name in INVOICE_FIELDS},
                 "order": {**PLAUSIBLE["order"], "id": invoice}}
    fields = plausible if draw(st.booleans()) else {
        k: plausible[k] for k in draw(st.sets(st.sampled_from(sorted(plausible)), max_size=6))}
    keys = st.one_of(st.sampled_from(sorted(PLAUSIBLE)), hostile_text)
    kind = draw(st.sampled_from(["json", "json", "form", "multipart", "raw", "none"]))
    if kind == "json":
        body = json_with(fields, draw(st.dictionaries(keys, json_literal, max_size=3))).encode("utf-8",
                                                                                                "surrogatepass")
        content_type = draw(st.sampled_from(CONTENT_TYPES))
    elif kind in ("form", "multipart"):
        replaced = draw(st.dictionaries(keys, hostile_text, max_size=3))
        body = (form_with(fields, replaced) if kind == "form"
                else multipart_with(fields, replaced, file_part=draw(st.booleans())))
        content_type = draw(st.sampled_from(CONTENT_TYPES))
    elif kind == "raw":
        body, content_type = draw(st.binary(max_size=200)), draw(st.sampled_from(CONTENT_TYPES))
    else:
        body, content_type = b"", draw(st.sampled_from((None, "application/json", "text/plain")))
    extra = draw(st.sampled_from([{}, {"Origin": "http://127.0.0.1"}, {"Accept": "*/*"},
                                  {"Cookie": "mock_epay_admin_token=\u00e9"},
                                  {"X-Mock-Scenario": "no-such-rule"}]))
    return HostileRequest(method, path, query, draw(st.sampled_from(AUTH_KINDS)), content_type, body, extra,
                          route=template, invoice=invoice)


def test_hostile_requests_to_any_route_get_a_4xx_in_the_banks_format_and_log_no_traceback(target):
    @settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(hostile_requests())
    def check(request: HostileRequest) -> None:
        target.run(target.send(request))

    target.seen.clear()
    check()
    templates = {template for _, template in APP_ROUTES}
    assert len(target.seen) >= MAX_EXAMPLES
    assert len(set(target.seen) & templates) > len(templates) // 3  # the sweep above covers every one
