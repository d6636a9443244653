"""The SQLite store's durable extras: the callback outbox, the clock offset, scenario state, `clear()`.

Mixed into `mock_epay.store.sqlite.SqliteBackend` (it uses its `_write`, `_one`, `_all`):

* the outbox and delivery log (`DeliveryStore`): one row per delivery, pending or final,
  with its due time as wall-clock on the mock's clock. An attempt is claimed before it is
  sent (`claim_delivery`: owner and lease, only when due and unclaimed or the lease ran
  out), so two processes on one file never both send it. Only final deliveries are
  dropped past the log's size; a pending one is never lost.
* small named values (`get_value` / `put_value`): the clock offset, scenario overrides;
* scenario sequence positions and overrides (`ScenarioStateStore`), bounded like the engine's
  own: a position is taken and moved on in one write transaction, an override's use likewise,
  so processes on one file count each use once. Another process's clock or override change is
  noticed through `PRAGMA data_version` (`mock_epay.store.shared_state`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mock_epay.store.base import StoredDelivery
from mock_epay.store.shared_state import (
    CLOCK_KEY,
    DELIVERY_COLUMNS,
    DUE_TOLERANCE,
    OVERRIDES_KEY,
    SCENARIO_STEPS_LIMIT,
    SharedValues,
    delivery_from_row,
    delivery_row,
)

if TYPE_CHECKING:
    import sqlite3

    from mock_epay.core.clock import Clock


def trim_step(cap: int) -> int:
    """Rows a capped table may run over its cap between two trims: a sixteenth of it, 1 to 64."""
    return max(1, min(64, cap // 16))


class SqliteState(SharedValues):
    """Outbox, named values and scenario state on the backend's connection."""

    # provided by the backend (store/sqlite.py) this is mixed into
    _delivery_log_size: int
    _write: Any
    _all: Any
    _one: Any
    reset: Any
    data_version: Any

    def __init__(self, delivery_log_size: int = 5000) -> None:
        self._delivery_log_size = delivery_log_size
        self._deliveries_trimmed_at = 0  # the newest seq when this process last trimmed the delivery log
        self._seen_data_version = -1

    # -- named values ----------------------------------------------------------------

    def get_value(self, key: str) -> str | None:
        row = self._one("SELECT value FROM kv WHERE key = ?", (key,))
        return row[0] if row else None

    def put_value(self, key: str, value: str | None) -> None:
        with self._write() as db:
            if value is None:
                db.execute("DELETE FROM kv WHERE key = ?", (key,))
            else:
                db.execute("INSERT OR REPLACE INTO kv VALUES (?, ?)", (key, value))

    def restore_clock(self, clock: Clock) -> None:
        """Put the clock where the file left it, and keep the file in step with every jump."""
        self._init_shared(clock)
        self.shared_generation()

    def shared_generation(self) -> int:
        """Moves on when another connection committed since the last look (then the clock follows)."""
        version = self.data_version()
        if version != self._seen_data_version:
            self._seen_data_version = version
            self._generation += 1
            self._follow_offset(self.get_value(CLOCK_KEY))
        return self._generation

    def sync_shared(self) -> None:
        self.shared_generation()

    # -- the outbox ------------------------------------------------------------------

    def save_delivery(self, delivery: StoredDelivery) -> None:
        """Insert or update one delivery (its claim is released); final ones past the cap go."""
        with self._write() as db:
            seq = db.execute(
                f"INSERT INTO deliveries ({DELIVERY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?) "  # noqa: S608
                "ON CONFLICT (id) DO UPDATE SET status = excluded.status, due_at = excluded.due_at, "
                "record = excluded.record, claimed_by = NULL, lease_until = NULL",
                delivery_row(delivery)).lastrowid
            self._trim_deliveries(db, seq)

    def _trim_deliveries(self, db: sqlite3.Connection, seq: int | None) -> None:
        """Final deliveries past the delivery log's cap go (through the index of final rows), once the
        newest `seq` moved `trim_step(cap)` rows past the last trim: a DELETE per outbox write was
        about 8% of the SQLite store's time on the token+cards/auth load. A `seq` below the last trim's
        (the table was emptied and SQLite numbers from 1 again) trims at once."""
        cap = self._delivery_log_size
        if seq and seq > cap and not 0 <= seq - self._deliveries_trimmed_at < trim_step(cap):
            self._deliveries_trimmed_at = seq
            db.execute("DELETE FROM deliveries WHERE seq <= ? AND status != 'pending'", (seq - cap,))

    def deliveries(self) -> list[StoredDelivery]:
        """Every kept delivery, oldest first."""
        rows = self._all(f"SELECT {DELIVERY_COLUMNS} FROM deliveries ORDER BY seq")  # noqa: S608
        return [delivery_from_row(row) for row in rows]

    def stored_delivery(self, delivery_id: str) -> StoredDelivery | None:
        row = self._one(f"SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE id = ?", (delivery_id,))  # noqa: S608
        return delivery_from_row(row) if row else None

    def claimable_delivery_ids(self, now: float, due_by: float = math.inf) -> list[str]:
        """Ids of pending deliveries nobody holds a live claim on, due by `due_by`, oldest first
        (through the index of pending rows by due time: not the ones due later)."""
        rows = self._all("SELECT id FROM deliveries WHERE status = 'pending' AND due_at <= ? "
                         "AND (claimed_by IS NULL OR lease_until < ?) ORDER BY seq", (due_by, now))
        return [row[0] for row in rows]

    def claim_delivery(self, delivery_id: str, owner: str, now: float, lease: float) -> StoredDelivery | None:
        """Claim the next attempt of a pending, due delivery for `owner` until `now + lease`.

        None when it is final, not due (someone else made an attempt and moved its due time),
        or claimed by another owner whose lease still runs."""
        with self._write() as db:
            row = db.execute(
                "UPDATE deliveries SET claimed_by = ?, lease_until = ? WHERE id = ? AND status = 'pending' "
                "AND due_at <= ? AND (claimed_by IS NULL OR claimed_by = ? OR lease_until < ?) "
                f"RETURNING {DELIVERY_COLUMNS}",
                (owner, now + lease, delivery_id, now + DUE_TOLERANCE, owner, now)).fetchall()
            return delivery_from_row(row[0]) if row else None

    def save_deliveries(self, deliveries: list[StoredDelivery]) -> None:
        """Save each delivery, in order, in one write transaction."""
        with self._write():
            for delivery in deliveries:
                self.save_delivery(delivery)

    def queue_delivery(self, delivery: StoredDelivery, owner: str, now: float, lease: float) -> bool:
        """Save a just-queued delivery and claim its first attempt, in one write transaction: one
        due at once is inserted already claimed for `owner` (one statement, no row read back); one
        whose id is in the table already is saved as `save_delivery` does, then claimed as usual."""
        with self._write() as db:
            if delivery.status == "pending" and delivery.due_at <= now + DUE_TOLERANCE:
                cursor = db.execute(
                    f"INSERT INTO deliveries ({DELIVERY_COLUMNS}, claimed_by, lease_until) "  # noqa: S608
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
                    (*delivery_row(delivery), owner, now + lease))
                if cursor.rowcount == 1:
                    self._trim_deliveries(db, cursor.lastrowid)
                    return True
            self.save_delivery(delivery)
            return self.claim_delivery(delivery.id, owner, now, lease) is not None

    def forget_deliveries(self, client_id: str | None = None, *, pending_too: bool = False) -> None:
        """Drop final deliveries (of one merchant, or all); pending ones too with `pending_too`."""
        where = "" if pending_too else "status != 'pending'"
        if client_id is not None:
            where = f"{where} AND client_id = ?" if where else "client_id = ?"
        sql = "DELETE FROM deliveries" + (f" WHERE {where}" if where else "")
        with self._write() as db:
            db.execute(sql, (client_id,) if client_id is not None else ())

    # -- scenario state ----------------------------------------------------------------

    def scenario_steps(self) -> list[tuple[str, str, str, int]]:
        """(rule, client_id, key, next step), oldest first."""
        rows = self._all("SELECT rule, client_id, key, step FROM scenario_steps ORDER BY seq")
        return [tuple(row) for row in rows]

    def save_scenario_step(self, rule: str, client_id: str, key: str, step: int) -> None:
        with self._write() as db:
            seq = db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM scenario_steps").fetchone()[0]
            db.execute("INSERT OR REPLACE INTO scenario_steps VALUES (?, ?, ?, ?, ?)",
                       (rule, client_id, key, step, seq))
            if seq > SCENARIO_STEPS_LIMIT:
                db.execute("DELETE FROM scenario_steps WHERE seq <= ?", (seq - SCENARIO_STEPS_LIMIT,))

    def take_scenario_step(self, rule: str, client_id: str, key: str) -> int:
        """The position a sequence is at (0 first), moved on by one in the same transaction."""
        with self._write() as db:
            seq = db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM scenario_steps").fetchone()[0]
            step = db.execute(
                "INSERT INTO scenario_steps VALUES (?, ?, ?, 1, ?) ON CONFLICT (rule, client_id, key) "
                "DO UPDATE SET step = step + 1, seq = excluded.seq RETURNING step",
                (rule, client_id, key, seq)).fetchone()[0]
            if seq > SCENARIO_STEPS_LIMIT:
                db.execute("DELETE FROM scenario_steps WHERE seq <= ?", (seq - SCENARIO_STEPS_LIMIT,))
            return int(step) - 1

    def forget_scenario_steps(self, client_id: str | None = None) -> None:
        with self._write() as db:
            if client_id is None:
                db.execute("DELETE FROM scenario_steps")
            else:
                db.execute("DELETE FROM scenario_steps WHERE client_id = ?", (client_id,))

    def scenario_overrides(self) -> list[Any]:
        saved = self.get_value(OVERRIDES_KEY)
        return json.loads(saved) if saved else []

    def save_scenario_overrides(self, overrides: list[Any]) -> None:
        self.put_value(OVERRIDES_KEY, json.dumps(overrides) if overrides else None)

    def change_scenario_overrides(self, change: Callable[[list[Any]], list[Any] | None]) -> list[Any]:
        """Apply `change` to the saved overrides in one write transaction (None: leave them); the result."""
        with self._write() as db:
            row = db.execute("SELECT value FROM kv WHERE key = ?", (OVERRIDES_KEY,)).fetchone()
            current: list[Any] = json.loads(row[0]) if row else []
            changed = change(current)
            if changed is None:
                return current
            db.execute("INSERT OR REPLACE INTO kv VALUES (?, ?)", (OVERRIDES_KEY, json.dumps(changed)))
            return changed

    # -- clearing everything -------------------------------------------------------------

    def clear(self) -> None:
        """`mock-epay reset --store URL`: forget all state but merchants, pending callbacks too."""
        self.reset()  # type: ignore[attr-defined]
        with self._write() as db:
            db.execute("DELETE FROM deliveries")
            db.execute("DELETE FROM scenario_steps")
            db.execute("DELETE FROM kv WHERE key NOT LIKE 'config-merchant:%'")
