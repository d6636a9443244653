"""The SQLite store: the contract of `mock_epay.store.base` kept in one file, durable across restarts.

`sqlite:///path/sandbox.db` (or `sqlite:///:memory:` for tests). One connection per process,
guarded by a lock; every contract call is ONE transaction (`BEGIN IMMEDIATE` for writes; on the
event loop of a process alone with the file, a savepoint of the loop turn's one transaction, see
`mock_epay.store.sqlite_group_commit`), and `atomic()` makes several calls one (a payment with its
callback's outbox row), so each invariant holds across processes sharing the file too: the
database's write lock, not an in-process lock, makes a check-and-set atomic. Records are JSON
(`mock_epay.store.sqlite_records`) beside indexed columns for what is queried. Retention caps keep
the file bounded. Merchants and recent tokens are cached in process, and dropped whenever
`PRAGMA data_version` says another connection wrote.

Reservations carry the process id that made them: one left behind by a process that died
mid-payment is cleared when the file is opened again. The schema lives in
`mock_epay.store.sqlite_schema`; the outbox, clock offset and scenario state in
`mock_epay.store.sqlite_state`; the journal in `sqlite_journal`, checkpoints in `sqlite_checkpoint`.
"""

from __future__ import annotations

import contextlib
import hmac
import math
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from mock_epay.core.clock import Clock
from mock_epay.core.fakedata import FakeData
from mock_epay.gateway.codes import GENERIC
from mock_epay.gateway.errors import EpayError
from mock_epay.gateway.lifecycle import not_found_error
from mock_epay.gateway.models import Merchant, SavedCard, Terminal, Token, Transaction, evolve
from mock_epay.store.base import (
    CardIdTaken,
    HoldNotFound,
    InvoiceReservation,
    Secure3DHold,
    VersionConflict,
    invoice_suffix,
)
from mock_epay.store.compose import ComposedCalls
from mock_epay.store.sqlite_checkpoint import FALLBACK_AUTOCHECKPOINT_PAGES, Checkpointer
from mock_epay.store.sqlite_group_commit import SqliteGroupCommit
from mock_epay.store.sqlite_invoices import SqliteInvoices, hold_owner
from mock_epay.store.sqlite_journal import SqliteJournal
from mock_epay.store.sqlite_presence import Presence
from mock_epay.store.sqlite_products import SqliteProducts
from mock_epay.store.sqlite_records import (
    decode_card,
    decode_hold,
    decode_merchant,
    decode_token,
    decode_tx,
    encode,
)
from mock_epay.store.sqlite_schema import open_database
from mock_epay.store.sqlite_state import SqliteState, trim_step

MAX_TOKENS = 20_000
TOKEN_CACHE = 256  # tokens kept in process (one connection per process: checked by PRAGMA data_version)


class SqliteBackend(SqliteInvoices, SqliteJournal, SqliteState, SqliteGroupCommit):
    """The contract in one SQLite file. Keeps no domain rules: it stores what it is given."""

    def __init__(self, path: str, clock: Clock, max_transactions: int = 20_000, journal_size: int = 500,
                 max_tokens: int = MAX_TOKENS, delivery_log_size: int = 5000) -> None:
        self.clock = clock
        self.path = path
        self._db = open_database(path)
        self._lock = threading.RLock()
        self._depth = 0
        self._max_transactions = max_transactions
        self._max_tokens = max_tokens
        self._merchant_cache: dict[str, Merchant] = {}
        self._merchants_loaded = False
        self._data_version = -1
        self._version_in_write: int | None = None  # data_version read since this BEGIN
        self._next_token_sweep = 0.0  # epoch seconds: sweep expired tokens at the next issue after it
        self._tokens_trimmed_at = 0  # the newest token's `seq` at the cap's last DELETE
        self._tokens: dict[str, Token] = {}  # recently issued or read, dropped when another process writes
        SqliteGroupCommit.__init__(self, Presence(path) if path != ":memory:" else None)
        SqliteInvoices.__init__(self)
        SqliteJournal.__init__(self, journal_size)
        SqliteState.__init__(self, delivery_log_size)
        self._sweep_dead_reservations()
        self._checkpointer = Checkpointer(path) if path != ":memory:" else None
        if self._checkpointer is not None:  # the event loop's commits no longer wait for a checkpoint's fsync
            self._db.execute(f"PRAGMA wal_autocheckpoint={FALLBACK_AUTOCHECKPOINT_PAGES}")

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.stop()
        with self._lock:
            self.flush_journal()
            self._commit_batch()
            self._db.close()
        self._close_presence()

    # -- transactions of the database ----------------------------------------------

    @contextlib.contextmanager
    def _write(self, *, partial_harmless: bool = False) -> Iterator[sqlite3.Connection]:
        """One write transaction (`BEGIN IMMEDIATE`); nested uses join the outer one. With group
        commit on (`group_commit`), a call on the event loop's thread is a savepoint of the batch's
        transaction instead, committed once at the loop's next turn; a call whose statements may
        stand without each other (`partial_harmless`) runs in the batch without one (a savepoint and
        its release cost about 3 us, a tenth of a token's write)."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self._db
                finally:
                    self._depth -= 1
                return
            grouped = self._join_batch()
            savepoint = grouped and not partial_harmless
            if savepoint:
                self._db.execute("SAVEPOINT call")
            elif not grouped:
                self._db.execute("BEGIN IMMEDIATE")
                self._version_in_write = None
            self._depth = 1
            batch = self._journal_batch
            try:
                if batch and self._journal_due():
                    self._write_journal()
                else:
                    batch = []
                yield self._db
                self._write_waiting_reservations()
            except BaseException:
                self._depth = 0
                self._waiting_rows.clear()
                if savepoint:
                    self._db.execute("ROLLBACK TO call")
                    self._db.execute("RELEASE call")
                elif not grouped:
                    self._db.execute("ROLLBACK")
                if savepoint or not grouped:  # rolled back, but the requests still happened: next time
                    self._journal_batch[:0] = batch
                raise
            self._depth = 0
            if savepoint:
                self._db.execute("RELEASE call")
            elif not grouped:
                self._db.execute("COMMIT")

    def _one(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        with self._lock:
            return self._db.execute(sql, params).fetchone()

    def _all(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    # -- merchants -----------------------------------------------------------------

    def delete_merchant_row(self, client_id: str) -> None:
        """Forget a merchant made at run time (its data goes with `reset(client_id)`)."""
        with self._write() as db:
            db.execute("DELETE FROM merchants WHERE client_id = ?", (client_id,))
        self._merchant_cache.pop(client_id, None)

    def add_merchant(self, merchant: Merchant) -> None:
        with self._write() as db:
            db.execute("INSERT OR REPLACE INTO merchants VALUES (?, ?)",
                       (merchant.client_id, encode(merchant)))
        self._merchant_cache[merchant.client_id] = merchant

    def _merchants(self) -> dict[str, Merchant]:
        """The cached merchants, read again when another connection changed the file."""
        with self._lock:
            self._check_others()
            if not self._merchants_loaded:
                rows = self._db.execute("SELECT record FROM merchants ORDER BY rowid").fetchall()
                self._merchant_cache = {m.client_id: m for m in (decode_merchant(r[0]) for r in rows)}
                self._merchants_loaded = True
            return self._merchant_cache

    def merchants(self) -> list[Merchant]:
        return list(self._merchants().values())

    def merchant(self, client_id: str) -> Merchant | None:
        return self._merchants().get(client_id)

    def authenticate_client(self, client_id: str, client_secret: str) -> Merchant | None:
        merchant = self.merchant(client_id)
        if merchant is None or not hmac.compare_digest(merchant.client_secret.encode(),
                                                        client_secret.encode()):
            return None
        return merchant

    def terminal_of(self, client_id: str, terminal_id: str) -> Terminal | None:
        merchant = self.merchant(client_id)
        return merchant.terminal(terminal_id) if merchant else None

    # -- tokens --------------------------------------------------------------------

    def add_token(self, token: Token) -> None:
        """Insert and cap in one write: the sweep of expired tokens runs only once the earliest expiry
        known to this process (the file's, at its last sweep, or a token it issued since) has passed,
        and the cap's DELETE once the newest `seq` is `trim_step(cap)` past the last one (a DELETE
        per token was a tenth of a token's write). Each statement may stand without the others, so
        the write needs no savepoint."""
        now, expires = self.clock.now().timestamp(), token.expires_at.timestamp()
        with self._write(partial_harmless=True) as db:
            if now >= self._next_token_sweep:
                db.execute("DELETE FROM tokens WHERE expires_at <= ?", (now,))
                earliest = db.execute("SELECT MIN(expires_at) FROM tokens").fetchone()[0]
                self._next_token_sweep = math.inf if earliest is None else earliest
            self._next_token_sweep = min(self._next_token_sweep, expires)
            seq = db.execute(
                "INSERT OR REPLACE INTO tokens (access_token, client_id, expires_at, record) "
                "VALUES (?, ?, ?, ?)",
                (token.access_token, token.client_id, expires, encode(token))).lastrowid
            cap = self._max_tokens
            if seq and seq > cap and not 0 <= seq - self._tokens_trimmed_at < trim_step(cap):
                self._tokens_trimmed_at = seq
                db.execute("DELETE FROM tokens WHERE seq <= ?", (seq - cap,))
        self._remember_token(token)

    def all_tokens(self) -> list[Token]:
        """Every token in the file, oldest first (for `mock-epay export`)."""
        return [decode_token(row[0]) for row in self._all("SELECT record FROM tokens ORDER BY seq")]

    def all_saved_cards(self) -> list[SavedCard]:
        """Every saved card, deactivated ones too, oldest first (for `mock-epay export`)."""
        return [decode_card(row[0]) for row in self._all("SELECT record FROM cards ORDER BY seq")]

    def token(self, access_token: str) -> Token | None:
        with self._lock:
            self._check_others()
            cached = self._tokens.get(access_token)
            if cached is not None and cached.expires_at > self.clock.now():
                return cached  # an expired one is read from the file: it may have been swept
            row = self._db.execute("SELECT record FROM tokens WHERE access_token = ?",
                                   (access_token,)).fetchone()
        if row is None:
            return None
        token = decode_token(row[0])
        self._remember_token(token)
        return token

    def _remember_token(self, token: Token) -> None:
        """Keep the last TOKEN_CACHE tokens issued or read (a payment reads its token twice)."""
        tokens = self._tokens
        tokens[token.access_token] = token
        if len(tokens) > TOKEN_CACHE:
            del tokens[next(iter(tokens))]

    def data_version(self) -> int:
        """`PRAGMA data_version`, read once per write transaction: while this connection holds
        the write lock (`BEGIN IMMEDIATE` to `COMMIT`) no other connection can commit."""
        with self._lock:
            if (self._depth or self._batch is not None) and self._version_in_write is not None:
                return self._version_in_write
            version: int = self._db.execute("PRAGMA data_version").fetchone()[0]
            if self._depth or self._batch is not None:
                self._version_in_write = version
            return version

    def _check_others(self) -> None:
        """Forget what is cached when another connection changed the file since the last look."""
        version = self.data_version()
        if version != self._data_version:
            self._data_version = version
            self._forget_cached()

    def _forget_cached(self) -> None:
        self._merchant_cache = {}
        self._merchants_loaded = False
        self._tokens.clear()

    # -- transactions --------------------------------------------------------------

    def insert_payment(self, reservation: InvoiceReservation, transaction: Transaction,
                       hold: Secure3DHold | None = None) -> Transaction:
        tx = evolve(transaction, version=0) if transaction.version else transaction
        with self._write() as db:
            try:
                seq = db.execute(
                    "INSERT INTO transactions (id, client_id, invoice_id, suffix, status, created_at, "
                    "version, record) VALUES (?, ?, ?, ?, ?, ?, 0, ?)",
                    (tx.id, tx.client_id, tx.invoice_id, invoice_suffix(tx.invoice_id), tx.status.value,
                     tx.created_at.timestamp(), encode(tx))).lastrowid
            except sqlite3.IntegrityError:
                raise ValueError(f"transaction {tx.id} is recorded already") from None
            self._mark_success(tx)
            self._free(reservation)
            if hold is not None:
                self._hold(hold)
            if seq and seq > self._max_transactions:
                self._drop_transactions_before(seq - self._max_transactions)
            return tx

    def _mark_success(self, tx: Transaction) -> None:
        if tx.status.is_success:
            self._db.execute("INSERT OR REPLACE INTO succeeded VALUES (?, ?, ?)",
                             (tx.client_id, invoice_suffix(tx.invoice_id), tx.id))

    def _hold(self, hold: Secure3DHold) -> None:
        """Reserve the hold's invoice under the hold itself and keep the hold."""
        self._reserve(hold.reservation, hold_owner(hold.transaction_id), 0)
        self._db.execute("INSERT OR REPLACE INTO holds VALUES (?, ?, ?, ?)",
                         (hold.transaction_id, hold.client_id, hold.expires_at.timestamp(), encode(hold)))

    def _drop_transactions_before(self, last_seq: int) -> None:
        db = self._db
        db.execute("DELETE FROM succeeded WHERE transaction_id IN "
                   "(SELECT id FROM transactions WHERE seq <= ?)", (last_seq,))
        db.execute("DELETE FROM transactions WHERE seq <= ?", (last_seq,))

    def transaction(self, client_id: str, transaction_id: str) -> Transaction | None:
        row = self._one("SELECT record FROM transactions WHERE id = ? AND client_id = ?",
                        (transaction_id, client_id))
        return decode_tx(row[0]) if row else None

    def transaction_for_invoice(self, client_id: str, invoice_id: str) -> Transaction | None:
        row = self._one("SELECT record FROM transactions WHERE client_id = ? AND invoice_id = ? "
                        "ORDER BY seq DESC LIMIT 1", (client_id, invoice_id))
        return decode_tx(row[0]) if row else None

    def find_transaction(self, transaction_id: str) -> Transaction | None:
        row = self._one("SELECT record FROM transactions WHERE id = ?", (transaction_id,))
        return decode_tx(row[0]) if row else None

    def transactions(self, client_id: str | None = None) -> list[Transaction]:
        if client_id is None:
            rows = self._all("SELECT record FROM transactions ORDER BY seq DESC")
        else:
            rows = self._all("SELECT record FROM transactions WHERE client_id = ? ORDER BY seq DESC",
                             (client_id,))
        return [decode_tx(row[0]) for row in rows]

    def replace_transaction(self, transaction: Transaction, expected_version: int) -> Transaction:
        with self._write():
            return self._replace(transaction, expected_version)

    def _replace(self, transaction: Transaction, expected_version: int) -> Transaction:
        row = self._db.execute("SELECT client_id, version FROM transactions WHERE id = ?",
                               (transaction.id,)).fetchone()
        if row is None or row[0] != transaction.client_id:
            raise not_found_error()
        if row[1] != expected_version:
            raise VersionConflict(transaction.id, expected_version, row[1])
        written = _versioned(transaction, expected_version + 1)
        self._db.execute("UPDATE transactions SET status = ?, version = ?, record = ? WHERE id = ?",
                         (written.status.value, written.version, encode(written), written.id))
        self._mark_success(written)
        return written

    # -- 3-D Secure holds ----------------------------------------------------------

    def add_secure3d_hold(self, hold: Secure3DHold) -> Secure3DHold:
        with self._write() as db:
            if not db.execute("SELECT 1 FROM transactions WHERE id = ?", (hold.transaction_id,)).fetchone():
                raise not_found_error()
            self._hold(hold)
            return hold

    def secure3d_hold(self, transaction_id: str) -> Secure3DHold | None:
        row = self._one("SELECT record FROM holds WHERE transaction_id = ?", (transaction_id,))
        return decode_hold(row[0]) if row else None

    def expired_secure3d(self, now: datetime) -> list[Secure3DHold]:
        rows = self._all("SELECT record FROM holds WHERE expires_at <= ?", (now.timestamp(),))
        return [decode_hold(row[0]) for row in rows]

    def end_secure3d(self, transaction_id: str, result: Transaction | None,
                     expected_version: int = 0) -> Secure3DHold:
        with self._write() as db:
            row = db.execute("SELECT record FROM holds WHERE transaction_id = ?",
                             (transaction_id,)).fetchone()
            if row is None:
                raise HoldNotFound(transaction_id)
            hold = decode_hold(row[0])
            current = db.execute("SELECT version FROM transactions WHERE id = ?",
                                 (transaction_id,)).fetchone()
            if result is not None and current is not None:
                self._replace(result, expected_version)
            db.execute("DELETE FROM holds WHERE transaction_id = ?", (transaction_id,))
            db.execute("DELETE FROM reservations WHERE owner = ?", (hold_owner(transaction_id),))
            return hold

    # -- saved cards ---------------------------------------------------------------

    def insert_card(self, saved: SavedCard, *, replace: bool = False,
                    for_transaction: str | None = None) -> SavedCard:
        with self._write() as db:
            row = db.execute("SELECT client_id FROM cards WHERE id = ?", (saved.id,)).fetchone()
            if row is not None and not (replace and row[0] == saved.client_id):
                raise CardIdTaken(saved.id, row[0])
            if for_transaction is not None:
                tx = self.transaction(saved.client_id, for_transaction)
                if tx is None:
                    raise not_found_error()
                self._replace(evolve(tx, card_id=saved.id), tx.version)
            db.execute("INSERT INTO cards (id, client_id, account_id, active, record) VALUES (?, ?, ?, ?, ?) "
                       "ON CONFLICT (id) DO UPDATE SET client_id = excluded.client_id, "
                       "account_id = excluded.account_id, active = excluded.active, record = excluded.record",
                       (saved.id, saved.client_id, saved.account_id, int(saved.active), encode(saved)))
            return saved

    def card(self, client_id: str, card_id: str) -> SavedCard | None:
        row = self._one("SELECT record FROM cards WHERE id = ? AND client_id = ?", (card_id, client_id))
        return decode_card(row[0]) if row else None

    def card_id_taken(self, card_id: str) -> bool:
        return self._one("SELECT 1 FROM cards WHERE id = ?", (card_id,)) is not None

    def cards_for_account(self, client_id: str, account_id: str) -> list[SavedCard]:
        rows = self._all("SELECT record FROM cards WHERE client_id = ? AND account_id = ? AND active = 1 "
                         "ORDER BY seq", (client_id, account_id))
        return [decode_card(row[0]) for row in rows]

    def deactivate_card(self, client_id: str, card_id: str) -> SavedCard:
        with self._write() as db:
            saved = self.card(client_id, card_id)
            if saved is None:
                raise EpayError(400, GENERIC, f"card {card_id[:64]!r} not found")
            if not saved.active:
                raise EpayError(400, GENERIC, f"card {saved.id} is already deactivated")
            saved = evolve(saved, active=False)
            db.execute("UPDATE cards SET active = 0, record = ? WHERE id = ?", (encode(saved), card_id))
            return saved

    # -- reset ---------------------------------------------------------------------

    def reset(self, client_id: str | None = None) -> None:
        tables = ("tokens", "transactions", "succeeded", "reservations", "holds", "cards")
        self._tokens.clear()
        with self._write() as db:
            for table in tables:
                if client_id is None:
                    db.execute(f"DELETE FROM {table}")  # noqa: S608 (a fixed table name)
                else:
                    db.execute(f"DELETE FROM {table} WHERE client_id = ?", (client_id,))  # noqa: S608
            if client_id is None:
                db.execute("DELETE FROM journal")
                self._journal_batch.clear()


def _versioned(tx: Transaction, version: int) -> Transaction:
    return tx if tx.version == version else evolve(tx, version=version)


class SqliteStore(ComposedCalls, SqliteProducts, SqliteBackend):
    """The durable store: the SQLite contract plus the calls composed from it.

    Config merchants are (re)seeded only when the config's record differs from the one the
    file last saw, so runtime changes and card deactivations survive a restart with an
    unchanged config, and an edited config takes effect.
    """

    def __init__(
        self,
        merchants: Iterable[Merchant],
        clock: Clock,
        fake: FakeData,
        max_transactions: int = 20_000,
        journal_size: int = 500,
        max_tokens: int = MAX_TOKENS,
        *,
        path: str = ":memory:",
        delivery_log_size: int = 5000,
    ) -> None:
        SqliteBackend.__init__(self, path, clock, max_transactions, journal_size, max_tokens,
                               delivery_log_size)
        merchants = list(merchants)
        changed = [m for m in merchants if self._config_changed(m)]
        ComposedCalls.__init__(self, changed, fake)
        self._declared_card_ids.update(c.id for m in merchants for c in m.saved_cards if c.id)
        for merchant in changed:
            self.put_value(f"config-merchant:{merchant.client_id}", encode(merchant).decode())
        self.restore_clock(clock)

    def atomic(self) -> contextlib.AbstractContextManager[Any]:
        """One write transaction (`BEGIN IMMEDIATE` ... `COMMIT`) that the calls inside join."""
        return self._write()

    def _config_changed(self, merchant: Merchant) -> bool:
        seen = self.get_value(f"config-merchant:{merchant.client_id}")
        return seen != encode(merchant).decode() or self.merchant(merchant.client_id) is None
