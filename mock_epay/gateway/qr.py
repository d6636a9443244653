"""QR by API (spec §4): bills, their statuses, the 20-minute rule, and the buyer's actions in the app.

`generate` makes a bill for a payment token's invoice (the same token gets the same bill).
The Homebank-app simulator drives a bill: `scan` (NEW -> SCANNED; the scenario engine decides
the payment here, with `source: qr`, and its `delay_ms` makes the scan slow), `approve`
(SCANNED -> BLOCKED -> AUTH on a two-stage terminal or PAID, or REJECTED when the decided
outcome declines) and `reject` (-> REJECTED). Every final status records an ordinary
transaction (AUTH / CHARGE / REJECT) and queues its callback through the dispatcher.
`current` applies the 20-minute rule on the mock's clock: a bill neither PAID, AUTH nor
REJECTED by then becomes REJECTED (its failure callback is sent when that is noticed).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import msgspec

from mock_epay.gateway.errors import EpayError, bad_request
from mock_epay.gateway.models import (
    Outcome,
    OutcomeKind,
    PaymentAttempt,
    QrBill,
    QrStatus,
    Status,
    Token,
    TokenKind,
    Transaction,
    evolve,
)
from mock_epay.gateway.outcomes import entry_for
from mock_epay.gateway.service import Gateway
from mock_epay.gateway.tokens import wrong_kind
from mock_epay.store.base import RecordConflict

SOURCE = "qr"
DEFAULT_CARD = "4405639704015096"  # the documented test VISA the simulated app pays with
BUYER_REJECTED = 466  # the app's "reject" button (mock convention, spec 4.3)
EXPIRED = 499  # not finished within qr_bill_ttl (as an abandoned 3-D Secure step)
NOT_FOUND = 102


class QrRequest(msgspec.Struct, frozen=True):
    """A parsed `POST /payment/qr/generate` body (the amount and invoice come from the token)."""

    post_link: str | None = None
    failure_post_link: str | None = None
    description: str = ""
    language: str = "RU"
    account_id: str = ""
    email: str = ""
    phone: str = ""


def not_found() -> EpayError:
    return EpayError(404, NOT_FOUND, "qr not found")


def generate(gateway: Gateway, token: Token, request: QrRequest) -> QrBill:
    """A NEW bill for the token's invoice; the same bill again for the same token."""
    if token.kind is not TokenKind.PAYMENT or token.invoice_id is None:
        raise wrong_kind(TokenKind.PAYMENT)
    existing = gateway.store.bill_for_invoice(token.client_id, token.invoice_id)
    if existing is not None and existing.token == token.access_token:
        return current(gateway, existing)
    if gateway.store.invoice_succeeded(token.client_id, token.invoice_id):
        raise EpayError(400, -1, "Duplicate order id")
    bill = QrBill(
        bill_number=_new_number(gateway), client_id=token.client_id, invoice_id=token.invoice_id,
        amount=token.amount or 0.0, currency=token.currency or "KZT", terminal_id=token.terminal_id or "",
        created_at=gateway.clock.now(), token=token.access_token, description=request.description,
        language=request.language, account_id=request.account_id, email=request.email,
        phone=request.phone, post_link=request.post_link or token.post_link,
        failure_post_link=request.failure_post_link or token.failure_post_link,
        secret_hash=token.secret_hash,
    )
    return gateway.store.insert_bill(bill)


def _new_number(gateway: Gateway) -> str:
    while True:
        number = gateway.store.fake.reference()
        if number[0] != "0" and gateway.store.find_bill(number) is None:
            return number


def for_token(gateway: Gateway, token: Token, bill_number: str | None) -> QrBill:
    """The bill `GET /qr` reports: by number (this merchant's), else the token's invoice's latest."""
    if bill_number:
        bill = gateway.store.bill(token.client_id, bill_number)
        if bill is not None and token.kind is TokenKind.PAYMENT and bill.invoice_id != token.invoice_id:
            bill = None  # a payment token reads only its own invoice's bills
    elif token.invoice_id is not None:
        bill = gateway.store.bill_for_invoice(token.client_id, token.invoice_id)
    else:
        raise bad_request("a service token needs ?billNumber=", 100)
    if bill is None:
        raise not_found()
    return current(gateway, bill)


def find(gateway: Gateway, bill_number: str) -> QrBill:
    """Any merchant's bill (the app simulator and the admin API), current."""
    bill = gateway.store.find_bill(bill_number)
    if bill is None:
        raise not_found()
    return current(gateway, bill)


def _expired(gateway: Gateway, bill: QrBill) -> bool:
    ttl = timedelta(seconds=gateway.settings.qr_bill_ttl)
    return not bill.status.is_final and bill.created_at + ttl <= gateway.clock.now()


def current(gateway: Gateway, bill: QrBill) -> QrBill:
    """`bill`, or REJECTED (with its REJECT transaction and callback) once the 20 minutes are up."""
    if not _expired(gateway, bill):
        return bill
    return _reject(gateway, bill, EXPIRED, "QR bill was not paid within the time allowed")


def _write(gateway: Gateway, bill: QrBill, expected_version: int) -> QrBill:
    try:
        return gateway.store.replace_bill(bill, expected_version)
    except RecordConflict:
        fresh = gateway.store.find_bill(bill.bill_number)
        raise bad_request(f"QR bill {bill.bill_number} is {fresh.status.value if fresh else 'gone'} now; "
                          "read it again") from None


def _attempt(bill: QrBill, pan: str, scenario: str | None) -> PaymentAttempt:
    return PaymentAttempt(
        client_id=bill.client_id, invoice_id=bill.invoice_id, amount=bill.amount, currency=bill.currency,
        terminal_id=bill.terminal_id, description=bill.description, account_id=bill.account_id,
        email=bill.email, phone=bill.phone, language=bill.language, card_pan=pan, scenario=scenario,
        source=SOURCE, post_link=bill.post_link, failure_post_link=bill.failure_post_link,
        secret_hash=bill.secret_hash,
    )


def _require(bill: QrBill, *allowed: QrStatus) -> None:
    if bill.status not in allowed:
        raise bad_request(f"QR bill {bill.bill_number} is {bill.status.value}; this needs "
                          f"{' or '.join(s.value for s in allowed)}")


async def scan(gateway: Gateway, bill: QrBill, scenario: str | None = None) -> QrBill:
    """The buyer scans the code: the engine decides the payment now (a slow rule makes this slow)."""
    _require(bill, QrStatus.NEW)
    outcome = gateway.engine.decide(_attempt(bill, DEFAULT_CARD, scenario))
    if outcome.delay_ms:
        await asyncio.sleep(outcome.delay_ms / 1000)
    fresh = current(gateway, gateway.store.find_bill(bill.bill_number) or bill)
    _require(fresh, QrStatus.NEW)
    return _write(gateway, evolve(fresh, status=QrStatus.SCANNED, outcome=outcome,
                                  updated_at=gateway.clock.now()), fresh.version)


def approve(gateway: Gateway, bill: QrBill) -> QrBill:
    """The buyer confirms in the app: BLOCKED while recording, then AUTH / PAID, or REJECTED."""
    _require(bill, QrStatus.SCANNED)
    blocked = _write(gateway, evolve(bill, status=QrStatus.BLOCKED, updated_at=gateway.clock.now()),
                     bill.version)
    outcome = _as_qr_outcome(bill.outcome or Outcome())
    tx = _record(gateway, blocked, outcome)
    if tx is None or not tx.status.is_success:
        code = tx.reason_code if tx else outcome.reason_code
        return _finish(gateway, blocked, QrStatus.REJECTED, tx, str(code), outcome.message)
    final = QrStatus.AUTH if tx.status is Status.AUTH else QrStatus.PAID
    return _finish(gateway, blocked, final, tx, "0", "")


def reject(gateway: Gateway, bill: QrBill) -> QrBill:
    """The buyer declines in the app (from NEW, SCANNED or BLOCKED)."""
    _require(bill, QrStatus.NEW, QrStatus.SCANNED, QrStatus.BLOCKED)
    return _reject(gateway, bill, BUYER_REJECTED, "rejected by the buyer in the Homebank app")


ACTIONS = ("scan", "approve", "reject")


async def act(gateway: Gateway, bill: QrBill, action: str, scenario: str | None = None) -> QrBill:
    """One button of the buyer's app (the simulator page and the admin API); 404 for another action."""
    if action == "scan":
        return await scan(gateway, bill, scenario)
    if action == "approve":
        return approve(gateway, bill)
    if action == "reject":
        return reject(gateway, bill)
    raise EpayError(404, NOT_FOUND, f"unknown action {action[:20]!r} (scan, approve or reject)")


def _reject(gateway: Gateway, bill: QrBill, code: int, message: str) -> QrBill:
    outcome = Outcome(kind=OutcomeKind.DECLINE, reason_code=code, message=message)
    tx = _record(gateway, bill, outcome)
    return _finish(gateway, bill, QrStatus.REJECTED, tx, str(code), message)


def _as_qr_outcome(outcome: Outcome) -> Outcome:
    """The app authenticates the buyer itself: 3-D Secure approves; chaos outcomes decline."""
    if outcome.kind is OutcomeKind.SECURE3D:
        return Outcome(rule=outcome.rule, callback=outcome.callback)
    if not entry_for(outcome.kind).records:
        return Outcome(kind=OutcomeKind.DECLINE, reason_code=outcome.reason_code or 465,
                       message=outcome.message, rule=outcome.rule, callback=outcome.callback)
    return outcome


def _record(gateway: Gateway, bill: QrBill, outcome: Outcome) -> Transaction | None:
    """The bill's transaction, with its callback queued; None when its invoice is taken."""
    store = gateway.store
    try:
        reservation = store.reserve_invoice(bill.client_id, bill.invoice_id)
    except EpayError:
        return None
    try:
        card = store.make_card(DEFAULT_CARD, store.fake.payer_name(), "01/27")
        tx = store.record_payment(reservation, _attempt(bill, DEFAULT_CARD, None), outcome, card)
    finally:
        store.release_invoice(reservation)
    gateway.callbacks.payment_finished(tx, outcome.callback)
    return tx


def _finish(gateway: Gateway, bill: QrBill, status: QrStatus, tx: Transaction | None,
            ret_code: str, err: str) -> QrBill:
    return _write(gateway, evolve(bill, status=status, transaction_id=tx.id if tx else "",
                                  ret_code=ret_code, err_description=err,
                                  updated_at=gateway.clock.now()), bill.version)


# -- answers -----------------------------------------------------------------------------


def app_url(base: str, bill: QrBill) -> str:
    """The `qrcode` text: the Homebank-app simulator's page for this bill."""
    return f"{base}/homebank/qr/{bill.bill_number}"


def generate_json(base: str, bill: QrBill) -> dict[str, Any]:
    url = app_url(base, bill)
    return {"billNumber": bill.bill_number, "qrcode": url, "homebankLink": url, "onlinebankLink": url}


def status_json(base: str, bill: QrBill) -> dict[str, Any]:
    """The SDK's status object (spec 4.3); issuer, amount and currency once scanned."""
    seen = bill.status is not QrStatus.NEW
    return {
        "qrcode": app_url(base, bill), "status": bill.status.value, "trType": "", "secure3D": False,
        "issuer": "HALYK BANK" if seen else "", "issuerBankCountry": "KAZ" if seen else "", "fee": 0,
        "amount": _number(bill.amount) if seen else 0, "currency": bill.currency if seen else "",
        "paymentChannel": "", "errDescription": bill.err_description, "retCode": bill.ret_code,
    }


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value
