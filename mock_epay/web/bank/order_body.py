"""The order and payer fields that every way to pay by API shares (cards/auth, cryptopay), checked once.

`OrderBody` is what a decoded payment body becomes before the way-specific fields (a saved card's id,
a cryptogram) are added by subclasses; `order_extras` checks the optional fields every payment
declaration inherits from `wire.bank_requests.OrderExtras` (the payer, the second invoice id, the
callbacks, free `data`).
"""

from __future__ import annotations

import json
from typing import Any

import msgspec

from mock_epay.web.readers import optional_str, parse_invoice_id, parse_language, parse_url
from mock_epay.wire.bank_requests import OrderExtras, given


class OrderBody(msgspec.Struct, frozen=True):
    """A validated payment body's order and payer (gateway.payments.OrderFields)."""

    amount: float
    currency: str
    terminal_id: str
    invoice_id: str
    description: str
    account_id: str
    invoice_id_alt: str
    name: str
    email: str
    phone: str
    language: str
    post_link: str | None
    failure_post_link: str | None
    data: str


def order_extras(decoded: OrderExtras, strict_invoice_id: bool) -> dict[str, Any]:
    """The optional order fields of a decoded payment body, each checked, as `OrderBody` keywords."""
    alt = given(decoded.invoiceIdAlt)
    data = given(decoded.data)
    return {
        "account_id": optional_str(given(decoded.accountId), "accountId", max_length=128),
        "invoice_id_alt": parse_invoice_id(alt, "invoiceIdAlt", strict=strict_invoice_id) if alt else "",
        "name": optional_str(given(decoded.name), "name", max_length=128),
        "email": optional_str(given(decoded.email), "email", max_length=256),
        "phone": optional_str(given(decoded.phone), "phone", max_length=32),
        "language": parse_language(given(decoded.language)),
        "post_link": parse_url(given(decoded.postLink), "postLink"),
        "failure_post_link": parse_url(given(decoded.failurePostLink), "failurePostLink"),
        "data": data if isinstance(data, str) else (json.dumps(data) if data is not None else ""),
    }
