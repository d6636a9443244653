"""Writes the PostgreSQL store sends without waiting: the event loop goes on while the server works.

A token request's one write (store/postgres_tokens.py) is a round trip in which the mock has nothing
to do: waited for in place, the event loop stands still for the whole of PostgreSQL's work on it.
While the mock's own runner serves (web/server.py turns this on with `group_commit(loop)`, because
its connections hold each answer until `durable()` is done), such a write is sent in libpq's
pipeline mode instead, each statement with its own sync point (so its own transaction, as in
autocommit), and the loop reads the results when the socket has them (`loop.add_reader`). The
answer that reports the write leaves only after PostgreSQL has committed it, as before; only the
waiting moved. Statements sent in one turn of the loop go out back to back.

Every other use of the connection first waits for the writes still in the pipeline (`drain`), so
the statements on one connection still run in the order they were made, and leaves pipeline mode
(psycopg's own calls cannot run in it). Notifications (the shared clock, postgres_state) that
arrive meanwhile are handed on as `poll_notifications` would.

A write that fails fails what waits on it (that answer is a 500) and calls its `failed` hook;
a connection that breaks fails every write still waiting and is closed, so the next call opens a
new one.
"""

from __future__ import annotations

import asyncio
import logging
import select
from collections import deque
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import pq

from mock_epay.store.postgres_fast import FAST, Row, param_values, raise_for, rows_of

log = logging.getLogger("mock_epay.store")


class _Write:
    """One statement in the pipeline: what to do with its rows, or with its failure."""

    __slots__ = ("done", "failed", "future", "result")

    def __init__(self, done: Callable[[list[Row]], None], failed: Callable[[], None],
                 future: asyncio.Future[None]) -> None:
        self.done = done
        self.failed = failed
        self.future = future
        self.result: pq.abc.PGresult | None = None


class PipelinedWrites:
    """The writes in flight on one connection (the event loop thread's), read as they complete."""

    def __init__(self, on_notification: Callable[[str], None]) -> None:
        self._on_notification = on_notification
        self._loop: asyncio.AbstractEventLoop | None = None
        self._conn: psycopg.Connection[Any] | None = None  # the connection in pipeline mode, if any
        self._fd = -1  # its socket, as the loop watches it
        self._writes: deque[_Write] = deque()

    def serve_on(self, loop: asyncio.AbstractEventLoop | None) -> None:
        """Send writes without waiting while `loop` serves (None: wait for each in place again)."""
        self.drain()
        self._loop = loop

    def can_send(self) -> bool:
        """Whether a write made now may go into the pipeline: on the serving loop's own thread."""
        loop = self._loop
        if loop is None:
            return False
        try:
            return asyncio.get_running_loop() is loop
        except RuntimeError:
            return False

    def send(self, conn: psycopg.Connection[Any], sql: str, params: tuple[Any, ...],
             done: Callable[[list[Row]], None], failed: Callable[[], None]) -> None:
        """Send `sql` (prepared on `conn` already, see `FAST.is_prepared`) and its sync point;
        `done(rows)` runs when its rows are read, `failed()` when it fails."""
        loop = self._loop
        assert loop is not None  # can_send() said yes
        pgconn = conn.pgconn
        try:
            if self._conn is None:
                pgconn.enter_pipeline_mode()
                self._conn, self._fd = conn, pgconn.socket
                loop.add_reader(self._fd, self._readable)
            pgconn.send_query_prepared(FAST.name_of(sql), param_values(params))
            pgconn.pipeline_sync()  # sends the statement; its own transaction, as in autocommit
        except psycopg.Error as exc:  # the connection broke: this write fails in place, as unpipelined
            self._broken(conn, exc)
            raise
        self._writes.append(_Write(done, failed, loop.create_future()))

    def durable(self) -> asyncio.Future[None] | None:
        """What to await before an answer leaves: the last write sent so far (they complete in order)."""
        return self._writes[-1].future if self._writes else None

    def holds(self, conn: psycopg.Connection[Any]) -> bool:
        """Whether `conn` is in pipeline mode with writes still to be read."""
        return self._conn is conn

    def pump(self) -> None:
        """Read what the socket has now, without waiting (the store's `poll_notifications`)."""
        conn = self._conn
        if conn is not None:
            self._read(conn, wait=False)

    def drain(self) -> None:
        """Wait for every write in the pipeline and leave pipeline mode (before any other statement)."""
        conn = self._conn
        if conn is not None:
            self._read(conn, wait=True)

    def _readable(self) -> None:
        conn = self._conn
        if conn is not None:
            self._read(conn, wait=False)

    def _read(self, conn: psycopg.Connection[Any], wait: bool) -> None:
        pgconn = conn.pgconn
        try:
            while self._writes:
                pgconn.consume_input()
                self._take_results(pgconn)
                if not wait or not self._writes:
                    break
                select.select([pgconn.socket], [], [])
            self._hand_on_notifications(pgconn)
        except psycopg.Error as exc:
            self._broken(conn, exc)
            return
        if not self._writes:
            self._leave(conn)

    def _take_results(self, pgconn: Any) -> None:
        """Every result libpq has whole: a write's result, the end of its results, its sync point."""
        while self._writes and not pgconn.is_busy():
            result = pgconn.get_result()
            if result is None:
                continue  # the end of one statement's results; its sync point comes next
            write = self._writes[0]
            if result.status == pq.ExecStatus.PIPELINE_SYNC:
                self._writes.popleft()
                self._finish(write)
            else:
                write.result = result

    def _finish(self, write: _Write) -> None:
        try:
            if write.result is None:
                raise psycopg.OperationalError("no result for a pipelined write")
            raise_for(write.result)
            write.done(rows_of(write.result))
        except Exception as exc:
            self._fail(write, exc)
            return
        if not write.future.done():
            write.future.set_result(None)

    def _fail(self, write: _Write, exc: BaseException) -> None:
        log.error("a PostgreSQL write sent in the pipeline failed (%s); its answer is a 500", exc)
        write.failed()
        if not write.future.done():
            write.future.set_exception(exc)
            write.future.exception()  # retrieved: a write no answer waited for is no stray warning

    def _hand_on_notifications(self, pgconn: Any) -> None:
        while (note := pgconn.notifies()) is not None:
            self._on_notification(note.extra.decode())

    def _leave(self, conn: psycopg.Connection[Any]) -> None:
        self._stop_reading()
        if not conn.closed:
            conn.pgconn.exit_pipeline_mode()

    def _stop_reading(self) -> None:
        self._conn = None
        if self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(self._fd)

    def _broken(self, conn: psycopg.Connection[Any], exc: BaseException) -> None:
        writes, self._writes = self._writes, deque()
        self._stop_reading()
        for write in writes:
            self._fail(write, exc)
        conn.close()  # the next call opens a new connection (postgres_connection)
