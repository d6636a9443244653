"""The PostgreSQL store's product records: links, QR bills, the outbox, subscriptions, transfers, secrets.

Mixed into `mock_epay.store.postgres.PostgresBackend` (it uses its `_conn`, `_tx`, `_one`).
Every invariant holds in the database, so it holds across processes and replicas:

* a second live link for one merchant, shop and invoice is refused: the insert takes a
  transaction-level advisory lock on that key, then checks the key's links (liveness depends
  on the mock's clock, so no unique index can say it) and inserts;
* links and bills change only by `UPDATE ... WHERE version = %s` (`RecordConflict` otherwise);
* a subscription is written only over the record the caller read (`SELECT ... FOR UPDATE`,
  compared, then updated), and `UNIQUE (client_id, transaction_id)` keeps one per first
  payment: this is how a renewal is claimed once by one of several processes;
* a transfer order succeeds once: `transfer_succeeded` has one row per merchant and order
  (`INSERT ... ON CONFLICT DO NOTHING`; a concurrent insert waits for the other's commit);
* the first secret written wins (`ON CONFLICT DO NOTHING`, then read).

Retention as in memory: links, bills, subscriptions and transfers keep the newest
`max_transactions` rows each, the outbox `MAX_OUTBOX`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg

from mock_epay.gateway.models import (
    InvoiceLink,
    OutboxMessage,
    QrBill,
    SavedCard,
    Subscription,
    Token,
    evolve,
)
from mock_epay.gateway.transfer_records import Transfer
from mock_epay.store.base import RecordConflict, duplicate_error
from mock_epay.store.memory_products import MAX_OUTBOX
from mock_epay.store.sql_products import SqlShared, dump, load
from mock_epay.store.sql_statements import POSTGRES

LINK_LOCK = 0x6C696E6B  # "link": the advisory lock class of one merchant's shop and invoice
PRODUCT_TABLES = ("links", "bills", "messages", "subscriptions", "transfer_succeeded", "transfers")


class PostgresProducts(SqlShared):
    """Product records in the backend's database."""

    statement_dialect = POSTGRES  # the statement search runs in SQL (store/sql_statements.py)

    # provided by the backend (store/postgres.py) this is mixed into
    _max_transactions: int
    _conn: Any
    _tx: Any
    _one: Any
    delete_merchant_row: Any

    def _rows(self, query: str, params: tuple[Any, ...] = ()) -> list[Any]:
        rows: list[Any] = self._conn().execute(query, params).fetchall()
        return rows

    # -- what only an export lists ------------------------------------------------

    def all_tokens(self) -> list[Token]:
        """Every token in the database, oldest first (for `mock-epay export`)."""
        return [load(Token, row[0]) for row in self._rows("SELECT record FROM tokens ORDER BY seq")]

    def all_saved_cards(self) -> list[SavedCard]:
        """Every saved card, deactivated ones too, oldest first (for `mock-epay export`)."""
        return [load(SavedCard, row[0]) for row in self._rows("SELECT record FROM cards ORDER BY seq")]

    # -- invoice links -----------------------------------------------------------

    def insert_link(self, link: InvoiceLink, now: datetime) -> InvoiceLink:
        key = "\x1f".join((link.client_id, link.shop_id, link.invoice_id))
        with self._tx() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (LINK_LOCK, key))
            rows = conn.execute("SELECT record FROM links WHERE client_id = %s AND shop_id = %s "
                                "AND invoice_id = %s",
                                (link.client_id, link.shop_id, link.invoice_id)).fetchall()
            if any(load(InvoiceLink, row[0]).is_live(now) for row in rows):
                raise duplicate_error()
            try:
                seq = conn.execute("INSERT INTO links (id, client_id, shop_id, invoice_id, version, record) "
                                   "VALUES (%s, %s, %s, %s, %s, %s) RETURNING seq",
                                   (link.id, link.client_id, link.shop_id, link.invoice_id, link.version,
                                    dump(link))).fetchone()[0]
            except psycopg.errors.UniqueViolation:
                raise ValueError(f"invoice link {link.id} is recorded already") from None
            _cap(conn, "links", seq, self._max_transactions)
        return link

    def link(self, client_id: str, link_id: str) -> InvoiceLink | None:
        return _one_of(InvoiceLink, self._one("SELECT record FROM links WHERE id = %s AND client_id = %s",
                                              (link_id, client_id)))

    def find_link(self, link_id: str) -> InvoiceLink | None:
        return _one_of(InvoiceLink, self._one("SELECT record FROM links WHERE id = %s", (link_id,)))

    def links(self, client_id: str | None = None) -> list[InvoiceLink]:
        return _all_of(InvoiceLink, self._rows(*_listing("links", client_id, newest_first=True)))

    def replace_link(self, link: InvoiceLink, expected_version: int) -> InvoiceLink:
        written = evolve(link, version=expected_version + 1)
        changed = self._conn().execute(
            "UPDATE links SET version = %s, record = %s WHERE id = %s AND client_id = %s AND version = %s",
            (written.version, dump(written), link.id, link.client_id, expected_version)).rowcount
        if changed != 1:
            raise RecordConflict("invoice link", link.id)
        return written

    # -- QR bills ----------------------------------------------------------------

    def insert_bill(self, bill: QrBill) -> QrBill:
        with self._tx() as conn:
            try:
                seq = conn.execute("INSERT INTO bills (bill_number, client_id, invoice_id, version, record) "
                                   "VALUES (%s, %s, %s, %s, %s) RETURNING seq",
                                   (bill.bill_number, bill.client_id, bill.invoice_id, bill.version,
                                    dump(bill))).fetchone()[0]
            except psycopg.errors.UniqueViolation:
                raise ValueError(f"QR bill {bill.bill_number} is recorded already") from None
            _cap(conn, "bills", seq, self._max_transactions)
        return bill

    def bill(self, client_id: str, bill_number: str) -> QrBill | None:
        return _one_of(QrBill, self._one("SELECT record FROM bills WHERE bill_number = %s AND client_id = %s",
                                         (bill_number, client_id)))

    def find_bill(self, bill_number: str) -> QrBill | None:
        return _one_of(QrBill, self._one("SELECT record FROM bills WHERE bill_number = %s", (bill_number,)))

    def bills(self, client_id: str | None = None) -> list[QrBill]:
        return _all_of(QrBill, self._rows(*_listing("bills", client_id, newest_first=True)))

    def bill_for_invoice(self, client_id: str, invoice_id: str) -> QrBill | None:
        return _one_of(QrBill, self._one("SELECT record FROM bills WHERE client_id = %s AND invoice_id = %s "
                                         "ORDER BY seq DESC LIMIT 1", (client_id, invoice_id)))

    def replace_bill(self, bill: QrBill, expected_version: int) -> QrBill:
        written = evolve(bill, version=expected_version + 1)
        changed = self._conn().execute(
            "UPDATE bills SET version = %s, record = %s WHERE bill_number = %s AND client_id = %s "
            "AND version = %s",
            (written.version, dump(written), bill.bill_number, bill.client_id, expected_version)).rowcount
        if changed != 1:
            raise RecordConflict("QR bill", bill.bill_number)
        return written

    # -- outbox ------------------------------------------------------------------

    def add_message(self, message: OutboxMessage) -> None:
        # One statement (its own transaction): insert, then keep the newest MAX_OUTBOX.
        self._conn().execute(
            "WITH added AS (INSERT INTO messages (client_id, record) VALUES (%s, %s) RETURNING seq) "
            "DELETE FROM messages WHERE seq <= (SELECT seq FROM added) - %s",
            (message.client_id, dump(message), MAX_OUTBOX))

    def messages(self, client_id: str | None = None) -> list[OutboxMessage]:
        return _all_of(OutboxMessage, self._rows(*_listing("messages", client_id, newest_first=False)))

    # -- subscriptions -----------------------------------------------------------

    def put_subscription(self, subscription: Subscription, expected: Subscription | None = None) -> bool:
        with self._tx() as conn:
            if expected is None:
                added = conn.execute(
                    "INSERT INTO subscriptions (id, client_id, transaction_id, record) "
                    "VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING seq",
                    (subscription.id, subscription.client_id, subscription.transaction_id,
                     dump(subscription))).fetchone()
                if added is None:
                    return False
                _cap(conn, "subscriptions", added[0], self._max_transactions)
                return True
            row = conn.execute("SELECT record FROM subscriptions WHERE id = %s FOR UPDATE",
                               (subscription.id,)).fetchone()
            if row is None or load(Subscription, row[0]) != expected:
                return False
            conn.execute("UPDATE subscriptions SET record = %s WHERE id = %s",
                         (dump(subscription), subscription.id))
            return True

    def subscription(self, client_id: str, subscription_id: str) -> Subscription | None:
        return _one_of(Subscription, self._one("SELECT record FROM subscriptions WHERE id = %s "
                                               "AND client_id = %s", (subscription_id, client_id)))

    def subscription_for_transaction(self, client_id: str, transaction_id: str) -> Subscription | None:
        return _one_of(Subscription, self._one("SELECT record FROM subscriptions WHERE client_id = %s "
                                               "AND transaction_id = %s", (client_id, transaction_id)))

    def subscriptions(self, client_id: str | None = None) -> list[Subscription]:
        return _all_of(Subscription, self._rows(*_listing("subscriptions", client_id, newest_first=False)))

    # -- transfers ---------------------------------------------------------------

    def insert_transfer(self, transfer: Transfer) -> Transfer:
        with self._tx() as conn:
            if conn.execute("SELECT 1 FROM transfer_succeeded WHERE client_id = %s AND order_id = %s",
                            (transfer.client_id, transfer.order_id)).fetchone():
                raise duplicate_error()
            try:
                seq = conn.execute("INSERT INTO transfers (id, client_id, order_id, record) "
                                   "VALUES (%s, %s, %s, %s) RETURNING seq",
                                   (transfer.id, transfer.client_id, transfer.order_id,
                                    dump(transfer))).fetchone()[0]
            except psycopg.errors.UniqueViolation:
                raise ValueError(f"transfer {transfer.id} is recorded already") from None
            if transfer.transaction.status.is_success and conn.execute(
                    "INSERT INTO transfer_succeeded (client_id, order_id, transfer_id) VALUES (%s, %s, %s) "
                    "ON CONFLICT DO NOTHING",
                    (transfer.client_id, transfer.order_id, transfer.id)).rowcount != 1:
                raise duplicate_error()  # another process's success committed meanwhile: nothing is kept
            _cap(conn, "transfers", seq, self._max_transactions)  # their success marks go with them
        return transfer

    def transfer_succeeded(self, client_id: str, order_id: str) -> bool:
        return self._one("SELECT 1 FROM transfer_succeeded WHERE client_id = %s AND order_id = %s",
                         (client_id, order_id)) is not None

    def transfer_for_order(self, client_id: str, order_id: str) -> Transfer | None:
        return _one_of(Transfer, self._one("SELECT record FROM transfers WHERE client_id = %s "
                                           "AND order_id = %s ORDER BY seq DESC LIMIT 1",
                                           (client_id, order_id)))

    def transfers(self, client_id: str | None = None) -> list[Transfer]:
        return _all_of(Transfer, self._rows(*_listing("transfers", client_id, newest_first=True)))

    # -- secrets (they survive `reset`) --------------------------------------------

    def get_secret(self, name: str) -> str | None:
        row = self._one("SELECT value FROM secrets WHERE name = %s", (name,))
        return str(row[0]) if row else None

    def put_secret(self, name: str, value: str) -> str:
        """The first value written wins; the kept one is answered."""
        with self._tx() as conn:
            conn.execute("INSERT INTO secrets (name, value) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                         (name, value))
            return str(conn.execute("SELECT value FROM secrets WHERE name = %s", (name,)).fetchone()[0])

    # -- reset and the journal of one merchant -------------------------------------

    def reset(self, client_id: str | None = None) -> None:
        """The backend's reset and the product records of one merchant (or everyone's), in one transaction."""
        with self._tx() as conn:
            super().reset(client_id)  # type: ignore[misc]
            if client_id is None:
                conn.execute(f"TRUNCATE {', '.join(PRODUCT_TABLES)}")
                return
            for table in PRODUCT_TABLES:
                conn.execute(f"DELETE FROM {table} WHERE client_id = %s", (client_id,))

    def _forget_merchant(self, client_id: str) -> None:
        """The merchant and all it owns, its journal entries too, in one transaction (no config cards
        are seeded again, unlike `reset`)."""
        with self._tx() as conn:
            PostgresProducts.reset(self, client_id)
            self.forget_waiting_journal(client_id)  # type: ignore[attr-defined]  # PostgresJournal's
            conn.execute("DELETE FROM journal WHERE client_id = %s", (client_id,))
            self.delete_merchant_row(client_id)


def _listing(table: str, client_id: str | None, *, newest_first: bool) -> tuple[str, tuple[Any, ...]]:
    order = "DESC" if newest_first else ""
    if client_id is None:
        return f"SELECT record FROM {table} ORDER BY seq {order}", ()  # noqa: S608 (a fixed table name)
    return f"SELECT record FROM {table} WHERE client_id = %s ORDER BY seq {order}", (client_id,)  # noqa: S608


def _cap(conn: Any, table: str, seq: int, limit: int) -> None:
    """Keep the newest `limit` rows of `table` (by its seq)."""
    if seq > limit:
        conn.execute(f"DELETE FROM {table} WHERE seq <= %s", (seq - limit,))


def _one_of(kind: type[Any], row: Any) -> Any:
    return load(kind, row[0]) if row else None


def _all_of(kind: type[Any], rows: list[Any]) -> list[Any]:
    return [load(kind, row[0]) for row in rows]
