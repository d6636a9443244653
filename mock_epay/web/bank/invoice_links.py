"""Invoice links (spec §3): `POST /invoice` and `POST /invoice-links`, with and without `/api`.

Handlers parse the snake_case body and answer; `mock_epay.gateway.invoice_links` decides
and records. Either a password-grant token or a client-credentials token is accepted; a
missing, unknown or expired one answers 401 with `Token is not valid` in its message (one
integration retries on that text).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from mock_epay.gateway import invoice_links
from mock_epay.gateway.errors import EpayError, bad_request, unauthorized
from mock_epay.gateway.invoice_links import Filter, LinkRequest
from mock_epay.gateway.models import Token
from mock_epay.web.app_keys import GATEWAY, SETTINGS
from mock_epay.web.client import bearer, public_base
from mock_epay.web.readers import (
    optional_str,
    parse_amount,
    parse_bool,
    parse_currency,
    parse_invoice_id,
    parse_str,
    parse_url,
    read_json_object,
    require,
)
from mock_epay.wire.bank_requests import given
from mock_epay.wire.decode import decode, decode_refusing
from mock_epay.wire.invoice_links import (
    LINK_TYPE_MESSAGES,
    InvoiceLink,
    InvoiceLinkPage,
    LinkSearchRequest,
    OrderParameter,
    Paging,
    SearchParameter,
    inline,
    normalise_link_request,
    normalise_search,
    under,
)
from mock_epay.wire.invoice_links import LinkRequest as LinkRequestShape
from mock_epay.wire.openapi_parts import (
    ANY_TOKEN,
    UNAUTHORIZED,
    error,
    operation,
    request_body,
    response,
)
from mock_epay.wire.render import json_response
from mock_epay.wire.shape import UNSET, UnsetType

URL_FIELDS = ("post_link", "failure_post_link", "back_link", "failure_back_link")
PLAIN_FIELDS = ("account_id", "invoice_alt", "language", "description", "recipient_contact",
                "recipient_contact_sms", "notifier_contact", "notifier_contact_sms", "data")
MAX_PAGE = 1000


def authenticate(request: web.Request) -> Token:
    try:
        return bearer(request)
    except EpayError as exc:
        raise unauthorized(f"Token is not valid: {exc.message}") from exc


def api_base(request: web.Request) -> str:
    """Where `invoice_url` points: this host, with `/api` when the request used it."""
    return public_base(request) + ("/api" if request.path.startswith("/api/") else "")


def parse_link_request(body: dict[str, Any], strict_invoice_id: bool) -> LinkRequest:
    """The body folded and decoded into its declaration (wire/invoice_links.py), then each value checked."""
    folded = normalise_link_request(body)
    link = decode(LinkRequestShape, folded, LINK_TYPE_MESSAGES, {})
    texts = {name: _text(getattr(link, name), name) for name in PLAIN_FIELDS}
    for name in URL_FIELDS:
        texts[name] = parse_url(getattr(link, name), name) or ""
    return LinkRequest(
        shop_id=parse_str(require(link.shop_id, "shop_id"), "shop_id", max_length=64),
        invoice_id=parse_invoice_id(link.invoice_id, "invoice_id", strict=strict_invoice_id),
        amount=parse_amount(link.amount, "amount"),
        currency=parse_currency(link.currency),
        expire_period=parse_str(link.expire_period, "expire_period", max_length=16),
        card_save=parse_bool(link.card_save, "card_save"),
        texts=texts,
    )


def _text(value: Any, name: str) -> str:
    """An optional text field; absent (the declared default "") costs no check."""
    return optional_str(value, name, max_length=1024) if value != "" else ""


async def create_invoice(request: web.Request) -> web.Response:
    token = authenticate(request)
    body = await read_json_object(request)
    link_request = parse_link_request(body, request.app[SETTINGS].strict_invoice_id)
    link = invoice_links.create_link(request.app[GATEWAY], token, link_request, api_base(request))
    return json_response(InvoiceLink(**invoice_links.link_json(link)))


def search_refusal(path: str) -> EpayError:
    """The bank's answer (code 100) to a search body whose part at `path` does not fit its declaration."""
    if path.startswith(("paging.skip", "paging.page")):
        return _not_a_count("paging.skip")
    if path.startswith(("paging.limit", "paging.size")):
        return _not_a_count("paging.limit")
    if path.startswith("searchParameters["):
        return bad_request("invalid search parameter", 100)
    if path.startswith("orderParameters") and path.endswith(".typeOrder"):
        return _wrong_direction()
    if path.startswith("orderParameters"):
        return bad_request("invalid order parameter", 100)
    wanted = {"paging": "an object", "searchParameters": "an array"}
    return bad_request(f"field {path!r} must be {wanted.get(path, 'an object')}", 100)


def _not_a_count(field: str) -> EpayError:
    return bad_request(f"field {field!r} must be a non-negative integer", 100)


def _wrong_direction() -> EpayError:
    return bad_request("typeOrder must be ASC or DESC", 100)


def _count(value: Any, field: str, default: int) -> int:
    if value in (None, "", UNSET):
        return default
    if (isinstance(value, str) and not value.strip().isdecimal()) or (isinstance(value, int) and value < 0):
        raise _not_a_count(field)
    return int(value)


def parse_paging(paging: Paging | UnsetType) -> tuple[int, int]:
    """(skip, limit) from `{skip, limit}` or `{page, size}` (page is an offset, as for statements)."""
    if paging is UNSET:
        return 0, MAX_PAGE
    skip = _count(paging.page if paging.skip is UNSET else paging.skip, "paging.skip", 0)
    limit = _count(paging.size if paging.limit is UNSET else paging.limit, "paging.limit", MAX_PAGE)
    return skip, min(limit, MAX_PAGE)


def parse_filters(raw: list[SearchParameter] | UnsetType) -> list[Filter]:
    found = []
    for item in [] if raw is UNSET else raw:
        values = item.searchParameter if isinstance(item.searchParameter, list) else [item.searchParameter]
        method = item.method
        arity_ok = {"between": len(values) == 2, "in": len(values) >= 1}.get(method, len(values) == 1)
        if method not in invoice_links.METHODS or not arity_ok \
                or (method == "like" and "%" not in str(values[0]) and "_" not in str(values[0])):
            raise bad_request("invalid search parameter", 100)
        found.append(Filter(item.name, method, tuple(str(v) for v in values)))
    return found


def parse_order(raw: OrderParameter | list[OrderParameter | None] | UnsetType) -> tuple[str, bool] | None:
    """`orderParameters` as one object or an array (its first entry)."""
    order = (raw[0] if raw else None) if isinstance(raw, list) else raw
    if order is None or isinstance(order, UnsetType):
        return None
    direction = str(given(order.typeOrder) or "ASC").upper()
    if direction not in ("ASC", "DESC"):
        raise _wrong_direction()
    return order.field, direction == "DESC"


async def search_links(request: web.Request) -> web.Response:
    token = authenticate(request)
    search = decode_refusing(LinkSearchRequest, normalise_search(await read_json_object(request)),
                             search_refusal)
    skip, limit = parse_paging(search.paging)
    total, records = invoice_links.search(request.app[GATEWAY], token.client_id,
                                          parse_filters(search.searchParameters),
                                          parse_order(search.orderParameters), skip, limit)
    return json_response(InvoiceLinkPage(TotalCount=total, Records=[InvoiceLink(**r) for r in records]))


# -- docs ----------------------------------------------------------------------------------

_EXAMPLE = {
    "shop_id": "04f25a4b-d2bd-4dd8-b3a7-9390be4774c4", "account_id": "7026207447",
    "invoice_id": "121738945359", "amount": 1180, "currency": "KZT", "language": "rus",
    "description": "Order #121738945359", "expire_period": "1d", "recipient_contact": "buyer@example.com",
    "recipient_contact_sms": "+77022363206", "post_link": "https://shop.example/epay/success",
    "failure_post_link": "https://shop.example/epay/failure", "back_link": "https://shop.example/paid",
}


def _create_doc() -> dict[str, Any]:
    body = request_body(LinkRequestShape, _EXAMPLE)
    return operation(
        "createInvoiceLink", "Create an invoice link (e-mail / SMS go to the mock's outbox)",
        ["invoice links"], {
            "200": response("The stored link; `invoice_url` opens the link page", inline(InvoiceLink)),
            "400": error("Validation; code 1079 for a malformed recipient_contact_sms, -1 for a second "
                         "live link of the same shop and invoice",
                         {"code": 1079, "message": "invalid phone"}),
            "401": UNAUTHORIZED,
        }, body=body, security=ANY_TOKEN)


def _search_doc() -> dict[str, Any]:
    example = {"paging": {"skip": 0, "limit": 1}, "searchParameters": [
        {"name": "invoice_id", "method": "=", "searchParameter": ["121738945359"]}],
        "orderParameters": {"field": "id", "typeOrder": "DESC"}}
    body = request_body(LinkSearchRequest, example)
    return operation(
        "searchInvoiceLinks", "Search this merchant's invoice links", ["invoice links"], {
            "200": response("TotalCount counts every match; Records is the page", inline(InvoiceLinkPage)),
            "400": error("A malformed search", {"code": 100, "message": "invalid search parameter"}),
            "401": UNAUTHORIZED,
        }, body=body, security=ANY_TOKEN)


def setup(app: web.Application, add_route: Any) -> None:
    add_route("POST", "/invoice", create_invoice, doc=_create_doc)
    add_route("POST", "/api/invoice", create_invoice, doc=under("/api", _create_doc))
    add_route("POST", "/invoice-links", search_links, doc=_search_doc)
    add_route("POST", "/api/invoice-links", search_links, doc=under("/api", _search_doc))
