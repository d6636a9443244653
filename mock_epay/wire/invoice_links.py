"""Invoice-link and outbox shapes (spec §3): the link request and answer, the search, outbox messages.

The link request and answer are snake_case as the bank's; the search request's `paging`,
`searchParameters`, `orderParameters` and its answer's `TotalCount` / `Records` are camel and
PascalCase (spec 3.9). `normalise_link_request` and `normalise_search` are the one normalisation
step of each request. `inline` turns a shape into an OpenAPI schema for the route docs attached
in web/bank/invoice_links.py and web/admin/outbox.py.
"""

from __future__ import annotations

from typing import Any

import msgspec

from mock_epay.wire.bank_requests import Request, Text, TextOrNumber
from mock_epay.wire.decode import absent_nulls
from mock_epay.wire.shape import UNSET, Shape, UnsetType

Scalar = str | int | float


class LinkRequest(Request):
    """`POST /invoice` (spec 3.2). `currency` defaults to KZT and `expire_period` to `1d` (§3.5 grammar);
    the four link fields and the two back links are http(s) URLs, empty meaning none; `card_save` is
    a boolean or "true" / "false"; the contacts are optional (a present `recipient_contact_sms` must be
    `+7` and 10 digits)."""

    shop_id: Text
    invoice_id: Text
    amount: TextOrNumber
    account_id: Text = ""
    currency: Text = "KZT"
    language: Text = ""
    description: Text = ""
    expire_period: Text = "1d"
    recipient_contact: Text = ""
    recipient_contact_sms: Text = ""
    notifier_contact: Text = ""
    notifier_contact_sms: Text = ""
    invoice_alt: Text = ""
    post_link: Text = ""
    failure_post_link: Text = ""
    back_link: Text = ""
    failure_back_link: Text = ""
    card_save: bool | str = False
    data: str = ""


LINK_TYPE_MESSAGES = {
    "invoice_id": "must be a string of 6 to 15 digits",
    "amount": "must be a number",
    "card_save": "must be a boolean (true or false)",
}
_BLANK_MEANS_DEFAULT = ("currency", "expire_period")


def normalise_link_request(body: dict[str, Any]) -> dict[str, Any]:
    """The link body as its declaration reads it: `null` is absent, and so is an empty (falsy) `currency`
    or `expire_period` (their defaults apply)."""
    return absent_nulls(body, _BLANK_MEANS_DEFAULT)


class Paging(Request):
    """One page of a search: `{skip, limit}` (spec 3.9) or `{page, size}` (page is an offset, as for
    statements); whole numbers or digit strings; at most 1000 rows."""

    skip: int | str | None | UnsetType = UNSET
    limit: int | str | None | UnsetType = UNSET
    page: int | str | None | UnsetType = UNSET
    size: int | str | None | UnsetType = UNSET


class SearchParameter(Request):
    """One filter: a record field, a method (`=`, `in`, `like`, `between`, `<`, `>`, `<=`, `>=`) and its
    values (an array, or one value; `between` takes two, `like` a pattern with `%` or `_`)."""

    name: str
    method: str
    searchParameter: list[Scalar] | Scalar


class OrderParameter(Request):
    """The sort: a record field and ASC (default) or DESC."""

    field: str
    typeOrder: str | None | UnsetType = UNSET


class LinkSearchRequest(Request):
    """`POST /invoice-links` (spec 3.9): every part optional (no filter: every link of the merchant);
    `orderParameters` may be one object or an array (its first entry sorts; a `null` one: no sort)."""

    paging: Paging | UnsetType = UNSET
    searchParameters: list[SearchParameter] | UnsetType = UNSET
    orderParameters: OrderParameter | list[OrderParameter | None] | UnsetType = UNSET


def normalise_search(body: dict[str, Any]) -> dict[str, Any]:
    """The search body as its declaration reads it: a `null` part is an absent one."""
    return absent_nulls(body)


class InvoiceLink(Shape):
    """200 of `POST /invoice`, and each record of `POST /invoice-links` (spec 3.3)."""

    id: str
    shop_id: str
    amount: float
    invoice_id: str
    invoice_alt: str
    language: str
    currency: str
    description: str
    account_id: str
    recipient_contact: str
    recipient_contact_sms: str
    notifier_contact: str
    notifier_contact_sms: str
    expire_period: str
    post_link: str
    failure_post_link: str
    back_link: str
    failure_back_link: str
    created_date: str
    expire_date: str
    status: str
    updated_date: str
    invoice_url: str
    merchant_id: str
    terminal_id: str
    card_save: bool
    data: str


class InvoiceLinkPage(Shape):
    """200 of `POST /invoice-links`."""

    TotalCount: int
    Records: list[InvoiceLink]


class OutboxMessage(Shape):
    """One e-mail or SMS the bank would have sent (`GET /_mock/outbox`)."""

    id: str
    channel: str
    to: str
    text: str
    invoice_id: str
    invoice_url: str
    sent_at: str
    client_id: str
    link_id: str


class Outbox(Shape):
    """`GET /_mock/outbox`."""

    messages: list[OutboxMessage]


def inline(shape: type[msgspec.Struct]) -> dict[str, Any]:
    """The JSON Schema of `shape` with its nested shapes inlined (OpenAPI-ready)."""
    (schema,), components = msgspec.json.schema_components([shape], ref_template="{name}")
    resolved: dict[str, Any] = _resolve(schema, components)
    return resolved


def _resolve(node: Any, components: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        if "$ref" in node:
            return _resolve(components[node["$ref"]], components)
        return {k: _resolve(v, components) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolve(v, components) for v in node]
    return node


def under(prefix: str, doc: Any) -> Any:
    """The route doc `doc` for the same operation served under `prefix` (a unique operationId)."""
    def build() -> dict[str, Any]:
        op = doc()
        suffix = prefix.strip("/").replace("-", "_")
        return {**op, "operationId": f"{op['operationId']}_{suffix}",
                "summary": f"{op['summary']} [under {prefix}]"}

    return build
