"""The PostgreSQL store: the contract of `mock_epay.store.base` in a database several processes share.

`--store postgresql://user@host:port/db` (or `postgres://`). psycopg 3, used synchronously
because the store contract is synchronous: one connection per thread (the event loop's thread
in a server, so one per process), each contract call one transaction, and `atomic()` one
transaction for several calls (a payment's reservation, record and callback). The hot statements
go straight through libpq (`mock_epay.store.postgres_fast`: prepared once, a reservation's two
statements and its transaction's BEGIN in one round trip); while the mock's runner serves, a token's
write, and a payment's row and callback row with its COMMIT, are sent without waiting and the
answer waits for them instead (`postgres_pipeline`); commits do not wait for the server's WAL flush
(see `postgres_connection.connect`). Saved cards are cached, every change announced at commit.

Every invariant holds in the database itself, never by an in-process lock, so it holds
across processes and replicas: an invoice is reserved by inserting its two keys (the invoice
and its last six digits) into `reservations`, whose primary key lets one attempt in;
successes go into `succeeded` (one per last six digits); transactions change only by
`UPDATE ... WHERE version = %s`; a 3-D Secure hold ends under `SELECT ... FOR UPDATE`, so
one caller wins. Merchants and tokens are cached for at most a second (`short_cache`). The
schema and its migrations live in `mock_epay.store.postgres_schema`, the journal in `postgres_journal`,
the tokens in `postgres_tokens`, connections and transactions in `postgres_connection`, the
retention caps' bounded trims in `postgres_trim`.
"""

from __future__ import annotations

import asyncio
import hmac
import threading
import uuid
from collections.abc import Iterable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

import psycopg

from mock_epay.core.clock import Clock
from mock_epay.core.fakedata import FakeData
from mock_epay.gateway.codes import GENERIC
from mock_epay.gateway.errors import EpayError
from mock_epay.gateway.lifecycle import not_found_error
from mock_epay.gateway.models import Merchant, SavedCard, Terminal, Transaction, evolve
from mock_epay.store.base import (
    CardIdTaken,
    HoldNotFound,
    InvoiceReservation,
    Secure3DHold,
    VersionConflict,
    duplicate_error,
    invoice_suffix,
)
from mock_epay.store.compose import ComposedCalls
from mock_epay.store.memory import MAX_TOKENS
from mock_epay.store.postgres_connection import PostgresConnections
from mock_epay.store.postgres_fast import FAST, Row, text
from mock_epay.store.postgres_journal import PostgresJournal
from mock_epay.store.postgres_pipeline import PipelinedWrites
from mock_epay.store.postgres_products import PostgresProducts
from mock_epay.store.postgres_schema import dump, frozen_mapping, load, migrate
from mock_epay.store.postgres_state import CARDS_CHANGED, PostgresState
from mock_epay.store.postgres_tokens import PostgresTokens
from mock_epay.store.postgres_trim import TrimWindows
from mock_epay.store.short_cache import ShortCache

TRANSACTION_COLUMNS = "SELECT record, version FROM transactions"
_INSERT_TX = ("WITH added AS (INSERT INTO transactions (id, client_id, invoice_id, version, record) "
              "VALUES ($1, $2, $3, 0, $4) RETURNING seq), ")
_MARK = ("marked AS (INSERT INTO succeeded (client_id, suffix, transaction_id) VALUES ($2, $8, $1) "
         "ON CONFLICT (client_id, suffix) DO UPDATE SET transaction_id = EXCLUDED.transaction_id), ")
_FREE_AND_CAP = ("freed AS (DELETE FROM reservations WHERE owner = $5), "
                 "trimmed AS (DELETE FROM transactions "
                 "  WHERE seq > $7 AND seq <= (SELECT seq FROM added) - $6) "
                 "SELECT seq FROM added")
# $1 id, $2 client, $3 invoice, $4 record, $5 owner, $6 cap, $7 where the trim starts (postgres_trim)
INSERT_PAYMENT = _INSERT_TX + _FREE_AND_CAP
INSERT_PAYMENT_MARKED = _INSERT_TX + _MARK + _FREE_AND_CAP  # and $8 the invoice's last six digits


class PostgresBackend(PostgresConnections, PostgresTokens, PostgresJournal):
    """The contract, in PostgreSQL. Keeps no domain rules: it stores what it is given."""

    def __init__(self, url: str, clock: Clock, max_transactions: int = 20_000, journal_size: int = 500,
                 max_tokens: int = MAX_TOKENS) -> None:
        self.clock = clock
        self._url = url
        self._max_transactions = max_transactions
        self._max_tokens = max_tokens
        self._instance = uuid.uuid4().hex  # tells this process's reservations from others'
        self._local = threading.local()
        self._connections: list[psycopg.Connection[Any]] = []
        self._connections_lock = threading.Lock()  # guards the list only, never state
        self._merchant_cache: ShortCache[Merchant] = ShortCache()
        self._card_cache: ShortCache[SavedCard] = ShortCache()  # cleared on every card change anywhere
        self._pipeline = PipelinedWrites(self.on_notification)  # writes sent without waiting
        PostgresTokens.__init__(self)
        self._trims = TrimWindows()  # where each capped table's next trim starts
        self._open_reservations: set[int] = set()  # numbers of this process's reservations not yet freed
        PostgresJournal.__init__(self, journal_size)
        migrate(self._conn())

    def _one(self, query: str, params: tuple[Any, ...] = ()) -> Any:
        return self._conn().execute(query, params).fetchone()

    def group_commit(self, loop: asyncio.AbstractEventLoop | None) -> None:
        """While `loop` serves through the mock's runner (web/server.py), which holds each answer until
        `durable()`, a token's write is sent without waiting (store/postgres_pipeline.py)."""
        self._pipeline.serve_on(loop)

    def durable(self) -> asyncio.Future[None] | None:
        """What to await before an answer leaves: the writes still in the pipeline (None: none)."""
        return self._pipeline.durable()

    def close(self) -> None:
        """Close every connection this store opened."""
        self._pipeline.drain()
        with self._connections_lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            conn.close()

    # -- merchants ---------------------------------------------------------------

    def delete_merchant_row(self, client_id: str) -> None:
        """Forget a merchant made at run time (its data goes with `reset(client_id)`)."""
        self._conn().execute("DELETE FROM merchants WHERE client_id = %s", (client_id,))
        self._merchant_cache.clear()
        self._tokens.clear()

    def add_merchant(self, merchant: Merchant) -> None:
        self._conn().execute(
            "INSERT INTO merchants (client_id, record) VALUES (%s, %s) "
            "ON CONFLICT (client_id) DO UPDATE SET record = EXCLUDED.record",
            (merchant.client_id, dump(merchant)))
        self._merchant_cache.clear()

    def merchants(self) -> list[Merchant]:
        rows = self._conn().execute("SELECT record FROM merchants ORDER BY seq").fetchall()
        return [_merchant(row[0]) for row in rows]

    def merchant(self, client_id: str) -> Merchant | None:
        """Read at most once per CACHE_SECONDS per merchant (a request reads its merchant several
        times); a merchant unknown here is always looked up."""
        cached = self._merchant_cache.get(client_id)
        if cached is not None:
            return cached
        rows = FAST.run(self._conn(), "SELECT record FROM merchants WHERE client_id = $1", (client_id,))
        merchant = _merchant(text(rows[0][0])) if rows else None
        if merchant is not None:
            self._merchant_cache.put(client_id, merchant)
        return merchant

    def poll_notifications(self) -> None:
        """Take the notifications already on this connection's socket (one non-blocking read, no round
        trip): another process's clock advance counts before this request reads the clock."""
        conn = getattr(self._local, "conn", None)
        if conn is not None and self._pipeline.holds(conn):
            self._pipeline.pump()  # reads the writes' results too, and hands on the notifications
            return
        pgconn = self._conn().pgconn
        pgconn.consume_input()
        while (note := pgconn.notifies()) is not None:
            self.on_notification(note.extra.decode())

    def on_notification(self, payload: str) -> None:
        """What a notification means (`PostgresState` follows the shared clock and overrides)."""

    def authenticate_client(self, client_id: str, client_secret: str) -> Merchant | None:
        self.poll_notifications()  # a token is about to be issued: its expiry reads the clock
        merchant = self.merchant(client_id)
        if merchant is None or not hmac.compare_digest(merchant.client_secret.encode(),
                                                        client_secret.encode()):
            return None
        return merchant

    def terminal_of(self, client_id: str, terminal_id: str) -> Terminal | None:
        merchant = self.merchant(client_id)
        return merchant.terminal(terminal_id) if merchant else None

    # -- invoices ----------------------------------------------------------------

    def _owner(self, reservation: InvoiceReservation) -> str:
        return f"{self._instance}:{reservation.number}"

    def _reserve(self, conn: psycopg.Connection[Any], reservation: InvoiceReservation,
                 begin: bool = False) -> None:
        """Insert the invoice's two keys (the duplicate error when either is taken or succeeded).

        The keys go in first: a concurrent holder's insert makes this one wait for its commit,
        and the success check after it then sees what that holder recorded.
        """
        client_id, invoice_id = reservation.client_id, reservation.invoice_id
        suffix = invoice_suffix(invoice_id)
        taken, succeeded = FAST.run_together(conn, [  # one round trip; the SELECT runs after the INSERT
            ("INSERT INTO reservations (client_id, key, owner) VALUES ($1, $2, $3), ($1, $4, $3) "
             "ON CONFLICT DO NOTHING RETURNING 1",
             (client_id, invoice_id, self._owner(reservation), "~" + suffix)),
            ("SELECT 1 FROM succeeded WHERE client_id = $1 AND suffix = $2", (client_id, suffix))],
            begin=begin)
        if len(taken) != 2 or succeeded:
            raise duplicate_error()

    def reserve_invoice(self, client_id: str, invoice_id: str) -> InvoiceReservation:
        reservation = InvoiceReservation(client_id, invoice_id)
        begin = self._take_pending_begin()  # a payment's atomic() scope starts with its reservation
        with self._tx() as conn:
            self._reserve(conn, reservation, begin)
            self._open_reservations.add(reservation.number)
        return reservation

    def release_invoice(self, reservation: InvoiceReservation) -> None:
        """Delete the reservation's rows; no round trip when this process freed it already."""
        if reservation.number in self._open_reservations:
            self._conn().execute("DELETE FROM reservations WHERE owner = %s", (self._owner(reservation),))
            self._open_reservations.discard(reservation.number)

    def invoice_succeeded(self, client_id: str, invoice_id: str) -> bool:
        return self._one("SELECT 1 FROM succeeded WHERE client_id = %s AND suffix = %s",
                         (client_id, invoice_suffix(invoice_id))) is not None

    # -- transactions ------------------------------------------------------------

    def insert_payment(self, reservation: InvoiceReservation, transaction: Transaction,
                       hold: Secure3DHold | None = None) -> Transaction:
        tx = evolve(transaction, version=0) if transaction.version else transaction
        marked = tx.status.is_success
        sql = INSERT_PAYMENT_MARKED if marked else INSERT_PAYMENT
        params = (tx.id, tx.client_id, tx.invoice_id, dump(tx), self._owner(reservation),
                  self._max_transactions, self._trims.low("transactions"),
                  *((invoice_suffix(tx.invoice_id),) if marked else ()))
        with self._tx() as conn:
            # one statement: insert, mark the success, free the invoice, cap; inside a payment's
            # atomic() scope it goes with the COMMIT (`_defer_write`): nothing here reads its rows
            if hold is not None or not self._defer_write(sql, params, self._payment_written):
                try:
                    self._payment_written(FAST.run(conn, sql, params))
                except psycopg.errors.UniqueViolation:
                    raise ValueError(f"transaction {tx.id} is recorded already") from None
            self._open_reservations.discard(reservation.number)
            if hold is not None:
                self._insert_hold(conn, hold)
        return tx

    def _payment_written(self, rows: list[Row]) -> None:
        self._trims.trimmed("transactions", rows[0][0], self._max_transactions)

    @staticmethod
    def _mark_succeeded(conn: psycopg.Connection[Any], tx: Transaction) -> None:
        conn.execute("INSERT INTO succeeded (client_id, suffix, transaction_id) VALUES (%s, %s, %s) "
                     "ON CONFLICT (client_id, suffix) DO UPDATE SET transaction_id = EXCLUDED.transaction_id",
                     (tx.client_id, invoice_suffix(tx.invoice_id), tx.id))

    def _insert_hold(self, conn: psycopg.Connection[Any], hold: Secure3DHold) -> None:
        """Keep the hold, its invoice reserved under the hold's own reservation."""
        self._reserve(conn, hold.reservation)
        conn.execute("INSERT INTO holds (transaction_id, client_id, expires_at, owner, record) "
                     "VALUES (%s, %s, %s, %s, %s)",
                     (hold.transaction_id, hold.client_id, hold.expires_at, self._owner(hold.reservation),
                      dump(hold)))

    def transaction(self, client_id: str, transaction_id: str) -> Transaction | None:
        return _transaction(self._one(f"{TRANSACTION_COLUMNS} WHERE id = %s AND client_id = %s",
                                      (transaction_id, client_id)))

    def transaction_for_invoice(self, client_id: str, invoice_id: str) -> Transaction | None:
        row = self._one(f"{TRANSACTION_COLUMNS} WHERE client_id = %s AND invoice_id = %s "
                        "ORDER BY seq DESC LIMIT 1", (client_id, invoice_id))
        return _transaction(row)

    def find_transaction(self, transaction_id: str) -> Transaction | None:
        return _transaction(self._one(f"{TRANSACTION_COLUMNS} WHERE id = %s", (transaction_id,)))

    def transactions(self, client_id: str | None = None) -> list[Transaction]:
        if client_id is None:
            rows = self._conn().execute(f"{TRANSACTION_COLUMNS} ORDER BY seq DESC").fetchall()
        else:
            rows = self._conn().execute(f"{TRANSACTION_COLUMNS} WHERE client_id = %s ORDER BY seq DESC",
                                        (client_id,)).fetchall()
        return [_transaction(row) for row in rows]  # type: ignore[misc]

    def replace_transaction(self, transaction: Transaction, expected_version: int) -> Transaction:
        with self._tx() as conn:
            return self._replace(conn, transaction, expected_version)

    def _replace(self, conn: psycopg.Connection[Any], transaction: Transaction,
                 expected_version: int) -> Transaction:
        written = _versioned(transaction, expected_version + 1)
        changed = conn.execute(
            "UPDATE transactions SET record = %s, version = %s "
            "WHERE id = %s AND client_id = %s AND version = %s",
            (dump(written), written.version, written.id, written.client_id, expected_version)).rowcount
        if changed != 1:
            row = conn.execute("SELECT version FROM transactions WHERE id = %s AND client_id = %s",
                               (transaction.id, transaction.client_id)).fetchone()
            if row is None:
                raise not_found_error()
            raise VersionConflict(transaction.id, expected_version, row[0])
        if written.status.is_success:
            self._mark_succeeded(conn, written)
        return written

    # -- 3-D Secure holds --------------------------------------------------------

    def add_secure3d_hold(self, hold: Secure3DHold) -> Secure3DHold:
        with self._tx() as conn:
            found = conn.execute("SELECT 1 FROM transactions WHERE id = %s", (hold.transaction_id,))
            if found.fetchone() is None:
                raise not_found_error()
            self._insert_hold(conn, hold)
        return hold

    def secure3d_hold(self, transaction_id: str) -> Secure3DHold | None:
        row = self._one("SELECT record FROM holds WHERE transaction_id = %s", (transaction_id,))
        return _hold(row[0]) if row else None

    def expired_secure3d(self, now: datetime) -> list[Secure3DHold]:
        rows = FAST.run(self._conn(), "SELECT record FROM holds WHERE expires_at <= $1 ORDER BY expires_at",
                        (now,))
        return [_hold(text(row[0])) for row in rows]

    def end_secure3d(self, transaction_id: str, result: Transaction | None,
                     expected_version: int = 0) -> Secure3DHold:
        with self._tx() as conn:
            row = conn.execute("SELECT record, owner FROM holds WHERE transaction_id = %s FOR UPDATE",
                               (transaction_id,)).fetchone()
            if row is None:
                raise HoldNotFound(transaction_id)
            hold = _hold(row[0])
            if result is not None:
                try:
                    self._replace(conn, result, expected_version)
                except EpayError as exc:
                    if isinstance(exc, VersionConflict):
                        raise
                    # the transaction is gone (reset, retention): the hold ends without a result
            conn.execute("DELETE FROM holds WHERE transaction_id = %s", (transaction_id,))
            conn.execute("DELETE FROM reservations WHERE owner = %s", (row[1],))
        return hold

    # -- saved cards -------------------------------------------------------------

    def insert_card(self, saved: SavedCard, *, replace: bool = False,
                    for_transaction: str | None = None) -> SavedCard:
        with self._tx() as conn:
            row = conn.execute("SELECT client_id FROM cards WHERE id = %s FOR UPDATE", (saved.id,)).fetchone()
            if row is not None and not (replace and row[0] == saved.client_id):
                raise CardIdTaken(saved.id, row[0])
            if for_transaction is not None:
                self._link_card(conn, saved, for_transaction)
            conn.execute(
                "INSERT INTO cards (id, client_id, account_id, active, record) VALUES (%s, %s, %s, %s, %s) "
                "ON CONFLICT (id) DO UPDATE SET account_id = EXCLUDED.account_id, "
                "active = EXCLUDED.active, record = EXCLUDED.record",
                (saved.id, saved.client_id, saved.account_id, saved.active, dump(saved)))
            self._cards_changed(conn)
        return saved

    def _link_card(self, conn: psycopg.Connection[Any], saved: SavedCard, transaction_id: str) -> None:
        row = conn.execute(f"{TRANSACTION_COLUMNS} WHERE id = %s AND client_id = %s FOR UPDATE",
                           (transaction_id, saved.client_id)).fetchone()
        tx = _transaction(row)
        if tx is None:
            raise not_found_error()
        self._replace(conn, evolve(tx, card_id=saved.id), tx.version)

    def card(self, client_id: str, card_id: str) -> SavedCard | None:
        """A saved card; read at most once per CACHE_SECONDS (a payment by card id reads it), and
        again at once after any card change, here or in another process (`CARDS_CHANGED`)."""
        self.poll_notifications()  # another process's card change, already on the socket, counts
        key = f"{client_id} {card_id}"
        cached = self._card_cache.get(key)
        if cached is not None:
            return cached
        rows = FAST.run(self._conn(), "SELECT record FROM cards WHERE id = $1 AND client_id = $2",
                        (card_id, client_id))
        saved = load(SavedCard, text(rows[0][0])) if rows else None
        if saved is not None:
            self._card_cache.put(key, saved)
        return saved

    def _cards_changed(self, conn: psycopg.Connection[Any]) -> None:
        """Inside the transaction that changes cards: forget the cached ones here, and tell every
        other process to (at its commit: `announce`)."""
        self._card_cache.clear()
        self.announce(conn, CARDS_CHANGED)

    def announce(self, conn: psycopg.Connection[Any], payload: str) -> None:
        """Tell the other processes on this database about a change, at commit (`PostgresState`)."""

    def forget_cached_cards(self) -> None:
        self._card_cache.clear()

    def card_id_taken(self, card_id: str) -> bool:
        return self._one("SELECT 1 FROM cards WHERE id = %s", (card_id,)) is not None

    def cards_for_account(self, client_id: str, account_id: str) -> list[SavedCard]:
        rows = self._conn().execute("SELECT record FROM cards WHERE client_id = %s AND account_id = %s "
                                    "AND active ORDER BY seq", (client_id, account_id)).fetchall()
        return [load(SavedCard, row[0]) for row in rows]

    def deactivate_card(self, client_id: str, card_id: str) -> SavedCard:
        with self._tx() as conn:
            row = conn.execute("SELECT record FROM cards WHERE id = %s AND client_id = %s FOR UPDATE",
                               (card_id, client_id)).fetchone()
            if row is None:
                raise EpayError(400, GENERIC, f"card {card_id[:64]!r} not found")
            saved = load(SavedCard, row[0])
            if not saved.active:
                raise EpayError(400, GENERIC, f"card {saved.id} is already deactivated")
            saved = evolve(saved, active=False)
            conn.execute("UPDATE cards SET active = false, record = %s WHERE id = %s", (dump(saved), card_id))
            self._cards_changed(conn)
        return saved

    # -- reset -------------------------------------------------------------------

    def reset(self, client_id: str | None = None) -> None:
        self._tokens.clear()
        with self._tx() as conn:
            self._cards_changed(conn)
            if client_id is None:
                self._journal_batch.clear()
                conn.execute("TRUNCATE tokens, transactions, succeeded, reservations, holds, cards, journal")
                return
            for table in ("tokens", "holds", "succeeded", "reservations", "transactions", "cards"):
                conn.execute(f"DELETE FROM {table} WHERE client_id = %s", (client_id,))


def _merchant(text: str) -> Merchant:
    return load(Merchant, text)


def _transaction(row: Any) -> Transaction | None:
    if row is None:
        return None
    tx = load(Transaction, row[0])
    return tx if tx.version == row[1] else evolve(tx, version=row[1])


def _hold(text: str) -> Secure3DHold:
    hold = load(Secure3DHold, text)
    return evolve(hold, context=frozen_mapping(hold.context))


def _versioned(tx: Transaction, version: int) -> Transaction:
    return tx if tx.version == version else evolve(tx, version=version)


class PostgresStore(ComposedCalls, PostgresProducts, PostgresState, PostgresBackend):
    """The shared store: the PostgreSQL contract plus the calls composed from it."""

    def atomic(self) -> AbstractContextManager[Any]:
        """One transaction (`BEGIN` ... `COMMIT`) on this thread's connection, which the calls inside join."""
        return self._tx(defer_begin=True)

    def __init__(
        self,
        url: str,
        merchants: Iterable[Merchant],
        clock: Clock,
        fake: FakeData,
        max_transactions: int = 20_000,
        journal_size: int = 500,
        max_tokens: int = MAX_TOKENS,
        delivery_log_size: int = 5000,
    ) -> None:
        PostgresBackend.__init__(self, url, clock, max_transactions, journal_size, max_tokens)
        self._init_state(clock, delivery_log_size)  # the outbox, clock offset, scenario state
        merchants = list(merchants)
        changed = self.changed_config(merchants)  # an unchanged config does not undo runtime changes
        ComposedCalls.__init__(self, changed, fake)
        self.seeded_config(merchants, changed)
