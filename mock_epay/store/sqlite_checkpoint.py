"""The SQLite store's checkpoints, off the event loop: a thread that copies the WAL back into the file.

SQLite otherwise checkpoints inside a commit every 1000 pages, on the event loop, with an
fsync of the WAL and of the file (`synchronous=NORMAL` syncs at checkpoints, not at commits):
a request now and then would wait for the disk. The thread runs a PASSIVE checkpoint, which
never waits for writers, every CHECKPOINT_SECONDS on a connection of its own; the store's
connection keeps an auto-checkpoint at FALLBACK_AUTOCHECKPOINT_PAGES in case it falls behind.

Passes run every CHECKPOINT_SECONDS (0.5 s; passes every 0.05 s cost more CPU than they saved
on the payment load: 543 against 438 us per request).
Under a steady write load a PASSIVE checkpoint never quite catches up (commits land while it
syncs), and SQLite starts the WAL over only once every frame is copied: the WAL then grew to
the fallback's 20,000 pages and the event loop's own commit copied all of them, with two fsyncs
(a 30-100 ms stall, the sqlite loads' p99). So when the WAL holds RESTART_PAGES or more after a
PASSIVE round, the thread copies the frames committed meanwhile with a RESTART checkpoint: it
holds the write lock for that short tail only, and the next commit starts the WAL from its
beginning, so it stays a few MB and the fallback never fires.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading

CHECKPOINT_SECONDS = 0.5  # how often the checkpoint thread copies the WAL into the file
FALLBACK_AUTOCHECKPOINT_PAGES = 20_000  # the store's connection checkpoints itself only past this (~80 MB)
RESTART_PAGES = 2000  # a WAL this long (~8 MB) after a PASSIVE round is finished (and restarted) by RESTART


class Checkpointer:
    """A daemon thread checkpointing the file at `path` until `stop()`."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mock-epay-sqlite-checkpoint", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            db = sqlite3.connect(self._path, timeout=0.1, isolation_level=None, check_same_thread=False)
        except sqlite3.Error:
            return
        try:
            while not self._stopped.wait(CHECKPOINT_SECONDS):
                with contextlib.suppress(sqlite3.Error):  # busy: another process checkpoints; next round
                    checkpoint(db)
        finally:
            db.close()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=5)


def checkpoint(db: sqlite3.Connection) -> bool:
    """One round: PASSIVE, then RESTART when the WAL is long. True if it restarted.

    PASSIVE reports the frames it saw when it began; those committed while it ran are what
    RESTART copies (with the write lock held), so the next commit starts the WAL over."""
    busy, pages, _copied = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    if busy or pages < RESTART_PAGES:
        return False
    db.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
    return True
