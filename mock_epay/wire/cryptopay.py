"""Shapes of payment by cryptogram and of recurring payments: requests, answers, the admin's subscriptions.

`POST /payment/cryptopay` answers with the cards/auth shape (`CardPaymentResponse`); its request
folds the SDK's Cyrillic `сryptogram` (U+0441) and the lower-case `cardsave` onto the declared
names in one normalisation step. `POST /recurrent/subscribe` answers with the SDK's
`AutoPaymentResponseBody`, dates in its fixed pattern `yyyy-MM-dd'T'HH:mm:ss.SSSSSSSZ`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from mock_epay.wire.bank_requests import Normalised, OrderExtras, Request, Text, TextOrNumber, normalise
from mock_epay.wire.shape import UNSET, Shape, UnsetType

Frequency = Literal["WEEKLY", "MONTHLY", "QUARTERLY"]
CYRILLIC_CRYPTOGRAM = "\u0441ryptogram"  # "сryptogram": the SDK's key, first letter Cyrillic


class CryptopayRequest(OrderExtras):
    """`payment/cryptopay` (spec 2.3): `cryptogram` (also the SDK's Cyrillic `сryptogram`) is base64 of the
    RSA PKCS#1 v1.5 encrypted `{"hpan","expDate","cvc","terminalId"}` made with the key at `/public.rsa`;
    the mock also reads that JSON plain or base64-encoded. `amount` 0 verifies (and with `cardSave`
    saves) the card: status VERIFIED. `cardSave` is also read as `cardsave`."""

    amount: TextOrNumber
    currency: Text
    cryptogram: str
    invoiceId: Text
    description: str
    cardSave: bool | str | UnsetType = UNSET
    recurrent: bool | str | UnsetType = UNSET
    terminalId: Text | UnsetType = UNSET


# How each field's own check words a value of the wrong JSON type (the text after "field 'x' ").
CRYPTOPAY_TYPE_MESSAGES = {
    "amount": "must be a number",
    "invoiceId": "must be a string of 6 to 15 digits",
    "invoiceIdAlt": "must be a string of 6 to 15 digits",
    "cardSave": "must be a boolean (true or false)",
    "recurrent": "must be a boolean (true or false)",
}


CRYPTOPAY_SPELLINGS: dict[str, tuple[str, ...]] = {
    "cryptogram": (CYRILLIC_CRYPTOGRAM,),
    "cardSave": ("cardsave", "CardSave"),
    "terminalId": ("terminal",),
}


def normalise_cryptopay(body: dict[str, Any]) -> Normalised:
    """The cryptopay body with `сryptogram`, `cardsave` and `terminal` under their declared names."""
    return normalise(body, CRYPTOPAY_SPELLINGS)


class SubscribeRequest(Request):
    """`recurrent/subscribe` (SDK only): subscribe a paid transaction's saved card to a schedule."""

    transactionId: Text
    paymentFrequency: Frequency


SUBSCRIBE_TYPE_MESSAGES = {"paymentFrequency": "must be WEEKLY, MONTHLY or QUARTERLY, got {value!r}"}


class SubscribeResponse(Shape):
    """200 of `recurrent/subscribe` (the SDK's AutoPaymentResponseBody). `lastPaymentDate` is the end of
    the subscription's term (12 months in the mock); both dates `2025-02-07T21:22:44.3828015+0500`."""

    createdDate: str
    paymentFrequency: Frequency
    lastPaymentDate: str
    clientId: str
    invoiceId: str
    amount: float
    currency: str
    reference: str


class SubscriptionRecord(Shape):
    """A subscription as the admin API lists it (the mock's own shape); `nextPaymentDate` is null once
    the term is over or the subscription is cancelled. Times are RFC 3339, Asia/Almaty."""

    id: str
    clientId: str
    transactionId: str
    invoiceId: str
    cardId: str
    accountId: str
    amount: float
    currency: str
    paymentFrequency: Frequency
    createdDate: str
    lastPaymentDate: str
    nextPaymentDate: str | None
    active: bool
    renewals: int
    chargeIds: list[str]


class Subscriptions(Shape):
    """`GET /_mock/subscriptions`: oldest first."""

    subscriptions: list[SubscriptionRecord]


class SubscriptionCancelled(Shape):
    """`DELETE /_mock/subscriptions/{id}`: the subscription, now inactive."""

    subscription: SubscriptionRecord


DECLARATIONS: tuple[type, ...] = (CryptopayRequest, SubscribeRequest, SubscribeResponse, Subscriptions,
                                  SubscriptionCancelled)


def sdk_date(moment: datetime) -> str:
    """The SDK's one accepted date shape: seven fractional digits and an offset without a colon."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}0" + moment.strftime("%z")
