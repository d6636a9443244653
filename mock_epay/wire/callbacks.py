"""The postLink / failurePostLink bodies the mock POSTs to merchants: the current and the legacy format."""

from __future__ import annotations

from typing import Literal

from mock_epay.wire.shape import UNSET, Shape, UnsetType

Operation = Literal["charge", "cancel", "refund"]


class Callback(Shape):
    """postLink / failurePostLink body (spec 5.2, 5.3). `secret_hash` is sent when the token had one;
    `operation` and `operationAmount` when the callback follows a charge, cancel or refund."""

    id: str
    dateTime: str
    invoiceId: str
    invoiceIdAlt: str
    amount: float
    currency: str
    terminal: str
    accountId: str
    description: str
    language: str
    cardMask: str | None
    cardType: str | None
    issuer: str | None
    issuerBankCountry: str | None
    reference: str | None
    approvalCode: str | None
    secure: Literal["yes", "no"]
    secureDetails: str | None
    tokenRecipient: str
    code: Literal["ok", "error"]
    reason: str
    reasonCode: int
    name: str | None
    email: str | None
    phone: str | None
    ip: str | None
    ipCountry: None
    ipCity: None
    ipRegion: None
    ipDistrict: None
    ipLongitude: float
    ipLatitude: float
    cardId: str | None
    secret_hash: str | UnsetType = UNSET
    operation: Operation | UnsetType = UNSET
    operationAmount: float | UnsetType = UNSET


class LegacyCallbackApproved(Shape):
    """The seed format's postLink body for an approved payment (spec 5.4)."""

    amount: float
    currency: str
    reference: str
    approvalCode: str
    code: Literal[0]
    secure: Literal["Yes", "No"]
    accountId: str
    invoiceId: str
    operation: Operation | UnsetType = UNSET
    operationAmount: float | UnsetType = UNSET


class LegacyCallbackDeclined(Shape):
    """The seed format's failurePostLink body for a declined payment (spec 5.4)."""

    accountId: str
    invoiceId: str
    amount: float
    currency: str
    code: Literal[-1]
    message: str
    operation: Operation | UnsetType = UNSET
    operationAmount: float | UnsetType = UNSET
