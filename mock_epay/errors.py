"""Errors as values: `EpayError` and the middleware that renders every error in the bank's format.

Any code may raise `EpayError(status, code, message)`; the middleware turns it, and
aiohttp's own HTTP errors (404, 405, 413, ...), into `{"code": <int>, "message": "..."}`.
Nothing reaches the client as a traceback.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage

from mock_epay.app_keys import SETTINGS

log = logging.getLogger("mock_epay")

# Codes the mock uses in error bodies (see the README's table).
GENERIC = -1  # the bank's generic / duplicate-transaction code
OPERATION_ERROR = 100  # the bank's placeholder for operation failures
NOT_FOUND = 102  # transaction or invoice not found
NO_SAVED_CARDS = 1373  # the customer has no saved cards

DUPLICATE_MESSAGE = "dublicate transaction"  # spelled as the bank spells it


class EpayError(Exception):
    """An error answered in the bank's format: HTTP `status`, body `{"code", "message"}`."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def to_response(self) -> web.Response:
        return error_response(self.status, self.code, self.message)


def error_response(status: int, code: int, message: str) -> web.Response:
    body = json.dumps({"code": code, "message": message}, ensure_ascii=False)
    return web.Response(status=status, text=body, content_type="application/json")


def bad_request(message: str, code: int = GENERIC) -> EpayError:
    return EpayError(400, code, message)


def unauthorized(message: str) -> EpayError:
    return EpayError(401, GENERIC, message)


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


@web.middleware
async def error_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        return await handler(request)
    except EpayError as exc:
        return exc.to_response()
    except BadHttpMessage as exc:  # e.g. a multipart body with a malformed part header
        return error_response(400, GENERIC, f"malformed request body: {exc.message}"[:300])
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = error_response(exc.status, GENERIC, _http_error_message(exc, request))
        if exc.status == 405 and "Allow" in exc.headers:
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, GENERIC, "internal error in mock-epay (see the server log)")
