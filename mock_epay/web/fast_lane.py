"""The fast lane: the token and `cards/auth` routes answered in the connection handler, and every
other plain answer written in one pass, past aiohttp's web layer.

**The lane's routes.** A route on the lane has an answer function `(app, request, body,
content_type) -> web.Response`, which its ordinary aiohttp handler calls too, so both paths give the
same answer (status, headers, body; only the order of the fixed headers may differ). The function
runs without awaiting; only when the answer must wait (a payment outcome's delay or hang) does it
return an awaitable of the response instead, awaited among the requests in flight. `FastLane.answer`
is offered each request first (by `GuardedRequestHandler` in web/server.py) and takes it only when
nothing about it needs aiohttp's machinery:

- a POST to a path on the lane, spelled exactly (no query, no percent-encoding);
- HTTP/1.1 with keep-alive, no `Expect`, `Content-Encoding`, `Transfer-Encoding` or `Upgrade`;
- a `Content-Length` body of at most `MAX_BODY_BYTES` (and the app's limit), already received in full;
- a `Content-Type` the route reads, without parameters.

On an idle keep-alive connection the connection handler offers the request to `answer` as soon as
its bytes arrive, before aiohttp's connection task wakes (`GuardedRequestHandler._answer_now` in
web/server.py): an answer with no wait is then written from `data_received`, counted in
`answered_on_arrival`.

It skips route resolution, the middleware frame, `request.read()`'s loop and `StreamResponse.prepare`
/ `write_eof` (the answer's head is written here in one pass), and keeps the request log and the
journal (`journal.record_answer`) and errors in the bank's format (`errors.error_answer`).

**Every other request** goes through the middleware and its handler as usual, with three shortcuts.
A route the router resolved for a method and a path as sent (a fixed path, no match values) is
remembered (`remember_route`), so the next request to it is given the same match info and the same
middleware chain without the router or `Application._handle` (`known_route`; a request with `Expect`
still takes the router, which answers `100 Continue`). When a request is plain in the same sense
(any method but HEAD, any path, no multipart body), `read_ahead` takes its body, already received,
into aiohttp's cache of the read body, so `request.read()` returns at once; and `written` gives
the whole answer as bytes when the handler returned a plain `web.Response` (a bytes body, not
prepared, a status with a body, keep-alive left alone), which the connection handler writes
instead of `prepare` / `write_eof`. Anything else (a streamed or prepared response, 204, HEAD,
`force_close`) is written by aiohttp. A body read ahead is no longer "readable"
(`request.can_read_body` is False): code asking whether a request has a body asks
`request.body_exists`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from functools import partial
from typing import Any

from aiohttp import web
from aiohttp.http import SERVER_SOFTWARE, HttpVersion11
from aiohttp.web_urldispatcher import UrlMappingMatchInfo

from mock_epay.web.app_keys import IN_FLIGHT, STORE
from mock_epay.web.errors import error_answer, internal_error
from mock_epay.web.journal import AccessLog, JournalTarget, record_answer

FastAnswer = Callable[[web.Application, web.BaseRequest, bytes, str],
                      web.StreamResponse | Awaitable[web.StreamResponse]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

MAX_BODY_BYTES = 64 * 1024  # a token or payment request is well under 1 KB
_SERVER_LINE = f"Server: {SERVER_SOFTWARE}\r\n"
_HEADS_KEPT = 256  # answer heads (status and headers) remembered; most answers repeat a few
_ROUTES_KEPT = 256  # (method, path) pairs whose route is remembered; the app has about 150 plain ones
READ_AHEAD = "mock_epay.read_ahead"  # request key: its body was read ahead, its answer may be written here


class _HttpDate:
    """The `Date` header line, formatted once a second."""

    def __init__(self) -> None:
        self._second = -1
        self._line = ""

    def line(self) -> str:
        second = int(time.time())
        if second != self._second:
            self._second = second
            self._line = time.strftime("Date: %a, %d %b %Y %H:%M:%S GMT\r\n", time.gmtime(second))
        return self._line


class Answered(web.StreamResponse):
    """What the connection handler reports for a request the lane answered: keep the connection."""

    @property
    def keep_alive(self) -> bool:
        return True


ANSWERED = Answered()


class FastLane:
    """The routes on the lane and the one function that answers them."""

    def __init__(self, app: web.Application, access_log: AccessLog, max_body_bytes: int) -> None:
        self._app = app
        self._journal = JournalTarget.of(app, access_log)  # the app's settings, store and clock are set
        self._max_body = min(MAX_BODY_BYTES, max_body_bytes)  # a larger body gets the usual 413
        self._routes: dict[str, tuple[FastAnswer, frozenset[str]]] = {}
        self._date = _HttpDate()
        self._heads: dict[tuple[Any, ...], str] = {}  # (status, reason, *headers) -> the head's text
        self._known: dict[tuple[str, str], tuple[Handler, UrlMappingMatchInfo]] = {}
        self._durable: Callable[[], Awaitable[None] | None] = getattr(app[STORE], "durable", _committed)
        self._in_flight = app[IN_FLIGHT]  # requests answered across loop turns (web/middleware.py)
        self.answered = 0  # requests answered on the lane (tests check the lane was taken)
        self.answered_on_arrival = 0  # of those, answered as they arrived, without a task (web/server.py)
        self.routed = 0  # requests whose route was known, so aiohttp's router did not resolve it
        self.written_ahead = 0  # answers written by `written` for requests read ahead

    def add(self, paths: Iterable[str], answer: FastAnswer, content_types: Iterable[str]) -> None:
        """Put POST `paths` on the lane, answered by `answer` for bodies of `content_types`."""
        for path in paths:
            self._routes[path] = (answer, frozenset(content_types))

    def on_lane(self, method: str, path: str) -> bool:
        """Whether a request's method and path (as sent) are on the lane: worth a look by `answer`."""
        return method == "POST" and path in self._routes

    def answer(self, request: web.BaseRequest) -> bytes | Awaitable[bytes] | None:
        """The whole HTTP answer to `request` (the body read and consumed), or None to go the usual way;
        an awaitable of it when the route's answer waits (a payment outcome's delay or hang)."""
        path = request.raw_path
        route = self._routes.get(path)
        if route is None or request.method != "POST":
            return None
        answer, content_types = route
        content_type = request.headers.get("Content-Type")
        if content_type not in content_types or not _plain_http(request):
            return None
        length = request.content_length
        payload = request.content
        if length is None or length > self._max_body or not payload.is_eof():
            return None
        started = time.perf_counter()
        body = payload.read_nowait(-1)
        response = self._respond(request, answer, body, content_type)
        if not isinstance(response, web.StreamResponse):
            return self._answer_later(request, response, body, started, path)
        return self._answered(request, response, body, started, path)

    def _answered(self, request: web.BaseRequest, response: web.StreamResponse, body: bytes,
                  started: float, path: str) -> bytes:
        if type(response) is not web.Response:  # no lane route streams: a bug, answered as one
            response = internal_error()
        record_answer(self._journal, request, response, body, started, path)
        self.answered += 1
        return self._http_bytes(response)

    async def _answer_later(self, request: web.BaseRequest, pending: Awaitable[web.StreamResponse],
                            body: bytes, started: float, path: str) -> bytes:
        """The answer of a route that waits, counted among the requests in flight meanwhile (a
        shutdown gives them its grace, then cancels them, as it does routed ones)."""
        task = asyncio.current_task()
        if task is not None:
            self._in_flight.add(task)
        try:
            response = await pending
        except Exception as exc:  # as `_respond`: the bank's error format, never a traceback
            response = _error_response(request, exc)
        finally:
            if task is not None:
                self._in_flight.discard(task)
        return self._answered(request, response, body, started, path)

    def durable(self) -> Awaitable[None] | None:
        """What to await before an answer leaves: the store's commit of the writes made so far
        (a SQLite store commits one turn of the loop together), or None when all are committed."""
        return self._durable()

    def internal_error_answer(self) -> bytes:
        """The bank's 500 as a whole HTTP answer, as the middleware renders an unexpected error."""
        return self._http_bytes(internal_error())

    def known_route(self, request: web.BaseRequest) -> Handler | None:
        """The handler (inside the app's middleware) of a request to a path and method whose route
        `remember_route` noted, with the request's match info set as aiohttp's router would set it;
        None to let the router resolve it."""
        known = self._known.get((request.method, request.raw_path.partition("?")[0]))
        if known is None or "Expect" in request.headers:
            return None
        handler, match_info = known
        request._match_info = match_info  # type: ignore[attr-defined]  # as Application._handle sets it
        self.routed += 1
        return handler

    def remember_route(self, request: web.BaseRequest) -> None:
        """After the router resolved `request`: remember its route when it is a plain one (a fixed
        path of this app, no match values), so the next request to the same method and path skips
        the router. Keyed by the path as sent without its query (the router never reads the query),
        so any spelling of a path resolves as the router resolved it."""
        match_info = getattr(request, "_match_info", None)
        path = request.raw_path.partition("?")[0]
        key = (request.method, path)
        if (type(match_info) is not UrlMappingMatchInfo or match_info or key in self._known or "#" in path
                or len(self._known) >= _ROUTES_KEPT or match_info.apps != (self._app,)
                or match_info.route.method != request.method):
            return
        handler = _inside_middleware(self._app, match_info.handler)
        if handler is not None:
            self._known[key] = (handler, match_info)

    def read_ahead(self, request: web.BaseRequest) -> bool:
        """For a plain request the lane does not answer: read its body now, when it has all arrived
        (so `request.read()` returns at once), and let `written` write its answer. False when aiohttp
        must read it (a body still arriving, a multipart form, over the limit) or answer it (HEAD)."""
        if request.method == "HEAD" or not _plain_http(request):
            return False
        length = request.content_length
        payload = request.content
        if (length is not None and length > self._max_body) or not payload.is_eof() \
                or request.headers.get("Content-Type", "").startswith("multipart/"):
            return False
        request._read_bytes = payload.read_nowait(-1)  # aiohttp's cache of the body `read()` returns
        request[READ_AHEAD] = True
        return True

    def written(self, request: web.BaseRequest, response: web.StreamResponse) -> bytes | None:
        """The whole HTTP answer for `response` to a request `read_ahead` took, when it is a plain
        `web.Response` (bytes body, not prepared, a status with a body, keep-alive left as it is), or
        None: aiohttp's `prepare` / `write_eof` then write it as usual."""
        if (type(response) is not web.Response or not request.get(READ_AHEAD) or response.prepared
                or response.keep_alive is not None or response.chunked or not isinstance(response.body, bytes)
                or response.status < 200 or response.status in (204, 304)):
            return None
        self.written_ahead += 1
        return self._http_bytes(response)

    def _respond(self, request: web.BaseRequest, answer: FastAnswer, body: bytes,
                 content_type: str) -> web.StreamResponse | Awaitable[web.StreamResponse]:
        try:
            return answer(self._app, request, body, content_type)
        except Exception as exc:  # as the middleware: the bank's error format, never a traceback
            return _error_response(request, exc)

    def _http_bytes(self, response: web.Response) -> bytes:
        """The status line, headers and body, as aiohttp would write them for this response."""
        body = response.body if isinstance(response.body, bytes) else b""
        cookies = _cookies_of(response)
        key = (response.status, response.reason, *response.headers.items())
        head = None if cookies else self._heads.get(key)
        if head is None:
            head = _head(response, cookies)
            if head is None:  # a header value with a line break: never written
                return self._http_bytes(internal_error())
            if not cookies and len(self._heads) < _HEADS_KEPT:
                self._heads[key] = head
        return f"{head}Content-Length: {len(body)}\r\n{self._date.line()}{_SERVER_LINE}\r\n".encode() + body


def _committed() -> None:
    return None


def _error_response(request: web.BaseRequest, exc: Exception) -> web.Response:
    """An exception of a lane route as the middleware renders it. error_answer reads method and path
    only, but for aiohttp's HTTP exceptions (which need `request.app`, not set here: they render as
    the fixed 500); no lane route raises one."""
    rendered = error_answer(request, exc)  # type: ignore[arg-type]
    return rendered if rendered is not None else internal_error()


def _inside_middleware(app: web.Application, handler: Handler) -> Handler | None:
    """`handler` wrapped in the app's middlewares as aiohttp wraps it (the first listed outermost),
    or None when one is an old-style middleware (aiohttp builds those per request)."""
    for middleware in reversed(app.middlewares):
        if getattr(middleware, "__middleware_version__", None) != 1:
            return None
        handler = partial(middleware, handler=handler)
    return handler


def _head(response: web.Response, cookies: Any) -> str | None:
    """The status line and the response's own headers (and cookies), or None when a value holds a
    line break (it would start a header of its own)."""
    lines = [f"HTTP/1.1 {response.status} {response.reason}\r\n"]
    lines += [f"{name}: {value}\r\n" for name, value in response.headers.items() if name != "Content-Length"]
    if cookies:
        lines += [f"Set-Cookie: {morsel.OutputString()}\r\n" for morsel in cookies.values()]
    head = "".join(lines)
    return head if head.count("\n") == len(lines) == head.count("\r") else None


def _plain_http(request: web.BaseRequest) -> bool:
    """HTTP/1.1 with keep-alive, and nothing that needs aiohttp's own handling of the exchange."""
    headers = request.headers
    return (request.version == HttpVersion11 and request.keep_alive and "Expect" not in headers
            and "Content-Encoding" not in headers and "Transfer-Encoding" not in headers
            and "Upgrade" not in headers)


def _cookies_of(response: web.Response) -> Any:
    """The response's cookies, without making an empty jar for each answer (`cookies` would)."""
    try:
        return response._cookies  # None until a cookie is set (aiohttp 3.x)
    except AttributeError:
        return response.cookies
