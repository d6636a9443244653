"""Admin API for callbacks under `/_mock/`: the delivery log, replay, forged callbacks and waiting.

    GET  /_mock/deliveries?invoiceId=&transactionId=&status=&kind=&limit=   list, newest first
    GET  /_mock/deliveries/{id}                                           one delivery
    POST /_mock/deliveries/{id}/replay                                    send it again
    POST /_mock/callbacks/forge                                           send any body
    GET  /_mock/callbacks/wait?invoiceId=|transactionId=|deliveryId=&timeout=5

Forge and replay refuse a request that is itself a mock-epay callback (it carries
`X-Mock-Epay-Callback`): 403 in the bank's format plus `X-Mock-Epay-Refused`, which the
sending dispatcher records as a refused target instead of retrying. No loop can start.
"""

from __future__ import annotations

import math
from typing import Any

from aiohttp import web

from mock_epay.callbacks.delivery_log import Delivery, DeliveryKind, DeliveryStatus
from mock_epay.gateway.codes import GENERIC, NOT_FOUND
from mock_epay.gateway.errors import EpayError, bad_request
from mock_epay.gateway.models import Transaction
from mock_epay.web.app_keys import DISPATCHER, STORE
from mock_epay.web.readers import parse_limit, parse_url, read_json_object
from mock_epay.wire.admin import Deliveries
from mock_epay.wire.admin import Delivery as DeliveryShape
from mock_epay.wire.admin_requests import ForgeRequest
from mock_epay.wire.bank_requests import given
from mock_epay.wire.decode import decode_explained
from mock_epay.wire.render import json_response
from mock_epay.wire.route_docs import ADMIN_DOCS, lazy_doc
from mock_epay.wire.shape import UNSET, declared

MAX_WAIT_SECONDS = 60.0
DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000


def _query_choice(request: web.Request, name: str, allowed: type[DeliveryStatus] | type[DeliveryKind]) -> str:
    value = request.query.get(name, "")
    if value and value not in {item.value for item in allowed}:
        choices = ", ".join(item.value for item in allowed)
        raise bad_request(f"query parameter {name!r} must be one of {choices}, got {value!r}")
    return value


def _query_number(request: web.Request, name: str, default: float, maximum: float) -> float:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise bad_request(f"query parameter {name!r} must be a number, got {raw!r}") from None
    if not math.isfinite(value) or value < 0:
        raise bad_request(f"query parameter {name!r} must be a non-negative number, got {raw!r}")
    return min(value, maximum)


def _delivery_or_404(request: web.Request) -> Delivery:
    delivery_id = request.match_info["delivery_id"]
    delivery = request.app[DISPATCHER].get(delivery_id)
    if delivery is None:
        raise EpayError(404, NOT_FOUND, f"no delivery with id {delivery_id!r} in the delivery log")
    return delivery


async def list_deliveries(request: web.Request) -> web.Response:
    dispatcher = request.app[DISPATCHER]
    status = _query_choice(request, "status", DeliveryStatus)
    kind = _query_choice(request, "kind", DeliveryKind)
    limit = parse_limit(request.query.get("limit"), default=DEFAULT_LIMIT, maximum=MAX_LIMIT)
    found = dispatcher.select(
        invoice_id=request.query.get("invoiceId") or None,
        transaction_id=request.query.get("transactionId") or None,
        client_id=request.query.get("clientId") or None,
    )
    rows = [d for d in reversed(found) if (not status or d.status == status) and (not kind or d.kind == kind)]
    return json_response(declared(Deliveries, {"deliveries": [dispatcher.to_json(d) for d in rows[:limit]],
                                               "total": len(rows)}))


async def show_delivery(request: web.Request) -> web.Response:
    return json_response(_delivery(request.app[DISPATCHER], _delivery_or_404(request)))


async def replay_delivery(request: web.Request) -> web.Response:
    original = _delivery_or_404(request)
    if original.url is None:
        raise bad_request(f"delivery {original.id!r} has no target URL to replay to ({original.error})")
    dispatcher = request.app[DISPATCHER]
    return json_response(_delivery(dispatcher, dispatcher.replay(original)), status=202)


_FORGE_PROBLEMS = {
    "body": "field 'body' must be a JSON object, an array or a string (sent verbatim)",
    "overrides": "field 'overrides' must be a JSON object of callback fields",
    "omit": "field 'omit' must be a list of callback field names",
}


def _forge_problem(field: str, value: Any) -> EpayError:
    """A forge field of the wrong JSON type, worded as that field's own check words it."""
    if field == "url":
        try:
            parse_url(value, "url")
        except EpayError as exc:
            return exc
    return bad_request(_FORGE_PROBLEMS.get(field, f"field {field!r} must be a string"))


def _find_transaction(request: web.Request, asked: ForgeRequest) -> Transaction:
    store = request.app[STORE]
    client_id = given(asked.clientId)
    clients = [client_id] if isinstance(client_id, str) else [m.client_id for m in store.merchants()]
    invoice_id, transaction_id = given(asked.invoiceId), given(asked.transactionId)
    for client in clients:
        if transaction_id:
            tx = store.transaction(client, transaction_id)
        elif invoice_id is not None and str(invoice_id):
            tx = store.transaction_for_invoice(client, str(invoice_id))
        else:
            raise bad_request("give either 'url' and 'body', or 'invoiceId' / 'transactionId' to start from")
        if tx is not None:
            return tx
    raise EpayError(404, NOT_FOUND, f"no transaction for invoiceId {invoice_id!r} / "
                                    f"transactionId {transaction_id!r}")


async def forge_callback(request: web.Request) -> web.Response:
    """`{"url", "body"}`, or `{"invoiceId"|"transactionId", "overrides", "omit", "url"?}`."""
    asked = decode_explained(ForgeRequest, await read_json_object(request), _forge_problem)
    dispatcher = request.app[DISPATCHER]
    url = parse_url(given(asked.url), "url")
    if asked.body is not UNSET:
        if url is None:
            raise bad_request("field 'url' is required with 'body'")
        body = asked.body
        invoice = body.get("invoiceId", "") if isinstance(body, dict) else ""
        delivery = dispatcher.forge(url, body, client_id=str(given(asked.clientId) or ""),
                                    invoice_id=str(given(asked.invoiceId) or invoice or ""))
        return json_response(_delivery(dispatcher, delivery), status=202)
    tx = _find_transaction(request, asked)
    body = dispatcher.callback_body_for(tx)
    body.update(given(asked.overrides) or {})
    for key in given(asked.omit) or ():
        body.pop(key, None)
    target = url or dispatcher.target_for(tx)
    if target is None:
        raise bad_request(f"invoice {tx.invoice_id!r} has no postLink / failurePostLink; give 'url'")
    delivery = dispatcher.forge(target, body, client_id=tx.client_id, invoice_id=tx.invoice_id,
                                transaction_id=tx.id)
    return json_response(_delivery(dispatcher, delivery), status=202)


async def wait_for_callback(request: web.Request) -> web.Response:
    selector = {
        "invoice_id": request.query.get("invoiceId") or None,
        "transaction_id": request.query.get("transactionId") or None,
        "delivery_id": request.query.get("deliveryId") or None,
    }
    if not any(selector.values()):
        raise bad_request("give one of the query parameters 'invoiceId', 'transactionId' or 'deliveryId'")
    timeout = _query_number(request, "timeout", 5.0, MAX_WAIT_SECONDS)
    dispatcher = request.app[DISPATCHER]
    delivery = await dispatcher.wait_finished(timeout, client_id=request.query.get("clientId") or None,
                                              **selector)
    if delivery is None:
        what = ", ".join(f"{k}={v}" for k, v in request.query.items() if k != "timeout")
        found = dispatcher.select(client_id=request.query.get("clientId") or None, **selector)
        pending = sum(1 for d in found if not d.status.is_final)
        state = f"{pending} delivery(ies) still pending" if found else "no callback was queued for it"
        raise EpayError(408, GENERIC, f"no callback for {what} was delivered or failed within "
                                      f"{timeout:g} s ({state})")
    return json_response(_delivery(dispatcher, delivery))


def _delivery(dispatcher: Any, delivery: Delivery) -> DeliveryShape:
    return declared(DeliveryShape, dispatcher.to_json(delivery))


def setup(app: web.Application, add_route: Any) -> None:
    # no slash twin: `/_mock/deliveries/` is an empty delivery id
    add_route("GET", "/_mock/deliveries", list_deliveries, twin=False,
              doc=lazy_doc(ADMIN_DOCS, "list_deliveries"))
    add_route("GET", "/_mock/deliveries/{delivery_id}", show_delivery,
              doc=lazy_doc(ADMIN_DOCS, "show_delivery"))
    add_route("POST", "/_mock/deliveries/{delivery_id}/replay", replay_delivery,
              doc=lazy_doc(ADMIN_DOCS, "replay_delivery"))
    add_route("POST", "/_mock/callbacks/forge", forge_callback, doc=lazy_doc(ADMIN_DOCS, "forge_callback"))
    add_route("GET", "/_mock/callbacks/wait", wait_for_callback,
              doc=lazy_doc(ADMIN_DOCS, "wait_for_callback"))
