"""Running the app on a socket: binding, signals, prompt shutdown and slow-client limits.

`serve_app` binds first and logs "listening" only once the port is ours; a port that
cannot be bound is one line and exit code 2. SIGTERM / SIGINT log one line, close the
port at once, give requests in flight `REQUEST_SHUTDOWN_GRACE` seconds, cancel what is
still running (a `hang` scenario), then run the app's clean-up (the callback dispatcher
finishes due deliveries within `callback_shutdown_grace`).

`run_workers` starts N server processes on one port (`--workers N`): the parent reserves the
port, forks N children that each bind it with SO_REUSEPORT (the kernel spreads connections
across them), forwards SIGTERM / SIGINT to all, and stops the rest when one exits on its own.

Slow clients cannot hold connections forever: request headers must be complete within
`header_timeout` seconds of their first byte (else 408 and close), an idle keep-alive
connection is closed after `KEEPALIVE_SECONDS`, and at most `MAX_CONNECTIONS` are open.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable
from typing import Any

from aiohttp import web
from aiohttp.http_writer import StreamWriter
from aiohttp.web_protocol import RequestHandler

from mock_epay.gateway.codes import GENERIC
from mock_epay.web.app_keys import DISPATCHER, FAST_LANE, IN_FLIGHT, SETTINGS, STORE
from mock_epay.web.errors import internal_error
from mock_epay.web.fast_lane import ANSWERED, FastLane

log = logging.getLogger("mock_epay")

REQUEST_SHUTDOWN_GRACE = 3.0  # seconds requests in flight may still finish after SIGTERM
KEEPALIVE_SECONDS = 30.0  # an idle keep-alive connection is closed after this long
MAX_CONNECTIONS = 4096  # connections beyond this are answered 503 and closed
PR_SET_PDEATHSIG = 1  # prctl option: the signal a worker gets when its parent dies


def _raw_error(status: int, reason: str, message: str) -> bytes:
    body = json.dumps({"code": GENERIC, "message": message}).encode()
    head = (f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n")
    return head.encode() + body


class GuardedRequestHandler(RequestHandler):
    """aiohttp's connection handler plus a deadline for request headers and a connection cap.

    aiohttp has no header-read timeout, so this reads two of RequestHandler's internals
    (`_request_count`, `_request_in_progress`) and the runner hook `_make_server`;
    checked against aiohttp 3.14 (tests/test_shutdown.py fails if they change). It also offers
    each request to the app's fast lane (web/fast_lane.py) first and lets the lane write plain
    answers, through the internal `_handle_request` and `finish_response` and the request's
    `_read_bytes` and `_match_info` (tests/test_fast_lane.py counts the lane's answers and the
    remembered routes taken, so it fails if they change).

    **Answered on arrival.** When the connection is idle (its task waits for the next request, none
    is queued) and the bytes that arrive hold exactly one request for the lane, the request is parsed
    and answered in `data_received` itself: no waiter, no wake-up of the connection's task and no task
    per request, which aiohttp's `start()` loop costs each request. This reads more internals
    (`_waiter`, `_messages`, `_parser` and its `message_consumed`, `_payload_parser`, `_upgraded`,
    `_request_factory`, the keep-alive timer's `_next_keepalive_close_time` / `_keepalive_handle`);
    tests/test_answer_on_arrival.py counts these answers and checks order, keep-alive and commits.
    Anything else (two requests in one read, a body still arriving, a request off the lane) is queued
    for the task exactly as aiohttp queues it. An answer that waits for the store's commit (SQLite's
    loop turn, PostgreSQL's pipeline) is written by the commit's done-callback (`_held` until then:
    the connection is not idle, and a request behind it waits for that write); one that waits for a
    delay or a hang is queued with the lane's answer already made (`_ahead`), so the task writes it
    in order.
    """

    __slots__ = ("_header_timer", "_fast_lane", "_ahead", "_held")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None
        self._fast_lane: FastLane | None = getattr(self._manager, "fast_lane", None)
        # (message, the lane's answer to it, the commit it waits for) for the connection's task
        self._ahead: tuple[Any, Any, Any] | None = None
        self._held: asyncio.Future[None] | None = None  # an answer on arrival waiting for its commit

    async def _handle_request(self, request: web.BaseRequest, start_time: float | None,
                              request_handler: Any) -> tuple[web.StreamResponse, bool]:
        """A request the fast lane (web/fast_lane.py) answers is written here; any other goes on
        to aiohttp's handler."""
        held = self._held
        if held is not None:  # the answer to the request before this one waits for its commit
            await held
        lane = self._fast_lane
        if lane is not None:
            ahead = self._ahead
            if ahead is not None and ahead[0] is request._message:  # answered on arrival, written here
                self._ahead = None
                answer, pending = ahead[1], ahead[2]
            else:
                answer, pending = lane.answer(request), None
            if answer is not None:
                if not isinstance(answer, bytes):  # the route's answer waits (a delay, a hang)
                    answer = await answer
                if pending is None:
                    pending = lane.durable()
                if pending is not None and not await _committed(pending):
                    answer = lane.internal_error_answer()
                if self.transport is None or self.transport.is_closing():
                    return ANSWERED, True  # the client is gone: as aiohttp, end the connection quietly
                self.transport.write(answer)
                return ANSWERED, False
            lane.read_ahead(request)
            handler: Any = lane.known_route(request)
            if handler is not None:
                return await super()._handle_request(request, start_time, handler)
            answered = await super()._handle_request(request, start_time, request_handler)
            lane.remember_route(request)
            return answered
        return await super()._handle_request(request, start_time, request_handler)

    async def finish_response(self, request: web.BaseRequest, resp: web.StreamResponse,
                              start_time: float | None) -> tuple[web.StreamResponse, bool]:
        """A plain answer to a request the lane read ahead is written in one pass (web/fast_lane.py);
        any other the way aiohttp writes it."""
        lane = self._fast_lane
        if lane is not None and (pending := lane.durable()) is not None and not await _committed(pending):
            resp = internal_error()
        transport = self.transport
        if lane is not None and transport is not None and not transport.is_closing():
            answer = lane.written(request, resp)
            if answer is not None:
                transport.write(answer)
                self.log_access(request, resp, start_time)
                return ANSWERED, False
        return await super().finish_response(request, resp, start_time)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        manager = self._manager
        if manager is not None and len(manager.connections) > MAX_CONNECTIONS:
            self._refuse(503, "Service Unavailable",
                         f"more than {MAX_CONNECTIONS} connections are open; try again later")

    def data_received(self, data: bytes) -> None:
        requests_before = self._request_count
        if self._fast_lane is not None and self._idle():
            self._arrived(data)
        else:
            super().data_received(data)
        if self._request_count != requests_before:  # a request's headers are complete
            if self._header_timer is not None:
                self._cancel_header_timer()
        elif self._header_timer is None and data and not getattr(self, "_request_in_progress", False):
            timeout = getattr(self._manager, "header_timeout", 0)
            if timeout > 0:
                self._header_timer = self._loop.call_later(timeout, self._headers_too_slow, timeout)

    def _idle(self) -> bool:
        """The connection's task waits for a request, none is queued, and the next bytes are a
        request's head (not a body, not an upgraded stream)."""
        waiter = self._waiter
        return (waiter is not None and not waiter.done() and not self._messages and self._parser is not None
                and self._payload_parser is None and not self._upgraded and not self._force_close
                and not self._close and self._held is None)

    def _arrived(self, data: bytes) -> None:
        """Parse `data` and answer a lane request in it at once, when it is the only one and the
        lane's answer needs no wait; anything else is queued for the connection's task as aiohttp
        queues it."""
        parser: Any = self._parser
        try:
            parsed: Any = parser.feed_data(data)
        except Exception as exc:  # aiohttp's own handling of the error: replayed below
            parsed = exc
        if (type(parsed) is tuple and len(parsed[0]) == 1 and not parsed[1]
                and self._answer_now(parser, *parsed[0][0])):
            return
        self._parser = _Parsed(parsed)  # type: ignore[assignment]  # aiohttp queues what was parsed
        try:
            super().data_received(data)
        finally:
            self._parser = parser

    def _answer_now(self, parser: Any, message: Any, payload: Any) -> bool:
        """Answer a lane request here, without a task: True when written; False to queue it (with the
        lane's answer kept in `_ahead` when it must wait for a delay, a hang or a commit)."""
        lane, task, transport = self._fast_lane, self._task_handler, self.transport
        if (lane is None or task is None or transport is None or self._request_factory is None
                or not lane.on_lane(message.method, message.path)):
            return False
        request = self._request_factory(message, payload, self, StreamWriter(self, self._loop), task)
        try:
            answer = lane.answer(request)
            pending = lane.durable() if isinstance(answer, bytes) else None
        except Exception as exc:  # as aiohttp's connection task: logged, the connection closed
            self.log_exception("Unhandled exception", exc_info=exc)
            self.force_close()
            return True
        if answer is None:
            return False
        if not isinstance(answer, bytes) or (pending is not None and not isinstance(pending, asyncio.Future)):
            self._ahead = (message, answer, pending)
            return False
        self._request_count += 1
        if self._manager is not None:
            self._manager.requests_count += 1
        parser.message_consumed()
        if pending is None:
            transport.write(answer)
        else:
            self._hold_until_committed(lane, pending, answer)
        lane.answered_on_arrival += 1
        self._keep_alive_after_answer()
        return True

    def _hold_until_committed(self, lane: FastLane, pending: asyncio.Future[None], answer: bytes) -> None:
        """Write `answer` from the commit's own done-callback (the bank's 500 if the commit failed),
        without waking the connection's task; until then the connection is not idle, and a request
        queued behind it waits for the write (`_handle_request`)."""
        written: asyncio.Future[None] = self._loop.create_future()
        self._held = written

        def write(commit: asyncio.Future[None]) -> None:
            if self._held is written:
                self._held = None
            data = answer
            if commit.cancelled() or commit.exception() is not None:  # the store logged why
                log.warning("answering 500: the store could not commit what the answer reports")
                data = lane.internal_error_answer()
            transport = self.transport
            if transport is not None and not transport.is_closing():
                transport.write(data)
            written.set_result(None)

        pending.add_done_callback(write)

    def _keep_alive_after_answer(self) -> None:
        """What aiohttp's connection task does after a keep-alive answer: the idle timer restarts."""
        self._keepalive = True
        self._next_keepalive_close_time = self._loop.time() + self._keepalive_timeout
        if self._keepalive_handle is None and self._keepalive_timeout > 0:
            self._keepalive_handle = self._loop.call_at(self._next_keepalive_close_time,
                                                        self._process_keepalive)

    def connection_lost(self, exc: BaseException | None) -> None:
        self._cancel_header_timer()
        ahead, self._ahead = self._ahead, None
        if ahead is not None and asyncio.iscoroutine(ahead[1]):  # its task will not start: never awaited
            ahead[1].close()
        super().connection_lost(exc)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self, timeout: float) -> None:
        self._header_timer = None
        peer = self.transport.get_extra_info("peername") if self.transport else None
        log.warning("closed a connection from %s: request headers not complete within %g s",
                    peer[0] if peer else "?", timeout)
        self._refuse(408, "Request Timeout", f"request headers not complete within {timeout:g} s")

    def _refuse(self, status: int, reason: str, message: str) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(_raw_error(status, reason, message))
        self.force_close()


class _Parsed:
    """A parser stand-in that gives back what the real parser already made of the bytes."""

    __slots__ = ("_parsed",)

    def __init__(self, parsed: Any) -> None:
        self._parsed = parsed

    def feed_data(self, data: bytes) -> Any:
        if isinstance(self._parsed, Exception):
            raise self._parsed
        return self._parsed


async def _committed(pending: Any) -> bool:
    """Wait for the store's commit of what an answer reports (the answer leaves only after it);
    False, logged, when it failed: the answer is then the bank's 500."""
    try:
        await pending
    except Exception:  # the store logged why
        log.warning("answering 500: the store could not commit what the answer reports")
        return False
    return True


class GuardedServer(web.Server):
    """An aiohttp low-level server whose connections are `GuardedRequestHandler`s."""

    header_timeout: float = 0.0
    fast_lane: FastLane | None = None

    def __call__(self) -> RequestHandler:
        return GuardedRequestHandler(self, loop=self._loop, **self._kwargs)


class GuardedAppRunner(web.AppRunner):
    """An AppRunner serving through `GuardedServer`."""

    def __init__(self, app: web.Application, header_timeout: float, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self._header_timeout = header_timeout

    async def _make_server(self) -> web.Server:
        self._group_commits(asyncio.get_running_loop())  # its connections await each commit (durable())
        server = await super()._make_server()
        server.__class__ = GuardedServer  # same state; only the connection factory differs
        server.header_timeout = self._header_timeout  # type: ignore[attr-defined]
        server.fast_lane = self.app.get(FAST_LANE)  # type: ignore[attr-defined]
        return server

    async def cleanup(self) -> None:
        try:
            await super().cleanup()
        finally:
            self._group_commits(None)

    def _group_commits(self, loop: asyncio.AbstractEventLoop | None) -> None:
        """A SQLite store commits one loop turn's writes together while served here: this runner's
        connections hold each answer until the commit of what it reports (web/fast_lane.py,
        `durable`). Any other runner gets a commit per call."""
        group_commit = getattr(self.app.get(STORE), "group_commit", None)
        if group_commit is not None:
            group_commit(loop)


async def _stop_requests(tasks: set[asyncio.Task[Any]], grace: float) -> None:
    """Let requests in flight finish for `grace` seconds, then cancel the rest."""
    if tasks:
        _, pending = await asyncio.wait(set(tasks), timeout=grace)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=1.0)
            log.info("cancelled %d request(s) still running after %g s", len(pending), grace)


async def serve_app(app: web.Application, host: str, port: int, header_timeout: float,
                    on_listening: Any = None, reuse_port: bool = False) -> int:
    """Serve `app` until SIGTERM / SIGINT; 0 after a clean stop, 2 when the port cannot be bound."""
    in_flight = app.get(IN_FLIGHT, set())  # filled by web/middleware.py
    runner = GuardedAppRunner(app, header_timeout, handle_signals=False, access_log=None,
                              handler_cancellation=True, keepalive_timeout=KEEPALIVE_SECONDS,
                              shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_port=reuse_port or None)
    try:
        await site.start()
    except OSError as exc:
        print(f"mock-epay: cannot listen on {host}:{port}: {exc.strerror or exc}", file=sys.stderr)
        await runner.cleanup()
        return 2
    app[DISPATCHER].set_listen_addresses([(str(a[0]), int(a[1])) for a in runner.addresses
                                          if isinstance(a, tuple)])
    if on_listening is not None:
        on_listening()
    stop = asyncio.Event()
    received: list[str] = []
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, _on_signal, signum, received, stop)
    try:
        await stop.wait()
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
    log.info("mock-epay: %s, shutting down (requests in flight get %g s, due callbacks %g s)",
             received[0] if received else "stop", REQUEST_SHUTDOWN_GRACE,
             _callback_grace(app))
    await site.stop()  # the port closes at once
    await _stop_requests(in_flight, REQUEST_SHUTDOWN_GRACE)
    await runner.cleanup()
    return 0


def _callback_grace(app: web.Application) -> float:
    return app[SETTINGS].callback_shutdown_grace if SETTINGS in app else 0.0


def run(app: web.Application, host: str, port: int, header_timeout: float,
        on_listening: Any = None, reuse_port: bool = False) -> int:
    """Blocking `serve_app` on a fresh event loop."""
    return asyncio.run(serve_app(app, host, port, header_timeout, on_listening, reuse_port))


def reserve_port(host: str, port: int) -> tuple[socket.socket, int]:
    """A bound, not listening, SO_REUSEPORT socket holding `port` (a free one for 0) for the workers."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock, int(sock.getsockname()[1])


def run_workers(count: int, host: str, port: int, start: Callable[[int, int], int]) -> int:
    """Fork `count` processes, worker n running `start(n, port)` on one port; 0 after a clean stop.

    2 when the port cannot be bound; otherwise the worst exit code of the workers.
    """
    try:
        holder, port = reserve_port(host, port)
    except OSError as exc:
        print(f"mock-epay: cannot listen on {host}:{port}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    children = [_fork_worker(start, index, port) for index in range(count)]
    log.info("mock-epay: %d workers on http://%s:%s (pids %s)", count, host, port,
             " ".join(map(str, children)))
    try:
        return _supervise(set(children))
    finally:
        holder.close()


def _fork_worker(start: Callable[[int, int], int], index: int, port: int) -> int:
    pid = os.fork()
    if pid == 0:  # the worker: serve until told to stop, never return into the parent's code
        code = 1
        try:
            _detach_from_terminal_signals()
            code = start(index, port)
        finally:
            logging.shutdown()
            os._exit(code)
    return pid


def _detach_from_terminal_signals() -> None:
    """A worker hears Ctrl-C only through the parent (once), and stops if the parent dies."""
    os.setpgid(0, 0)
    with contextlib.suppress(OSError, AttributeError):  # not Linux: no parent-death signal
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _supervise(children: set[int]) -> int:
    """Wait for the workers, forwarding SIGTERM / SIGINT; one exiting on its own stops the rest."""
    stopping: list[int] = []

    def forward(signum: int, _frame: Any) -> None:
        stopping.append(signum)
        _signal_all(children, signum)

    previous = {signum: signal.signal(signum, forward) for signum in (signal.SIGTERM, signal.SIGINT)}
    worst = 0
    try:
        while children:
            pid, status = os.wait()
            children.discard(pid)
            code = os.waitstatus_to_exitcode(status)
            worst = max(worst, code if code >= 0 else 1)
            if not stopping and children:
                log.warning("mock-epay: worker %d exited (%d); stopping the others", pid, code)
                stopping.append(signal.SIGTERM)
                _signal_all(children, signal.SIGTERM)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return worst


def _signal_all(children: set[int], signum: int) -> None:
    for pid in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)


def _on_signal(signum: signal.Signals, received: list[str], stop: asyncio.Event) -> None:
    """Remember which signal asked the server to stop, then stop it."""
    received.append(signum.name)
    stop.set()
