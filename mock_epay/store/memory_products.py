"""The in-memory store's product records: invoice links, QR bills, the outbox, subscriptions, transfers.

Mixed into `mock_epay.store.memory.MemoryBackend`, under its lock (every call one atomic
check-and-set). Bounded like transactions: links, bills, subscriptions and transfers keep the
newest `max_transactions` each, the outbox its newest `MAX_OUTBOX` messages. The statement
search over payments or transfers lives here too, so the SQL backends run the same one.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from datetime import datetime
from typing import Any

from mock_epay.gateway.models import InvoiceLink, OutboxMessage, QrBill, Subscription, Transaction, evolve
from mock_epay.gateway.statements import Source, StatementPage, StatementQuery, evaluate
from mock_epay.gateway.transfer_records import Transfer
from mock_epay.store.base import RecordConflict, duplicate_error

MAX_OUTBOX = 2_000  # e-mails and SMS kept, newest


class MemoryProducts:
    """Links, bills, outbox messages, subscriptions and transfers in dicts."""

    # provided by the backend this is mixed into
    _lock: threading.RLock
    _max_transactions: int
    transactions: Any

    def _init_products(self) -> None:
        self._links: OrderedDict[str, InvoiceLink] = OrderedDict()
        self._bills: OrderedDict[str, QrBill] = OrderedDict()
        self._outbox: deque[OutboxMessage] = deque(maxlen=MAX_OUTBOX)
        self._subscriptions: OrderedDict[str, Subscription] = OrderedDict()
        self._transfers: OrderedDict[str, Transfer] = OrderedDict()
        self._latest_transfer: dict[tuple[str, str], str] = {}
        self._transfer_successes: set[tuple[str, str]] = set()

    # -- invoice links -----------------------------------------------------------

    def insert_link(self, link: InvoiceLink, now: datetime) -> InvoiceLink:
        with self._lock:
            if link.id in self._links:
                raise ValueError(f"invoice link {link.id} is recorded already")
            for other in self._links.values():
                if (other.client_id, other.shop_id, other.invoice_id) == (
                        link.client_id, link.shop_id, link.invoice_id) and other.is_live(now):
                    raise duplicate_error()
            self._links[link.id] = link
            _cap(self._links, self._max_transactions)
            return link

    def link(self, client_id: str, link_id: str) -> InvoiceLink | None:
        link = self._links.get(link_id)
        return link if link is not None and link.client_id == client_id else None

    def find_link(self, link_id: str) -> InvoiceLink | None:
        return self._links.get(link_id)

    def links(self, client_id: str | None = None) -> list[InvoiceLink]:
        with self._lock:
            return [x for x in reversed(self._links.values())
                    if client_id is None or x.client_id == client_id]

    def replace_link(self, link: InvoiceLink, expected_version: int) -> InvoiceLink:
        with self._lock:
            current = self._links.get(link.id)
            if current is None or current.client_id != link.client_id or current.version != expected_version:
                raise RecordConflict("invoice link", link.id)
            written = self._links[link.id] = evolve(link, version=expected_version + 1)
            return written

    # -- QR bills ----------------------------------------------------------------

    def insert_bill(self, bill: QrBill) -> QrBill:
        with self._lock:
            if bill.bill_number in self._bills:
                raise ValueError(f"QR bill {bill.bill_number} is recorded already")
            self._bills[bill.bill_number] = bill
            _cap(self._bills, self._max_transactions)
            return bill

    def bill(self, client_id: str, bill_number: str) -> QrBill | None:
        bill = self._bills.get(bill_number)
        return bill if bill is not None and bill.client_id == client_id else None

    def find_bill(self, bill_number: str) -> QrBill | None:
        return self._bills.get(bill_number)

    def bills(self, client_id: str | None = None) -> list[QrBill]:
        with self._lock:
            return [b for b in reversed(self._bills.values())
                    if client_id is None or b.client_id == client_id]

    def bill_for_invoice(self, client_id: str, invoice_id: str) -> QrBill | None:
        return next((b for b in self.bills(client_id) if b.invoice_id == invoice_id), None)

    def replace_bill(self, bill: QrBill, expected_version: int) -> QrBill:
        with self._lock:
            current = self._bills.get(bill.bill_number)
            if current is None or current.client_id != bill.client_id or current.version != expected_version:
                raise RecordConflict("QR bill", bill.bill_number)
            written = self._bills[bill.bill_number] = evolve(bill, version=expected_version + 1)
            return written

    # -- outbox ------------------------------------------------------------------

    def add_message(self, message: OutboxMessage) -> None:
        self._outbox.append(message)

    def messages(self, client_id: str | None = None) -> list[OutboxMessage]:
        return [m for m in list(self._outbox) if client_id is None or m.client_id == client_id]

    # -- subscriptions -----------------------------------------------------------

    def put_subscription(self, subscription: Subscription, expected: Subscription | None = None) -> bool:
        with self._lock:
            if self._subscriptions.get(subscription.id) != expected:
                return False
            if expected is None and self.subscription_for_transaction(
                    subscription.client_id, subscription.transaction_id) is not None:
                return False
            self._subscriptions[subscription.id] = subscription
            _cap(self._subscriptions, self._max_transactions)
            return True

    def subscription(self, client_id: str, subscription_id: str) -> Subscription | None:
        found = self._subscriptions.get(subscription_id)
        return found if found is not None and found.client_id == client_id else None

    def subscription_for_transaction(self, client_id: str, transaction_id: str) -> Subscription | None:
        with self._lock:
            return next((s for s in self._subscriptions.values()
                         if s.client_id == client_id and s.transaction_id == transaction_id), None)

    def subscriptions(self, client_id: str | None = None) -> list[Subscription]:
        with self._lock:
            return [s for s in self._subscriptions.values() if client_id is None or s.client_id == client_id]

    # -- transfers ---------------------------------------------------------------

    def insert_transfer(self, transfer: Transfer) -> Transfer:
        key = (transfer.client_id, transfer.order_id)
        with self._lock:
            if key in self._transfer_successes:
                raise duplicate_error()
            if transfer.id in self._transfers:
                raise ValueError(f"transfer {transfer.id} is recorded already")
            self._transfers[transfer.id] = transfer
            self._latest_transfer[key] = transfer.id
            if transfer.transaction.status.is_success:
                self._transfer_successes.add(key)
            while len(self._transfers) > self._max_transactions:
                _, old = self._transfers.popitem(last=False)
                old_key = (old.client_id, old.order_id)
                if self._latest_transfer.get(old_key) == old.id:
                    del self._latest_transfer[old_key]
                    self._transfer_successes.discard(old_key)
            return transfer

    def transfer_succeeded(self, client_id: str, order_id: str) -> bool:
        return (client_id, order_id) in self._transfer_successes

    def transfer_for_order(self, client_id: str, order_id: str) -> Transfer | None:
        transfer_id = self._latest_transfer.get((client_id, order_id))
        return self._transfers.get(transfer_id) if transfer_id else None

    def transfers(self, client_id: str | None = None) -> list[Transfer]:
        with self._lock:
            found = reversed(self._transfers.values())
            return [t for t in found if client_id is None or t.client_id == client_id]

    # -- statements (over `transactions` and `transfers`, whichever backend keeps them) ------------

    def search_statement(self, client_id: str, query: StatementQuery) -> StatementPage:
        records: list[Transaction] | list[Transfer]
        if query.source is Source.TRANSFERS:
            records = self.transfers(client_id)
        else:
            records = self.transactions(client_id)
        return evaluate(query, records)

    # -- reset -------------------------------------------------------------------

    def _forget_products(self, client_id: str | None) -> None:
        """Drop one merchant's product records (or everyone's); the caller holds the lock."""
        def keep(owner: str) -> bool:
            return client_id is not None and owner != client_id

        self._links = OrderedDict((k, x) for k, x in self._links.items() if keep(x.client_id))
        self._bills = OrderedDict((k, b) for k, b in self._bills.items() if keep(b.client_id))
        self._outbox = deque((m for m in self._outbox if keep(m.client_id)), maxlen=MAX_OUTBOX)
        self._subscriptions = OrderedDict((k, s) for k, s in self._subscriptions.items() if keep(s.client_id))
        self._transfers = OrderedDict((k, t) for k, t in self._transfers.items() if keep(t.client_id))
        self._latest_transfer = {k: v for k, v in self._latest_transfer.items() if keep(k[0])}
        self._transfer_successes = {k for k in self._transfer_successes if keep(k[0])}


def _cap(records: OrderedDict[str, Any], limit: int) -> None:
    while len(records) > limit:
        records.popitem(last=False)
