"""The SQLite store's checkpoints, off the event loop: a thread that copies the WAL back into the file.

SQLite otherwise checkpoints inside a commit every 1000 pages, on the event loop, with an
fsync of the WAL and of the file (`synchronous=NORMAL` syncs at checkpoints, not at commits):
a request now and then would wait for the disk. The thread runs a PASSIVE checkpoint, which
never waits for writers, every CHECKPOINT_SECONDS on a connection of its own; the store's
connection keeps an auto-checkpoint at FALLBACK_AUTOCHECKPOINT_PAGES in case it falls behind.

Under a steady load the log rarely starts over (that needs a moment with every frame copied and
no commit in between), so it grows to the fallback and the store's connection checkpoints in a
commit what the thread has not copied yet: at most CHECKPOINT_SECONDS of commits. Passes every
0.05 s (not 0.5 s) keep that remainder small: the payment load's slowest commits went from
29-47 ms (about 20,000 frames, one every second) to at most 11 ms.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading

CHECKPOINT_SECONDS = 0.05  # how often the checkpoint thread copies the WAL into the file
FALLBACK_AUTOCHECKPOINT_PAGES = 20_000  # the store's connection checkpoints itself only past this (~80 MB)


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
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        finally:
            db.close()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=5)
