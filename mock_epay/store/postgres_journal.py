"""The PostgreSQL store's request journal: entries batched in memory, written with a later statement.

Mixed into `mock_epay.store.postgres.PostgresBackend` (it uses its `_conn` and `_local`). As on
SQLite (`mock_epay.store.sqlite_journal`): a request costs no round trip of its own; once
JOURNAL_BATCH entries wait, or the oldest has waited JOURNAL_DELAY seconds, they go in with the
next transaction (just before its commit) or in one statement of their own, the table cut to
`journal_size` rows in the same statement (a bounded range, `postgres_trim`); reading the journal
writes them first. A crash of the process can lose the entries still waiting, never a payment,
token or callback.
"""

from __future__ import annotations

import time
from typing import Any

import psycopg

from mock_epay.store.base import JournalEntry
from mock_epay.store.postgres_schema import dump_entry, load_entry
from mock_epay.store.postgres_trim import TrimWindows
from mock_epay.store.sqlite_journal import JOURNAL_BATCH, JOURNAL_DELAY


class PostgresJournal:
    """The journal calls of the contract, on the backend's connection."""

    # provided by the backend (store/postgres.py) this is mixed into
    _conn: Any
    _local: Any
    _trims: TrimWindows  # where the table's next bounded trim starts

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
            self._write_journal(self._conn())

    def _journal_due(self) -> bool:
        return (len(self._journal_batch) >= JOURNAL_BATCH
                or time.monotonic() - self._journal_since >= JOURNAL_DELAY)

    def _write_journal(self, conn: psycopg.Connection[Any], due_only: bool = False) -> None:
        """The waiting entries and the cut to `journal_size`, in one statement."""
        if not self._journal_batch or (due_only and not self._journal_due()):
            return
        batch, self._journal_batch = self._journal_batch, []
        row = conn.execute("WITH added AS (INSERT INTO journal (entry, client_id) "
                           "SELECT * FROM unnest(%s::bytea[], %s::text[]) RETURNING seq), "
                           "trimmed AS (DELETE FROM journal "
                           "  WHERE seq > %s AND seq <= (SELECT max(seq) FROM added) - %s) "
                           "SELECT max(seq) FROM added",
                           ([e for e, _ in batch], [c for _, c in batch], self._trims.low("journal"),
                            self._journal_size)).fetchone()
        self._trims.trimmed("journal", row[0] if row else None, self._journal_size)

    def forget_waiting_journal(self, client_id: str | None) -> None:
        """Drop the entries still waiting for one merchant (None: everyone's), as its rows are deleted."""
        self._journal_batch = [] if client_id is None else [
            item for item in self._journal_batch if item[1] != client_id]

    def journal(self, limit: int | None = None) -> list[JournalEntry]:
        self._write_journal(self._conn())
        count = limit if limit else self._journal_size
        rows = self._conn().execute("SELECT entry FROM (SELECT seq, entry FROM journal ORDER BY seq DESC "
                                    "LIMIT %s) AS last ORDER BY seq", (count,)).fetchall()
        return [load_entry(row[0]) for row in rows]
