"""The request log: one log line per request and a masked copy in the store's journal."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from mock_epay.app_keys import SETTINGS, STORE

log = logging.getLogger("mock_epay.requests")

_PAN_RE = re.compile(r"(?<!\d)(\d{6})\d{2,9}(\d{4})(?!\d)")
_JOURNAL_BODY_LIMIT = 2048


def mask_card_numbers(text: str) -> str:
    """Replace anything shaped like a card number (12-19 digits) by its 6...4 mask."""
    return _PAN_RE.sub(r"\1...\2", text)


async def _body_text(request: web.Request) -> str:
    """The body the handler read (cached by aiohttp); never reads an unread body."""
    if not request.body_exists or request.can_read_body:
        return ""
    raw = await request.read()
    return mask_card_numbers(raw[:_JOURNAL_BODY_LIMIT].decode("utf-8", "replace"))


@web.middleware
async def request_log_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    started = time.perf_counter()
    response = await handler(request)
    elapsed_ms = (time.perf_counter() - started) * 1000
    app = request.app
    if app[SETTINGS].log_requests:
        log.info("%s %s %s %.1fms", request.method, request.path, response.status, elapsed_ms)
    if not request.path.startswith("/_mock/"):
        app[STORE].journal_request(
            {
                "at": app[STORE].clock.now().isoformat(timespec="milliseconds"),
                "method": request.method,
                "path": request.path_qs,
                "status": response.status,
                "ms": round(elapsed_ms, 2),
                "body": await _body_text(request),
            }
        )
    return response
