"""The SQLite store's request journal: entries batched in memory, written with a later transaction.

Mixed into `mock_epay.store.sqlite.SqliteBackend` (it uses its `_lock`, `_db`, `_write` and
`_all`). A request costs no statement of its own: entries wait until JOURNAL_BATCH of them
wait, or until the oldest has waited JOURNAL_DELAY seconds, and then ride on the next write
transaction of any call (or on one of their own); reading the journal writes them first. The
table is cut to `journal_size` rows each time. A SIGKILL can lose the entries still waiting
(at most JOURNAL_BATCH, or a second's worth), never a payment, token or callback.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from mock_epay.store.base import JournalEntry

JOURNAL_BATCH = 64  # journal entries kept in memory at most before they are written
JOURNAL_DELAY = 1.0  # seconds the oldest waiting entry may wait before the next write carries it


class SqliteJournal:
    """The journal calls of the contract, on the backend's connection."""

    # provided by the backend (store/sqlite.py) this is mixed into
    _lock: threading.RLock
    _db: Any
    _write: Any
    _all: Any

    def __init__(self, journal_size: int) -> None:
        self._journal_size = journal_size
        self._journal_batch: list[tuple[Any, ...]] = []
        self._journal_since = 0.0  # time.monotonic() when the oldest waiting entry came

    def journal_request(self, entry: JournalEntry) -> None:
        """Batched (see the module's docstring): a request costs no statement of its own."""
        with self._lock:
            if not self._journal_batch:
                self._journal_since = time.monotonic()
            self._journal_batch.append((*entry[:7], entry[7] if len(entry) > 7 else None))  # + merchant
            if self._journal_due():
                self.flush_journal()

    def _journal_due(self) -> bool:
        """JOURNAL_BATCH entries wait, or the oldest has waited JOURNAL_DELAY seconds."""
        return (len(self._journal_batch) >= JOURNAL_BATCH
                or time.monotonic() - self._journal_since >= JOURNAL_DELAY)

    def flush_journal(self) -> None:
        with self._lock:
            if self._journal_batch:
                self._journal_since = -JOURNAL_DELAY  # due now: opening the transaction writes the batch
                with self._write():
                    pass

    def _write_journal(self) -> None:
        batch, self._journal_batch = self._journal_batch, []
        db = self._db
        db.executemany("INSERT INTO journal (at, method, path, status, ms, body, answer, client_id) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", batch)
        db.execute("DELETE FROM journal WHERE seq <= (SELECT MAX(seq) FROM journal) - ?",
                   (self._journal_size,))

    def forget_waiting_journal(self, client_id: str | None) -> None:
        """Drop the entries still waiting for one merchant (None: everyone's), as its rows are deleted."""
        with self._lock:
            self._journal_batch = [] if client_id is None else [
                entry for entry in self._journal_batch if entry[7] != client_id]

    def journal(self, limit: int | None = None) -> list[JournalEntry]:
        self.flush_journal()
        count = limit or self._journal_size
        rows = self._all("SELECT at, method, path, status, ms, body, answer FROM journal "
                         "ORDER BY seq DESC LIMIT ?", (count,))
        return [tuple(row) for row in reversed(rows)]
