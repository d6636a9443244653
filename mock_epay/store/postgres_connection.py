"""The PostgreSQL store's connections and transactions: one connection per thread, `BEGIN` sent lazily.

Mixed into `mock_epay.store.postgres.PostgresBackend` (it uses its `_url`, `_local`, `_connections`,
`_connections_lock` and `_write_journal`). `connect` opens a connection in autocommit mode; `_tx`
is one transaction on this thread's connection, nested uses joining the outer one. An `atomic()`
scope leaves its `BEGIN` unsent until its first statement: the first call that takes the
connection sends it, or a call that can carry it in its own round trip takes it (a payment's
reservation pipeline), so a payment's transaction costs no round trip to open.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

from mock_epay.settings import ConfigError
from mock_epay.store.postgres_fast import FAST
from mock_epay.store.postgres_pipeline import PipelinedWrites


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
    _pipeline: PipelinedWrites

    def _conn(self) -> psycopg.Connection[Any]:
        """This thread's connection, after the BEGIN an `atomic()` scope left pending, if any."""
        conn = self._thread_conn()
        if getattr(self._local, "begin_pending", False):
            self._local.begin_pending = False
            FAST.command(conn, b"BEGIN")
        return conn

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
        local = self._local
        conn = getattr(local, "conn", None)
        if conn is None or conn.closed or getattr(local, "depth", 0) or not self._pipeline.can_send():
            return None
        if not FAST.is_prepared(conn.pgconn, sql):
            if self._pipeline.holds(conn):
                return None  # preparing needs the connection out of pipeline mode: wait in place
            FAST.prepare(self._conn().pgconn, sql)
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
            if not getattr(local, "begin_pending", False):
                self._write_journal(conn, due_only=True)
        except BaseException:
            local.depth = 0
            began = not self._take_pending_begin()
            if began and not conn.closed:
                FAST.command(conn, b"ROLLBACK")
            raise
        local.depth = 0
        if self._take_pending_begin():  # nothing ran in the scope: no transaction to end
            return
        FAST.command(conn, b"COMMIT")
