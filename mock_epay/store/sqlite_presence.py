"""Whether this process is the only one with a SQLite sandbox file open.

Group commit (store/sqlite_group_commit.py) keeps the file's write lock for a whole turn of the
event loop, which is only fair when no other process waits for that lock: two servers on one file
(`--workers 2`, or two `mock-epay serve` started by hand) would starve each other. So every process
that opens the file holds a shared POSIX lock on one byte of a side file, `<file>-servers`, for as
long as it has the file open; a process is alone when it can turn its own lock exclusive (a POSIX
lock never conflicts with the same process's locks, and a refused upgrade leaves the shared lock in
place). The answer is kept for `RECHECK_SECONDS`: a process that opens the file meanwhile may wait up
to that long for the others to stop grouping (within SQLite's busy timeout), and a process left alone
groups again that long after the others closed the file.

Without `fcntl` (not a POSIX system), or when the side file cannot be opened, a process counts as
not alone: it commits each call.
"""

from __future__ import annotations

import os
import time

try:
    import fcntl
except ImportError:  # pragma: no cover - not a POSIX system
    fcntl = None  # type: ignore[assignment]

RECHECK_SECONDS = 0.05


class Presence:
    """This process's shared lock on `<path>-servers`, and whether any other process holds one."""

    def __init__(self, path: str) -> None:
        self._fd: int | None = None
        self._alone = False
        self._checked_at = -RECHECK_SECONDS
        if fcntl is None:
            return
        try:
            fd = os.open(f"{path}-servers", os.O_RDWR | os.O_CREAT, 0o644)
        except OSError:  # e.g. a directory this process may not write to: never alone, never grouping
            return
        try:
            fcntl.lockf(fd, fcntl.LOCK_SH, 1, 0)  # waits out another process's short upgrade
        except OSError:
            os.close(fd)
            return
        self._fd = fd

    def alone(self) -> bool:
        """Whether no other process has the file open (checked at most every RECHECK_SECONDS)."""
        if self._fd is None:
            return False
        now = time.monotonic()
        if now - self._checked_at >= RECHECK_SECONDS:
            self._checked_at = now
            self._alone = self._try_exclusive()
        return self._alone

    def _try_exclusive(self) -> bool:
        assert self._fd is not None and fcntl is not None
        try:
            fcntl.lockf(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, 0)
        except OSError:
            return False  # another process holds its shared lock; ours is unchanged
        fcntl.lockf(self._fd, fcntl.LOCK_SH, 1, 0)  # back to shared: others may open the file
        return True

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # releases the lock
            self._fd = None
