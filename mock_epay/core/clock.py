"""The mock's clock: real time plus an offset that tests can advance.

Everything that expires or waits (tokens, auto-cancel, callback retries) reads
time from one `Clock`, so a test can move time forward instead of sleeping.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

ALMATY = timezone(timedelta(hours=5), "Asia/Almaty")


class Clock:
    """Wall-clock and monotonic time shifted by an adjustable offset."""

    def __init__(self) -> None:
        self._offset = 0.0
        self._listeners: list[Callable[[], None]] = []

    @property
    def offset(self) -> float:
        return self._offset

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        self._offset += seconds
        self._notify()

    def restore_offset(self, seconds: float) -> None:
        """Put the offset back where a durable store saved it (at start-up)."""
        self._offset = float(seconds)
        self._notify()

    def follow_offset(self, seconds: float) -> bool:
        """Take an offset another process set, without telling the listeners yet (the caller calls
        `notify_listeners` when it may); whether it changed."""
        changed = float(seconds) != self._offset
        self._offset = float(seconds)
        return changed

    def notify_listeners(self) -> None:
        self._notify()

    def reset(self) -> None:
        self._offset = 0.0
        self._notify()

    def add_listener(self, listener: Callable[[], None]) -> None:
        """Call `listener()` whenever the clock jumps (so timers waiting on it re-check)."""
        self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[], None]) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def _notify(self) -> None:
        for listener in list(self._listeners):
            listener()

    def monotonic(self) -> float:
        """Seconds on a monotonic scale, including the offset (for expiry checks)."""
        return time.monotonic() + self._offset

    def now(self) -> datetime:
        """The current time in Kazakhstan (UTC+5), as the bank stamps it."""
        now = datetime.now(ALMATY)
        return now + timedelta(seconds=self._offset) if self._offset else now
