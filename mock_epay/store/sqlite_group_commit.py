"""Group commit for the SQLite store: the writes of one turn of the event loop, one transaction.

Mixed into `mock_epay.store.sqlite.SqliteBackend` (it uses its `_lock`, `_db`, `_write` and caches).
A commit in WAL mode writes the changed pages and the WAL index: most of the cost of a small write
call. With `group_commit(loop)` on (the mock's own runner turns it on, web/server.py, because its
connections wait for the commit; an app served by any other runner commits per call), the first
write call on that loop's thread opens one `BEGIN IMMEDIATE` and schedules its `COMMIT` for the
loop's next turn; every write call until then is a savepoint inside it (`_write`), so each call is
still all-or-nothing. `durable()` is what the server awaits before an answer leaves, so nothing
answered can be lost to a SIGKILL: the answer follows the commit. A callback is sent by a task
scheduled after the writes it follows, so after their commit too.

The batch holds the file's write lock for that turn, which would starve another process waiting for
it; so a batch opens only while this process is alone with the file (`sqlite_presence`), and every
call commits at once otherwise, as without group commit. A failed commit rolls the batch back, fails
what waits on it (those answers become 500s) and drops the caches that may hold its rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

from mock_epay.store.sqlite_presence import Presence

log = logging.getLogger("mock_epay.store")


class SqliteGroupCommit:
    """The batch of the current loop turn, if one is open."""

    # provided by the backend (store/sqlite.py) this is mixed into
    _lock: threading.RLock
    _db: Any
    _version_in_write: int | None
    _forget_cached: Callable[[], None]

    def __init__(self, presence: Presence | None) -> None:
        self._presence = presence  # None: an in-memory database, which no other process can open
        self._group_loop: asyncio.AbstractEventLoop | None = None  # group commit on this loop, when set
        self._batch: asyncio.Future[None] | None = None  # the open batch's commit, when one is open

    def group_commit(self, loop: asyncio.AbstractEventLoop | None) -> None:
        """Commit the writes of one turn of `loop` together (None: every call commits at once again)."""
        with self._lock:
            self._commit_batch()
            self._group_loop = loop

    def _join_batch(self) -> bool:
        """Whether this call joins the batch's transaction (opening it, and scheduling its commit)."""
        if self._batch is not None:
            return True
        loop = self._group_loop
        if loop is None or (self._presence is not None and not self._presence.alone()):
            return False  # another process shares the file: a batch would keep it waiting
        try:
            if asyncio.get_running_loop() is not loop:
                return False
        except RuntimeError:
            return False
        self._db.execute("BEGIN IMMEDIATE")
        self._version_in_write = None
        self._batch = loop.create_future()
        loop.call_soon(self._commit_batch)
        return True

    def durable(self) -> asyncio.Future[None] | None:
        """What to await before answering: the commit of the writes made so far (None: committed)."""
        return self._batch

    def _commit_batch(self) -> None:
        with self._lock:
            batch, self._batch = self._batch, None
            if batch is None:
                return
            try:
                self._db.execute("COMMIT")
            except Exception as exc:
                with contextlib.suppress(sqlite3.Error):  # SQLite may have rolled it back already
                    self._db.execute("ROLLBACK")
                self._forget_cached()
                log.error("SQLite could not commit one loop turn's writes (%s); they are rolled back", exc)
                if not batch.done():
                    batch.set_exception(exc)
                    batch.exception()  # logged here: a batch no answer waited for is no stray warning
                return
            if not batch.done():
                batch.set_result(None)

    def _close_presence(self) -> None:
        if self._presence is not None:
            self._presence.close()
