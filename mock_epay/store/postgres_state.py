"""The PostgreSQL store's shared extras: the callback outbox, named values (the clock offset), scenario state.

Mixed into `mock_epay.store.postgres.PostgresStore` (it uses the backend's `_conn`, `_tx`, `_one`);
the PostgreSQL twin of `mock_epay.store.sqlite_state.SqliteState`, with the same calls:

* the outbox and delivery log (`DeliveryStore`): one row per delivery with its due time as
  wall-clock on the mock's clock. An attempt is claimed by one `UPDATE ... RETURNING` over a
  `SELECT ... FOR UPDATE SKIP LOCKED` (owner and lease, only when due and unclaimed or the lease
  ran out): two processes never both send one attempt, and neither waits on the other's claim.
  Only final deliveries are dropped past `callback_log_size`; a pending one is never lost.
* named values (`get_value` / `put_value`): the clock offset, the scenario overrides.
* scenario sequence positions and overrides (`ScenarioStateStore`): a position is taken by one
  upsert (`step = step + 1 ... RETURNING`), an override's use by a row lock on its value, so a
  sequence or an override used from several processes counts each use once.

Other processes learn of a changed clock offset or override list through `NOTIFY` on a channel
named after the database and schema (sent in the changing transaction): each connection listens,
psycopg hands the notification over with the answer of the next query, and the scenario engine
takes those already on the socket before it decides (a non-blocking read): no query is added
per request
(`mock_epay.store.shared_state`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mock_epay.gateway.models import Merchant
from mock_epay.store.base import StoredDelivery
from mock_epay.store.postgres_fast import FAST, Row, bytea, text
from mock_epay.store.postgres_schema import dump
from mock_epay.store.postgres_trim import TrimWindows
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

log = logging.getLogger("mock_epay.store")
CARDS_CHANGED = "cards="  # the notification a change of saved cards sends (`announce`)

if TYPE_CHECKING:
    import psycopg

    from mock_epay.core.clock import Clock

def _saved(rows: str, returning: str, low: str, cap: str, newest: str, answer: str) -> str:
    """An upsert of outbox rows (a saved row's claim is released) with the delivery log's bounded
    trim (postgres_trim): final deliveries past the cap go, pending ones never."""
    return (f"WITH saved AS (INSERT INTO deliveries {rows} "
            "  ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, due_at = EXCLUDED.due_at, "
            f"  record = EXCLUDED.record, claimed_by = NULL, lease_until = NULL RETURNING {returning}), "
            f"trimmed AS (DELETE FROM deliveries WHERE seq > {low} AND seq <= {newest} - {cap} "
            f"  AND status <> 'pending') SELECT {answer} FROM saved")


# $1-$7 the row, $8 the cap, $9 where the trim starts
SAVE_DELIVERY = _saved(f"({DELIVERY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)", "seq",
                       "$9", "$8", "(SELECT seq FROM saved)", "seq")
# and $10 the owner, $11 its lease's end: inserted claimed (`inserted` false when the id was there)
QUEUE_DELIVERY = _saved(f"({DELIVERY_COLUMNS}, claimed_by, lease_until) "
                        "VALUES ($1, $2, $3, $4, $5, $6, $7, $10, $11)", "seq, xmax = 0 AS inserted",
                        "$9", "$8", "(SELECT seq FROM saved)", "seq, inserted")
SAVE_DELIVERIES = _saved(f"({DELIVERY_COLUMNS}) SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], "
                         "%s::text[], %s::text[], %s::float8[], %s::bytea[])", "seq",
                         "%s", "%s", "(SELECT max(seq) FROM saved)", "max(seq)")


class PostgresState(SharedValues):
    """Outbox, named values and scenario state in the shared database."""

    # provided by the backend (store/postgres.py) and the composed calls this is mixed with
    _tx: Any
    _defer_write: Any
    _one: Any
    reset: Any
    merchant: Any
    _declared_card_ids: set[str]
    _trims: TrimWindows

    def _init_state(self, clock: Clock, delivery_log_size: int) -> None:
        self._delivery_log_size = delivery_log_size
        # one channel per database and schema: stores in other schemas of one database never hear it
        where = self._one("SELECT current_database() || '.' || current_schema()")[0]
        self._channel = "mock_epay_" + hashlib.sha256(where.encode()).hexdigest()[:16]
        self._listening = threading.local()
        self._init_shared(clock)

    def _conn(self) -> psycopg.Connection[Any]:
        """The backend's connection for this thread, listening for other processes' changes."""
        conn: psycopg.Connection[Any] = super()._conn()  # type: ignore[misc]
        listening = self.__dict__.get("_listening")  # None while the backend migrates, before _init_state
        if listening is not None and getattr(listening, "conn", None) is not conn:
            conn.add_notify_handler(lambda note: self._changed_elsewhere(note.payload))
            conn.execute(f"LISTEN {self._channel}")
            listening.conn = conn
        return conn

    # -- named values ----------------------------------------------------------------

    def get_value(self, key: str) -> str | None:
        row = self._one("SELECT value FROM kv WHERE key = %s", (key,))
        return row[0] if row else None

    def put_value(self, key: str, value: str | None) -> None:
        with self._tx() as conn:
            if value is None:
                conn.execute("DELETE FROM kv WHERE key = %s", (key,))
            else:
                conn.execute("INSERT INTO kv (key, value) VALUES (%s, %s) "
                             "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value", (key, value))
            if key in (CLOCK_KEY, OVERRIDES_KEY):
                conn.execute("SELECT pg_notify(%s, %s)", (self._channel, f"{key}={value or ''}"[:4000]))

    def on_notification(self, payload: str) -> None:
        if payload == CARDS_CHANGED:
            self.forget_cached_cards()  # type: ignore[attr-defined]  # PostgresBackend's
            return
        self._changed_elsewhere(payload)

    def announce(self, conn: psycopg.Connection[Any], payload: str) -> None:
        """NOTIFY every process listening on this database and schema, at commit."""
        channel = self.__dict__.get("_channel")  # None while the backend migrates, before _init_state
        if channel is not None:
            conn.execute("SELECT pg_notify(%s, %s)", (channel, payload))

    def shared_generation(self) -> int:
        """Take the notifications already on this connection's socket (one non-blocking read, no
        round trip); the generation moves on with each."""
        self.poll_notifications()  # type: ignore[attr-defined]  # PostgresBackend's
        return self._generation

    def sync_shared(self) -> None:
        self.shared_generation()
        super().sync_shared()

    # -- config merchants ---------------------------------------------------------------

    def changed_config(self, merchants: list[Merchant]) -> list[Merchant]:
        """The config merchants whose entry differs from the one the database last saw (or that it
        lacks): only those are seeded again, so runtime changes and card deactivations survive a start."""
        return [m for m in merchants if self.get_value(f"config-merchant:{m.client_id}") != dump(m)
                or self.merchant(m.client_id) is None]

    def seeded_config(self, merchants: list[Merchant], changed: list[Merchant]) -> None:
        """Remember the config entries just seeded; every config card id stays declared."""
        self._declared_card_ids.update(c.id for m in merchants for c in m.saved_cards if c.id)
        for merchant in changed:
            self.put_value(f"config-merchant:{merchant.client_id}", dump(merchant))

    # -- the outbox ------------------------------------------------------------------

    def save_delivery(self, delivery: StoredDelivery) -> None:
        """Insert or update one delivery (its claim is released); final ones past the cap go."""
        rows = FAST.run(self._conn(), SAVE_DELIVERY,
                        (*delivery_row(delivery), self._delivery_log_size, self._trims.low("deliveries")))
        self._trims.trimmed("deliveries", rows[0][0], self._delivery_log_size)

    def save_deliveries(self, deliveries: list[StoredDelivery]) -> None:
        """Save several deliveries (the last save of an id wins) in one statement, so one round trip."""
        latest = list({delivery.id: delivery for delivery in deliveries}.values())
        if len(latest) <= 1:
            for delivery in latest:
                self.save_delivery(delivery)
            return
        columns = [list(column) for column in zip(*map(delivery_row, latest), strict=True)]
        row = self._conn().execute(
            SAVE_DELIVERIES, (*columns, self._trims.low("deliveries"), self._delivery_log_size)).fetchone()
        self._trims.trimmed("deliveries", row[0] if row else None, self._delivery_log_size)

    def queue_delivery(self, delivery: StoredDelivery, owner: str, now: float, lease: float) -> bool:
        """Insert a just-queued delivery already claimed for `owner` when it is pending and due: one
        statement where `save_delivery` and `claim_delivery` take two round trips. A delivery whose
        id is in the table already is saved as `save_delivery` does, then claimed as usual."""
        if delivery.status != "pending" or delivery.due_at > now + DUE_TOLERANCE:
            self.save_delivery(delivery)
            return self.claim_delivery(delivery.id, owner, now, lease) is not None
        params = (*delivery_row(delivery), self._delivery_log_size, self._trims.low("deliveries"), owner,
                  now + lease)
        if self._defer_write(QUEUE_DELIVERY, params, self._deferred_delivery_queued):
            # with its payment's COMMIT (store/postgres_connection.py); its id is new (this process's
            # own prefix, callbacks/delivery_log.py), so its insert is what claims it
            return True
        rows = FAST.run(self._conn(), QUEUE_DELIVERY, params)
        self._delivery_queued(rows)
        if rows[0][1] == b"t":
            return True
        return self.claim_delivery(delivery.id, owner, now, lease) is not None

    def _delivery_queued(self, rows: list[Row]) -> None:
        self._trims.trimmed("deliveries", rows[0][0], self._delivery_log_size)

    def _deferred_delivery_queued(self, rows: list[Row]) -> None:
        """A deferred queueing was taken for its claim before its rows came back (above): say so if
        the row was there already, so the insert did not claim it."""
        self._delivery_queued(rows)
        if rows[0][1] != b"t":
            log.warning("a callback queued with its payment reused an id already in the outbox")

    def deliveries(self) -> list[StoredDelivery]:
        """Every kept delivery, oldest first."""
        rows = self._conn().execute(f"SELECT {DELIVERY_COLUMNS} FROM deliveries ORDER BY seq").fetchall()  # noqa: S608
        return [delivery_from_row(row) for row in rows]

    def stored_delivery(self, delivery_id: str) -> StoredDelivery | None:
        row = self._one(f"SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE id = %s", (delivery_id,))  # noqa: S608
        return delivery_from_row(row) if row else None

    def claimable_delivery_ids(self, now: float, due_by: float = math.inf) -> list[str]:
        """Ids of pending deliveries nobody holds a live claim on, due by `due_by`, oldest first
        (through the index of pending rows by due time: not the ones due later)."""
        rows = self._conn().execute(
            "SELECT id FROM deliveries WHERE status = 'pending' AND due_at <= %s "
            "AND (claimed_by IS NULL OR lease_until < %s) ORDER BY seq", (due_by, now)).fetchall()
        return [row[0] for row in rows]

    def claim_delivery(self, delivery_id: str, owner: str, now: float, lease: float) -> StoredDelivery | None:
        """Claim the next attempt of a pending, due delivery for `owner` until `now + lease`.

        None when it is final, not due, claimed by another owner whose lease still runs, or being
        claimed by another process at this moment (its row is locked: skipped, not waited for)."""
        rows = FAST.run(
            self._conn(),
            f"UPDATE deliveries SET claimed_by = $1, lease_until = $2 WHERE id = ("  # noqa: S608
            "  SELECT id FROM deliveries WHERE id = $3 AND status = 'pending' AND due_at <= $4 "
            "  AND (claimed_by IS NULL OR claimed_by = $1 OR lease_until < $5) FOR UPDATE SKIP LOCKED) "
            f"RETURNING {DELIVERY_COLUMNS}",
            (owner, now + lease, delivery_id, now + DUE_TOLERANCE, now))
        if not rows:
            return None
        values = [text(value) for value in rows[0][:6]]
        return delivery_from_row((*values[:5], float(values[5]), bytea(rows[0][6])))

    def forget_deliveries(self, client_id: str | None = None, *, pending_too: bool = False) -> None:
        """Drop final deliveries (of one merchant, or all); pending ones too with `pending_too`."""
        where = [] if pending_too else ["status <> 'pending'"]
        params: tuple[Any, ...] = ()
        if client_id is not None:
            where.append("client_id = %s")
            params = (client_id,)
        sql = "DELETE FROM deliveries" + (f" WHERE {' AND '.join(where)}" if where else "")
        self._conn().execute(sql, params)

    # -- scenario state ----------------------------------------------------------------

    def scenario_steps(self) -> list[tuple[str, str, str, int]]:
        """(rule, client_id, key, next step), oldest first."""
        rows = self._conn().execute("SELECT rule, client_id, key, step FROM scenario_steps "
                                    "ORDER BY seq").fetchall()
        return [(row[0], row[1], row[2], row[3]) for row in rows]

    def save_scenario_step(self, rule: str, client_id: str, key: str, step: int) -> None:
        self._conn().execute(
            "INSERT INTO scenario_steps (rule, client_id, key, step) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (rule, client_id, key) DO UPDATE SET step = EXCLUDED.step",
            (rule, client_id, key, step))

    def take_scenario_step(self, rule: str, client_id: str, key: str) -> int:
        """The position a sequence is at (0 first), moved on by one in the same statement."""
        row = self._one(
            "WITH taken AS (INSERT INTO scenario_steps (rule, client_id, key, step) VALUES (%s, %s, %s, 1) "
            "  ON CONFLICT (rule, client_id, key) "
            "  DO UPDATE SET step = scenario_steps.step + 1, seq = DEFAULT "
            "  RETURNING step, seq), "
            "dropped AS (DELETE FROM scenario_steps WHERE seq <= (SELECT seq FROM taken) - %s) "
            "SELECT step - 1 FROM taken", (rule, client_id, key, SCENARIO_STEPS_LIMIT))
        return int(row[0])

    def forget_scenario_steps(self, client_id: str | None = None) -> None:
        if client_id is None:
            self._conn().execute("DELETE FROM scenario_steps")
        else:
            self._conn().execute("DELETE FROM scenario_steps WHERE client_id = %s", (client_id,))

    def scenario_overrides(self) -> list[Any]:
        saved = self.get_value(OVERRIDES_KEY)
        return json.loads(saved) if saved else []

    def save_scenario_overrides(self, overrides: list[Any]) -> None:
        self.put_value(OVERRIDES_KEY, json.dumps(overrides) if overrides else None)

    def change_scenario_overrides(self, change: Callable[[list[Any]], list[Any] | None]) -> list[Any]:
        """Apply `change` to the saved overrides under a row lock (None from it: leave them); the result."""
        with self._tx() as conn:
            conn.execute("INSERT INTO kv (key, value) VALUES (%s, '[]') ON CONFLICT DO NOTHING",
                         (OVERRIDES_KEY,))
            row = conn.execute("SELECT value FROM kv WHERE key = %s FOR UPDATE", (OVERRIDES_KEY,)).fetchone()
            current: list[Any] = json.loads(row[0])
            changed = change(current)
            if changed is None:
                return current
            conn.execute("UPDATE kv SET value = %s WHERE key = %s", (json.dumps(changed), OVERRIDES_KEY))
            conn.execute("SELECT pg_notify(%s, %s)", (self._channel, OVERRIDES_KEY))
            return changed

    # -- clearing everything -------------------------------------------------------------

    def clear(self) -> None:
        """`mock-epay reset --store URL`: forget all but merchants and secrets, pending callbacks too."""
        self.reset()
        with self._tx() as conn:
            conn.execute("TRUNCATE deliveries, scenario_steps")
            conn.execute("DELETE FROM kv WHERE key NOT LIKE 'secret:%' AND key NOT LIKE 'config-merchant:%'")
            conn.execute("SELECT pg_notify(%s, %s)", (self._channel, f"{CLOCK_KEY}="))
