"""Bank-side recurring payments: subscribe a paid transaction's saved card, charge it when due.

`subscribe` accepts a successful (AUTH / CHARGE) transaction of the merchant that carries a
saved card, and is idempotent per transaction. Renewals run on the mock's clock: renewal `n`
falls due `n` weeks, calendar months or quarters after `createdDate` (clamped to the month's
end) and no later than `lastPaymentDate` (the term, 12 months). `charge_due` makes every due
renewal as a payment by the saved card through `run_payment`, so scenario rules, sandbox
cards and callbacks (to the first payment's postLink / failurePostLink) apply; a decline
does not cancel the subscription. Each renewal is claimed in the store before it is charged,
so processes sharing a durable store charge each period once. Nothing here is documented by
the bank beyond the SDK's request and answer (products spec 2.3-2.5); the schedule is the
mock's choice.
"""

from __future__ import annotations

import asyncio
import calendar
from datetime import datetime, timedelta

from mock_epay.gateway.codes import GENERIC, NOT_FOUND
from mock_epay.gateway.errors import EpayError
from mock_epay.gateway.models import PaymentAttempt, Status, Subscription, Token, Transaction, evolve
from mock_epay.gateway.payments import run_payment
from mock_epay.gateway.service import Gateway

FREQUENCIES = ("WEEKLY", "MONTHLY", "QUARTERLY")
TERM_MONTHS = 12
SOURCE = "recurring"
_MAX_INVOICE_TRIES = 5
_MAX_WRITE_TRIES = 20  # attempts to note a renewal's charge while other processes write the record


def add_months(moment: datetime, months: int) -> datetime:
    """`moment` plus calendar months, the day clamped to the target month's last day."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    return moment.replace(year=year, month=month, day=min(moment.day, calendar.monthrange(year, month)[1]))


def due_date(subscription: Subscription, renewal: int) -> datetime:
    """When renewal number `renewal` (1-based) falls due."""
    start = subscription.created_at
    if subscription.frequency == "WEEKLY":
        return start + timedelta(weeks=renewal)
    return add_months(start, renewal * (3 if subscription.frequency == "QUARTERLY" else 1))


def next_due(subscription: Subscription) -> datetime | None:
    """The next renewal's date, or None when cancelled or past the term."""
    if not subscription.active:
        return None
    when = due_date(subscription, subscription.renewals + 1)
    return when if when <= subscription.ends_at else None


def _not_found(transaction_id: str) -> EpayError:
    return EpayError(400, NOT_FOUND, f"transaction {transaction_id[:64]!r} not found")


def subscribe(gateway: Gateway, token: Token, transaction_id: str, frequency: str) -> Subscription:
    """The subscription of `transaction_id` (made now, or the existing one: idempotent)."""
    store = gateway.store
    tx = store.transaction(token.client_id, transaction_id)
    if tx is None or tx.status not in (Status.AUTH, Status.CHARGE):
        raise _not_found(transaction_id)
    existing = store.subscription_for_transaction(token.client_id, tx.id)
    if existing is not None:
        return existing
    if not tx.card_id:
        raise EpayError(400, GENERIC, f"transaction {tx.id} has no saved card: pay the first payment with "
                                      "cardSave true (and an accountId) to subscribe it")
    now = gateway.clock.now()
    subscription = Subscription(
        id=store.fake.uuid(), client_id=tx.client_id, transaction_id=tx.id, invoice_id=tx.invoice_id,
        card_id=tx.card_id, account_id=tx.account_id, terminal_id=tx.terminal_id, amount=tx.org_amount,
        currency=tx.currency, frequency=frequency, created_at=now, ends_at=add_months(now, TERM_MONTHS),
        reference=tx.reference, description=tx.description, post_link=tx.post_link,
        failure_post_link=tx.failure_post_link,
    )
    if not store.put_subscription(subscription):  # another request subscribed it meanwhile
        return store.subscription_for_transaction(token.client_id, tx.id) or subscription
    return subscription


def cancel(gateway: Gateway, subscription_id: str, client_id: str | None = None) -> Subscription:
    """Stop a subscription's renewals (the mock's own call: the bank documents none)."""
    store = gateway.store
    found = next((s for s in store.subscriptions(client_id) if s.id == subscription_id), None)
    if found is None:
        raise EpayError(404, NOT_FOUND, f"subscription {subscription_id[:64]!r} not found")
    if not found.active:
        return found
    stopped = evolve(found, active=False)
    if not store.put_subscription(stopped, expected=found):
        raise EpayError(409, GENERIC, f"subscription {found.id} changed meanwhile; retry")
    return stopped


def _renewal_attempt(subscription: Subscription, invoice_id: str, pan: str) -> PaymentAttempt:
    return PaymentAttempt(
        client_id=subscription.client_id, invoice_id=invoice_id, amount=subscription.amount,
        currency=subscription.currency, terminal_id=subscription.terminal_id,
        description=subscription.description or f"renewal of {subscription.invoice_id}",
        account_id=subscription.account_id, card_pan=pan, card_id=subscription.card_id,
        source=SOURCE, post_link=subscription.post_link, failure_post_link=subscription.failure_post_link,
    )


async def _charge_once(gateway: Gateway, subscription: Subscription) -> Transaction | None:
    """One renewal payment by the saved card; None when the card is gone or no invoice was free."""
    store = gateway.store
    saved = store.card(subscription.client_id, subscription.card_id)
    if saved is None or not saved.active:
        return None
    for _ in range(_MAX_INVOICE_TRIES):
        attempt = _renewal_attempt(subscription, store.fake.reference(), saved.card.pan)
        try:
            result = await run_payment(gateway, attempt, saved.card, saved.id)
        except EpayError:  # the generated invoice (or its last six digits) was taken: draw again
            continue
        return result.transaction
    return None


async def charge_due(gateway: Gateway) -> list[Transaction]:
    """Make every renewal due on the mock's clock, oldest subscription first; the new transactions.

    Each renewal is claimed before it is charged: `put_subscription` with `renewals + 1` over the
    record just read succeeds for one caller only, whichever process (sharing a durable store)
    or task it runs in, so a period is never charged twice. A process that dies between the
    claim and the charge leaves that renewal counted without a charge (at most once, never twice).
    """
    store = gateway.store
    made: list[Transaction] = []
    now = gateway.clock.now()
    for subscription in store.subscriptions():
        current: Subscription | None = subscription
        while current is not None and (when := next_due(current)) is not None and when <= now:
            claimed = evolve(current, renewals=current.renewals + 1)
            if not store.put_subscription(claimed, expected=current):
                fresh = store.subscription(current.client_id, current.id)
                current = None if fresh == current else fresh  # someone else claimed it: go on from theirs
                continue
            tx = await _charge_once(gateway, claimed)
            if tx is None:
                current = claimed
                continue
            made.append(tx)
            current = _note_charge(gateway, claimed, tx.id)
    return made


def _note_charge(gateway: Gateway, claimed: Subscription, transaction_id: str) -> Subscription | None:
    """Add a renewal's transaction to `charge_ids`, over whatever was written since the claim."""
    store = gateway.store
    latest: Subscription | None = claimed
    for _ in range(_MAX_WRITE_TRIES):
        if latest is None:
            return None
        noted = evolve(latest, charge_ids=latest.charge_ids + (transaction_id,))
        if store.put_subscription(noted, expected=latest):
            return noted
        latest = store.subscription(claimed.client_id, claimed.id)
    return latest


class RenewalScheduler:
    """Runs `charge_due` whenever the mock's clock jumps, and once a minute of real time.

    A jump only schedules the run (clock listeners are synchronous); `settle()` waits for it,
    so the admin clock call answers after the renewals it caused are recorded.
    """

    def __init__(self, gateway: Gateway, interval: float = 60.0) -> None:
        self._gateway = gateway
        self._interval = interval
        self._run: asyncio.Task[list[Transaction]] | None = None
        self._again = False
        self._ticker: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._gateway.clock.add_listener(self.kick)
        self._ticker = asyncio.get_running_loop().create_task(self._tick())

    async def stop(self) -> None:
        self._gateway.clock.remove_listener(self.kick)
        for task in (self._ticker, self._run):
            if task is not None and not task.done():
                task.cancel()
        await asyncio.gather(*(t for t in (self._ticker, self._run) if t), return_exceptions=True)

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            self.kick()

    def kick(self) -> None:
        """Charge what is due, soon (a run in progress runs once more afterwards)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # the clock moved outside the server's loop (a unit test)
            return
        if self._run is not None and not self._run.done():
            self._again = True
            return
        self._run = loop.create_task(self._charge())

    async def _charge(self) -> list[Transaction]:
        made = await charge_due(self._gateway)
        while self._again:
            self._again = False
            made += await charge_due(self._gateway)
        return made

    async def settle(self) -> None:
        """Wait until the renewals already due are made."""
        self.kick()
        if self._run is not None:
            await asyncio.shield(self._run)
