"""Invoice links (spec §3): create, read (expiring and settling on the mock's clock), search, cancel.

`create_link` checks the shop, refuses a second live link for the same shop and invoice,
records the link and writes the bank's e-mail / SMS to the outbox. Reads go through
`current`, which moves an ACTIVE link to CHARGED once its invoice has a successful payment
(the buyer paid on the hosted page the link leads to) or to EXPIRED past `expire_date`,
each through one store call. `payment_token` issues the internal payment token the link
page hands to the payment page; its `source` makes the attempt an `invoice-link` one for
scenario rules. The answer shape is `link_json` (the snake_case object of §3.3).
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta
from typing import Any

import msgspec

from mock_epay.gateway import outbox
from mock_epay.gateway.errors import bad_request
from mock_epay.gateway.lifecycle import expires_at
from mock_epay.gateway.models import InvoiceLink, LinkStatus, Merchant, Token, TokenKind, evolve
from mock_epay.gateway.service import Gateway
from mock_epay.gateway.statements import like
from mock_epay.store.base import RecordConflict, duplicate_error

INVALID_PHONE = 1079  # the bank's code for a malformed recipient_contact_sms (spec 3.2)
EXPIRE_PERIOD_RE = re.compile(r"^(\d{1,6})([mhdw])$", re.IGNORECASE)
PHONE_RE = re.compile(r"^\+7\d{10}$")
UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
MAX_EXPIRE_SECONDS = 10 * 365 * 86400  # ten years, as far as the clock may jump at once (999999w overflowed)
ZERO_TIME = "0001-01-01T00:00:00Z"
TEXT_FIELDS = ("account_id", "invoice_alt", "language", "description", "recipient_contact",
               "recipient_contact_sms", "notifier_contact", "notifier_contact_sms", "post_link",
               "failure_post_link", "back_link", "failure_back_link", "data")
SOURCE = "invoice-link"


class LinkRequest(msgspec.Struct, frozen=True):
    """A parsed `POST /invoice` body (web/bank/invoice_links.py parses it)."""

    shop_id: str
    invoice_id: str
    amount: float
    currency: str
    expire_period: str
    card_save: bool
    texts: dict[str, str]


def expire_seconds(period: str) -> int:
    """`1d` -> 86400; m, h, d, w (any case); the 400 of spec 3.5 otherwise."""
    found = EXPIRE_PERIOD_RE.match(period.strip())
    if not found or int(found.group(1)) == 0:
        raise bad_request(f"invalid expire_period {period[:20]!r} (expected a number and m, h, d or w)", 100)
    seconds = int(found.group(1)) * UNIT_SECONDS[found.group(2).lower()]
    if seconds > MAX_EXPIRE_SECONDS:
        raise bad_request(f"invalid expire_period {period[:20]!r} (at most ten years)", 100)
    return seconds


def check_phone(phone: str) -> None:
    if phone and not PHONE_RE.match(phone):
        raise bad_request("invalid phone: recipient_contact_sms must be +7 followed by 10 digits",
                          INVALID_PHONE)


def _terminal_for_shop(merchant: Merchant, shop_id: str) -> str:
    """The merchant's terminal for `shop_id` (its own shop id, or leniently one of its terminal ids)."""
    if merchant.shop_id and shop_id == merchant.shop_id:
        return merchant.terminals[0].id
    if merchant.terminal(shop_id) is not None:
        return shop_id
    raise bad_request(f"unknown shop_id {shop_id[:64]!r} for this merchant")


def create_link(gateway: Gateway, token: Token, request: LinkRequest, url_base: str) -> InvoiceLink:
    """Record a new ACTIVE link and its outbox messages; `url_base` ends before `/redirect/...`."""
    merchant = gateway.store.merchant(token.client_id)
    if merchant is None:
        raise bad_request("unknown merchant")
    terminal_id = _terminal_for_shop(merchant, request.shop_id)
    check_phone(request.texts.get("recipient_contact_sms", ""))
    if gateway.store.invoice_succeeded(token.client_id, request.invoice_id):
        raise duplicate_error()
    now = gateway.clock.now()
    link_id = gateway.store.fake.uuid()
    url = f"{url_base}/redirect/invoice-link/{link_id}"
    texts = dict(request.texts)
    texts.setdefault("notifier_contact_sms", "")
    if not texts["notifier_contact_sms"]:  # both recorded answers echo the recipient's phone here
        texts["notifier_contact_sms"] = texts.get("recipient_contact_sms", "")
    link = InvoiceLink(
        id=link_id, client_id=token.client_id, shop_id=request.shop_id, terminal_id=terminal_id,
        invoice_id=request.invoice_id, amount=request.amount, currency=request.currency, created_at=now,
        expires_at=now + timedelta(seconds=expire_seconds(request.expire_period)),
        expire_period=request.expire_period,
        fields=(*((k, texts.get(k, "")) for k in TEXT_FIELDS), ("card_save", request.card_save),
                ("invoice_url", url), ("merchant_id", _merchant_uuid(merchant))),
        secret_hash=token.secret_hash,
    )
    link = gateway.store.insert_link(link, now)
    outbox.send_link(gateway, link, url, merchant.name)
    return link


def _merchant_uuid(merchant: Merchant) -> str:
    """A stable UUID-looking merchant id derived from the client id (the bank's `merchant_id`)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "mock-epay:merchant:" + merchant.client_id))


def current(gateway: Gateway, link: InvoiceLink) -> InvoiceLink:
    """`link` after what the clock and its invoice's payments say (CHARGED / EXPIRED written back)."""
    for _ in range(5):
        changed = _settled(gateway, link)
        if changed is None:
            return link
        try:
            written = gateway.store.replace_link(changed, link.version)
        except RecordConflict:
            link = gateway.store.find_link(link.id) or link
            continue
        if written.status is LinkStatus.CHARGED:
            outbox.notify_paid(gateway, written, str(written.field("invoice_url")))
        return written
    return link


def _settled(gateway: Gateway, link: InvoiceLink) -> InvoiceLink | None:
    if link.status is not LinkStatus.ACTIVE:
        return None
    tx = gateway.store.transaction_for_invoice(link.client_id, link.invoice_id)
    if tx is not None and tx.status.is_success and tx.created_at >= link.created_at:
        return evolve(link, status=LinkStatus.CHARGED, updated_at=tx.created_at, transaction_id=tx.id)
    now = gateway.clock.now()
    if link.expires_at <= now:
        return evolve(link, status=LinkStatus.EXPIRED, updated_at=link.expires_at)
    return None


def read_link(gateway: Gateway, client_id: str, link_id: str) -> InvoiceLink | None:
    link = gateway.store.link(client_id, link_id)
    return current(gateway, link) if link else None


def links(gateway: Gateway, client_id: str | None) -> list[InvoiceLink]:
    """Newest first, each current."""
    return [current(gateway, link) for link in gateway.store.links(client_id)]


def cancel(gateway: Gateway, link: InvoiceLink) -> InvoiceLink:
    """ACTIVE -> CANCELLED (the mock's admin action); 400 for a link that is no longer active."""
    link = current(gateway, link)
    if link.status is not LinkStatus.ACTIVE:
        raise bad_request(f"invoice link {link.id} is {link.status.value}, not ACTIVE")
    return gateway.store.replace_link(
        evolve(link, status=LinkStatus.CANCELLED, updated_at=gateway.clock.now()), link.version)


def payment_token(gateway: Gateway, link: InvoiceLink) -> Token:
    """The internal payment token the link page gives the payment page (bound like any payment token)."""
    ttl = gateway.settings.payment_token_ttl
    token = Token(
        access_token=gateway.store.fake.access_token(), client_id=link.client_id, kind=TokenKind.PAYMENT,
        scope="payment", expires_at=expires_at(gateway.clock.now(), ttl), expires_in=ttl,
        invoice_id=link.invoice_id, amount=link.amount, currency=link.currency,
        terminal_id=link.terminal_id, post_link=link.field("post_link") or None,
        failure_post_link=link.field("failure_post_link") or None, secret_hash=link.secret_hash,
        source=SOURCE,
    )
    gateway.store.add_token(token)
    return token


# -- the answer and the search -----------------------------------------------------------


def bank_time(moment: datetime | None) -> str:
    """RFC 3339 with 9 fractional digits and the Kazakhstan offset (`+05:00`), as the bank stamps links."""
    if moment is None:
        return ZERO_TIME
    text = moment.isoformat(timespec="microseconds")
    return text[:26] + "000" + text[26:]


def link_json(link: InvoiceLink) -> dict[str, Any]:
    """The §3.3 object, snake_case, in the recorded answer's order."""
    f = link.field
    return {
        "id": link.id, "shop_id": link.shop_id, "amount": _number(link.amount), "invoice_id": link.invoice_id,
        "invoice_alt": f("invoice_alt"), "language": f("language"), "currency": link.currency,
        "description": f("description"), "account_id": f("account_id"),
        "recipient_contact": f("recipient_contact"), "recipient_contact_sms": f("recipient_contact_sms"),
        "notifier_contact": f("notifier_contact"), "notifier_contact_sms": f("notifier_contact_sms"),
        "expire_period": link.expire_period, "post_link": f("post_link"),
        "failure_post_link": f("failure_post_link"), "back_link": f("back_link"),
        "failure_back_link": f("failure_back_link"), "created_date": bank_time(link.created_at),
        "expire_date": bank_time(link.expires_at), "status": link.status.value,
        "updated_date": bank_time(link.updated_at), "invoice_url": f("invoice_url"),
        "merchant_id": f("merchant_id"), "terminal_id": link.terminal_id,
        "card_save": bool(f("card_save", False)), "data": f("data"),
    }


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


METHODS = ("=", "in", "like", "between", "<", ">", "<=", ">=")


class Filter(msgspec.Struct, frozen=True):
    name: str
    method: str
    values: tuple[str, ...]


def _compare(value: Any, method: str, wanted: str) -> bool:
    left: Any
    right: Any
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            left, right = float(value), float(wanted)
        except ValueError:
            return False
    else:
        left, right = str(value), wanted
    return bool({"=": left == right, "<": left < right, ">": left > right,
                 "<=": left <= right, ">=": left >= right}[method])


def matches(record: dict[str, Any], flt: Filter) -> bool:
    if flt.name not in record:
        raise bad_request(f"unknown search parameter {flt.name[:40]!r}", 100)
    value = record[flt.name]
    if flt.method == "in":
        return str(value) in flt.values or any(_compare(value, "=", v) for v in flt.values)
    if flt.method == "like":
        return like(flt.values[0], str(value))
    if flt.method == "between":
        return _compare(value, ">=", flt.values[0]) and _compare(value, "<=", flt.values[1])
    return _compare(value, flt.method, flt.values[0])


def search(gateway: Gateway, client_id: str, filters: list[Filter], order: tuple[str, bool] | None,
           skip: int, limit: int) -> tuple[int, list[dict[str, Any]]]:
    """(TotalCount, Records) of this merchant's links; `order` is (field, descending)."""
    records = [link_json(link) for link in links(gateway, client_id)]
    found = [r for r in records if all(matches(r, f) for f in filters)]
    if order is not None:
        field, descending = order
        if records and field not in records[0]:
            raise bad_request(f"unknown order field {field[:40]!r}", 100)
        found.sort(key=lambda r: (str(r.get(field, "")) if not isinstance(r.get(field), int | float)
                                  else f"{float(r[field]):020.2f}"), reverse=descending)
    return len(found), found[skip:skip + limit]

