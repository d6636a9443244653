"""The SQLite store's product records: invoice links, QR bills, the outbox, subscriptions, transfers, secrets.

Mixed into `mock_epay.store.sqlite.SqliteBackend` (it uses its `_write`, `_one`, `_all`). Each
call is one transaction on the file, and every check-and-set runs inside `BEGIN IMMEDIATE`, so
it holds across processes sharing the file through SQLite's write lock:

* a second live link for one merchant, shop and invoice is refused (the check and the insert
  in one write transaction);
* links and bills change only by `UPDATE ... WHERE version = ?` (`RecordConflict` otherwise);
* a subscription is written only over the record the caller read (compared inside the write
  transaction), and `UNIQUE (client_id, transaction_id)` keeps one per first payment: this is
  how a renewal is claimed once by one of several processes (`mock_epay.gateway.recurring`);
* a transfer order succeeds once: `transfer_succeeded` has one row per merchant and order.

Retention as in memory: links, bills, subscriptions and transfers keep the newest
`max_transactions` rows each, the outbox `MAX_OUTBOX`. Secrets live in the `kv` table.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

from mock_epay.gateway.models import InvoiceLink, OutboxMessage, QrBill, Subscription, evolve
from mock_epay.gateway.transfer_records import Transfer
from mock_epay.store.base import RecordConflict, duplicate_error
from mock_epay.store.memory_products import MAX_OUTBOX
from mock_epay.store.sql_products import SqlShared, dump, load
from mock_epay.store.sql_statements import SQLITE

PRODUCT_TABLES = ("links", "bills", "messages", "subscriptions", "transfers", "transfer_succeeded")


class SqliteProducts(SqlShared):
    """Product records in the backend's file."""

    statement_dialect = SQLITE  # the statement search runs in SQL (store/sql_statements.py)

    # provided by the backend (store/sqlite.py) this is mixed into
    _max_transactions: int
    _write: Any
    _one: Any
    delete_merchant_row: Any
    _all: Any

    # -- invoice links -----------------------------------------------------------

    def insert_link(self, link: InvoiceLink, now: datetime) -> InvoiceLink:
        with self._write() as db:
            rows = db.execute("SELECT record FROM links WHERE client_id = ? AND shop_id = ? "
                              "AND invoice_id = ?",
                              (link.client_id, link.shop_id, link.invoice_id)).fetchall()
            if any(load(InvoiceLink, row[0]).is_live(now) for row in rows):
                raise duplicate_error()
            try:
                seq = db.execute("INSERT INTO links (id, client_id, shop_id, invoice_id, version, record) "
                                 "VALUES (?, ?, ?, ?, ?, ?)",
                                 (link.id, link.client_id, link.shop_id, link.invoice_id, link.version,
                                  dump(link))).lastrowid
            except sqlite3.IntegrityError:
                raise ValueError(f"invoice link {link.id} is recorded already") from None
            _cap(db, "links", seq, self._max_transactions)
            return link

    def link(self, client_id: str, link_id: str) -> InvoiceLink | None:
        return _one_of(InvoiceLink, self._one("SELECT record FROM links WHERE id = ? AND client_id = ?",
                                              (link_id, client_id)))

    def find_link(self, link_id: str) -> InvoiceLink | None:
        return _one_of(InvoiceLink, self._one("SELECT record FROM links WHERE id = ?", (link_id,)))

    def links(self, client_id: str | None = None) -> list[InvoiceLink]:
        return _all_of(InvoiceLink, self._all(*_listing("links", client_id, newest_first=True)))

    def replace_link(self, link: InvoiceLink, expected_version: int) -> InvoiceLink:
        written = evolve(link, version=expected_version + 1)
        with self._write() as db:
            changed = db.execute("UPDATE links SET version = ?, record = ? WHERE id = ? AND client_id = ? "
                                 "AND version = ?", (written.version, dump(written), link.id, link.client_id,
                                                     expected_version)).rowcount
            if changed != 1:
                raise RecordConflict("invoice link", link.id)
        return written

    # -- QR bills ----------------------------------------------------------------

    def insert_bill(self, bill: QrBill) -> QrBill:
        with self._write() as db:
            try:
                seq = db.execute("INSERT INTO bills (bill_number, client_id, invoice_id, version, record) "
                                 "VALUES (?, ?, ?, ?, ?)", (bill.bill_number, bill.client_id, bill.invoice_id,
                                                            bill.version, dump(bill))).lastrowid
            except sqlite3.IntegrityError:
                raise ValueError(f"QR bill {bill.bill_number} is recorded already") from None
            _cap(db, "bills", seq, self._max_transactions)
            return bill

    def bill(self, client_id: str, bill_number: str) -> QrBill | None:
        return _one_of(QrBill, self._one("SELECT record FROM bills WHERE bill_number = ? AND client_id = ?",
                                         (bill_number, client_id)))

    def find_bill(self, bill_number: str) -> QrBill | None:
        return _one_of(QrBill, self._one("SELECT record FROM bills WHERE bill_number = ?", (bill_number,)))

    def bills(self, client_id: str | None = None) -> list[QrBill]:
        return _all_of(QrBill, self._all(*_listing("bills", client_id, newest_first=True)))

    def bill_for_invoice(self, client_id: str, invoice_id: str) -> QrBill | None:
        return _one_of(QrBill, self._one("SELECT record FROM bills WHERE client_id = ? AND invoice_id = ? "
                                         "ORDER BY seq DESC LIMIT 1", (client_id, invoice_id)))

    def replace_bill(self, bill: QrBill, expected_version: int) -> QrBill:
        written = evolve(bill, version=expected_version + 1)
        with self._write() as db:
            changed = db.execute("UPDATE bills SET version = ?, record = ? WHERE bill_number = ? "
                                 "AND client_id = ? AND version = ?",
                                 (written.version, dump(written), bill.bill_number, bill.client_id,
                                  expected_version)).rowcount
            if changed != 1:
                raise RecordConflict("QR bill", bill.bill_number)
        return written

    # -- outbox ------------------------------------------------------------------

    def add_message(self, message: OutboxMessage) -> None:
        with self._write() as db:
            seq = db.execute("INSERT INTO messages (client_id, record) VALUES (?, ?)",
                             (message.client_id, dump(message))).lastrowid
            _cap(db, "messages", seq, MAX_OUTBOX)

    def messages(self, client_id: str | None = None) -> list[OutboxMessage]:
        return _all_of(OutboxMessage, self._all(*_listing("messages", client_id, newest_first=False)))

    # -- subscriptions -----------------------------------------------------------

    def put_subscription(self, subscription: Subscription, expected: Subscription | None = None) -> bool:
        with self._write() as db:
            if expected is None:
                added = db.execute("INSERT OR IGNORE INTO subscriptions (id, client_id, transaction_id, "
                                   "record) VALUES (?, ?, ?, ?)",
                                   (subscription.id, subscription.client_id, subscription.transaction_id,
                                    dump(subscription)))
                if added.rowcount != 1:
                    return False
                _cap(db, "subscriptions", added.lastrowid, self._max_transactions)
                return True
            row = db.execute("SELECT record FROM subscriptions WHERE id = ?", (subscription.id,)).fetchone()
            if row is None or load(Subscription, row[0]) != expected:
                return False
            db.execute("UPDATE subscriptions SET record = ? WHERE id = ?",
                       (dump(subscription), subscription.id))
            return True

    def subscription(self, client_id: str, subscription_id: str) -> Subscription | None:
        return _one_of(Subscription, self._one("SELECT record FROM subscriptions WHERE id = ? "
                                               "AND client_id = ?", (subscription_id, client_id)))

    def subscription_for_transaction(self, client_id: str, transaction_id: str) -> Subscription | None:
        return _one_of(Subscription, self._one("SELECT record FROM subscriptions WHERE client_id = ? "
                                               "AND transaction_id = ?", (client_id, transaction_id)))

    def subscriptions(self, client_id: str | None = None) -> list[Subscription]:
        return _all_of(Subscription, self._all(*_listing("subscriptions", client_id, newest_first=False)))

    # -- transfers ---------------------------------------------------------------

    def insert_transfer(self, transfer: Transfer) -> Transfer:
        with self._write() as db:
            if db.execute("SELECT 1 FROM transfer_succeeded WHERE client_id = ? AND order_id = ?",
                          (transfer.client_id, transfer.order_id)).fetchone():
                raise duplicate_error()
            try:
                seq = db.execute("INSERT INTO transfers (id, client_id, order_id, record) "
                                 "VALUES (?, ?, ?, ?)",
                                 (transfer.id, transfer.client_id, transfer.order_id,
                                  dump(transfer))).lastrowid
            except sqlite3.IntegrityError:
                raise ValueError(f"transfer {transfer.id} is recorded already") from None
            if transfer.transaction.status.is_success:
                db.execute("INSERT INTO transfer_succeeded VALUES (?, ?, ?)",
                           (transfer.client_id, transfer.order_id, transfer.id))
            if seq and seq > self._max_transactions:
                db.execute("DELETE FROM transfer_succeeded WHERE transfer_id IN "
                           "(SELECT id FROM transfers WHERE seq <= ?)", (seq - self._max_transactions,))
                _cap(db, "transfers", seq, self._max_transactions)
            return transfer

    def transfer_succeeded(self, client_id: str, order_id: str) -> bool:
        return self._one("SELECT 1 FROM transfer_succeeded WHERE client_id = ? AND order_id = ?",
                         (client_id, order_id)) is not None

    def transfer_for_order(self, client_id: str, order_id: str) -> Transfer | None:
        return _one_of(Transfer, self._one("SELECT record FROM transfers WHERE client_id = ? "
                                           "AND order_id = ? ORDER BY seq DESC LIMIT 1",
                                           (client_id, order_id)))

    def transfers(self, client_id: str | None = None) -> list[Transfer]:
        return _all_of(Transfer, self._all(*_listing("transfers", client_id, newest_first=True)))

    # -- secrets (they survive `reset`) --------------------------------------------

    def get_secret(self, name: str) -> str | None:
        row = self._one("SELECT value FROM kv WHERE key = ?", ("secret:" + name,))
        return str(row[0]) if row else None

    def put_secret(self, name: str, value: str) -> str:
        """The first value written wins; the kept one is answered."""
        with self._write() as db:
            db.execute("INSERT OR IGNORE INTO kv VALUES (?, ?)", ("secret:" + name, value))
            return str(db.execute("SELECT value FROM kv WHERE key = ?", ("secret:" + name,)).fetchone()[0])

    # -- reset and the journal of one merchant -------------------------------------

    def reset(self, client_id: str | None = None) -> None:
        """The backend's reset and the product records of one merchant (or everyone's), in one transaction."""
        with self._write() as db:
            super().reset(client_id)  # type: ignore[misc]
            for table in PRODUCT_TABLES:
                if client_id is None:
                    db.execute(f"DELETE FROM {table}")  # noqa: S608 (a fixed table name)
                else:
                    db.execute(f"DELETE FROM {table} WHERE client_id = ?", (client_id,))  # noqa: S608

    def _forget_merchant(self, client_id: str) -> None:
        """The merchant and all it owns, its journal entries too, in one transaction (no config cards
        are seeded again, unlike `reset`)."""
        with self._write() as db:
            SqliteProducts.reset(self, client_id)
            self.forget_waiting_journal(client_id)  # type: ignore[attr-defined]  # SqliteJournal's
            db.execute("DELETE FROM journal WHERE client_id = ?", (client_id,))
            self.delete_merchant_row(client_id)


def _listing(table: str, client_id: str | None, *, newest_first: bool) -> tuple[str, tuple[Any, ...]]:
    order = "DESC" if newest_first else ""
    if client_id is None:
        return f"SELECT record FROM {table} ORDER BY seq {order}", ()  # noqa: S608 (a fixed table name)
    return f"SELECT record FROM {table} WHERE client_id = ? ORDER BY seq {order}", (client_id,)  # noqa: S608


def _cap(db: sqlite3.Connection, table: str, seq: int | None, limit: int) -> None:
    """Keep the newest `limit` rows of `table` (by its AUTOINCREMENT seq)."""
    if seq and seq > limit:
        db.execute(f"DELETE FROM {table} WHERE seq <= ?", (seq - limit,))  # noqa: S608 (a fixed table name)


def _one_of(kind: type[Any], row: Any) -> Any:
    return load(kind, row[0]) if row else None


def _all_of(kind: type[Any], rows: list[Any]) -> list[Any]:
    return [load(kind, row[0]) for row in rows]
