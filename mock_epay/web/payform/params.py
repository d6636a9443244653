"""The hosted payment page's input: decoding `?params=`, reading the payment object, checking the card form.

`decode_params` undoes what `payment-api.js` does (spec 4.1): LZString URI-safe
decompression, then `key=encodeURIComponent(value)` pairs joined by `&`, where a nested
object (such as `auth`) is itself such a string, URI-encoded as one value. A JSON object
is accepted too. `read_payment_object` turns the fields into a `PaymentObject`, and
`check_token` binds it to the payment token in `auth`. `validate_card_form` checks
what the buyer typed. Every problem is a `PageError` with a message for a person.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import date
from typing import Any
from urllib.parse import quote, unquote

import msgspec

from mock_epay.core.lzstring import (
    LZStringError,
    compress_to_encoded_uri_component,
    decompress_from_encoded_uri_component,
)
from mock_epay.core.pan import luhn_valid
from mock_epay.gateway import sandbox_cards
from mock_epay.gateway.errors import EpayError, bad_request
from mock_epay.gateway.models import Token, TokenKind
from mock_epay.gateway.tokens import token_mismatches
from mock_epay.web.readers import (
    decode_json,
    optional_str,
    parse_amount,
    parse_back_link,
    parse_bool,
    parse_currency,
    parse_description,
    parse_invoice_id,
    parse_language,
    parse_str,
    parse_url,
    require,
)
from mock_epay.wire.bank_requests import Normalised, given
from mock_epay.wire.decode import Explain, decode_explained
from mock_epay.wire.payform import PaymentPageRequest, normalise_payment_object

_URI_COMPONENT_SAFE = "-_.!~*'()"  # what encodeURIComponent leaves alone (besides letters, digits)
MAX_PARAMS_CHARS = 64 * 1024
MAX_DECODED_CHARS = 256 * 1024
PAYMENT_TYPES = ("", "cardId", "cardVerification")
DEFAULT_AUTOPAY_MS = 300
MAX_AUTOPAY_MS = 60_000


class PageError(Exception):
    """The page cannot be shown or the payment cannot start; `message` is shown to the person."""

    def __init__(self, message: str, status: int = 400, title: str = "The payment cannot be opened") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.title = title


# -- ?params= ----------------------------------------------------------------------


def _js_value(value: Any) -> str:
    """A value as JavaScript's String() writes it (true, 100, 1500.5)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def encode_params(obj: dict[str, Any]) -> str:
    """What payment-api.js's encodeParams makes of a payment object (nested objects recurse)."""
    parts = []
    for key, value in obj.items():
        if key == "":
            continue
        text = encode_params(value) if isinstance(value, dict) else _js_value(value)
        parts.append(key + "=" + quote(text, safe=_URI_COMPONENT_SAFE))
    return "&".join(parts)


def payform_url(page_url: str, payment_object: dict[str, Any], *, widget: bool = False) -> str:
    """The page address `halyk.pay` (or, with `widget`, `showPaymentWidget`) opens for this object."""
    params = compress_to_encoded_uri_component(encode_params(payment_object))
    return f"{page_url}?params={params}" + ("&isShortForm=true" if widget else "")


def parse_pairs(text: str) -> dict[str, str]:
    """`a=1&b=x%20y` -> {"a": "1", "b": "x y"}; `+` stays a plus (encodeURIComponent never emits it)."""
    fields: dict[str, str] = {}
    for part in text.split("&"):
        if not part:
            continue
        key, _, value = part.partition("=")
        key = unquote(key)
        if key and key not in fields:
            fields[key] = unquote(value)
    return fields


def decode_params(raw: str) -> dict[str, Any]:
    """The payment object packed into `?params=` by `halyk.pay` / `showPaymentWidget`."""
    if not raw or not raw.strip():
        raise PageError("the page address has no 'params' (it is built by halyk.pay or showPaymentWidget)")
    if len(raw) > MAX_PARAMS_CHARS:
        raise PageError(f"'params' is longer than {MAX_PARAMS_CHARS} characters")
    try:
        text = decompress_from_encoded_uri_component(raw.strip(), max_output=MAX_DECODED_CHARS)
    except LZStringError as exc:
        raise PageError(f"'params' is not LZString compressToEncodedURIComponent output: {exc}") from exc
    if text.lstrip().startswith("{"):
        try:
            data = decode_json(text)
        except EpayError as exc:
            raise PageError(f"'params' holds {exc.message}") from exc
        if not isinstance(data, dict):
            raise PageError("'params' must hold an object")
        return data
    if "=" not in text:
        raise PageError("'params' decodes to text that is not key=value pairs")
    return dict(parse_pairs(text))


def nested(value: Any) -> Any:
    """A nested object flattened by encodeParams (`access_token=...&scope=...`) as a dict; else as is."""
    if isinstance(value, str) and "=" in value and not value.lstrip().lower().startswith("bearer "):
        pairs = parse_pairs(value)
        if pairs:
            return pairs
    return value


# -- the payment object ------------------------------------------------------------


class AutoPay(msgspec.Struct, frozen=True):
    """Unattended mode: the page pays by itself with `card` after `after_ms`."""

    card: str
    after_ms: int = DEFAULT_AUTOPAY_MS
    expiry: str = ""
    cvc: str = ""
    otp: str = ""  # code for a 3-D Secure step; empty means the right one


class PaymentObject(msgspec.Struct, frozen=True):
    invoice_id: str
    amount: float
    currency: str
    terminal_id: str
    access_token: str
    description: str = ""
    invoice_id_alt: str = ""
    back_link: str | None = None
    failure_back_link: str | None = None
    post_link: str | None = None
    failure_post_link: str | None = None
    language: str = "RU"
    account_id: str = ""
    name: str = ""
    email: str = ""
    phone: str = ""
    data: str = ""
    card_save: bool = False
    payment_type: str = ""
    card_id: str = ""
    recurrent: bool = False
    scenario: str | None = None
    auto_pay: AutoPay | None = None

    @property
    def is_verification(self) -> bool:
        return self.payment_type == "cardVerification"

    @property
    def saves_card(self) -> bool:
        """`cardSave: true`, or a card verification (which exists to save the card); an absent
        accountId saves the card under an empty one, it never drops it."""
        return self.card_save or self.is_verification


def access_token_of(value: Any) -> str:
    """The access token from `auth`: the token response object, a bare token or "Bearer <token>"."""
    value = nested(value)
    if isinstance(value, dict):
        value = value.get("access_token") or value.get("accessToken") or ""
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise PageError("field 'auth' must be the token response object or an access token")
    text = str(value).strip()
    if text.lower().startswith("bearer "):
        text = text[7:].strip()
    if not text:
        raise PageError("field 'auth' holds no access_token (pass the token response object as auth)")
    return text


def _card_id_of(value: Any) -> str:
    value = nested(value)
    if isinstance(value, dict):
        value = value.get("id", "")
    return str(value or "").strip()


def _payment_type(value: Any) -> str:
    payment_type = str(value or "").strip()
    if payment_type not in PAYMENT_TYPES:
        raise PageError(
            f"field 'paymentType' must be 'cardId' or 'cardVerification', got {payment_type[:40]!r}"
        )
    return payment_type


def read_auto_pay(fields: dict[str, Any], query: dict[str, str]) -> AutoPay | None:
    """`autoPay` from the payment object, or `mockAutoPay` (+ `mockAutoPayMs`) from the page URL."""
    raw = nested(fields.get("autoPay"))
    if isinstance(raw, str) and raw:
        raw = {"card": raw}
    if not isinstance(raw, dict) and query.get("mockAutoPay"):
        raw = {"card": query["mockAutoPay"], "afterMs": query.get("mockAutoPayMs", "")}
    if not isinstance(raw, dict) or not raw.get("card"):
        return None
    after = str(raw.get("afterMs", "")).strip()
    after_ms = int(after) if after.isdigit() else DEFAULT_AUTOPAY_MS
    return AutoPay(
        card=re.sub(r"[\s-]", "", str(raw["card"])),
        after_ms=min(after_ms, MAX_AUTOPAY_MS),
        expiry=str(raw.get("expiry", "")),
        cvc=str(raw.get("cvc", "")),
        otp=str(raw.get("otp", "")),
    )


def read_payment_object(
    fields: dict[str, Any], query: dict[str, str] | None = None, *, strict_invoice_id: bool = True
) -> PaymentObject:
    """Validate the decoded payment object (spec 4.2); field names are tolerated as in spec 10."""
    query = query or {}
    try:
        return _read_payment_object(fields, query, strict_invoice_id)
    except EpayError as exc:
        raise PageError(exc.message) from exc


# Each field's own check, as (value, the field's name as the client spelled it): what the page reads
# from the decoded object, and what words the error when the declaration refuses a value's JSON type.
_CHECKS: dict[str, Callable[[Any, str], Any]] = {
    "invoiceId": parse_invoice_id,
    "invoiceIdAlt": parse_invoice_id,
    "amount": lambda value, field: parse_amount(value, field, allow_zero=True),
    "terminal": lambda value, field: parse_str(require(value, field), field),
    "auth": lambda value, field: access_token_of(require(value, field)),
    "currency": parse_currency,
    "description": lambda value, field: parse_description(value, field, required=False),
    "backLink": parse_back_link,
    "failureBackLink": parse_back_link,
    "postLink": parse_url,
    "failurePostLink": parse_url,
    "language": parse_language,
    "cardSave": parse_bool,
    "recurrent": parse_bool,
    "paymentType": lambda value, field: _payment_type(value),
}
_TYPE_PROBLEMS = {  # fields without a check of their own that words a value of the wrong JSON type
    "cardId": "must be an object with an 'id' or a string",
    "autoPay": "must be a card number or an object with 'card'",
}


def _page_problem(spelled: Normalised) -> Explain:
    """Words a field the declaration refused as that field's own check does (`_CHECKS`)."""
    def explain(field: str, value: Any) -> EpayError:
        name = spelled.spelling(field)
        try:
            if field not in _TYPE_PROBLEMS:
                _CHECKS.get(field, optional_str)(value, name)
        except (EpayError, PageError) as exc:
            return bad_request(exc.message)
        return bad_request(f"field {name!r} {_TYPE_PROBLEMS.get(field, 'must be a string')}")
    return explain


def _read_payment_object(fields: dict[str, Any], query: dict[str, str], strict: bool) -> PaymentObject:
    folded = normalise_payment_object(fields)
    given_object = decode_explained(PaymentPageRequest, folded, _page_problem(folded))
    obj = {name: given(getattr(given_object, name)) for name in PaymentPageRequest.__struct_fields__}
    spelling = folded.spelling
    access_token = _CHECKS["auth"](obj["auth"], spelling("auth"))
    payment_type = _payment_type(obj["paymentType"])
    alt, data, scenario = obj["invoiceIdAlt"], obj["data"], obj["mockScenario"] or query.get("mockScenario")
    payment = PaymentObject(
        invoice_id=parse_invoice_id(obj["invoiceId"], spelling("invoiceId"), strict=strict),
        amount=_CHECKS["amount"](obj["amount"], "amount"),
        currency=parse_currency(obj["currency"] or "KZT"),
        terminal_id=_CHECKS["terminal"](obj["terminal"], spelling("terminal")),
        access_token=access_token,
        description=parse_description(obj["description"] or "", required=False),
        invoice_id_alt=parse_invoice_id(alt, "invoiceIdAlt", strict=strict) if alt else "",
        back_link=parse_back_link(obj["backLink"], "backLink"),
        failure_back_link=parse_back_link(obj["failureBackLink"], "failureBackLink"),
        post_link=parse_url(obj["postLink"], "postLink"),
        failure_post_link=parse_url(obj["failurePostLink"], "failurePostLink"),
        language=parse_language(obj["language"]),
        account_id=optional_str(obj["accountId"], "accountId", max_length=128),
        name=optional_str(obj["name"], "name", max_length=128),
        email=optional_str(obj["email"], "email", max_length=256),
        phone=optional_str(obj["phone"], "phone", max_length=32),
        data=data if isinstance(data, str) else (json.dumps(data) if data is not None else ""),
        card_save=parse_bool(obj["cardSave"], "cardSave"),
        payment_type=payment_type,
        card_id=_card_id_of(obj["cardId"]),
        recurrent=parse_bool(obj["recurrent"], "recurrent"),
        scenario=str(scenario) if scenario else None,
        auto_pay=read_auto_pay(obj, query),
    )
    if payment.payment_type == "cardId" and not payment.card_id:
        raise PageError("paymentType 'cardId' needs the saved card's id in field 'cardId'")
    if payment.amount == 0 and not payment.is_verification:
        raise PageError("field 'amount' must be positive (amount 0 is for paymentType 'cardVerification')")
    return payment


def check_token(payment: PaymentObject, token: Token) -> None:
    """The payment token in `auth` must be for this invoice, amount, currency and terminal."""
    if token.kind is not TokenKind.PAYMENT:
        raise PageError(
            "the token in 'auth' is a service token; the page needs a payment token "
            "(requested with invoiceID, amount, currency and terminal)", status=401,
        )
    found = token_mismatches(token, invoice_id=payment.invoice_id, amount=payment.amount,
                             currency=payment.currency, terminal_id=payment.terminal_id)
    mismatches = [f"{m.name} {m.given} vs the token's {m.bound}" for m in found]
    if mismatches:
        raise PageError(
            "the payment object does not match its token: " + "; ".join(mismatches), status=400
        )


# -- the card form -----------------------------------------------------------------


class CardForm(msgspec.Struct, frozen=True):
    pan: str
    expiry: str  # normalised MM/YY
    cvc: str
    holder: str
    email: str
    phone: str


_HOLDER_RE = re.compile(r"^[A-Za-z][A-Za-z .'\-]{0,63}$")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def normalise_expiry(text: str) -> str:
    """`1/27`, `01 / 27`, `0127`, `01/2027` -> `01/27`; anything else unchanged (and invalid)."""
    compact = re.sub(r"\s", "", text)
    match = re.fullmatch(r"(\d{1,2})/?(\d{2}|\d{4})", compact)
    if not match:
        return compact
    month, year = match.groups()
    return f"{int(month):02d}/{year[-2:]}"


def validate_card_form(form: dict[str, str], today: date) -> tuple[CardForm, dict[str, str]]:
    """The typed card data and a dict field -> message for everything wrong with it."""
    errors: dict[str, str] = {}
    pan = re.sub(r"[\s-]", "", form.get("cardNumber", ""))
    if not pan:
        errors["cardNumber"] = "Enter the card number"
    elif not pan.isdigit() or not 12 <= len(pan) <= 19:
        errors["cardNumber"] = "The card number must be 12 to 19 digits"
    elif not luhn_valid(pan):
        errors["cardNumber"] = "This card number is not valid (check digit mismatch); check for a typo"
    expiry = normalise_expiry(form.get("expiry", ""))
    if not expiry:
        errors["expiry"] = "Enter the expiry date as MM/YY"
    elif sandbox_cards.parse_expiry(expiry) is None:
        errors["expiry"] = "The expiry date must be MM/YY with a month from 01 to 12"
    elif sandbox_cards.find(pan) is None and sandbox_cards.expiry_passed(expiry, today):
        errors["expiry"] = "This card has expired (the expiry date is in the past)"
    cvc = form.get("cvc", "").strip()
    cvc_length = 4 if pan[:2] in ("34", "37") else 3
    if not cvc:
        errors["cvc"] = "Enter the CVC code from the back of the card"
    elif not cvc.isdigit() or len(cvc) != cvc_length:
        errors["cvc"] = f"The CVC must be {cvc_length} digits"
    holder = " ".join(form.get("holder", "").split())
    if holder and not _HOLDER_RE.match(holder):
        errors["holder"] = "Write the cardholder's name in Latin letters, as on the card"
    email = form.get("email", "").strip()
    if email and (len(email) > 256 or not _EMAIL_RE.match(email)):
        errors["email"] = "This e-mail address does not look right"
    phone = re.sub(r"[\s()+-]", "", form.get("phone", ""))
    if phone and (not phone.isdigit() or not 10 <= len(phone) <= 15):
        errors["phone"] = "The phone number must be 10 to 15 digits"
    return CardForm(pan, expiry, cvc, holder.upper(), email, phone), errors
