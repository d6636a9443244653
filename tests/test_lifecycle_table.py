"""The state machine: every status against every operation, and the amount rules, in one table."""

from __future__ import annotations

from datetime import timedelta

import pytest

from mock_epay.core.clock import Clock
from mock_epay.core.fakedata import FakeData
from mock_epay.gateway.errors import EpayError
from mock_epay.gateway.lifecycle import (
    Balances,
    Operation,
    after_secure3d,
    approved_status,
    auto_cancelled,
    new_transaction,
    payment_status,
    plan_operation,
)
from mock_epay.gateway.models import APPROVED, Outcome, OutcomeKind, PaymentAttempt, Status, Terminal, evolve
from mock_epay.settings import DEFAULT_MERCHANT, TEST_TERMINAL_ID
from mock_epay.store.memory import Store

CHARGE, CANCEL, REFUND = Operation.CHARGE, Operation.CANCEL, Operation.REFUND


def balances(status: Status, charged: float = 0.0, refunded: float = 0.0) -> Balances:
    """A 100-tenge transaction in `status`; charged/refunded as given."""
    amount = charged - refunded if charged else 100.0
    return Balances(status, 100.0, amount, charged, refunded)


# Every status (and a partly / fully refunded REFUND) x every operation, full amount requested.
# None means refused with code 100.
STATES = {
    "NEW": balances(Status.NEW),
    "AUTH": balances(Status.AUTH),
    "CHARGE": balances(Status.CHARGE, charged=100),
    "CANCEL": balances(Status.CANCEL),
    "CANCEL_OLD": balances(Status.CANCEL_OLD),
    "REFUND (partly)": balances(Status.REFUND, charged=100, refunded=40),
    "REFUND (fully)": balances(Status.REFUND, charged=100, refunded=100),
    "REJECT": balances(Status.REJECT),
    "FAILED": balances(Status.FAILED),
    "3D": balances(Status.THREE_D),
    "VERIFIED": balances(Status.VERIFIED),
}
EXPECTED = {
    "NEW": {CHARGE: None, CANCEL: None, REFUND: None},
    "AUTH": {CHARGE: Status.CHARGE, CANCEL: Status.CANCEL, REFUND: None},
    "CHARGE": {CHARGE: None, CANCEL: None, REFUND: Status.REFUND},
    "CANCEL": {CHARGE: None, CANCEL: None, REFUND: None},
    "CANCEL_OLD": {CHARGE: None, CANCEL: None, REFUND: None},
    "REFUND (partly)": {CHARGE: None, CANCEL: None, REFUND: Status.REFUND},
    "REFUND (fully)": {CHARGE: None, CANCEL: None, REFUND: None},
    "REJECT": {CHARGE: None, CANCEL: None, REFUND: None},
    "FAILED": {CHARGE: None, CANCEL: None, REFUND: None},
    "3D": {CHARGE: None, CANCEL: None, REFUND: None},
    "VERIFIED": {CHARGE: None, CANCEL: None, REFUND: None},
}


def test_the_table_covers_every_status():
    covered = {state.status for state in STATES.values()}
    assert covered == set(Status)
    assert set(EXPECTED) == set(STATES)


@pytest.mark.parametrize("operation", list(Operation))
@pytest.mark.parametrize("state", list(STATES))
def test_every_status_against_every_operation(state, operation):
    expected = EXPECTED[state][operation]
    if expected is None:
        with pytest.raises(EpayError) as refused:
            plan_operation(operation, STATES[state], None, "tx-1")
        assert refused.value.status == 400
        assert refused.value.code == 100
        assert operation.value in refused.value.message
        assert "tx-1" in refused.value.message
    else:
        assert plan_operation(operation, STATES[state], None, "tx-1").balances.status is expected


@pytest.mark.parametrize(
    ("operation", "state", "requested", "status", "amount", "moved", "problem"),
    [
        # charge: absent = full; partial leaves the rest released; never above the authorised amount
        (CHARGE, "AUTH", None, Status.CHARGE, 100, 100, None),
        (CHARGE, "AUTH", 100, Status.CHARGE, 100, 100, None),
        (CHARGE, "AUTH", 60.5, Status.CHARGE, 60.5, 60.5, None),
        (CHARGE, "AUTH", 100.01, None, None, None, "exceeds the authorised amount 100"),
        (CHARGE, "AUTH", 0, None, None, None, "must be positive"),
        # cancel: full only
        (CANCEL, "AUTH", None, Status.CANCEL, 100, 100, None),
        (CANCEL, "AUTH", 100, Status.CANCEL, 100, 100, None),
        (CANCEL, "AUTH", 50, None, None, None, "full authorised amount only (100)"),
        # refund: minimum 10, up to what remains; absent = the whole remainder
        (REFUND, "CHARGE", None, Status.REFUND, 0, 100, None),
        (REFUND, "CHARGE", 10, Status.REFUND, 90, 10, None),
        (REFUND, "CHARGE", 9.99, None, None, None, "below the minimum refund of 10"),
        (REFUND, "CHARGE", 100.5, None, None, None, "exceeds the refundable remainder 100"),
        (REFUND, "REFUND (partly)", None, Status.REFUND, 0, 60, None),
        (REFUND, "REFUND (partly)", 60, Status.REFUND, 0, 60, None),
        (REFUND, "REFUND (partly)", 60.01, None, None, None,
         "remainder 60 (charged 100, already refunded 40)"),
    ],
)
def test_amount_rules(operation, state, requested, status, amount, moved, problem):
    if problem:
        with pytest.raises(EpayError) as refused:
            plan_operation(operation, STATES[state], requested)
        assert refused.value.code == 100
        assert problem in refused.value.message
        return
    transition = plan_operation(operation, STATES[state], requested)
    assert transition.balances.status is status
    assert transition.balances.amount == amount
    assert transition.amount == moved


def test_cent_amounts_do_not_drift():
    state = balances(Status.CHARGE, charged=30.3)
    for _ in range(3):
        state = plan_operation(REFUND, state, 10.1).balances
    assert state.refunded_amount == 30.3 and state.amount == 0
    with pytest.raises(EpayError, match="already fully refunded"):
        plan_operation(REFUND, state, None)


def _store_with(status: Status) -> tuple[Store, str]:
    """A store holding one 100-tenge transaction in `status` (recorded as such through the contract)."""
    store = Store([DEFAULT_MERCHANT], Clock(), FakeData(1))
    attempt = PaymentAttempt(client_id="test", invoice_id="000000001", amount=100, currency="KZT",
                             terminal_id=TEST_TERMINAL_ID)
    made = new_transaction(attempt, APPROVED, store.terminal_of("test", TEST_TERMINAL_ID), None, None,
                           store.clock.now(), store.fake)
    charged = 100.0 if status in (Status.CHARGE, Status.REFUND) else 0.0
    tx = store.insert_payment(store.reserve_invoice("test", "000000001"),
                              evolve(made, status=status, charged_amount=charged))
    return store, tx.id


@pytest.mark.parametrize("operation", list(Operation))
@pytest.mark.parametrize("status", list(Status))
def test_the_store_enforces_the_same_table(status, operation):
    store, tx_id = _store_with(status)
    state = "REFUND (partly)" if status is Status.REFUND else next(
        name for name, b in STATES.items() if b.status is status
    )
    expected = EXPECTED[state][operation]
    if expected is None:
        with pytest.raises(EpayError):
            store.apply_operation("test", tx_id, operation)
        assert store.transaction("test", tx_id).status is status
    else:
        result = store.apply_operation("test", tx_id, operation, external_id="R-1")
        assert result.transaction.status is expected
        assert result.transaction.history[-1].note == f"{operation.value} externalID=R-1"


def test_the_store_hides_other_merchants_transactions():
    store, tx_id = _store_with(Status.CHARGE)
    with pytest.raises(EpayError) as refused:
        store.apply_operation("someone-else", tx_id, REFUND)
    assert refused.value.code == 102


# -- the rules that moved out of the store: status after approval, auto-cancel ------------------

TWO_STAGE = Terminal("t2", "90000002", two_stage=True, auto_cancel_seconds=60)
ONE_STAGE = Terminal("t1", "90000001")


@pytest.mark.parametrize(
    ("kind", "reason_code", "amount", "terminal", "status"),
    [
        (OutcomeKind.APPROVE, 0, 100, ONE_STAGE, Status.CHARGE),
        (OutcomeKind.APPROVE, 0, 100, TWO_STAGE, Status.AUTH),
        (OutcomeKind.APPROVE, 0, 0, TWO_STAGE, Status.VERIFIED),
        (OutcomeKind.SECURE3D, 0, 100, ONE_STAGE, Status.NEW),
        (OutcomeKind.DECLINE, 455, 100, ONE_STAGE, Status.THREE_D),
        (OutcomeKind.DECLINE, 484, 100, ONE_STAGE, Status.REJECT),
    ],
)
def test_the_status_an_attempt_records(kind, reason_code, amount, terminal, status):
    assert payment_status(Outcome(kind=kind, reason_code=reason_code), terminal, amount) is status


def test_a_passed_3ds_step_gets_the_same_status_as_a_direct_approval():
    attempt = PaymentAttempt(client_id="test", invoice_id="000000001", amount=100, currency="KZT",
                             terminal_id="t2")
    now = Clock().now()
    secure3d = Outcome(kind=OutcomeKind.SECURE3D)
    held = new_transaction(attempt, secure3d, TWO_STAGE, None, None, now, FakeData(1))
    passed = after_secure3d(held, True, 473, TWO_STAGE, now, FakeData(1))
    failed = after_secure3d(held, False, 473, TWO_STAGE, now, FakeData(1))
    assert passed.status is approved_status(100, TWO_STAGE) is Status.AUTH
    assert (failed.status, failed.reason_code) == (Status.THREE_D, 473)
    assert passed.version == failed.version == held.version + 1


def test_auto_cancel_is_a_pure_function_of_the_time_given():
    attempt = PaymentAttempt(client_id="test", invoice_id="000000001", amount=100, currency="KZT",
                             terminal_id="t2")
    authorised_at = Clock().now()
    tx = new_transaction(attempt, APPROVED, TWO_STAGE, None, None, authorised_at, FakeData(1))
    assert auto_cancelled(tx, TWO_STAGE, authorised_at + timedelta(seconds=59.9)) is None
    assert auto_cancelled(tx, ONE_STAGE, authorised_at + timedelta(days=1)) is None
    cancelled = auto_cancelled(tx, TWO_STAGE, authorised_at + timedelta(seconds=60))
    assert cancelled.status is Status.CANCEL_OLD and cancelled.amount == 100
    assert cancelled.history[-1].note == "auto-cancel after 60 s"
    assert tx.status is Status.AUTH  # the original record is untouched
