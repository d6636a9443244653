"""The bank API's answers: token, cards/auth (and its 3-D Secure step), status, legacy operation,
saved cards.

Field names and their order are the bank's; casing differs by place and is kept on
purpose: `invoiceID`/`cardID` in payment answers and the status, PascalCase in saved-card lists.
"""

from __future__ import annotations

from typing import Literal

from mock_epay.gateway.models import Status
from mock_epay.wire.shape import UNSET, Shape, UnsetType


class TokenResponse(Shape):
    """200 of `/oauth2/token`. `expires_in` is a string by default ("1200" for payment tokens, "7200" for
    service tokens; numbers with payment_expires_in_as_string / service_expires_in_as_string false)."""

    access_token: str
    expires_in: str | int
    refresh_token: str
    scope: str
    token_type: Literal["Bearer"]


class Secure3D(Shape):
    """Where to send the buyer for the 3-D Secure step (spec 2.4)."""

    action: str
    md: str
    paReq: str
    termURL: str


class CardPaymentResponse(Shape):
    """200 of cards/auth (spec 8.5 plus the fields clients read, 2.3); `secure3D` is set when a
    3-D Secure step is needed."""

    id: str
    accountId: str
    amount: float
    amountBonus: float
    currency: str
    description: str
    email: str
    invoiceID: str
    language: str
    phone: str
    reference: str
    intReference: str
    secure3D: Secure3D | None
    cardID: str
    fee: float
    approvalCode: str
    code: int
    status: Status
    secureDetails: str
    qrReference: str
    ip: str
    ipCity: str
    ipCountry: str
    ipDistrict: str
    ipLatitude: float
    ipLongitude: float
    ipRegion: str
    issuerBankCountry: str
    isCredit: bool
    issuer: str


class StatusTransaction(Shape):
    """`transaction` of the status answer (spec 6.2): capital-ID names, string reasonCode and statusID."""

    id: str
    createdDate: str
    invoiceID: str
    amount: float
    amountBonus: float
    payoutAmount: float
    orgAmount: float
    approvalCode: str
    data: str
    currency: str
    terminal: str
    terminalID: str
    accountID: str
    description: str
    language: str
    cardMask: str
    cardType: str
    issuer: str
    reference: str
    reason: str
    reasonCode: str
    intReference: str
    secure: bool
    secureDetails: str
    statusID: str
    statusName: Status
    name: str
    email: str
    phone: str
    cardID: str
    xlsRRN: str
    ip: str
    ipCountry: str
    ipCity: str
    ipRegion: str
    ipDistrict: str
    ipLatitude: float
    ipLongitude: float


class StatusResponse(Shape):
    """The status answer (spec 6.2); for an invoice the token cannot see, resultCode "102" with
    `transaction: null` (absent with status_unknown_transaction_null false)."""

    resultCode: str
    resultMessage: str
    transaction: StatusTransaction | None | UnsetType = UNSET


class LegacyOperation(Shape):
    """The legacy `GET /operation/{invoiceId}` answer: postLink-like, `code` is the status name (spec 6.5)."""

    id: str
    dateTime: str
    invoiceId: str
    amount: float
    currency: str
    terminal: str
    accountId: str
    description: str
    language: str
    cardMask: str
    cardType: str
    issuer: str
    reference: str
    secure: Literal["true", "false"]
    code: Status
    reason: str
    reasonCode: int
    name: str
    email: str
    phone: str
    ip: str
    ipCountry: str
    ipCity: str
    ipRegion: str
    ipDistrict: str
    ipLongitude: float
    ipLatitude: float
    cardId: str


class SavedCard(Shape):
    """One element of `GET /cards/{accountId}` (PascalCase, spec 8.2)."""

    ID: str
    TransactionId: str
    MerchantID: str
    CardHash: str
    CardMask: str
    PayerName: str
    Reference: str
    IntReference: str
    Token: str
    Terminal: str
    CreatedDate: str
    PaymentAvailable: bool
    AccountID: str


class CardDeactivated(Shape):
    """200 of `POST /card/deactivate/{cardId}` (spec 8.3)."""

    status: str
