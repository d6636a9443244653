"""Retention caps on the PostgreSQL store's busiest tables, trimmed at a cost that does not grow.

A cap keeps a table's newest rows by its `seq`: each write also deletes `seq <= newest - cap`.
PostgreSQL keeps a deleted row's index entry until VACUUM reaches the table, so a range scanned
from the start of the `seq` index walks every row deleted since the last vacuum: on the
token+cards/auth load the delivery log's cap alone cost about 400 µs of server CPU per HTTP
request, more as the dead entries piled up. `TrimWindows` remembers, per table, how far this
process has trimmed, and the statement bounds the range from below: `seq > low AND seq <= newest
- cap`, which reads only the rows that became too old since the last write.

A bounded range can pass over a row it should drop later: a delivery still pending when the
range went by (it is final and droppable only afterwards), or a row another process committed
after this one's trim passed its `seq`. Every `FULL_PASS_EVERY`-th write per table (and the first
write of a process) scans from the start instead (`low = 0`), so such a row goes within that many
writes; a single process writing one row at a time keeps exactly what it kept before.
"""

from __future__ import annotations

FULL_PASS_EVERY = 1024


class TrimWindows:
    """The lower bound of each table's next trim. Shared by a store's threads: a lost update only
    makes one range longer or leaves a row for the next full pass."""

    def __init__(self) -> None:
        self._low: dict[str, int] = {}
        self._writes: dict[str, int] = {}

    def low(self, table: str) -> int:
        """The `seq` the next trim of `table` starts above (0: a full pass)."""
        writes = self._writes.get(table, 0)
        self._writes[table] = writes + 1
        return 0 if writes % FULL_PASS_EVERY == 0 else self._low.get(table, 0)

    def trimmed(self, table: str, newest_seq: bytes | int | None, cap: int) -> None:
        """A write of `table` that got `newest_seq` trimmed everything up to `newest_seq - cap`;
        `newest_seq` as the statement returned it (libpq's text, psycopg's int, None for no row)."""
        bound = int(newest_seq or 0) - cap
        if bound > self._low.get(table, 0):
            self._low[table] = bound
