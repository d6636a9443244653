"""The product fuzzer's starting points: for each product route, a body it accepts and the token it needs.

Bodies follow the spec and the README walk-throughs; each base takes the fuzzing context (its
tokens, paid transactions, QR bill, transfer order and the served RSA key) and hypothesis's `draw`
for the variants a route has (P2P / AFT / OCT cards, the Cyrillic cryptogram key, amounts, ...).
A fresh invoice or order id per example keeps a success from making the next one a duplicate.
"""

from __future__ import annotations

import base64
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from mock_epay.core.rsa_keys import encrypt_with_public_pem
from mock_epay.settings import TEST_P2P_TERMINAL_ID, TEST_SHOP_ID, TEST_TERMINAL_ID
from tests.fuzz_mutations import dumps, hostile_text, mutated, mutations

VISA, MASTERCARD, LOCKED, SECURE3D = (
    "4405639704015096",
    "5522042705066736",
    "4003032704547597",
    "4000000000003220",
)
POST_LINK = "http://127.0.0.1:9/cb"
POST_LINK = "http://127.0.0.1:9/cb"
numbers = itertools.count(880_000_001)


# -- what each route starts from ---------------------------------------------------------------


@dataclass(frozen=True)
class Product:
    name: str
    method: str
    template: str  # the route as the router has it ({order} for a path value)
    encoding: str  # json | query | path | form
    base: Callable[[Any, Any], Any]  # (context, draw) -> a valid body tree
    token: str  # payment | transfer | password | service | page


def card_json(
    pan: str = VISA, exp: str = "0127", cvc: str = "321", terminal: str = TEST_TERMINAL_ID
) -> dict[str, Any]:
    return {"hpan": pan, "expDate": exp, "cvc": cvc, "terminalId": terminal}


def cryptopay_base(ctx: Any, draw: Any) -> dict[str, Any]:
    key = draw(st.sampled_from(["cryptogram", "cryptogram", "\u0441ryptogram"]))
    return {
        "amount": draw(st.sampled_from([100, 250, "100.50", 0])),
        "currency": "KZT",
        "name": "JON JONSON",
        key: draw(cryptograms(ctx)),
        "invoiceId": f"{next(numbers):09d}",
        "description": "fuzz payment",
        "accountId": "buyer-1",
        "email": "jj@example.com",
        "phone": "77777777777",
        "postLink": POST_LINK,
        "cardSave": draw(st.booleans()),
        "terminalId": TEST_TERMINAL_ID,
    }


@st.composite
def cryptograms(draw: st.DrawFn, ctx: Any) -> str:
    """A cryptogram: the card JSON (maybe mutated: bad Luhn, expiry, CVC, types) plain, base64 or
    RSA-encrypted with the served key; or random base64, or RSA-sized garbage."""
    kind = draw(st.sampled_from(["rsa", "rsa", "plain", "b64", "random", "rsa-garbage", "text"]))
    if kind == "random":
        return base64.b64encode(draw(st.binary(max_size=300))).decode()
    if kind == "rsa-garbage":
        return base64.b64encode(draw(st.binary(min_size=256, max_size=256))).decode()
    if kind == "text":
        return draw(hostile_text)
    card: Any = card_json(pan=draw(st.sampled_from([VISA, VISA, MASTERCARD, LOCKED, SECURE3D])))
    if draw(st.booleans()):
        bad = st.sampled_from(
            [
                ("hpan", "4405639704015097"),
                ("hpan", "44056397"),
                ("hpan", "\u0664" * 16),
                ("expDate", "1399"),
                ("expDate", "0120"),
                ("expDate", "1/27"),
                ("cvc", "12"),
                ("cvc", "12345"),
                ("cvc", 321),
                ("terminalId", "not-this-terminal"),
            ]
        )
        name, value = draw(bad)
        card[name] = value
    if draw(st.booleans()):
        card = mutated(card, draw(mutations(card, max_size=2)))
    text = dumps(card)
    if kind == "plain":
        return text
    raw = text.encode("utf-8", "surrogatepass")
    if kind == "b64" or len(raw) > 245:  # PKCS#1 v1.5 with a 2048-bit key holds at most 245 bytes
        return base64.b64encode(raw).decode()
    return base64.b64encode(encrypt_with_public_pem(ctx.public_pem, raw)).decode()


def subscribe_base(ctx: Any, draw: Any) -> dict[str, Any]:
    return {
        "transactionId": draw(st.sampled_from(ctx.paid)),
        "paymentFrequency": draw(st.sampled_from(["WEEKLY", "MONTHLY", "QUARTERLY"])),
    }


def invoice_base(ctx: Any, draw: Any) -> dict[str, Any]:
    return {
        "shop_id": TEST_SHOP_ID,
        "account_id": "7026207447",
        "invoice_id": f"{next(numbers):012d}",
        "amount": draw(st.sampled_from([1180, 100, "250.5"])),
        "currency": "KZT",
        "language": "rus",
        "description": "Order",
        "expire_period": draw(st.sampled_from(["1d", "30m", "2h", "1w"])),
        "recipient_contact": "buyer@example.com",
        "recipient_contact_sms": "+77022363206",
        "post_link": "https://shop.example/ok",
        "failure_post_link": "https://shop.example/fail",
        "back_link": "https://shop.example/paid",
        "card_save": False,
    }


def link_search_base(ctx: Any, draw: Any) -> dict[str, Any]:
    return {
        "paging": {"skip": 0, "limit": 10},
        "searchParameters": [
            {
                "name": "invoice_id",
                "method": draw(st.sampled_from(["=", "in", "like"])),
                "searchParameter": ["000000%"],
            }
        ],
        "orderParameters": {"field": "id", "typeOrder": "DESC"},
    }


def qr_base(ctx: Any, draw: Any) -> dict[str, Any]:
    return {
        "postLink": "https://shop.example/epay/ok",
        "failurePostLink": "https://shop.example/epay/fail",
        "description": "Consultation",
        "language": "ru",
        "accountId": "42",
        "payerEmail": "a@b.kz",
        "payerPhone": "77000000000",
    }


def qr_status_base(ctx: Any, draw: Any) -> dict[str, Any]:
    return {"billNumber": ctx.bill_number}


def party(kind: str, role: str, draw: Any) -> dict[str, Any]:
    if kind == "oct" and draw(st.booleans()):
        return {"transferType": "TYPEPHONE", "phone": "77001234567", "iin": "900101300123", "name": "IVAN"}
    if draw(st.integers(0, 4)) == 0:
        return {"transferType": "TYPECARDID", "cardCred": "e7e2587f-de26-4f41-ae1f-80c1fea31728"}
    card: dict[str, Any] = {
        "transferType": "TYPEPAN",
        "cardCred": VISA if role == "sender" else MASTERCARD,
        "save": False,
    }
    if role == "sender":
        card.update(cvc="321", expire={"month": "01", "year": "27"}, name="IVAN IVANOV")
    return card


def transfer_base(kind: str) -> Callable[[Any, Any], dict[str, Any]]:
    def base(ctx: Any, draw: Any) -> dict[str, Any]:
        cards = {
            role: party(kind, role, draw)
            for role in ("sender", "receiver")
            if (role == "sender" and kind != "oct") or (role == "receiver" and kind != "aft")
        }
        return {
            "order": {
                "amount": draw(st.sampled_from([200, 1000, "150.25"])),
                "currency": "KZT",
                "description": "TEST transfer",
                "id": f"{next(numbers)}",
                "terminalId": TEST_P2P_TERMINAL_ID,
                "senderEmail": "sender@example.com",
                "postLink": POST_LINK,
            },
            "card": cards,
        }

    return base


def p2p_status_base(ctx: Any, draw: Any) -> dict[str, Any]:
    return {"order": draw(st.sampled_from([ctx.transfer_order, "12345678937780"]))}


def statement_base(transfers: bool) -> Callable[[Any, Any], dict[str, Any]]:
    def base(ctx: Any, draw: Any) -> dict[str, Any]:
        name = draw(
            st.sampled_from(["invoice_id", "sender_card_mask" if transfers else "card_mask", "amount"])
        )
        method, values = {
            "invoice_id": ("in", ["000000777", ctx.transfer_order]),
            "amount": (">=", ["10"]),
        }.get(name, ("like", ["4405%"]))
        return {
            "paging": {"page": 0, "size": 10},
            "searchParameters": [
                {
                    "name": "created_date",
                    "method": "between",
                    "searchParameter": ["2020-01-01T00:00:00Z", "2100-01-01T00:00:00Z"],
                },
                {"name": name, "method": method, "searchParameter": values},
            ],
            "orderParameters": [
                {"field": "created_date", "typeOrder": draw(st.sampled_from(["ASC", "DESC"]))}
            ],
        }

    return base


def transfer_page_base(ctx: Any, draw: Any) -> dict[str, Any]:
    kind = draw(st.sampled_from(["p2p", "aft", "oct"]))
    payment = {
        "invoiceId": f"{next(numbers)}",
        "amount": 300,
        "currency": "KZT",
        "terminal": TEST_P2P_TERMINAL_ID,
        "description": "page transfer",
        "auth": {"access_token": ctx.tokens["transfer"]},
        "postLink": POST_LINK,
        "backLink": "https://shop.example/ok",
        "failureBackLink": "https://shop.example/fail",
    }
    form: dict[str, Any] = {"params": payment, "kind": kind}
    if kind != "oct":
        form.update(
            senderCard="4405 6397 0401 5096", senderExpiry="01/27", senderCvc="321", senderName="Ivan Ivanov"
        )
    if kind != "aft":
        by_phone = kind == "oct" and draw(st.booleans())
        form.update(
            {
                "receiverType": "phone",
                "receiverPhone": "+7 700 123 45 67",
                "receiverIin": "900101300123",
                "receiverName": "Ivan",
            }
            if by_phone
            else {"receiverType": "card", "receiverCard": MASTERCARD}
        )
    return form


PRODUCTS = [
    Product(name, method, prefix + path, encoding, base, token)
    for prefix in ("", "/api")
    for name, method, path, encoding, base, token in (
        ("cryptopay", "POST", "/payment/cryptopay", "json", cryptopay_base, "payment"),
        ("subscribe", "POST", "/recurrent/subscribe", "json", subscribe_base, "service"),
        ("invoice", "POST", "/invoice", "json", invoice_base, "password"),
        ("invoice-links", "POST", "/invoice-links", "json", link_search_base, "password"),
        ("qr-generate", "POST", "/payment/qr/generate", "json", qr_base, "payment"),
        ("qr-status", "GET", "/qr", "query", qr_status_base, "bill"),
        ("p2p", "POST", "/p2p/transfer", "json", transfer_base("p2p"), "transfer"),
        ("aft", "POST", "/chdebit/transfer", "json", transfer_base("aft"), "transfer"),
        ("oct", "POST", "/chpayment/transfer", "json", transfer_base("oct"), "transfer"),
        ("p2p-status", "GET", "/check-status/p2p/transaction/{order}", "path", p2p_status_base, "transfer"),
        ("operations", "POST", "/operations", "json", statement_base(False), "service"),
        ("p2p-operations", "POST", "/p2p/operations", "json", statement_base(True), "service"),
    )
] + [Product("transfer-page", "POST", "/payform/transfer", "form", transfer_page_base, "page")]
