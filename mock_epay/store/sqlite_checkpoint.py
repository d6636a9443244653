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

The -wal file keeps its largest size until it passes the connection's `journal_size_limit`
(sqlite_schema). Once a round finds nothing written since the one before, everything copied, and
the file over IDLE_TRUNCATE_BYTES, the thread empties it (TRUNCATE): an idle sandbox keeps no WAL
on disk, and no commit under load pays for cutting the file and growing it again.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading

CHECKPOINT_SECONDS = 0.5  # how often the checkpoint thread copies the WAL into the file
FALLBACK_AUTOCHECKPOINT_PAGES = 20_000  # the store's connection checkpoints itself only past this (~80 MB)
RESTART_PAGES = 2000  # a WAL this long (~8 MB) after a PASSIVE round is finished (and restarted) by RESTART
IDLE_TRUNCATE_BYTES = 1024 * 1024  # an idle WAL file larger than this is emptied

WalState = tuple[int, int]  # (frames in the WAL, frames copied) as a PASSIVE round found them


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
        seen: WalState | None = None
        try:
            while not self._stopped.wait(CHECKPOINT_SECONDS):
                try:
                    seen = checkpoint_round(db, self._path + "-wal", seen)
                except sqlite3.Error:  # busy: another process checkpoints; next round
                    seen = None
        finally:
            db.close()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=5)


def checkpoint_round(db: sqlite3.Connection, wal_path: str, seen: WalState | None) -> WalState | None:
    """`checkpoint`, then TRUNCATE if the WAL stood still since the round that found it `seen`.
    Returns what the next round compares with (None: busy, or this round emptied the WAL)."""
    now = checkpoint(db)
    if now is None or now != seen or now[0] != now[1]:
        return now
    with contextlib.suppress(OSError):
        if os.path.getsize(wal_path) > IDLE_TRUNCATE_BYTES:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            return None
    return now


def checkpoint(db: sqlite3.Connection) -> WalState | None:
    """PASSIVE, then RESTART when the WAL is long. The PASSIVE round's (frames, copied); None if
    another connection was checkpointing.

    PASSIVE reports the frames it saw when it began; those committed while it ran are what
    RESTART copies (with the write lock held), so the next commit starts the WAL over."""
    busy, pages, copied = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    if busy:
        return None
    if pages >= RESTART_PAGES:
        db.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
    return pages, copied
