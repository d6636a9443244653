"""The PostgreSQL store's connections and transactions: one connection per thread, `BEGIN` sent lazily.

Mixed into `mock_epay.store.postgres.PostgresBackend` (it uses its `_url`, `_local`, `_connections`,
`_connections_lock`, `_write_journal`, `_journal_due` and `_pipeline`). `connect` opens a connection
in autocommit mode; `_tx` is one transaction on this thread's connection, nested uses joining the
outer one. An `atomic()` scope leaves its `BEGIN` unsent until its first statement: the first call
that takes the connection sends it, or a call that can carry it in its own round trip takes it (a
payment's reservation pipeline), so a payment's transaction costs no round trip to open. A write
whose rows nobody waits for (a payment's row, its callback's row) can be deferred to the end of
its transaction (`_defer_write`): on the serving loop it then goes out with the COMMIT in one
pipelined send (store/postgres_pipeline.py) and the answer waits for it; any statement made before
the end runs the deferred ones first, so the order on the connection never changes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

from mock_epay.settings import ConfigError
from mock_epay.store.postgres_fast import FAST, Row
from mock_epay.store.postgres_pipeline import PipelinedWrites, Statement


def connect(url: str) -> psycopg.Connection[Any]:
    """A connection to `url` (ConfigError, one line, when the server cannot be reached).

    Its commits do not wait for the server's WAL flush (`synchronous_commit = off`, unless the URL
    sets it): a mock-epay process killed at any moment loses nothing it committed; only a crash of
    the PostgreSQL server itself (or of its machine) can lose its last fraction of a second of
    commits, never corrupt the database, as SQLite's `synchronous=NORMAL` does on a power cut.
    """
    try:
        conn = psycopg.connect(url, autocommit=True, connect_timeout=10)
        if "synchronous_commit" not in url:
            conn.execute("SET synchronous_commit = off")
        return conn
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"store: cannot connect to PostgreSQL: {first}") from None


class PostgresConnections:
    """This thread's connection and its transactions."""

    # provided by the backend (store/postgres.py) this is mixed into
    _url: str
    _local: Any
    _connections: list[psycopg.Connection[Any]]
    _connections_lock: Any
    _write_journal: Any
    _journal_due: Any
    _pipeline: PipelinedWrites

    def _conn(self) -> psycopg.Connection[Any]:
        """This thread's connection, after the BEGIN an `atomic()` scope left pending, if any, and the
        writes its transaction deferred (`_defer_write`): whatever runs next sees them."""
        conn = self._thread_conn()
        local = self._local
        if getattr(local, "begin_pending", False):
            local.begin_pending = False
            FAST.command(conn, b"BEGIN")
        if getattr(local, "deferred", None):
            self._run_deferred(conn)
        return conn

    def _defer_write(self, sql: str, params: tuple[Any, ...], done: Callable[[list[Row]], None]) -> bool:
        """Keep a write whose rows the caller does not wait for until its transaction ends, to go
        with the COMMIT in one pipelined send (store/postgres_pipeline.py); any statement before
        then runs it first (`_conn`). Only inside a transaction on the serving loop's thread, with
        the statement prepared; False (the caller runs it now) otherwise."""
        local = self._local
        if not getattr(local, "depth", 0) or self._pipeline_ready(sql) is None:
            return False
        deferred = getattr(local, "deferred", None)
        if deferred is None:
            deferred = local.deferred = []
        deferred.append((sql, params, done))
        return True

    def _run_deferred(self, conn: psycopg.Connection[Any]) -> None:
        deferred, self._local.deferred = self._local.deferred, []
        _run_now(conn, deferred)

    def _thread_conn(self) -> psycopg.Connection[Any]:
        """This thread's connection, out of pipeline mode (the writes still in it read first)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None and self._pipeline.holds(conn):
            self._pipeline.drain()
        if conn is None or conn.closed:
            conn = self._local.conn = connect(self._url)
            with self._connections_lock:
                self._connections.append(conn)
        return conn

    def _pipelinable_conn(self, sql: str) -> psycopg.Connection[Any] | None:
        """This thread's connection when a write of `sql` may go into the pipeline now
        (store/postgres_pipeline.py): the serving loop's thread, no transaction open, the
        statement prepared on it (prepared here, once, unless the pipeline is busy); None when
        the write must be waited for in place."""
        return None if getattr(self._local, "depth", 0) else self._pipeline_ready(sql)

    def _pipeline_ready(self, sql: str) -> psycopg.Connection[Any] | None:
        """This thread's open connection, `sql` prepared on it, when the serving loop runs here."""
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed or not self._pipeline.can_send():
            return None
        if not FAST.is_prepared(conn.pgconn, sql):
            if self._pipeline.holds(conn):
                return None  # preparing needs the connection out of pipeline mode: wait in place
            FAST.prepare(conn.pgconn, sql)
        return conn

    def _take_pending_begin(self) -> bool:
        """Whether an `atomic()` scope's BEGIN is still unsent; the caller then sends it in the same
        round trip as its own first statements (`FastStatements.run_together(begin=True)`)."""
        if getattr(self._local, "begin_pending", False):
            self._local.begin_pending = False
            return True
        return False

    @contextmanager
    def _tx(self, defer_begin: bool = False) -> Iterator[psycopg.Connection[Any]]:
        """One transaction on this thread's connection; nested uses join the outer one (no savepoint:
        a failed statement fails the whole scope).

        With `defer_begin` (an `atomic()` scope) the BEGIN waits for the scope's first statement:
        the first call that takes the connection sends it, or a call that can carry it in its own
        round trip takes it (`_take_pending_begin`), so a payment's BEGIN costs no round trip."""
        local = self._local
        if getattr(local, "depth", 0):
            conn = self._conn()
            local.depth += 1
            try:
                yield conn
            finally:
                local.depth -= 1
            return
        conn = self._thread_conn()
        local.depth = 1
        if defer_begin:
            local.begin_pending = True
        else:
            FAST.command(conn, b"BEGIN")
        try:
            yield conn
            if not getattr(local, "begin_pending", False) and self._journal_due():
                self._write_journal()
        except BaseException:
            local.depth = 0
            local.deferred = []  # never sent
            began = not self._take_pending_begin()
            if began and not conn.closed:
                FAST.command(conn, b"ROLLBACK")
            raise
        local.depth = 0
        deferred, local.deferred = getattr(local, "deferred", None) or [], []
        begin = self._take_pending_begin()
        if not deferred:
            if not begin:  # begin still pending: nothing ran in the scope, no transaction to end
                FAST.command(conn, b"COMMIT")
            return
        if self._pipeline.can_send() and not conn.closed:
            self._pipeline.send_transaction_tail(conn, deferred, begin)  # the answer waits (`durable`)
            return
        if begin:
            FAST.command(conn, b"BEGIN")
        _run_now(conn, deferred)
        FAST.command(conn, b"COMMIT")


def _run_now(conn: psycopg.Connection[Any], statements: list[Statement]) -> None:
    """Run deferred writes in place, in order, each handed its rows."""
    for sql, params, done in statements:
        done(FAST.run(conn, sql, params))
