"""The PostgreSQL store's request journal: entries batched in memory, written with a later statement.

Mixed into `mock_epay.store.postgres.PostgresBackend` (it uses its `_conn`, `_local`,
`_pipeline`, `_pipelinable_conn` and `_defer_write`). As on SQLite (`mock_epay.store.sqlite_journal`):
a request costs no round trip of its own; once JOURNAL_BATCH entries wait, or the oldest has waited
JOURNAL_DELAY seconds, they go in with the next transaction (sent with its COMMIT) or in one
statement of their own, the table cut to `journal_size` rows in the same statement (a bounded
range, `postgres_trim`); reading the journal writes them first. On the serving loop that statement
goes into the pipeline (`mock_epay.store.postgres_pipeline`) like a token's write: waited for in
place, it first drained every write in flight and then stood the loop still for its own round trip
(6 % of the loop's time on the token load). The batch travels as one JSON text parameter (hex
entries, merchants), which the prepared statement unpacks in order. A crash of the process can
lose the entries still waiting, never a payment, token or callback.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec

from mock_epay.store.base import JournalEntry
from mock_epay.store.postgres_fast import FAST, Row
from mock_epay.store.postgres_pipeline import PipelinedWrites
from mock_epay.store.postgres_schema import dump_entry, load_entry
from mock_epay.store.postgres_trim import TrimWindows
from mock_epay.store.sqlite_journal import JOURNAL_BATCH, JOURNAL_DELAY

JOURNAL_INSERT = (
    "WITH added AS (INSERT INTO journal (entry, client_id) "
    "  SELECT decode(e.item->>0, 'hex'), e.item->>1 "
    "  FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS e(item, n) ORDER BY e.n RETURNING seq), "
    "trimmed AS (DELETE FROM journal WHERE seq > $2 AND seq <= (SELECT max(seq) FROM added) - $3) "
    "SELECT max(seq) FROM added"
)


def _nothing() -> None:
    return None  # a journal write that fails is logged by the pipeline; its entries are lost


class PostgresJournal:
    """The journal calls of the contract, on the backend's connection."""

    # provided by the backend (store/postgres.py) this is mixed into
    _conn: Any
    _local: Any
    _trims: TrimWindows  # where the table's next bounded trim starts
    _pipeline: PipelinedWrites
    _pipelinable_conn: Any
    _defer_write: Any

    def __init__(self, journal_size: int) -> None:
        self._journal_size = journal_size
        self._journal_batch: list[tuple[bytes, str | None]] = []  # (entry, the merchant it was made for)
        self._journal_since = 0.0  # time.monotonic() when the oldest waiting entry came

    def journal_request(self, entry: JournalEntry) -> None:
        """Batched as on SQLite (`mock_epay.store.sqlite_journal`): JOURNAL_BATCH entries, or the
        oldest JOURNAL_DELAY seconds old, go in with the next transaction or in one statement."""
        if not self._journal_batch:
            self._journal_since = time.monotonic()
        self._journal_batch.append((dump_entry(entry), entry[7] if len(entry) > 7 else None))
        if self._journal_due() and not getattr(self._local, "depth", 0):
            self._write_journal()

    def _journal_due(self) -> bool:
        return (len(self._journal_batch) >= JOURNAL_BATCH
                or time.monotonic() - self._journal_since >= JOURNAL_DELAY)

    def _write_journal(self, wait: bool = False) -> None:
        """The waiting entries and the cut to `journal_size`, in one statement: inside a
        transaction with its COMMIT, on the serving loop in the pipeline, else (or with `wait`)
        in place."""
        if not self._journal_batch:
            return
        batch, self._journal_batch = self._journal_batch, []
        entries = msgspec.json.encode([(entry.hex(), client_id) for entry, client_id in batch]).decode()
        params = (entries, self._trims.low("journal"), self._journal_size)
        if not wait:
            if getattr(self._local, "depth", 0):
                if self._defer_write(JOURNAL_INSERT, params, self._journal_written):
                    return
            elif (conn := self._pipelinable_conn(JOURNAL_INSERT)) is not None:
                self._pipeline.send(conn, JOURNAL_INSERT, params, self._journal_written, _nothing)
                return
        self._journal_written(FAST.run(self._conn(), JOURNAL_INSERT, params))

    def _journal_written(self, rows: list[Row]) -> None:
        self._trims.trimmed("journal", rows[0][0] if rows else None, self._journal_size)

    def forget_waiting_journal(self, client_id: str | None) -> None:
        """Drop the entries still waiting for one merchant (None: everyone's), as its rows are deleted."""
        self._journal_batch = [] if client_id is None else [
            item for item in self._journal_batch if item[1] != client_id]

    def journal(self, limit: int | None = None) -> list[JournalEntry]:
        self._write_journal(wait=True)
        count = limit if limit else self._journal_size
        rows = self._conn().execute("SELECT entry FROM (SELECT seq, entry FROM journal ORDER BY seq DESC "
                                    "LIMIT %s) AS last ORDER BY seq", (count,)).fetchall()
        return [load_entry(row[0]) for row in rows]
