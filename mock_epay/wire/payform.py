"""The payment page's payment object (spec 4.2): what `halyk.pay` packs into `?params=`, normalised once.

`payment-api.js` sends every value as text (`key=encodeURIComponent(value)` pairs, a nested
object such as `auth` as one such string); a JSON object is read too. `normalise_payment_object`
folds the spellings spec 10 tolerates (`token`, `terminalId`, `invoiceID`, `curency`, `cardsave`,
`cardid` / `cardID`) onto the declared names and drops the values the page reads as absent, once,
before `PaymentPageRequest` decodes the object.
"""

from __future__ import annotations

from typing import Any

from mock_epay.wire.bank_requests import Normalised, OrderExtras, Text, TextOrNumber, normalise
from mock_epay.wire.shape import UNSET, UnsetType


class PaymentPageRequest(OrderExtras):
    """The payment object the page opens with (spec 4.2), after LZString and `key=value` decoding.
    `auth` is the token response object, a bare access token or `Bearer <token>` (also `token`);
    `terminal` also `terminalId`, `invoiceId` also `invoiceID`, `currency` (KZT when absent) also
    `curency`, `cardSave` also `cardsave`, `cardId` (`{"id"}` or the id) also `cardid` / `cardID`.
    `paymentType` is `cardId` (pay with a saved card) or `cardVerification` (amount 0, saves the card).
    Mock only: `mockScenario` names a scenario rule, `autoPay` (a card number, or `{card, afterMs,
    expiry, cvc, otp}`) makes the page pay by itself."""

    invoiceId: Text
    amount: TextOrNumber
    terminal: Text
    auth: dict[str, Any] | Text
    currency: Text | UnsetType = UNSET
    description: str | UnsetType = UNSET
    cardSave: bool | str | UnsetType = UNSET
    paymentType: str | UnsetType = UNSET
    cardId: dict[str, Any] | Text | UnsetType = UNSET
    recurrent: bool | str | UnsetType = UNSET
    mockScenario: Text | UnsetType = UNSET
    autoPay: dict[str, Any] | Text | UnsetType = UNSET


PAGE_SPELLINGS: dict[str, tuple[str, ...]] = {
    "auth": ("token",),
    "terminal": ("terminalId",),
    "invoiceId": ("invoiceID",),
    "currency": ("curency",),
    "cardSave": ("cardsave",),
    "cardId": ("cardid", "cardID"),
}
# Keys the page reads as absent when empty (null, "", 0, false, [], {}): `currency: ""` gives way
# to `curency`, then to KZT; an empty description, paymentType, card id or autoPay is no value at all.
EMPTY_IS_ABSENT = frozenset({
    "currency", "curency", "description", "paymentType", "invoiceIdAlt", "mockScenario",
    "cardId", "cardid", "cardID", "autoPay",
})


def normalise_payment_object(fields: dict[str, Any]) -> Normalised:
    """The payment object with its spellings folded onto the declared names and empty values dropped."""
    present = {key: value for key, value in fields.items() if value or key not in EMPTY_IS_ABSENT}
    return normalise(present, PAGE_SPELLINGS, blank_falls_through=frozenset())
