"""The bank API's request bodies: the token request, the cards/auth payment and the operations' body,
each with one normalisation step.

The bank accepts several spellings of one field and numbers sent as strings (forms carry
only text). `normalise_token_request` and `normalise_card_payment` fold the spellings onto
the declared names, once per request, so the routes read one name per field. Unknown keys
are tolerated, as the bank does, so request shapes do not forbid them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import msgspec

from mock_epay.wire.shape import UNSET, UnsetType

TextOrNumber = str | int | float
Text = str | int  # a text field also takes a JSON integer (client libraries send ids as numbers)


class Request(msgspec.Struct):
    """A JSON (or form) body the mock reads; keys it does not name are ignored, as the bank does."""


class TokenRequest(Request):
    """`/oauth2/token` form with `grant_type=client_credentials` (urlencoded, multipart or JSON; the password
    and refresh grants are in wire/token_grants.py). Without invoiceID: a service token; with it:
    a payment token bound to the order (invoiceID 6-15 digits, also `InvoiceID`, `invoiceId`; `curency`
    is read as currency; `terminalId` as terminal; amount may be a number or a numeric string)."""

    grant_type: Literal["client_credentials"]
    scope: Text
    client_id: Text
    client_secret: Text
    invoiceID: Text | UnsetType = UNSET
    amount: TextOrNumber | UnsetType = UNSET
    currency: Text | UnsetType = UNSET
    terminal: Text | UnsetType = UNSET
    postLink: Text | UnsetType = UNSET
    failurePostLink: Text | UnsetType = UNSET
    secret_hash: Text | UnsetType = UNSET


class CardId(Request):
    """A saved card, as every working integration sends it."""

    id: Text


class OrderExtras(Request, kw_only=True):
    """The optional fields every way to pay shares (cards/auth, cryptopay, the payment page): the payer
    (`accountId`, `name`, `email`, `phone`, `language`), the merchant's second invoice id, where the
    buyer and the callbacks go, and free `data`. Declared after each shape's own fields."""

    accountId: Text | UnsetType = UNSET
    name: Text | UnsetType = UNSET
    email: Text | UnsetType = UNSET
    phone: Text | UnsetType = UNSET
    language: Text | UnsetType = UNSET
    invoiceIdAlt: Text | UnsetType = UNSET
    backLink: Text | UnsetType = UNSET
    failureBackLink: Text | UnsetType = UNSET
    postLink: Text | UnsetType = UNSET
    failurePostLink: Text | UnsetType = UNSET
    data: Any = UNSET


class CardPaymentRequest(OrderExtras):
    """`payments/cards/auth`: pay with a saved card (spec 8.5). `terminalId` is also read as `terminal`,
    `cardId` as `cardid` / `cardID` and may be a bare string (RU doc table); backLink / failureBackLink
    are any absolute URI except javascript:, data:, vbscript:, blob:, filesystem: and about:."""

    amount: TextOrNumber
    currency: Text
    terminalId: Text
    invoiceId: Text
    description: str
    cardId: CardId | Text
    paymentType: Literal["cardId"] | UnsetType = UNSET
    recurrent: bool | str | UnsetType = UNSET


# How each field's own check words a value of the wrong JSON type (the text after "field 'x' ").
TOKEN_TYPE_MESSAGES = {
    "grant_type": "must be 'client_credentials', got {value!r}",
    "invoiceID": "must be a string of 6 to 15 digits",
    "amount": "must be a number",
}
CARD_PAYMENT_TYPE_MESSAGES = {
    "paymentType": "must be 'cardId', got {value!r}",
    "invoiceId": "must be a string of 6 to 15 digits",
    "invoiceIdAlt": "must be a string of 6 to 15 digits",
    "amount": "must be a number",
    "cardId": "must be an object with an 'id' or a string",
    "recurrent": "must be a boolean (true or false)",
}


# Each declared field and the other spellings the bank (or a client library) uses for it.
TOKEN_SPELLINGS: dict[str, tuple[str, ...]] = {
    "invoiceID": ("InvoiceID", "invoiceId"),
    "currency": ("curency",),
    "terminal": ("terminalId",),
}
CARD_PAYMENT_SPELLINGS: dict[str, tuple[str, ...]] = {
    "terminalId": ("terminal",),
    "cardId": ("cardid", "cardID"),
}
# Fields where an empty value gives way to the next spelling (the token form's `terminal=&terminalId=...`).
_BLANK_FALLS_THROUGH = frozenset({"terminal"})


class Normalised(dict[str, Any]):
    """A body with every spelling folded onto its declared name; `spelled[name]` is the key the client
    used (error messages name the field as the client wrote it)."""

    spelled: dict[str, str]

    def spelling(self, name: str) -> str:
        return self.spelled.get(name, name)


_OTHERS_KEPT = 32
_OTHERS: dict[int, tuple[dict[str, tuple[str, ...]], frozenset[str]]] = {}


def _other_spellings(spellings: dict[str, tuple[str, ...]]) -> frozenset[str]:
    """Every other spelling of `spellings` (remembered per table: the tables are module constants)."""
    if not spellings:
        return frozenset()
    known = _OTHERS.get(id(spellings))
    if known is None or known[0] is not spellings:
        known = (spellings, frozenset(other for others in spellings.values() for other in others))
        if len(_OTHERS) < _OTHERS_KEPT:  # a table built per call is not kept
            _OTHERS[id(spellings)] = known
    return known[1]


def normalise(body: dict[str, Any], spellings: dict[str, tuple[str, ...]],
              blank_falls_through: frozenset[str] = _BLANK_FALLS_THROUGH) -> Normalised:
    """`body` with each other spelling folded onto its declared name; the first present spelling wins
    (an empty one gives way for the fields of `blank_falls_through`). A JSON `null` means the field
    is absent, as the bank reads it."""
    present = body if None not in body.values() else {k: v for k, v in body.items() if v is not None}
    folded = Normalised(present)
    if _other_spellings(spellings).isdisjoint(present):  # the usual body: every field as declared
        folded.spelled = {name: name for name in spellings
                          if name in present and not (name in blank_falls_through and present[name] == "")}
        return folded
    folded.spelled = {}
    for name, others in spellings.items():
        for spelling in (name, *others):
            if spelling not in folded:
                continue
            if name in blank_falls_through and folded[spelling] == "":
                continue
            for other in others:
                folded.pop(other, None)
            folded[name] = body[spelling]  # popped above when it was another spelling
            folded.spelled[name] = spelling
            break
    return folded


def normalise_token_request(form: dict[str, Any]) -> Normalised:
    """The token form with `InvoiceID`/`invoiceId`, `curency` and `terminalId` under their declared names,
    and `grant_type` without surrounding spaces (form fields are read trimmed)."""
    folded = normalise(form, TOKEN_SPELLINGS)
    if isinstance(folded.get("grant_type"), str):
        folded["grant_type"] = folded["grant_type"].strip()
    return folded


def in_declared_token_spellings(form: dict[str, Any]) -> bool:
    """True when the token form needs no folding: no other spelling, `grant_type` as it must be."""
    return (form.get("grant_type") == "client_credentials"
            and _other_spellings(TOKEN_SPELLINGS).isdisjoint(form))


def given(value: Any) -> Any:
    """A decoded field's value, None when the client left it out."""
    return None if value is UNSET else value


def normalise_card_payment(body: dict[str, Any]) -> Normalised:
    """The cards/auth body with `terminal` and `cardid`/`cardID` under their declared names."""
    return normalise(body, CARD_PAYMENT_SPELLINGS)


class OperationAmountRequest(Request):
    """The optional JSON body of `POST /operation/{id}/charge|cancel|refund`: the amount (a number or a
    numeric string, at least 10 tenge for a refund) and the merchant's refund id (also `externalId`,
    `externalid`); both may instead come from the query. No body means the full amount."""

    amount: TextOrNumber | None | UnsetType = UNSET
    externalID: Text | None | UnsetType = UNSET


class ConfirmPaymentRequest(Request):
    """The form the issuer's ACS posts to the TermUrl: `MD` (the transaction id) and `PaRes` (Y / N)."""

    MD: str | UnsetType = UNSET
    PaRes: str | UnsetType = UNSET


class AcsRequest(Request):
    """The form that opens the mock ACS page (the `secure3D` answer's fields): MD, PaReq, TermUrl."""

    MD: str | UnsetType = UNSET
    PaReq: str | UnsetType = UNSET
    TermUrl: str | UnsetType = UNSET


OPERATION_SPELLINGS: dict[str, tuple[str, ...]] = {"externalID": ("externalId", "externalid")}
OPERATION_TYPE_MESSAGES = {"amount": "must be a number"}
_EXTERNAL_ID_SPELLINGS = ("externalID", *OPERATION_SPELLINGS["externalID"])


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def normalise_operation(fields: Mapping[str, Any]) -> dict[str, Any]:
    """An operation's body (or query) with `externalId` / `externalid` folded onto `externalID`: the
    first spelling with a value wins. A blank value (null, "", spaces) is absent; other keys are dropped."""
    if not fields:
        return {}
    folded: dict[str, Any] = {}
    amount = fields.get("amount")
    if not _blank(amount):
        folded["amount"] = amount
    for spelling in _EXTERNAL_ID_SPELLINGS:
        value = fields.get(spelling)
        if not _blank(value):
            folded["externalID"] = value
            break
    return folded
