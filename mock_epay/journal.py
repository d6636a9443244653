"""The request log: one access-log line per request and a copy in the store's journal.

Both are on the hot path, so both are cheap: log lines are buffered and written to
stderr in batches (at most ~50 ms late), and journal entries keep the raw values;
timestamps are formatted and card numbers masked only when someone reads the journal.
"""

from __future__ import annotations

import asyncio
import re
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TextIO

from aiohttp import web

from mock_epay.app_keys import SETTINGS, STORE
from mock_epay.clock import ALMATY

_PAN_RE = re.compile(r"(?<!\d)(\d{6})\d{2,9}(\d{4})(?!\d)")
_JOURNAL_BODY_LIMIT = 2048
_FLUSH_DELAY = 0.05


def mask_card_numbers(text: str) -> str:
    """Replace anything shaped like a card number (12-19 digits) by its 6...4 mask."""
    return _PAN_RE.sub(r"\1...\2", text)


class AccessLog:
    """Buffered one-line-per-request log: `2026-11-23 18:15:13 POST /oauth2/token 200 0.6ms`."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream
        self._lines: list[str] = []
        self._flush_pending = False

    def write(self, method: str, path: str, status: int, elapsed_ms: float) -> None:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        self._lines.append(f"{stamp} mock_epay.requests {method} {path} {status} {elapsed_ms:.1f}ms\n")
        if not self._flush_pending:
            self._flush_pending = True
            asyncio.get_running_loop().call_later(_FLUSH_DELAY, self.flush)

    def flush(self) -> None:
        self._flush_pending = False
        if not self._lines:
            return
        stream = self._stream or sys.stderr
        stream.write("".join(self._lines))
        stream.flush()
        self._lines.clear()


def journal_entry_json(entry: tuple[Any, ...]) -> dict[str, Any]:
    """A journal entry as the admin API shows it: local time, masked body."""
    at, method, path, status, elapsed_ms, body = entry
    text = body[:_JOURNAL_BODY_LIMIT].decode("utf-8", "replace") if body else ""
    return {
        "at": datetime.fromtimestamp(at, ALMATY).isoformat(timespec="milliseconds"),
        "method": method,
        "path": path,
        "status": status,
        "ms": round(elapsed_ms, 2),
        "body": mask_card_numbers(text),
    }


async def _body_bytes(request: web.Request) -> bytes:
    """The body the handler read (aiohttp caches it); an unread body is never read here."""
    if not request.body_exists or request.can_read_body:
        return b""
    return (await request.read())[:_JOURNAL_BODY_LIMIT]


def request_log_middleware_for(access_log: AccessLog) -> Any:
    """The middleware that logs and journals every request."""

    @web.middleware
    async def request_log_middleware(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        started = time.perf_counter()
        response = await handler(request)
        elapsed_ms = (time.perf_counter() - started) * 1000
        app = request.app
        if app[SETTINGS].log_requests:
            access_log.write(request.method, request.path, response.status, elapsed_ms)
        if not request.path.startswith("/_mock/"):
            app[STORE].journal_request(
                (time.time() + app[STORE].clock.offset, request.method, request.path_qs,
                 response.status, elapsed_ms, await _body_bytes(request))
            )
        return response

    return request_log_middleware
