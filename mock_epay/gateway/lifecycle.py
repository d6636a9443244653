"""The transaction lifecycle: the records a payment makes and how operations and time change them.

Pure functions over plain values, deterministic on the `now` they are given: the
status after approval, the transaction a payment attempt records, the end of a
3-D Secure step, which operation is allowed from which status and the amount rules,
and the auto-cancel of an old AUTH (CANCEL_OLD). The store only keeps what these
functions return (see `mock_epay.store.base`). Ids and references come from an
`IdSource` the caller passes in; every successor record carries `version + 1` (the
store writes it only if the stored version is still the one it came from). Amounts
are computed in whole tiyn (cents) so partial charges and refunds never drift.

Rules (spec section 7, plus the mock's own guesses marked in docs/operations.md):

| from \\ op   | charge            | cancel        | refund                          |
|-------------|-------------------|---------------|---------------------------------|
| AUTH        | CHARGE (≤ authorised) | CANCEL (full only) | refused               |
| CHARGE      | refused           | refused       | REFUND (10 ≤ amount ≤ remaining) |
| REFUND      | refused           | refused       | REFUND while something remains  |
| every other | refused           | refused       | refused                         |
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

import msgspec

from mock_epay.core.fakedata import card_type
from mock_epay.core.pan import mask_pan
from mock_epay.gateway.codes import NOT_FOUND, OPERATION_ERROR, THREE_D_SECURE_CODES, reason_message
from mock_epay.gateway.errors import EpayError
from mock_epay.gateway.models import (
    Card,
    HistoryEntry,
    Outcome,
    OutcomeKind,
    PaymentAttempt,
    Status,
    Terminal,
    Transaction,
    evolve,
)

MIN_REFUND = 10.0


class Operation(StrEnum):
    CHARGE = "charge"
    CANCEL = "cancel"
    REFUND = "refund"


# The status each operation leads to, and the statuses it may start from.
RESULT_STATUS = {
    Operation.CHARGE: Status.CHARGE,
    Operation.CANCEL: Status.CANCEL,
    Operation.REFUND: Status.REFUND,
}
ALLOWED_FROM = {
    Operation.CHARGE: frozenset({Status.AUTH}),
    Operation.CANCEL: frozenset({Status.AUTH}),
    Operation.REFUND: frozenset({Status.CHARGE, Status.REFUND}),
}


class Balances(msgspec.Struct, frozen=True):
    """The amount-related state of one transaction."""

    status: Status
    org_amount: float  # authorised (or paid) amount
    amount: float  # current amount shown in status
    charged_amount: float
    refunded_amount: float

    @property
    def refundable(self) -> float:
        return from_cents(cents(self.charged_amount) - cents(self.refunded_amount))

    @classmethod
    def of(cls, tx: Transaction) -> Balances:
        return cls(tx.status, tx.org_amount, tx.amount, tx.charged_amount, tx.refunded_amount)


class Transition(msgspec.Struct, frozen=True):
    """What an allowed operation does: the new balances and the amount it moved."""

    balances: Balances
    amount: float  # the amount charged, cancelled or refunded by this operation


def cents(value: float) -> int:
    return round(value * 100)


def from_cents(value: int) -> float:
    return value / 100


def show(value: float) -> str:
    """An amount as the messages print it: 100, 12.5."""
    return str(int(value)) if float(value).is_integer() else f"{value:.2f}"


def operation_error(message: str) -> EpayError:
    return EpayError(400, OPERATION_ERROR, message)


def not_found_error() -> EpayError:
    return EpayError(400, NOT_FOUND, "transaction not found")


def full_amount(operation: Operation, balances: Balances) -> float:
    """The amount an operation means when the request gives none."""
    if operation is Operation.REFUND:
        return balances.refundable
    return balances.org_amount


def _check_state(operation: Operation, balances: Balances, transaction_id: str) -> None:
    allowed = ALLOWED_FROM[operation]
    if balances.status not in allowed:
        names = " or ".join(sorted(s.value for s in allowed))
        raise operation_error(
            f"cannot {operation.value} transaction {transaction_id}: its status is "
            f"{balances.status.value}, {operation.value} is only possible from {names}"
        )
    if operation is Operation.REFUND and cents(balances.refundable) <= 0:
        raise operation_error(
            f"cannot refund transaction {transaction_id}: it is already fully refunded "
            f"({show(balances.refunded_amount)} of {show(balances.charged_amount)})"
        )


def plan_operation(
    operation: Operation,
    balances: Balances,
    requested: float | None,
    transaction_id: str = "",
) -> Transition:
    """The transition `operation` causes, or an `EpayError` (code 100) naming why it is refused.

    `requested` is the amount the merchant asked for; None means the full amount.
    """
    _check_state(operation, balances, transaction_id)
    amount = full_amount(operation, balances) if requested is None else requested
    if cents(amount) <= 0:
        raise operation_error(f"{operation.value} amount must be positive, got {show(amount)}")
    if operation is Operation.CHARGE:
        return _charge(balances, amount)
    if operation is Operation.CANCEL:
        return _cancel(balances, amount)
    return _refund(balances, amount)


def _charge(balances: Balances, amount: float) -> Transition:
    if cents(amount) > cents(balances.org_amount):
        raise operation_error(
            f"charge amount {show(amount)} exceeds the authorised amount {show(balances.org_amount)}"
        )
    charged = from_cents(cents(amount))
    new = Balances(Status.CHARGE, balances.org_amount, charged, charged, 0.0)
    return Transition(new, charged)


def _cancel(balances: Balances, amount: float) -> Transition:
    if cents(amount) != cents(balances.org_amount):
        raise operation_error(
            f"cancel is for the full authorised amount only ({show(balances.org_amount)}); "
            f"got {show(amount)}. Partial cancel is not supported: charge the part you keep instead"
        )
    new = Balances(Status.CANCEL, balances.org_amount, balances.amount, 0.0, 0.0)
    return Transition(new, balances.org_amount)


def _refund(balances: Balances, amount: float) -> Transition:
    if cents(amount) < cents(MIN_REFUND):
        raise operation_error(
            f"refund amount {show(amount)} is below the minimum refund of {show(MIN_REFUND)}"
        )
    if cents(amount) > cents(balances.refundable):
        raise operation_error(
            f"refund amount {show(amount)} exceeds the refundable remainder "
            f"{show(balances.refundable)} (charged {show(balances.charged_amount)}, "
            f"already refunded {show(balances.refunded_amount)})"
        )
    refunded = from_cents(cents(balances.refunded_amount) + cents(amount))
    remaining = from_cents(cents(balances.charged_amount) - cents(refunded))
    new = Balances(Status.REFUND, balances.org_amount, remaining, balances.charged_amount, refunded)
    return Transition(new, from_cents(cents(amount)))


def auth_expired(status: Status, age_seconds: float, auto_cancel_seconds: float | None) -> bool:
    """Whether an AUTH should be released automatically (status CANCEL_OLD)."""
    return (
        status is Status.AUTH
        and auto_cancel_seconds is not None
        and age_seconds >= auto_cancel_seconds
    )


def auto_cancel_due(tx: Transaction, terminal: Terminal | None, now: datetime) -> bool:
    """Whether `tx` is an AUTH older than its terminal's `auto_cancel_seconds` at `now`."""
    limit = terminal.auto_cancel_seconds if terminal else None
    if tx.status is not Status.AUTH or limit is None:
        return False
    authorised_at = next((h.at for h in reversed(tx.history) if h.status is Status.AUTH), tx.created_at)
    return auth_expired(tx.status, (now - authorised_at).total_seconds(), limit)


def auto_cancelled(tx: Transaction, terminal: Terminal | None, now: datetime) -> Transaction | None:
    """The CANCEL_OLD record an expired AUTH becomes at `now`, or None while it is not due."""
    if not auto_cancel_due(tx, terminal, now):
        return None
    assert terminal is not None and terminal.auto_cancel_seconds is not None
    entry = HistoryEntry(at=now, status=Status.CANCEL_OLD, amount=tx.org_amount,
                         note=f"auto-cancel after {terminal.auto_cancel_seconds:g} s")
    return evolve(tx, status=Status.CANCEL_OLD, history=(*tx.history, entry), version=tx.version + 1)


# -- making records ------------------------------------------------------------------


class IdSource(Protocol):
    """Where ids and references come from (`FakeData`: reproducible with a seed)."""

    def uuid(self) -> str: ...
    def reference(self) -> str: ...
    def int_reference(self) -> str: ...
    def approval_code(self) -> str: ...


def make_card(pan: str, payer_name: str = "", expiry: str = "") -> Card:
    """The card record of a full card number (masked, branded); the number stays in the process."""
    return Card(pan=pan, mask=mask_pan(pan), card_type=card_type(pan), payer_name=payer_name,
                expiry=expiry)


def approved_status(amount: float, terminal: Terminal | None) -> Status:
    """An approval is VERIFIED for 0 (card check), AUTH on a two-stage terminal, CHARGE otherwise."""
    if amount == 0:
        return Status.VERIFIED
    return Status.AUTH if terminal and terminal.two_stage else Status.CHARGE


def payment_status(outcome: Outcome, terminal: Terminal | None, amount: float) -> Status:
    """The status an attempt records: approved (see above), NEW for 3-D Secure, 3D or REJECT."""
    if outcome.kind is OutcomeKind.APPROVE:
        return approved_status(amount, terminal)
    if outcome.kind is OutcomeKind.SECURE3D:
        return Status.NEW
    if outcome.reason_code in THREE_D_SECURE_CODES:
        return Status.THREE_D
    return Status.REJECT


def new_transaction(
    attempt: PaymentAttempt,
    outcome: Outcome,
    terminal: Terminal | None,
    card: Card | None,
    card_id: str | None,
    now: datetime,
    ids: IdSource,
) -> Transaction:
    """The transaction one payment attempt records, with its first history entry."""
    status = payment_status(outcome, terminal, attempt.amount)
    approved = status.is_success
    return Transaction(
        id=ids.uuid(),
        client_id=attempt.client_id,
        invoice_id=attempt.invoice_id,
        amount=attempt.amount,
        org_amount=attempt.amount,
        currency=attempt.currency,
        terminal_id=attempt.terminal_id,
        terminal_number=terminal.number if terminal else "",
        status=status,
        created_at=now,
        card=card,
        card_id=card_id,
        invoice_id_alt=attempt.invoice_id_alt,
        account_id=attempt.account_id,
        description=attempt.description,
        language=attempt.language,
        name=attempt.name or (card.payer_name if card else ""),
        email=attempt.email,
        phone=attempt.phone,
        data=attempt.data,
        ip=attempt.ip,
        reference=ids.reference(),
        int_reference=ids.int_reference(),
        approval_code=ids.approval_code() if approved else "",
        reason=outcome.message if not approved else "success",
        reason_code=0 if approved else outcome.reason_code,
        secure=outcome.kind is OutcomeKind.SECURE3D,
        charged_amount=attempt.amount if status is Status.CHARGE else 0.0,
        post_link=attempt.post_link,
        failure_post_link=attempt.failure_post_link,
        secret_hash=attempt.secret_hash,
        source=attempt.source,
        history=(HistoryEntry(at=now, status=status, amount=attempt.amount,
                              note=outcome.rule or outcome.kind.value),),
    )


def after_secure3d(
    tx: Transaction,
    approved: bool,
    reason_code: int,
    terminal: Terminal | None,
    now: datetime,
    ids: IdSource,
) -> Transaction:
    """A NEW transaction after its 3-D Secure step: approved (as any approval) or status 3D."""
    if approved:
        status = approved_status(tx.org_amount, terminal)
        done = evolve(tx, status=status, approval_code=ids.approval_code(), reason="success",
                      reason_code=0, charged_amount=tx.amount if status is Status.CHARGE else 0.0)
    else:
        done = evolve(tx, status=Status.THREE_D, reason=reason_message(reason_code),
                      reason_code=reason_code)
    entry = HistoryEntry(at=now, status=done.status, amount=tx.amount,
                         note="3-D Secure passed" if approved else "3-D Secure failed")
    return evolve(done, secure=True, history=(*tx.history, entry), version=tx.version + 1)


def after_operation(
    tx: Transaction, operation: Operation, transition: Transition, external_id: str, now: datetime
) -> Transaction:
    """The transaction after an allowed charge, cancel or refund (`plan_operation`'s transition)."""
    new = transition.balances
    note = operation.value + (f" externalID={external_id}" if external_id else "")
    entry = HistoryEntry(at=now, status=new.status, amount=transition.amount, note=note)
    return evolve(tx, status=new.status, amount=new.amount, charged_amount=new.charged_amount,
                  refunded_amount=new.refunded_amount, history=(*tx.history, entry),
                  version=tx.version + 1)


def expires_at(now: datetime, ttl_seconds: float) -> datetime:
    """When something made at `now` with a lifetime of `ttl_seconds` expires (wall-clock)."""
    return now + timedelta(seconds=ttl_seconds)
