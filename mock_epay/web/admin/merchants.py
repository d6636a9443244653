"""Admin API that makes and removes merchants at run time: a namespace per CI job on a shared sandbox.

    POST   /_mock/merchants               a new merchant (JSON, every field optional): 201
    DELETE /_mock/merchants/{client_id}   it and all its data are gone: 204 (`?force=true` for a
                                          merchant the settings declare)

The handlers parse the body and render the answer; `mock_epay.gateway.merchants` decides
and records. `GET /_mock/merchants` (listing) lives with the transactions' admin API.
"""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web

from mock_epay.gateway.errors import bad_request
from mock_epay.gateway.merchants import (
    DEFAULT_EXPIRY,
    CreatedMerchant,
    NewCard,
    NewMerchant,
    create_merchant,
    remove_merchant,
)
from mock_epay.web.app_keys import GATEWAY
from mock_epay.web.readers import read_json_object
from mock_epay.wire.admin import CreatedCard, MerchantCreated, Terminal
from mock_epay.wire.admin_requests import NewMerchantRequest, NewSavedCard
from mock_epay.wire.render import json_response
from mock_epay.wire.route_docs import deferred_doc
from mock_epay.wire.shape import UNSET

FLAGS = {"true": True, "1": True, "false": False, "0": False, "": False}


async def read_new_merchant(request: web.Request) -> NewMerchant:
    """The body as a `NewMerchant`: none or `{}` asks for everything generated; JSON only."""
    raw = await request.read()  # b"" without a body
    data = await read_json_object(request) if raw.strip() else {}
    try:
        asked = msgspec.convert(data, NewMerchantRequest)
    except msgspec.ValidationError as exc:
        raise bad_request(f"merchant not created: {_field_problem(exc)}") from None
    return NewMerchant(
        client_id=_given(asked.clientId),
        client_secret=_given(asked.clientSecret),
        name=_given(asked.name) or "",
        two_stage=bool(_given(asked.twoStage)),
        auto_cancel_seconds=_given(asked.autoCancelSeconds),
        callback_format=_given(asked.callbackFormat) or "current",
        callbacks_after_operations=bool(_given(asked.callbacksAfterOperations)),
        cards=tuple(_new_card(card) for card in _given(asked.savedCards) or ()),
    )


def _field_problem(exc: msgspec.ValidationError) -> str:
    """msgspec's `Expected `bool`, got `str` - at `$.twoStage`` in the admin API's words."""
    text = str(exc)
    message, _, where = text.partition(" - at `$.")
    return f"field '{where.rstrip('`')}': {message}" if where else text


def _given(value: Any) -> Any:
    return None if value is UNSET else value


def _new_card(card: NewSavedCard) -> NewCard:
    return NewCard(
        account_id=card.accountId,
        card_number=str(card.cardNumber),
        id=_given(card.id),
        payer_name=_given(card.payerName) or "",
        expiry=_given(card.expiry) or DEFAULT_EXPIRY,
    )


def created_json(created: CreatedMerchant) -> MerchantCreated:
    merchant = created.merchant
    return MerchantCreated(
        clientId=merchant.client_id,
        clientSecret=merchant.client_secret,
        name=merchant.name,
        terminalId=created.terminal.id,
        terminals=[Terminal(id=t.id, number=t.number, twoStage=t.two_stage,
                            autoCancelSeconds=t.auto_cancel_seconds) for t in merchant.terminals],
        callbackFormat=merchant.callback_format,  # type: ignore[arg-type]  # checked on creation
        callbacksAfterOperations=merchant.callbacks_after_operations,
        savedCards=[CreatedCard(id=c.id, accountId=c.account_id, cardMask=c.card.mask,
                                cardType=c.card.card_type, payerName=c.card.payer_name,
                                expiry=c.card.expiry) for c in created.cards],
    )


def parse_force(raw: str | None) -> bool:
    value = FLAGS.get((raw or "").strip().lower())
    if value is None:
        raise bad_request("query parameter 'force' must be true or false")
    return value


async def add_merchant(request: web.Request) -> web.Response:
    new = await read_new_merchant(request)
    created = create_merchant(request.app[GATEWAY], new)
    return json_response(created_json(created), status=201)


async def delete_merchant(request: web.Request) -> web.Response:
    force = parse_force(request.query.get("force"))
    remove_merchant(request.app[GATEWAY], request.match_info["client_id"], force=force)
    return web.Response(status=204)


DOCS = "mock_epay.wire.docs_merchants"  # imported only when /_mock/openapi.json is first built


def setup(app: web.Application, add_route: Any) -> None:
    add_route("POST", "/_mock/merchants", add_merchant, doc=deferred_doc(DOCS, "create_merchant_doc"))
    add_route("DELETE", "/_mock/merchants/{client_id}", delete_merchant,
              doc=deferred_doc(DOCS, "delete_merchant_doc"))
