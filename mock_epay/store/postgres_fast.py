"""The PostgreSQL store's hot statements, sent straight through libpq: prepared once, text in, text out.

A token request and a payment make a handful of statements; through psycopg's cursor layer each
costs several times the CPU of the libpq call under it (adapting, the prepare bookkeeping, the
result objects). `FastStatements.run` sends one statement with `PQexecPrepared` on the
connection's `pgconn`, preparing it on that connection the first time, with parameters as text
(str, int, float, bool, datetime, bytes for a bytea column, None) and rows as tuples of bytes (or None);
`run_together` sends several in one round trip (libpq's pipeline mode). A failed
statement raises the psycopg error class of its SQLSTATE (`UniqueViolation`, ...), as psycopg
would. The statements go on the same connection and session as psycopg's own, so transactions
opened here (`BEGIN` / `COMMIT` / `ROLLBACK`, see `PostgresBackend._tx`) cover both.
"""

from __future__ import annotations

import select
import weakref
from datetime import datetime
from typing import Any

import psycopg
from psycopg import pq

Row = tuple[bytes | None, ...]
_OK = (pq.ExecStatus.COMMAND_OK, pq.ExecStatus.TUPLES_OK)


def _param(value: Any) -> bytes | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return b"t" if value else b"f"
    if isinstance(value, datetime):
        return value.isoformat().encode()
    if isinstance(value, bytes):
        return b"\\x" + value.hex().encode()  # bytea's hex input form (for a bytea parameter only)
    return str(value).encode()


def param_values(params: tuple[Any, ...]) -> Any:
    """Parameters as libpq takes them (text, None for SQL NULL)."""
    return [_param(value) for value in params]  # None is SQL NULL (libpq's type stubs omit it)


def rows_of(result: pq.abc.PGresult) -> list[Row]:
    """A result's rows as tuples of bytes (None for NULL)."""
    return [tuple(result.get_value(row, column) for column in range(result.nfields))
            for row in range(result.ntuples)]


def text(value: bytes | None) -> str:
    """A text column's value as `str` ("" for NULL)."""
    return value.decode() if value is not None else ""


def bytea(value: bytes | None) -> bytes:
    """A bytea column's text output (`\\x` and hex) as the bytes it holds."""
    return bytes.fromhex(value[2:].decode()) if value else b""


def raise_for(result: pq.abc.PGresult) -> None:
    """Raise the psycopg error of a failed result's SQLSTATE (nothing for a good result)."""
    if result.status in _OK:
        return
    sqlstate = (result.error_field(pq.DiagnosticField.SQLSTATE) or b"").decode()
    message = (result.error_message or b"").decode("utf-8", "replace").strip()
    try:
        kind: type[psycopg.Error] = psycopg.errors.lookup(sqlstate)
    except KeyError:
        kind = psycopg.DatabaseError
    raise kind(message)


def _wait_for_answer(pgconn: Any) -> None:
    """Block (GIL released, in `select`) until libpq has the next result without waiting itself."""
    while pgconn.is_busy():
        select.select([pgconn.socket], [], [])
        pgconn.consume_input()


class FastStatements:
    """Prepared statements by SQL text (with `$1`-style placeholders), per connection."""

    def __init__(self) -> None:
        self._names: dict[str, bytes] = {}
        # which names each connection has prepared (a process may hold several connections: one per
        # thread, or per store object, as tests and `mock-epay import` do)
        self._prepared_on: weakref.WeakKeyDictionary[Any, set[bytes]] = weakref.WeakKeyDictionary()

    def run(self, conn: psycopg.Connection[Any], sql: str, params: tuple[Any, ...] = ()) -> list[Row]:
        """Execute `sql` on `conn`; its rows (empty for a command)."""
        pgconn = conn.pgconn
        result = pgconn.exec_prepared(self._prepared(pgconn, sql), param_values(params))
        if result.status not in _OK:
            raise_for(result)
        return rows_of(result)

    def run_together(self, conn: psycopg.Connection[Any], statements: list[tuple[str, tuple[Any, ...]]],
                     begin: bool = False) -> list[list[Row]]:
        """Send the statements at once (libpq's pipeline mode: one round trip), run in order, each
        with its own snapshot as if sent one by one; the rows of each. The first failure raises,
        and the statements after it are not run. With `begin`, a `BEGIN` goes first (its result
        is not returned), so the transaction starts in the same round trip.

        The answers are awaited in `select` (without the GIL), not inside libpq: a statement
        waiting on a row lock another thread of this process holds must not stop that thread."""
        pgconn = conn.pgconn
        names = [self._prepared(pgconn, sql) for sql, _ in statements]
        pgconn.enter_pipeline_mode()
        try:
            if begin:
                pgconn.send_query_params(b"BEGIN", None)
            for name, (_, params) in zip(names, statements, strict=True):
                pgconn.send_query_prepared(name, param_values(params))
            pgconn.pipeline_sync()
            results = []
            while True:
                _wait_for_answer(pgconn)
                result = pgconn.get_result()
                if result is None:
                    continue
                if result.status == pq.ExecStatus.PIPELINE_SYNC:
                    break
                results.append(result)
        finally:
            pgconn.exit_pipeline_mode()
        for result in results:
            if result.status not in _OK:
                raise_for(result)
        return [rows_of(result) for result in results[1 if begin else 0:]]

    def is_prepared(self, pgconn: Any, sql: str) -> bool:
        """Whether `sql` is prepared on this connection (`name_of` then names it)."""
        name = self._names.get(sql)
        prepared = self._prepared_on.get(pgconn)
        return name is not None and prepared is not None and name in prepared

    def prepare(self, pgconn: Any, sql: str) -> None:
        """Prepare `sql` on this connection now, if it is not yet (one round trip, once)."""
        self._prepared(pgconn, sql)

    def name_of(self, sql: str) -> bytes:
        """The name `sql` is prepared under (on the connections that have prepared it)."""
        return self._names[sql]

    def _prepared(self, pgconn: Any, sql: str) -> bytes:
        """The statement's name, prepared on this connection first if it is not yet."""
        name = self._names.get(sql)
        if name is None:
            name = self._names[sql] = f"mock_epay_{len(self._names)}".encode()
        prepared = self._prepared_on.get(pgconn)
        if prepared is None:
            prepared = self._prepared_on[pgconn] = set()
        if name not in prepared:
            result = pgconn.prepare(name, sql.encode())
            if result.status not in _OK:
                raise_for(result)
            prepared.add(name)
        return name

    @staticmethod
    def command(conn: psycopg.Connection[Any], sql: bytes) -> None:
        """A statement without parameters (`BEGIN`, `COMMIT`, `ROLLBACK`)."""
        result = conn.pgconn.exec_(sql)
        if result.status not in _OK:
            raise_for(result)


FAST = FastStatements()  # one per process: the statement names must not clash on a connection
