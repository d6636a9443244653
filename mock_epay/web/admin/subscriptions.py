"""The mock's own view of recurring payments: list them, cancel one (`/_mock/subscriptions`).

The bank documents no way to list or cancel a subscription; these are the mock's (README,
Differences). Listing first makes the renewals already due, so what it shows is current.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from mock_epay.gateway import recurring
from mock_epay.gateway.models import Subscription
from mock_epay.web.app_keys import GATEWAY, RENEWALS, STORE
from mock_epay.wire.cryptopay import SubscriptionCancelled, SubscriptionRecord, Subscriptions
from mock_epay.wire.render import json_response, rfc3339
from mock_epay.wire.route_docs import deferred_doc
from mock_epay.wire.shape import amount_json


def subscription_record(subscription: Subscription) -> SubscriptionRecord:
    upcoming = recurring.next_due(subscription)
    return SubscriptionRecord(
        id=subscription.id, clientId=subscription.client_id, transactionId=subscription.transaction_id,
        invoiceId=subscription.invoice_id, cardId=subscription.card_id, accountId=subscription.account_id,
        amount=amount_json(subscription.amount), currency=subscription.currency,
        paymentFrequency=subscription.frequency,  # type: ignore[arg-type]
        createdDate=rfc3339(subscription.created_at), lastPaymentDate=rfc3339(subscription.ends_at),
        nextPaymentDate=rfc3339(upcoming) if upcoming else None, active=subscription.active,
        renewals=subscription.renewals, chargeIds=list(subscription.charge_ids),
    )


async def list_subscriptions(request: web.Request) -> web.Response:
    await request.app[RENEWALS].settle()
    client_id = request.query.get("client_id") or None
    found = request.app[STORE].subscriptions(client_id)
    return json_response(Subscriptions(subscriptions=[subscription_record(s) for s in found]))


async def cancel_subscription(request: web.Request) -> web.Response:
    cancelled = recurring.cancel(request.app[GATEWAY], request.match_info["subscription_id"])
    return json_response(SubscriptionCancelled(subscription=subscription_record(cancelled)))


DOCS = "mock_epay.wire.cryptopay_docs"  # imported only when /_mock/openapi.json is first built


def setup(app: web.Application, add_route: Any) -> None:
    add_route("GET", "/_mock/subscriptions", list_subscriptions, doc=deferred_doc(DOCS, "list_subscriptions"))
    add_route("DELETE", "/_mock/subscriptions/{subscription_id}", cancel_subscription,
              doc=deferred_doc(DOCS, "cancel_subscription"))
