"""Admin API for transactions and merchants under `/_mock/` (read-only).

    GET /_mock/transactions?clientId=&invoiceId=&status=&limit=   newest first
    GET /_mock/transactions/{id}                                   one, with history and deliveries
    GET /_mock/merchants                                           client ids, names, terminals

Shapes are the mock's own (camelCase, times in Asia/Almaty, card numbers masked), not the
bank's; merchants' secrets are never shown.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from aiohttp import web

from mock_epay.callbacks.delivery_log import Delivery
from mock_epay.gateway.codes import NOT_FOUND
from mock_epay.gateway.errors import EpayError, bad_request
from mock_epay.gateway.models import HistoryEntry, Merchant, Status, Transaction
from mock_epay.web.app_keys import DISPATCHER, STORE
from mock_epay.web.readers import parse_limit
from mock_epay.wire.admin import CallbackSummary, Merchants, Transactions
from mock_epay.wire.admin import Delivery as DeliveryShape
from mock_epay.wire.admin import HistoryEntry as HistoryShape
from mock_epay.wire.admin import Merchant as MerchantShape
from mock_epay.wire.admin import Terminal as TerminalShape
from mock_epay.wire.admin import Transaction as TransactionShape
from mock_epay.wire.render import amount_json, json_response, rfc3339
from mock_epay.wire.route_docs import ADMIN_DOCS, lazy_doc
from mock_epay.wire.shape import declared

DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000
STATUS_NAMES = tuple(status.value for status in Status)


# -- shapes --------------------------------------------------------------------------------


def delivery_summary(deliveries: list[Delivery]) -> CallbackSummary:
    """How many callbacks a transaction has and the state of the latest one."""
    latest = deliveries[-1] if deliveries else None
    return CallbackSummary(
        count=len(deliveries),
        attempts=sum(len(d.attempts) for d in deliveries),
        latestStatus=latest.status.value if latest else None,
    )


def transaction_json(tx: Transaction, deliveries: list[Delivery]) -> TransactionShape:
    card = tx.card
    return TransactionShape(
        id=tx.id,
        clientId=tx.client_id,
        invoiceId=tx.invoice_id,
        amount=amount_json(tx.amount),
        orgAmount=amount_json(tx.org_amount),
        chargedAmount=amount_json(tx.charged_amount),
        refundedAmount=amount_json(tx.refunded_amount),
        currency=tx.currency,
        status=tx.status,
        reasonCode=tx.reason_code,
        reason=tx.reason,
        terminalId=tx.terminal_id,
        accountId=tx.account_id,
        description=tx.description,
        cardMask=card.mask if card else None,
        cardType=card.card_type if card else None,
        cardId=tx.card_id,
        secure=tx.secure,
        createdDate=rfc3339(tx.created_at),
        source=tx.source,  # type: ignore[arg-type]  # "cards/auth" or "payform"
        callbacks=delivery_summary(deliveries),
    )


def history_json(entry: HistoryEntry) -> HistoryShape:
    return HistoryShape(at=rfc3339(entry.at), status=entry.status, amount=amount_json(entry.amount),
                        note=entry.note)


def merchant_json(merchant: Merchant) -> MerchantShape:
    return MerchantShape(
        clientId=merchant.client_id,
        name=merchant.name,
        callbackFormat=merchant.callback_format,  # type: ignore[arg-type]  # "current" or "legacy"
        callbacksAfterOperations=merchant.callbacks_after_operations,
        terminals=[
            TerminalShape(id=t.id, number=t.number, twoStage=t.two_stage,
                          autoCancelSeconds=t.auto_cancel_seconds)
            for t in merchant.terminals
        ],
        shopId=merchant.shop_id,
    )


# -- query parsing ---------------------------------------------------------------------------


def parse_statuses(raw: str | None) -> frozenset[str]:
    """`status=AUTH` or a comma-separated list `status=AUTH,CHARGE`; empty means any."""
    if not raw:
        return frozenset()
    names = {name.strip() for name in raw.split(",") if name.strip()}
    unknown = sorted(names - set(STATUS_NAMES))
    if unknown:
        raise bad_request(f"query parameter 'status': unknown status {unknown[0][:40]!r}; "
                          f"known: {', '.join(STATUS_NAMES)}")
    return frozenset(names)


def parse_client_id(request: web.Request) -> str | None:
    client_id = request.query.get("clientId") or None
    if client_id is not None and request.app[STORE].merchant(client_id) is None:
        raise bad_request(f"query parameter 'clientId': unknown merchant {client_id[:64]!r}")
    return client_id


def deliveries_by_transaction(request: web.Request) -> dict[str, list[Delivery]]:
    """Every logged delivery grouped by transaction id, oldest first (one pass over the log)."""
    grouped: dict[str, list[Delivery]] = {}
    for delivery in request.app[DISPATCHER].log.newest_first():
        if delivery.transaction_id:
            grouped.setdefault(delivery.transaction_id, []).append(delivery)
    for deliveries in grouped.values():
        deliveries.reverse()
    return grouped


def select_transactions(txs: Iterable[Transaction], invoice_id: str | None,
                        statuses: frozenset[str]) -> list[Transaction]:
    return [tx for tx in txs
            if (invoice_id is None or tx.invoice_id == invoice_id)
            and (not statuses or tx.status.value in statuses)]


# -- handlers ----------------------------------------------------------------------------------


async def list_transactions(request: web.Request) -> web.Response:
    client_id = parse_client_id(request)
    statuses = parse_statuses(request.query.get("status"))
    limit = parse_limit(request.query.get("limit"), default=DEFAULT_LIMIT, maximum=MAX_LIMIT)
    invoice_id = request.query.get("invoiceId") or None
    found = select_transactions(request.app[STORE].transactions(client_id), invoice_id, statuses)
    grouped = deliveries_by_transaction(request)
    return json_response(Transactions(
        transactions=[transaction_json(tx, grouped.get(tx.id, [])) for tx in found[:limit]],
        total=len(found),
    ))


async def show_transaction(request: web.Request) -> web.Response:
    transaction_id = request.match_info["transaction_id"]
    tx = request.app[STORE].find_transaction(transaction_id)
    if tx is None:
        raise EpayError(404, NOT_FOUND, f"no transaction with id {transaction_id[:64]!r}")
    dispatcher = request.app[DISPATCHER]
    deliveries = dispatcher.select(transaction_id=tx.id)
    body = transaction_json(tx, deliveries)
    body.history = [history_json(entry) for entry in tx.history]
    body.deliveries = [declared(DeliveryShape, dispatcher.to_json(d)) for d in deliveries]
    return json_response(body)


async def list_merchants(request: web.Request) -> web.Response:
    return json_response(Merchants(merchants=[merchant_json(m) for m in request.app[STORE].merchants()]))


def setup(app: web.Application, add_route: Any) -> None:
    # no slash twin: `/_mock/transactions/` is an empty transaction id
    add_route("GET", "/_mock/transactions", list_transactions, twin=False,
              doc=lazy_doc(ADMIN_DOCS, "list_transactions"))
    add_route("GET", "/_mock/transactions/{transaction_id}", show_transaction,
              doc=lazy_doc(ADMIN_DOCS, "show_transaction"))
    add_route("GET", "/_mock/merchants", list_merchants, doc=lazy_doc(ADMIN_DOCS, "list_merchants"))
