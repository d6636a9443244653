"""Callbacks sent from a helper process, so delivering them does not take the server's core.

`ProcessSender` is the dispatcher's sender under `mock-epay serve` (setting `callback_sender`):
the same exchange as `mock_epay.callbacks.sender.CallbackSender`, run by that class in a helper
process (`mock_epay.callbacks.sender_worker`) started on the first callback. The server hands
each exchange over as one frame on the worker's stdin and gets its `Exchange` back on the
worker's stdout; the decisions (when to attempt, retries, the delivery log, the store's outbox)
stay with the dispatcher in the server. A callback costs the server a frame each way instead
of an HTTP exchange, and under load the exchanges run on another core.

If the worker cannot start, or ends three times in a row within seconds of starting, callbacks
are sent inline from then on (logged once). If it ends while exchanges are in flight, each of
them is a failed attempt (retried as any other) and the next callback starts a new worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import mock_epay
from mock_epay.callbacks.http_client import replace_lone_surrogates
from mock_epay.callbacks.sender import CallbackSender, Exchange
from mock_epay.callbacks.sender_worker import FrameReader, FrameWriter
from mock_epay.callbacks.targets import TargetPolicy
from mock_epay.settings import Settings

log = logging.getLogger("mock_epay.callbacks")

WORKER_MODULE = "mock_epay.callbacks.sender_worker"
EARLY_EXIT_S = 5.0  # a worker that ends this soon after starting counts as failing to start
MAX_EARLY_EXITS = 3  # after this many in a row, callbacks are sent inline
STOP_GRACE_S = 2.0  # how long close() waits for the worker to exit before killing it


class _Worker:
    """One running helper process and its two pipes."""

    def __init__(self, process: subprocess.Popen[bytes], requests: FrameWriter) -> None:
        self.process = process
        self.requests = requests
        self.started = time.monotonic()
        self.alive = True


class _Answers(asyncio.Protocol):
    """The worker's stdout: answer frames, then its end."""

    def __init__(self, sender: ProcessSender) -> None:
        self._sender = sender
        self._frames = FrameReader(sender._answered)
        self.worker: _Worker | None = None

    def data_received(self, data: bytes) -> None:
        try:
            self._frames.feed(data)
        except ValueError as exc:
            log.error("callback sender process: unreadable answer (%s)", exc)
            if self.worker is not None:
                self.worker.process.kill()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.worker is not None:
            self._sender._worker_ended(self.worker)


class ProcessSender:
    """Sends callback exchanges through the helper process (inline when it cannot run)."""

    def __init__(self, settings: Settings, policy: TargetPolicy) -> None:
        self._settings = settings
        self._inline = CallbackSender(settings, policy)
        self._worker: _Worker | None = None
        self._starting: asyncio.Future[_Worker | None] | None = None
        self._waiting: dict[int, asyncio.Future[Exchange]] = {}
        self._numbers = itertools.count(1)
        self._early_exits = 0
        self._inline_only = False
        self._closing = False

    @property
    def in_container(self) -> bool | None:
        return self._inline.in_container

    @in_container.setter
    def in_container(self, value: bool | None) -> None:
        self._inline.in_container = value

    @property
    def worker_pid(self) -> int | None:
        """The helper process's pid while one runs (`CallbackDispatcher.sender_pid`, for tests)."""
        worker = self._worker
        return worker.process.pid if worker is not None and worker.alive else None

    async def start(self) -> None:
        await self._inline.start()

    async def close(self) -> None:
        self._closing = True
        worker, self._worker = self._worker, None
        if worker is not None:
            await _stop(worker)
        self._fail_waiting("mock-epay shut down during the attempt")
        await self._inline.close()

    async def send(self, url: str, data: bytes, delivery_id: str, shown_url: str | None) -> Exchange:
        worker = self._worker
        if worker is None or not worker.alive:
            worker = await self._started_worker()
            if worker is None:
                return await self._inline.send(url, data, delivery_id, shown_url)
        number = next(self._numbers)
        future: asyncio.Future[Exchange] = asyncio.get_running_loop().create_future()
        self._waiting[number] = future
        shown = None if shown_url is None else replace_lone_surrogates(shown_url)  # MessagePack is UTF-8
        try:
            worker.requests.write([number, url, data, delivery_id, shown])
            return await future
        finally:
            del self._waiting[number]

    # -- the helper process ---------------------------------------------------------

    async def _started_worker(self) -> _Worker | None:
        """The running worker, started now if there is none; None: send inline."""
        if self._inline_only or self._closing:
            return None
        if self._starting is None:
            self._starting = asyncio.get_running_loop().create_future()
            try:
                self._worker = await self._spawn()
            except (OSError, ValueError) as exc:
                log.warning("callbacks are sent from the server itself: the sender process did not "
                            "start (%s)", exc)
                self._inline_only = True
                self._worker = None
            finally:
                starting, self._starting = self._starting, None
                starting.set_result(self._worker)
            return self._worker
        return await asyncio.shield(self._starting)

    async def _spawn(self) -> _Worker:
        settings = self._settings
        config = {"callback_timeout": settings.callback_timeout,
                  "callback_concurrency": settings.callback_concurrency,
                  "callback_per_host_concurrency": settings.callback_per_host_concurrency,
                  "callback_allowed_hosts": list(settings.callback_allowed_hosts),
                  "in_container": bool(self._inline.in_container)}
        process = subprocess.Popen([sys.executable, "-m", WORKER_MODULE, json.dumps(config)],
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=_worker_env(),
                                   close_fds=True)
        assert process.stdin is not None and process.stdout is not None
        loop = asyncio.get_running_loop()
        try:
            transport, _ = await loop.connect_write_pipe(asyncio.Protocol, process.stdin)
            _, answers = await loop.connect_read_pipe(lambda: _Answers(self), process.stdout)
        except BaseException:
            process.kill()
            process.wait()
            raise
        worker = _Worker(process, FrameWriter(transport))
        answers.worker = worker
        return worker

    def _answered(self, frame: Any) -> None:
        number, status, head, error, refused, duration_ms = frame
        future = self._waiting.get(number)
        if future is not None and not future.done():
            future.set_result(Exchange(status, head, error, refused, duration_ms))

    def _fail_waiting(self, error: str) -> None:
        """End every exchange still waiting for the worker's answer as a failed attempt."""
        for future in self._waiting.values():
            if not future.done():
                future.set_result(Exchange(error=error))

    def _worker_ended(self, worker: _Worker) -> None:
        """The worker's stdout closed: its exchanges in flight failed; the next callback starts another."""
        worker.alive = False
        if self._worker is worker:
            self._worker = None
        code = worker.process.poll()
        if not self._closing:
            why = f"exit code {code}" if code is not None else "its output closed"
            log.warning("callback sender process %d ended (%s); %d exchange(s) in flight count as failed "
                        "attempts", worker.process.pid, why, len(self._waiting))
            early = time.monotonic() - worker.started < EARLY_EXIT_S
            self._early_exits = self._early_exits + 1 if early else 0
            if self._early_exits >= MAX_EARLY_EXITS:
                log.warning("callbacks are sent from the server itself: the sender process ended %d "
                            "times in a row just after starting", self._early_exits)
                self._inline_only = True
        self._fail_waiting("the callback sender process ended during the attempt")
        if code is None:
            asyncio.get_running_loop().create_task(_stop(worker))


async def _stop(worker: _Worker) -> None:
    """Close the worker's stdin (it then ends) and wait for it, killing it after STOP_GRACE_S."""
    worker.alive = False
    with contextlib.suppress(Exception):
        worker.requests.close()
    process = worker.process
    deadline = time.monotonic() + STOP_GRACE_S
    while process.poll() is None and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    if process.poll() is None:
        process.kill()
        await asyncio.sleep(0)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=1)


def _worker_env() -> dict[str, str]:
    """The server's environment, with mock_epay's own directory first on the import path (the
    worker imports this very package, installed or run from a checkout)."""
    env = dict(os.environ)
    root = str(Path(mock_epay.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    return env
