"""Transfer records: the three kinds (P2P, AFT, OCT), the two card parts and the recorded transfer.

Plain frozen data, like `mock_epay.gateway.models`: a `Transfer` wraps the `Transaction` that
moved the money (status, amounts, references, links: what callbacks and statements read) and
adds what only transfers have (kind, fee, sender and receiver). The store keeps transfers apart
from payments, so a payment status or a payment statement never shows a transfer.
"""

from __future__ import annotations

from enum import StrEnum

import msgspec

from mock_epay.gateway.models import Card, Transaction


class TransferKind(StrEnum):
    """A transfer product; its value is the scenario `match.source` that targets it."""

    P2P = "p2p"  # card to card: POST /p2p/transfer
    AFT = "aft"  # account funding, debit the sender's card: POST /chdebit/transfer
    OCT = "oct"  # original credit, pay out to a card or a phone: POST /chpayment/transfer

    @property
    def needs_sender(self) -> bool:
        return self is not TransferKind.OCT

    @property
    def needs_receiver(self) -> bool:
        return self is not TransferKind.AFT

    @property
    def path(self) -> str:
        return {"p2p": "/p2p/transfer", "aft": "/chdebit/transfer", "oct": "/chpayment/transfer"}[self.value]


class TransferType(StrEnum):
    """How a card part names its card (`transferType`)."""

    PAN = "TYPEPAN"  # a card number
    CARD_ID = "TYPECARDID"  # a saved card's id
    PHONE = "TYPEPHONE"  # a phone number and IIN (OCT receiver only)


class TransferParty(msgspec.Struct, frozen=True):
    """The sender or the receiver as the mock keeps it: the card (never shown in full), or a phone."""

    transfer_type: TransferType
    card: Card | None = None
    card_id: str = ""  # the saved card used (TYPECARDID) or saved (`save: true`)
    phone: str = ""
    iin: str = ""
    name: str = ""

    @property
    def mask(self) -> str:
        return self.card.mask if self.card else ""

    @property
    def card_type(self) -> str:
        return self.card.card_type if self.card else ""


class Transfer(msgspec.Struct, frozen=True):
    """One recorded transfer attempt (approved or declined)."""

    kind: TransferKind
    transaction: Transaction
    fee: float = 0.0
    sender: TransferParty | None = None
    receiver: TransferParty | None = None

    @property
    def id(self) -> str:
        return self.transaction.id

    @property
    def client_id(self) -> str:
        return self.transaction.client_id

    @property
    def order_id(self) -> str:
        return self.transaction.invoice_id
