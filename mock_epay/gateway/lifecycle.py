"""The transaction state machine: which operation is allowed from which status, and the amount rules.

Pure functions over plain values; the store calls `plan_operation` inside its
synchronous check-and-apply and writes the returned `Transition` back. Amounts are
computed in whole tiyn (cents) so partial charges and refunds never drift.

Rules (spec section 7, plus the mock's own guesses marked in docs/operations.md):

| from \\ op   | charge            | cancel        | refund                          |
|-------------|-------------------|---------------|---------------------------------|
| AUTH        | CHARGE (≤ authorised) | CANCEL (full only) | refused               |
| CHARGE      | refused           | refused       | REFUND (10 ≤ amount ≤ remaining) |
| REFUND      | refused           | refused       | REFUND while something remains  |
| every other | refused           | refused       | refused                         |
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from mock_epay.gateway.codes import NOT_FOUND, OPERATION_ERROR
from mock_epay.gateway.errors import EpayError
from mock_epay.gateway.models import Status, Transaction

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


@dataclass(frozen=True, slots=True)
class Balances:
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


@dataclass(frozen=True, slots=True)
class Transition:
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
