"""Recurring payments: `POST /recurrent/subscribe` (products spec 2.3) and the renewal scheduler's start/stop.

The SDK subscribes with the first payment's token; any token of the merchant that made the
transaction is accepted. The answer is the SDK's shape with its fixed date pattern. Renewals are
made by `gateway.recurring.RenewalScheduler` whenever the mock's clock jumps.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from mock_epay.gateway import recurring
from mock_epay.gateway.models import Subscription
from mock_epay.web.app_keys import GATEWAY, RENEWALS
from mock_epay.web.client import bearer
from mock_epay.web.readers import parse_str, read_json_object, require
from mock_epay.wire.bank_requests import normalise
from mock_epay.wire.cryptopay import SUBSCRIBE_TYPE_MESSAGES, SubscribeRequest, SubscribeResponse, sdk_date
from mock_epay.wire.decode import decode
from mock_epay.wire.render import json_response
from mock_epay.wire.route_docs import deferred_doc
from mock_epay.wire.shape import amount_json


def subscribe_body(subscription: Subscription) -> SubscribeResponse:
    return SubscribeResponse(
        createdDate=sdk_date(subscription.created_at), paymentFrequency=subscription.frequency,  # type: ignore[arg-type]
        lastPaymentDate=sdk_date(subscription.ends_at), clientId=subscription.client_id,
        invoiceId=subscription.invoice_id, amount=amount_json(subscription.amount),
        currency=subscription.currency, reference=subscription.reference,
    )


async def subscribe(request: web.Request) -> web.Response:
    app = request.app
    token = bearer(request)
    body = normalise(await read_json_object(request), {})
    decoded = decode(SubscribeRequest, body, SUBSCRIBE_TYPE_MESSAGES, body.spelled)
    transaction_id = parse_str(require(decoded.transactionId, "transactionId"), "transactionId",
                               max_length=64)
    subscription = recurring.subscribe(app[GATEWAY], token, transaction_id, decoded.paymentFrequency)
    return json_response(subscribe_body(subscription))


async def _start(app: web.Application) -> None:
    await app[RENEWALS].start()


async def _stop(app: web.Application) -> None:
    await app[RENEWALS].stop()


DOCS = "mock_epay.wire.cryptopay_docs"  # imported only when /_mock/openapi.json is first built


def setup(app: web.Application, add_route: Any) -> None:
    app[RENEWALS] = recurring.RenewalScheduler(app[GATEWAY])
    app.on_startup.append(_start)
    app.on_cleanup.append(_stop)
    for prefix in ("", "/api"):
        add_route("POST", prefix + "/recurrent/subscribe", subscribe,
                  doc=deferred_doc(DOCS, "subscribe", prefix))
