"""The middleware that renders every error in the bank's format, and the error answers themselves.

Any code may raise `EpayError(status, code, message)` (gateway/errors.py); the middleware turns it, and
aiohttp's own HTTP errors (404, 405, 413, ...), into `{"code": <int>, "message": "..."}`.
Nothing reaches the client as a traceback: a message with text that cannot be written as
UTF-8 is written with replacement characters, and should rendering an error itself fail,
the answer is a fixed 500 body in the same format (logged in one line).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage, HttpProcessingError

from mock_epay.gateway.codes import GENERIC
from mock_epay.gateway.errors import EpayError
from mock_epay.web.app_keys import SETTINGS

log = logging.getLogger("mock_epay")


def error_response(status: int, code: int, message: str) -> web.Response:
    """`{"code": code, "message": message}` with HTTP `status`."""
    text = json.dumps({"code": code, "message": message}, ensure_ascii=False)
    body = text.encode("utf-8", "replace")  # a lone surrogate quoted from the input becomes "?"
    return web.Response(status=status, body=body, content_type="application/json", charset="utf-8")


_LAST_RESORT = b'{"code": -1, "message": "internal error in mock-epay (see the server log)"}'


def internal_error() -> web.Response:
    """The fixed 500 answer; building it cannot fail."""
    return web.Response(status=500, body=_LAST_RESORT, content_type="application/json", charset="utf-8")


def render_error(error: EpayError) -> web.Response:
    """An `EpayError` as the bank's error answer."""
    return error_response(error.status, error.code, error.message)


_HTTP_MESSAGES = {
    404: "no such endpoint: {method} {path}",
    405: "method {method} is not allowed on {path}",
    413: "request body is larger than the {limit} bytes the gateway accepts",
}


def _http_error_message(exc: web.HTTPException, request: web.Request) -> str:
    template = _HTTP_MESSAGES.get(exc.status)
    if template is None:
        return exc.reason
    limit = request.app[SETTINGS].max_body_bytes
    return template.format(method=request.method, path=request.path, limit=limit)


def error_answer(request: web.Request, exc: Exception) -> web.Response | None:
    """The bank-format answer for an exception a handler raised; None for an HTTP exception below 400
    (a redirect), which goes on as it is."""
    if isinstance(exc, web.HTTPException):
        if exc.status < 400:
            return None
        return _rendered(request, partial(_http_error_response, exc, request))
    if isinstance(exc, EpayError):
        return _rendered(request, partial(render_error, exc))
    if isinstance(exc, BadHttpMessage):  # e.g. a multipart body with a malformed part header
        message = f"malformed request body: {exc.message}"[:300]
        return _rendered(request, partial(error_response, 400, GENERIC, message))
    log.exception("unhandled error on %s %s", request.method, _printable(request.path), exc_info=exc)
    return internal_error()


@web.middleware
async def error_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """`error_answer` as a middleware of its own (the app runs it inside web/middleware.py)."""
    try:
        return await handler(request)
    except Exception as exc:
        answer = error_answer(request, exc)
        if answer is None:
            raise
        return answer


def _http_error_response(exc: web.HTTPException, request: web.Request) -> web.Response:
    response = error_response(exc.status, GENERIC, _http_error_message(exc, request))
    if exc.status == 405 and "Allow" in exc.headers:
        response.headers["Allow"] = exc.headers["Allow"]
    return response


def _rendered(request: web.Request, render: Callable[[], web.Response]) -> web.Response:
    """`render()`, or the fixed 500 when rendering the error fails (one log line, no traceback)."""
    try:
        return render()
    except Exception as exc:
        log.error("could not render an error answer for %s %s: %s: %s", request.method,
                  _printable(request.path), type(exc).__name__, _printable(str(exc)))
        return internal_error()


class ProtocolErrorLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """aiohttp's server logger, but malformed HTTP (a request line or header past the limit, bytes
    that are not HTTP) is logged as one warning line, not a traceback: aiohttp answers it 400 before
    any route or middleware runs, and it is the client's mistake, not the mock's."""

    def exception(self, msg: object, *args: object, exc_info: Any = True, **kwargs: Any) -> None:
        if isinstance(exc_info, HttpProcessingError):
            remote = args[0] if args else "?"
            self.warning("malformed HTTP request from %s answered %s: %s", remote, exc_info.code,
                         _printable(str(exc_info.message)))
            return
        super().exception(msg, *args, exc_info=exc_info, **kwargs)


def _printable(text: str) -> str:
    return text.encode("utf-8", "backslashreplace").decode("utf-8")[:200]
