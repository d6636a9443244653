"""Writes the PostgreSQL store sends without waiting: the event loop goes on while the server works.

A token request's one write (store/postgres_tokens.py) is a round trip in which the mock has nothing
to do: waited for in place, the event loop stands still for the whole of PostgreSQL's work on it.
While the mock's own runner serves (web/server.py turns this on with `group_commit(loop)`, because
its connections hold each answer until `durable()` is done), such a write is sent in libpq's
pipeline mode instead, each statement with its own sync point (so its own transaction, as in
autocommit), and the loop reads the results when the socket has them (`loop.add_reader`). The
answer that reports the write leaves only after PostgreSQL has committed it, as before; only the
waiting moved. Statements sent in one turn of the loop go out back to back. A payment's
transaction sends its tail the same way (`send_transaction_tail`): the writes it deferred
(store/postgres_connection.py) and its COMMIT, then one sync point; a failure there leaves the
session's transaction aborted, so it ends the connection as a break does (PostgreSQL rolls the
transaction back) and fails every write still waiting.

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


Statement = tuple[str, tuple[Any, ...], Callable[[list[Row]], None]]  # sql, params, done(rows)


class _Write:
    """What goes out before one sync point: one statement, or a transaction's deferred tail (its
    statements and COMMIT, the BEGIN first if it was never sent); its results as they are read."""

    __slots__ = ("dones", "failed", "future", "results", "transaction")

    def __init__(self, dones: list[Callable[[list[Row]], None]], failed: Callable[[], None],
                 future: asyncio.Future[None], transaction: bool) -> None:
        self.dones = dones  # one per statement whose rows are wanted, in order
        self.failed = failed
        self.future = future
        self.transaction = transaction
        self.results: list[pq.abc.PGresult] = []


def _nothing() -> None:
    return None


def _ignore(rows: list[Row]) -> None:
    return None


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
        self._send(conn, [(sql, params, done)], failed, begin=False, transaction=False)

    def send_transaction_tail(self, conn: psycopg.Connection[Any], statements: list[Statement],
                              begin: bool) -> None:
        """Send an open transaction's deferred statements and its COMMIT (after a BEGIN when `begin`:
        the transaction was never started), then a sync point. A failure anywhere in it rolls the
        transaction back by ending the connection (`_broken`): every write waiting fails with it."""
        self._send(conn, statements, _nothing, begin=begin, transaction=True)

    def _send(self, conn: psycopg.Connection[Any], statements: list[Statement], failed: Callable[[], None],
              begin: bool, transaction: bool) -> None:
        loop = self._loop
        assert loop is not None  # can_send() said yes
        pgconn = conn.pgconn
        dones: list[Callable[[list[Row]], None]] = []
        try:
            if self._conn is None:
                pgconn.enter_pipeline_mode()
                self._conn, self._fd = conn, pgconn.socket
                loop.add_reader(self._fd, self._readable)
            if begin:
                pgconn.send_query_params(b"BEGIN", None)
                dones.append(_ignore)
            for sql, params, done in statements:
                pgconn.send_query_prepared(FAST.name_of(sql), param_values(params))
                dones.append(done)
            if transaction:
                pgconn.send_query_params(b"COMMIT", None)
                dones.append(_ignore)
            pgconn.pipeline_sync()  # sends them; a single statement is its own transaction
        except psycopg.Error as exc:  # the connection broke: this write fails in place, as unpipelined
            self._broken(conn, exc)
            raise
        self._writes.append(_Write(dones, failed, loop.create_future(), transaction))

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
                if self._conn is None:
                    return  # a failed transaction ended the connection (`_broken`)
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
        """Every result libpq has whole: a write's results, the end of each, its sync point."""
        while self._writes and not pgconn.is_busy():
            result = pgconn.get_result()
            if result is None:
                continue  # the end of one statement's results; the next one's or the sync point follows
            write = self._writes[0]
            if result.status == pq.ExecStatus.PIPELINE_SYNC:
                self._writes.popleft()
                self._finish(write)
                if not self._writes or self._conn is None:
                    return
            else:
                write.results.append(result)

    def _finish(self, write: _Write) -> None:
        try:
            if len(write.results) != len(write.dones):
                raise psycopg.OperationalError("a pipelined write lost one of its results")
            for result in write.results:
                raise_for(result)  # a statement after a failed one is "aborted": the first failure wins
            for done, result in zip(write.dones, write.results, strict=True):
                done(rows_of(result))
        except Exception as exc:
            if write.transaction and self._conn is not None:
                self._broken(self._conn, exc, first=write)  # the session's transaction is left aborted
                return
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

    def _broken(self, conn: psycopg.Connection[Any], exc: BaseException, first: _Write | None = None) -> None:
        writes, self._writes = self._writes, deque()
        self._stop_reading()
        for write in ([first] if first is not None else []) + list(writes):
            self._fail(write, exc)
        conn.close()  # the next call opens a new connection (postgres_connection); an open transaction ends
