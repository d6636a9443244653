"""The transfer endpoints' JSON: the SDK's `{order, card: {sender, receiver}}` body, the `...ID`-cased
answer, the nested P2P status, and the renderers that fill them from a recorded `Transfer`.

A success body never carries both `code` and `message` (the SDK reads that pair as a failure
whatever the HTTP status), so the answer declares neither.
"""

from __future__ import annotations

from typing import Any

from mock_epay.gateway.transfer_records import Transfer, TransferParty
from mock_epay.wire.bank_requests import Request, Text, TextOrNumber
from mock_epay.wire.decode import absent_nulls
from mock_epay.wire.render import rfc3339
from mock_epay.wire.shape import UNSET, Shape, UnsetType, amount_json


class TransferExpireRequest(Request):
    """`{month: "MM", year: "YY"}`, two-digit strings."""

    month: str
    year: str


class TransferPartyRequest(Request):
    """`card.sender` / `card.receiver`: `cardCred` is a card number (TYPEPAN, Luhn-checked) or a saved card
    id (TYPECARDID); TYPEPHONE (OCT receiver only) sends `phone` and a 12-digit `iin` instead."""

    transferType: Text
    cardCred: Text | UnsetType = UNSET
    cvc: Text | UnsetType = UNSET
    expire: TransferExpireRequest | UnsetType = UNSET
    name: Text | UnsetType = UNSET
    save: bool | str | UnsetType = UNSET
    phone: Text | UnsetType = UNSET
    iin: Text | UnsetType = UNSET


class TransferOrderRequest(Request):
    """`order`: `id` is the merchant's order number (the token's invoiceID, 1-64 letters, digits, `-`,
    `_`); `terminalId` is also read as `terminal`; `description` may be left out."""

    amount: TextOrNumber
    currency: Text
    id: Text
    terminalId: Text
    description: str | UnsetType = UNSET
    senderEmail: Text | UnsetType = UNSET
    foreign: bool | str | UnsetType = UNSET
    postLink: Text | UnsetType = UNSET
    failurePostLink: Text | UnsetType = UNSET
    backLink: Text | UnsetType = UNSET
    failureBackLink: Text | UnsetType = UNSET


class TransferCardsRequest(Request):
    """The sender is required for P2P and AFT, the receiver for P2P and OCT."""

    sender: TransferPartyRequest | UnsetType = UNSET
    receiver: TransferPartyRequest | UnsetType = UNSET


class TransferRequest(Request):
    """`POST /p2p/transfer`, `/chdebit/transfer`, `/chpayment/transfer` (spec products 5.4)."""

    order: TransferOrderRequest
    card: TransferCardsRequest


# How a field of the wrong JSON type (or a missing one) is worded, by its path in the body; the rest
# "must be a string" (a text field) or "is required".
_OBJECTS = ("order", "card", "card.sender", "card.receiver", "card.sender.expire", "card.receiver.expire")
TRANSFER_FIELD_WORDS = {
    **{path: "must be an object" for path in _OBJECTS},
    "order.amount": "must be a number",
    **{f"card.{role}.save": "must be a boolean (true or false)" for role in ("sender", "receiver")},
    **{f"card.{role}.expire.month": "must be two digits 01-12" for role in ("sender", "receiver")},
    **{f"card.{role}.expire.year": "must be two digits (YY)" for role in ("sender", "receiver")},
}
_WORDED_EVEN_WHEN_MISSING = ("month", "year")  # the expiry's parts say what they must be


def normalise_transfer(body: dict[str, Any]) -> dict[str, Any]:
    """The body with JSON `null`s as absent fields at every level the declaration names, and the order's
    `terminal` under its declared name `terminalId` (a present `terminalId` wins)."""
    folded = _present(body)
    order = folded.get("order")
    if isinstance(order, dict):
        order = folded["order"] = _present(order)
        if "terminalId" not in order and "terminal" in order:
            order["terminalId"] = order.pop("terminal")
    card = folded.get("card")
    if isinstance(card, dict):
        card = folded["card"] = _present(card)
        for role in ("sender", "receiver"):
            party = card.get(role)
            if isinstance(party, dict):
                party = card[role] = _present(party)
                if isinstance(party.get("expire"), dict):
                    party["expire"] = _present(party["expire"])
    return folded


def _present(mapping: dict[str, Any]) -> dict[str, Any]:
    """A copy of `mapping` without its nulls (the copy is changed below; the body is not)."""
    return dict(absent_nulls(mapping))


def transfer_field_problem(path: str, missing: bool) -> str:
    """The words after "field '<path>' " for a field the declaration refused."""
    if missing and not path.endswith(_WORDED_EVEN_WHEN_MISSING):
        return "is required"
    return TRANSFER_FIELD_WORDS.get(path, "must be a string")


class TransferResponse(Shape):
    """200 of a transfer (spec products 5.5): the `...ID` casing; no `code`/`message` pair."""

    id: str
    amount: float
    fee: float
    currency: str
    accountID: str
    email: str
    description: str
    reference: str
    intReference: str
    orderID: str
    terminalID: str
    senderCardID: str
    senderCardPAN: str
    senderCardType: str
    senderTransferType: str
    receiverCardID: str
    receiverCardPAN: str
    receiverCardType: str
    receiverTransferType: str


class P2PResult(Shape):
    code: str
    message: str


class P2PTransaction(Shape):
    """`transaction.p2p` of the P2P status; the fields after `reference` are the mock's (the docs' copy
    is cut off there)."""

    id: str
    createdDate: str
    invoiceID: str
    amount: float
    amountBonus: float
    payoutAmount: float
    currency: str
    cardType: str
    terminal: str
    terminalID: str
    accountID: str
    description: str
    language: str
    reference: str
    intReference: str
    statusName: str
    reason: str
    reasonCode: str
    fee: float
    transferType: str
    senderCardMask: str
    receiverCardMask: str


class P2PTransactionHolder(Shape):
    p2p: P2PTransaction


class P2PStatusResponse(Shape):
    """`GET /check-status/p2p/transaction/{order}` (spec products 5.6): nested `result` with a string code;
    an unknown order has result code "102" and no `transaction`."""

    result: P2PResult
    transaction: P2PTransactionHolder | UnsetType = UNSET


def _party_fields(party: TransferParty | None) -> tuple[str, str, str, str]:
    if party is None:
        return "", "", "", ""
    pan = party.mask or (party.phone[:4] + "..." + party.phone[-2:] if party.phone else "")
    return party.card_id, pan, party.card_type, party.transfer_type.value


def transfer_body(transfer: Transfer) -> TransferResponse:
    """The 200 answer of an approved transfer."""
    tx = transfer.transaction
    s_id, s_pan, s_type, s_kind = _party_fields(transfer.sender)
    r_id, r_pan, r_type, r_kind = _party_fields(transfer.receiver)
    return TransferResponse(
        id=tx.id,
        amount=amount_json(tx.org_amount),
        fee=amount_json(transfer.fee),
        currency=tx.currency,
        accountID=tx.account_id,
        email=tx.email,
        description=tx.description,
        reference=tx.reference,
        intReference=tx.int_reference,
        orderID=tx.invoice_id,
        terminalID=tx.terminal_id,
        senderCardID=s_id,
        senderCardPAN=s_pan,
        senderCardType=s_type,
        senderTransferType=s_kind,
        receiverCardID=r_id,
        receiverCardPAN=r_pan,
        receiverCardType=r_type,
        receiverTransferType=r_kind,
    )


def p2p_status_body(transfer: Transfer | None) -> P2PStatusResponse:
    """The P2P status answer; result "100" SUCCESS when found, "102" when not."""
    if transfer is None:
        return P2PStatusResponse(result=P2PResult(code="102", message="transaction not found"))
    tx = transfer.transaction
    charged = transfer.receiver if transfer.kind.value == "oct" else transfer.sender
    p2p = P2PTransaction(
        id=tx.id,
        createdDate=rfc3339(tx.created_at),
        invoiceID=tx.invoice_id,
        amount=amount_json(tx.amount),
        amountBonus=0,
        payoutAmount=amount_json(tx.amount if tx.status.is_success else 0),
        currency=tx.currency,
        cardType=charged.card_type if charged else "",
        terminal=tx.terminal_number,
        terminalID=tx.terminal_id,
        accountID=tx.account_id,
        description=tx.description,
        language=tx.language,
        reference=tx.reference,
        intReference=tx.int_reference,
        statusName=tx.status.value,
        reason=tx.reason,
        reasonCode=str(tx.reason_code),
        fee=amount_json(transfer.fee),
        transferType=transfer.kind.value.upper(),
        senderCardMask=transfer.sender.mask if transfer.sender else "",
        receiverCardMask=transfer.receiver.mask if transfer.receiver else "",
    )
    return P2PStatusResponse(
        result=P2PResult(code="100", message="SUCCESS"), transaction=P2PTransactionHolder(p2p=p2p)
    )


class TransferSummary(Shape):
    """One transfer in the admin listing (cards masked)."""

    id: str
    clientId: str
    kind: str
    orderId: str
    amount: float
    fee: float
    currency: str
    status: str
    reasonCode: int
    reason: str
    createdDate: str
    terminalId: str
    senderCardMask: str
    receiverCardMask: str
    receiverPhone: str


class TransferListing(Shape):
    """`GET /_mock/transfers`: newest first."""

    transfers: list[TransferSummary]


def transfer_listing(transfers: list[Transfer]) -> TransferListing:
    return TransferListing(
        transfers=[
            TransferSummary(
                id=t.id,
                clientId=t.client_id,
                kind=t.kind.value,
                orderId=t.order_id,
                amount=amount_json(t.transaction.org_amount),
                fee=amount_json(t.fee),
                currency=t.transaction.currency,
                status=t.transaction.status.value,
                reasonCode=t.transaction.reason_code,
                reason=t.transaction.reason,
                createdDate=rfc3339(t.transaction.created_at),
                terminalId=t.transaction.terminal_id,
                senderCardMask=t.sender.mask if t.sender else "",
                receiverCardMask=t.receiver.mask if t.receiver else "",
                receiverPhone=_party_fields(t.receiver)[1] if t.receiver and t.receiver.phone else "",
            )
            for t in transfers
        ]
    )
