"""The request log: one access-log line per request and a copy in the store's journal.

Both are on the hot path, so both are cheap: log lines are buffered and written to
stderr in batches (at most ~50 ms late), and journal entries keep the raw values (the
request's and the answer's body, each cut to 2 KB); timestamps are formatted and card
numbers masked only when someone reads the journal. A log line's path has its card
numbers masked and its control characters escaped (a decoded `%0d%0a` cannot forge a line).
"""

from __future__ import annotations

import asyncio
import sys
import time
from datetime import datetime
from typing import Any, NamedTuple, TextIO

from aiohttp import web

from mock_epay.core.clock import ALMATY
from mock_epay.core.log_format import escape_control
from mock_epay.core.pan import mask_card_numbers
from mock_epay.web.app_keys import CLOCK, SETTINGS, STORE

__all__ = ["AccessLog", "journal_entry_json", "mask_card_numbers", "note_client", "record"]

_JOURNAL_BODY_LIMIT = 2048
_FLUSH_DELAY = 0.05
_PATHS_KEPT = 512  # (method, path) pairs whose logged form is kept (past this each is formatted anew)
CLIENT_ID = "mock_epay.client_id"  # request key: the merchant a bank request was made for


class AccessLog:
    """Buffered one-line-per-request log: `2026-11-23 18:15:13 POST /oauth2/token 200 0.6ms`."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream
        self._entries: list[tuple[str, str, int, float]] = []  # (stamp, " method path ", status, ms)
        self._flush_pending = False
        self._second = -1  # the second `_stamp` was formatted for
        self._stamp = ""
        self._middles: dict[tuple[str, str], str] = {}  # (method, path) -> as logged: most repeat

    def write(self, method: str, path: str, status: int, elapsed_ms: float) -> None:
        """Note one answered request; its line is formatted when the batch is written (`flush`)."""
        second = int(time.time())
        if second != self._second:  # formatted once a second, not once a request
            self._second = second
            self._stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
        key = (method, path)
        middle = self._middles.get(key)
        if middle is None:
            shown = escape_control(mask_card_numbers(path))
            middle = f" mock_epay.requests {escape_control(method)} {shown} "
            if len(self._middles) < _PATHS_KEPT:
                self._middles[key] = middle
        self._entries.append((self._stamp, middle, status, elapsed_ms))
        if not self._flush_pending:
            self._flush_pending = True
            asyncio.get_running_loop().call_later(_FLUSH_DELAY, self.flush)

    def flush(self) -> None:
        self._flush_pending = False
        if not self._entries:
            return
        stream = self._stream or sys.stderr
        stream.write("".join([f"{stamp}{middle}{status} {ms:.1f}ms\n"
                              for stamp, middle, status, ms in self._entries]))
        stream.flush()
        self._entries.clear()


def journal_entry_json(entry: tuple[Any, ...]) -> dict[str, Any]:
    """A journal entry as the admin API shows it: local time, card numbers masked everywhere."""
    at, method, path, status, elapsed_ms, body, answer = entry[:7]
    return {
        "at": datetime.fromtimestamp(at, ALMATY).isoformat(timespec="milliseconds"),
        "method": method,
        "path": mask_card_numbers(path),
        "status": status,
        "ms": round(elapsed_ms, 2),
        "body": _masked_text(body),
        "responseBody": _masked_text(answer),
    }


def _masked_text(body: bytes | None) -> str:
    text = body[:_JOURNAL_BODY_LIMIT].decode("utf-8", "replace") if body else ""
    return mask_card_numbers(text)


def _answer_bytes(response: web.StreamResponse) -> bytes | None:
    """The answer's body when it is plain bytes (JSON, HTML, text), cut to the journal's limit."""
    body = response.body if isinstance(response, web.Response) else None
    return body[:_JOURNAL_BODY_LIMIT] if isinstance(body, bytes) else None


async def _body_bytes(request: web.BaseRequest) -> bytes:
    """The body the handler read (aiohttp caches it); an unread body is never read here."""
    if not request.body_exists or request.can_read_body:
        return b""
    return await request.read()


def note_client(request: web.BaseRequest, client_id: str) -> None:
    """Name the merchant a request without a bearer token was made for (the token request)."""
    request[CLIENT_ID] = client_id


def _client_of(request: web.BaseRequest, store: Any) -> str | None:
    """The merchant the journal entry belongs to: noted by the handler, or its bearer token's."""
    noted = request.get(CLIENT_ID)
    if noted is not None:
        return str(noted)
    header = request.headers.get("Authorization") or request.headers.get("Authorize")
    if not header:
        return None
    token = store.token(header.strip().partition(" ")[2].strip())
    return token.client_id if token is not None else None


async def record(request: web.Request, response: web.StreamResponse, started: float,
                 access_log: AccessLog) -> None:
    """Log one answered request (when the request log is on) and, for a bank path, journal it."""
    record_answer(JournalTarget.of(request.app, access_log), request, response, await _body_bytes(request),
                  started)


class JournalTarget(NamedTuple):
    """Where `record_answer` writes: the request log (when on) and the store's journal."""

    log_requests: bool
    store: Any
    clock: Any
    access_log: AccessLog

    @classmethod
    def of(cls, app: web.Application, access_log: AccessLog) -> JournalTarget:
        return cls(app[SETTINGS].log_requests, app[STORE], app[CLOCK], access_log)


def record_answer(target: JournalTarget, request: web.BaseRequest, response: web.StreamResponse,
                  body: bytes, started: float, plain_path: str | None = None) -> None:
    """`record` for a request whose body (`body`, as read) is at hand: what the fast lane calls.
    `plain_path`: the request's path when it has no query and nothing percent-encoded."""
    elapsed_ms = (time.perf_counter() - started) * 1000
    path = plain_path or request.path
    if target.log_requests:
        target.access_log.write(request.method, path, response.status, elapsed_ms)
    if not path.startswith("/_mock/"):
        store = target.store
        store.journal_request(
            (time.time() + target.clock.offset, request.method, plain_path or request.path_qs,
             response.status, elapsed_ms, body[:_JOURNAL_BODY_LIMIT], _answer_bytes(response),
             _client_of(request, store))
        )
