"""A small cache of records for a short time: what a PostgreSQL store reads several times per request.

PostgreSQL cannot tell a process that another one changed a row without a round trip, so a
record read (or written) here is kept for CACHE_SECONDS at most, then read again: a merchant
changed, or a token deleted, through another process is seen here within that time. Changes made
through this process clear the cache at once. At most CACHE_SIZE records, the oldest going first.
"""

from __future__ import annotations

import time
from typing import Generic, TypeVar

CACHE_SECONDS = 1.0
CACHE_SIZE = 256

T = TypeVar("T")


class ShortCache(Generic[T]):
    """Records by key, each for CACHE_SECONDS after it was put."""

    def __init__(self) -> None:
        self._items: dict[str, tuple[float, T]] = {}

    def get(self, key: str) -> T | None:
        found = self._items.get(key)
        if found is None or time.monotonic() - found[0] >= CACHE_SECONDS:
            return None
        return found[1]

    def put(self, key: str, value: T) -> None:
        items = self._items
        items.pop(key, None)
        items[key] = (time.monotonic(), value)
        if len(items) > CACHE_SIZE:
            del items[next(iter(items))]

    def discard(self, key: str) -> None:
        self._items.pop(key, None)

    def clear(self) -> None:
        self._items.clear()
