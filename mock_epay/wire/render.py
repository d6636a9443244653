"""Rendering state in the bank's JSON shapes: each function fills one declaration of `wire/`.

Casing differs by place and is kept on purpose: `invoiceID`/`cardID` in payment
responses and status, `invoiceId`/`cardId` in callbacks, PascalCase in saved-card lists
(the declarations in bank_answers.py and callbacks.py name every key).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web

from mock_epay.gateway.codes import NOT_FOUND
from mock_epay.gateway.models import Card, SavedCard, Status, Transaction
from mock_epay.wire.bank_answers import (
    CardPaymentResponse,
    LegacyOperation,
    Secure3D,
    StatusResponse,
    StatusTransaction,
)
from mock_epay.wire.bank_answers import SavedCard as SavedCardShape
from mock_epay.wire.callbacks import Callback, LegacyCallbackApproved, LegacyCallbackDeclined
from mock_epay.wire.shape import amount_json, encode, to_builtins

__all__ = ["amount_json", "json_response"]

# statusID values are not published; the mock gives each status a stable number.
STATUS_IDS = {status: str(index) for index, status in enumerate(Status, start=1)}


def _ip_location(unknown: str | None) -> dict[str, Any]:
    """The IP geolocation fields: the mock does not locate payers, so `unknown` text and coordinates 0."""
    return {"ipCountry": unknown, "ipCity": unknown, "ipRegion": unknown, "ipDistrict": unknown,
            "ipLatitude": 0, "ipLongitude": 0}


NO_IP_LOCATION = _ip_location("")
NO_IP_LOCATION_NULL = _ip_location(None)  # callbacks send null where answers send ""
_NO_CARD: dict[str, Any] = dict.fromkeys(("cardMask", "cardType", "issuer"), "")
_NO_CARD_NULL: dict[str, Any] = dict.fromkeys(_NO_CARD)


def card_fields(card: Card | None, *, null: bool = False) -> dict[str, Any]:
    """`cardMask`, `cardType` and `issuer` of the card paid with; without one, empty (or null)."""
    if card is None:
        return _NO_CARD_NULL if null else _NO_CARD
    return {"cardMask": card.mask, "cardType": card.card_type, "issuer": card.issuer}


def json_response(data: Any, status: int = 200) -> web.Response:
    """A JSON answer (a declared shape, or plain data) with non-ASCII text as UTF-8, not \\u escapes."""
    return web.Response(body=encode(data), status=status, content_type="application/json", charset="utf-8")


def rfc3339(moment: datetime) -> str:
    """`2022-11-15T03:52:17.289853+05:00`."""
    return moment.isoformat(timespec="microseconds")


def callback_datetime(moment: datetime) -> str:
    """The callback's `dateTime`: RFC 3339 with nanoseconds, as in real payloads."""
    base = moment.isoformat(timespec="microseconds")
    stamp, offset = base[:-6], base[-6:]
    return f"{stamp}000{offset}"


def card_payment_body(tx: Transaction, secure3d: Secure3D | None = None) -> CardPaymentResponse:
    """The 200 answer of `payments/cards/auth` (spec 8.5 plus the fields clients read, 2.3)."""
    card = tx.card
    return CardPaymentResponse(
        id=tx.id,
        accountId=tx.account_id,
        amount=amount_json(tx.org_amount),
        amountBonus=0,
        currency=tx.currency,
        description=tx.description,
        email=tx.email,
        invoiceID=tx.invoice_id,
        language=tx.language,
        phone=tx.phone,
        reference=tx.reference,
        intReference=tx.int_reference,
        secure3D=secure3d,
        cardID=tx.card_id or "",
        fee=0,
        approvalCode=tx.approval_code,
        code=0,
        status=tx.status,
        secureDetails="",
        qrReference="",
        ip=tx.ip,
        **NO_IP_LOCATION,
        issuerBankCountry=card.issuer_country if card else "",
        isCredit=False,
        issuer=card.issuer if card else "",
    )


def status_body(tx: Transaction) -> StatusResponse:
    """The status answer for a transaction the token may see (resultCode 100, spec 6.2)."""
    return StatusResponse(resultCode="100", resultMessage="SUCCESS", transaction=status_transaction(tx))


def status_transaction(tx: Transaction) -> StatusTransaction:
    """`transaction` of the status answer (spec 6.2): capital-ID names, string reasonCode."""
    charged = tx.charged_amount - tx.refunded_amount
    return StatusTransaction(
        id=tx.id,
        createdDate=rfc3339(tx.created_at),
        invoiceID=tx.invoice_id,
        amount=amount_json(tx.amount),
        amountBonus=0,
        payoutAmount=amount_json(max(charged, 0.0)),
        orgAmount=amount_json(tx.org_amount),
        approvalCode=tx.approval_code,
        data=tx.data,
        currency=tx.currency,
        terminal=tx.terminal_number,
        terminalID=tx.terminal_id,
        accountID=tx.account_id,
        description=tx.description,
        language=tx.language,
        **card_fields(tx.card),
        reference=tx.reference,
        reason=tx.reason,
        reasonCode=str(tx.reason_code),
        intReference=tx.int_reference,
        secure=tx.secure,
        secureDetails="",
        statusID=STATUS_IDS[tx.status],
        statusName=tx.status,
        name=tx.name,
        email=tx.email,
        phone=tx.phone,
        cardID=tx.card_id or "",
        xlsRRN="",
        ip=tx.ip,
        **NO_IP_LOCATION,
    )


def unknown_invoice_body(transaction_null: bool) -> StatusResponse:
    """The status answer for an invoice the token cannot see (resultCode 102, spec 6.4)."""
    answer = StatusResponse(resultCode=str(NOT_FOUND), resultMessage="transaction not found")
    if transaction_null:
        answer.transaction = None
    return answer


def saved_card_body(saved: SavedCard, merchant_id: str) -> SavedCardShape:
    """One element of `GET /cards/{accountId}` (PascalCase, spec 8.2)."""
    return SavedCardShape(
        ID=saved.id,
        TransactionId=saved.transaction_id,
        MerchantID=merchant_id,
        CardHash=saved.token,
        CardMask=saved.card.mask,
        PayerName=saved.card.payer_name,
        Reference=saved.reference,
        IntReference=saved.int_reference,
        Token=saved.token,
        Terminal=saved.terminal_id,
        CreatedDate=rfc3339(saved.created_at),
        PaymentAvailable=saved.active,
        AccountID=saved.account_id,
    )


def callback_body(tx: Transaction, legacy: bool = False) -> dict[str, Any]:
    """The postLink / failurePostLink body (spec 5.2/5.3, or the seed format of 5.4), as plain data:
    the dispatcher keeps it and adds `operation` / `operationAmount` after an operation."""
    approved = tx.status.is_success
    if legacy:
        legacy_body: dict[str, Any] = to_builtins(_legacy_callback_body(tx, approved))
        return legacy_body
    card = tx.card
    body = Callback(
        id=tx.id,
        dateTime=callback_datetime(tx.created_at),
        invoiceId=tx.invoice_id,
        invoiceIdAlt=tx.invoice_id_alt,
        amount=amount_json(tx.org_amount),
        currency=tx.currency,
        terminal=tx.terminal_id,
        accountId=tx.account_id,
        description=tx.description,
        language=tx.language,
        **card_fields(card, null=True),
        issuerBankCountry=card.issuer_country if card else None,
        reference=tx.reference or None,
        approvalCode=tx.approval_code if approved else None,
        secure="yes" if tx.secure else "no",
        secureDetails=None,
        tokenRecipient="",
        code="ok" if approved else "error",
        reason="success" if approved else tx.reason,
        reasonCode=0 if approved else tx.reason_code,
        name=tx.name or None,
        email=tx.email or None,
        phone=tx.phone or None,
        ip=tx.ip or None,
        **NO_IP_LOCATION_NULL,
        cardId=tx.card_id if approved and tx.card_id else None,
    )
    if tx.secret_hash is not None:
        body.secret_hash = tx.secret_hash
    built: dict[str, Any] = to_builtins(body)
    return built


def _legacy_callback_body(tx: Transaction, approved: bool) -> LegacyCallbackApproved | LegacyCallbackDeclined:
    if approved:
        return LegacyCallbackApproved(
            amount=amount_json(tx.org_amount),
            currency=tx.currency,
            reference=tx.reference,
            approvalCode=tx.approval_code,
            code=0,
            secure="Yes" if tx.secure else "No",
            accountId=tx.account_id,
            invoiceId=tx.invoice_id,
        )
    return LegacyCallbackDeclined(
        accountId=tx.account_id,
        invoiceId=tx.invoice_id,
        amount=amount_json(tx.org_amount),
        currency=tx.currency,
        code=-1,
        message=tx.reason,
    )


def legacy_operation_body(tx: Transaction) -> LegacyOperation:
    """The legacy `GET /operation/{invoiceId}` answer: postLink-like, `code` = status name (spec 6.5)."""
    return LegacyOperation(
        id=tx.id,
        dateTime=rfc3339(tx.created_at),
        invoiceId=tx.invoice_id,
        amount=amount_json(tx.amount),
        currency=tx.currency,
        terminal=tx.terminal_number,
        accountId=tx.account_id,
        description=tx.description,
        language=tx.language,
        **card_fields(tx.card),
        reference=tx.reference,
        secure="true" if tx.secure else "false",
        code=tx.status,
        reason=tx.reason,
        reasonCode=tx.reason_code,
        name=tx.name,
        email=tx.email,
        phone=tx.phone,
        ip=tx.ip,
        **NO_IP_LOCATION,
        cardId=tx.card_id or "",
    )
