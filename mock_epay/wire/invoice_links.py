"""Invoice-link and outbox shapes (spec §3): the `POST /invoice` answer, the search, outbox messages.

The link answer is snake_case as the bank's; the search answer's `TotalCount` / `Records`
are PascalCase (spec 3.9). `inline` turns a flat shape into an OpenAPI schema for the
route docs attached in web/bank/invoice_links.py and web/admin/outbox.py.
"""

from __future__ import annotations

from typing import Any

import msgspec

from mock_epay.wire.shape import Shape


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


def inline(shape: type[Shape]) -> dict[str, Any]:
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
