"""Saved cards: `GET /cards/{accountId}` (list) and `POST /card/deactivate/{cardId}` (spec 8.2, 8.3).

Both need a service token and only ever see the token's own merchant's cards. An account
without cards answers `{"code": 1373, "message": ...}` with HTTP `empty_cards_http` (200 by
default: the bank sends that object where the card array would be).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from mock_epay.gateway.codes import NO_SAVED_CARDS
from mock_epay.gateway.models import TokenKind
from mock_epay.web.app_keys import SETTINGS, STORE
from mock_epay.web.client import bearer
from mock_epay.web.errors import error_response
from mock_epay.wire.bank_answers import CardDeactivated
from mock_epay.wire.render import json_response, saved_card_body
from mock_epay.wire.route_docs import BANK_DOCS, lazy_doc

DEACTIVATED_STATUS = "card successfully deactivated"


async def list_cards(request: web.Request) -> web.Response:
    app = request.app
    token = bearer(request, TokenKind.SERVICE)
    account_id = request.match_info["account_id"]
    cards = app[STORE].cards_for_account(token.client_id, account_id)
    if not cards:
        message = f"no saved cards for accountId {account_id[:128]!r}"
        return error_response(app[SETTINGS].empty_cards_http, NO_SAVED_CARDS, message)
    return json_response([saved_card_body(card, token.client_id) for card in cards])


async def deactivate_card(request: web.Request) -> web.Response:
    app = request.app
    token = bearer(request, TokenKind.SERVICE)
    app[STORE].deactivate_card(token.client_id, request.match_info["card_id"])
    return json_response(CardDeactivated(status=DEACTIVATED_STATUS))


def setup(app: web.Application, add_route: Any) -> None:
    for prefix in ("", "/api"):
        add_route("GET", prefix + "/cards/{account_id}", list_cards,
                  doc=lazy_doc(BANK_DOCS, "list_saved_cards", prefix))
        add_route("POST", prefix + "/card/deactivate/{card_id}", deactivate_card,
                  doc=lazy_doc(BANK_DOCS, "deactivate_card", prefix))
