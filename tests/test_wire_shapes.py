"""Every answer and callback the mock really sends is described, key by key, by the OpenAPI document.

The stories run real flows over HTTP (a token, a saved-card payment approved, declined and
sent to 3-D Secure, the status of a paid and of an unknown invoice, an operation, the card
list, the admin API) and a real loopback shop receives the callbacks. Each body is checked
against the document's schema for it, where every object schema says
`additionalProperties: false`: a key the mock sends that no declaration names fails here.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp import web
from jsonschema import Draft202012Validator

from mock_epay.app import create_app
from mock_epay.gateway.models import SeedCard, Terminal, evolve
from mock_epay.settings import DEFAULT_MERCHANT, TEST_TERMINAL_ID, Settings
from tests.conftest import get_service_token, get_token
from tests.test_cards_auth import LOCKED_CARD, VISA_CARD, pay, payment_body
from tests.test_openapi import app_document

DOCUMENT = app_document()
SCHEMAS = DOCUMENT["components"]["schemas"]
SECURE3D_CARD = "11111111-2222-4333-8444-555555555555"


def problems(name: str, body: Any) -> list[str]:
    """Why `body` does not fit the document's schema `name` (empty when it fits)."""
    schema = {"$ref": f"#/components/schemas/{name}", "components": DOCUMENT["components"]}
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in Draft202012Validator(schema).iter_errors(body)]


def object_schemas(schema: Any) -> list[dict[str, Any]]:
    found = []
    if isinstance(schema, dict):
        if schema.get("type") == "object" and "properties" in schema:
            found.append(schema)
        for value in schema.values():
            found.extend(object_schemas(value))
    elif isinstance(schema, list):
        for value in schema:
            found.extend(object_schemas(value))
    return found


class Shop:
    """A merchant's backend on a real loopback port that records the callbacks it receives."""

    def __init__(self) -> None:
        self.bodies: list[Any] = []
        self.arrived = asyncio.Event()

    async def receive(self, request: web.Request) -> web.Response:
        self.bodies.append(await request.json())
        self.arrived.set()
        return web.Response(text="OK")

    async def next_body(self) -> Any:
        await asyncio.wait_for(self.arrived.wait(), 5)
        self.arrived.clear()
        return self.bodies[-1]


@pytest.fixture
async def shop(aiohttp_server: Any) -> tuple[Shop, str]:
    receiver = Shop()
    app = web.Application()
    app.router.add_post("/cb", receiver.receive)
    server = await aiohttp_server(app, host="127.0.0.1")
    return receiver, f"http://127.0.0.1:{server.port}/cb"


def merchant(**changes: Any) -> Any:
    return evolve(DEFAULT_MERCHANT, saved_cards=(*DEFAULT_MERCHANT.saved_cards,
                                                  SeedCard("testuser1", "4000000000003220", SECURE3D_CARD)),
                   **changes)


async def gateway(aiohttp_client: Any, **merchant_changes: Any) -> Any:
    settings = Settings(merchants=(merchant(**merchant_changes),), seed=3, log_requests=False,
                        callback_allowed_hosts=("127.0.0.1",), callback_max_attempts=1)
    return await aiohttp_client(create_app(settings))


async def answer(response: Any, status: int = 200) -> Any:
    assert response.status == status, await response.text()
    return await response.json()


def test_every_object_the_document_describes_allows_no_undeclared_key():
    for name in ("CardPaymentResponse", "StatusTransaction", "LegacyOperation", "Callback", "SavedCard",
                 "Delivery", "Transaction", "JournalEntry", "Error"):
        assert SCHEMAS[name]["additionalProperties"] is False, name
    answers = [s for n, s in SCHEMAS.items() if not n.endswith("Request") and n not in _request_shape_names()]
    assert all(s.get("additionalProperties") is False for s in object_schemas(answers))


def _request_shape_names() -> set[str]:
    """Every shape the mock reads (a `Request`, which tolerates unknown keys as the bank does)."""
    from mock_epay.wire.bank_requests import Request

    names: set[str] = set()
    pending = [Request]
    while pending:
        for sub in pending.pop().__subclasses__():
            names.add(sub.__name__)
            pending.append(sub)
    return names


async def test_a_payment_its_status_and_its_callback_are_described_key_by_key(aiohttp_client, shop):
    receiver, url = shop
    client = await gateway(aiohttp_client)
    token_answer = await client.post("/oauth2/token", data={
        "grant_type": "client_credentials", "scope": "payment", "client_id": DEFAULT_MERCHANT.client_id,
        "client_secret": DEFAULT_MERCHANT.client_secret, "invoiceID": "000000001", "amount": "100",
        "currency": "KZT", "terminal": TEST_TERMINAL_ID, "secret_hash": "s3cret"})
    token_body = await answer(token_answer)
    assert problems("TokenResponse", token_body) == []
    paid = await answer(await pay(client, token_body["access_token"], payment_body(postLink=url)))
    assert len(paid) == 30 and problems("CardPaymentResponse", paid) == []
    callback = await receiver.next_body()
    assert callback["secret_hash"] == "s3cret" and problems("Callback", callback) == []
    service = {"Authorization": f"Bearer {await get_service_token(client)}"}
    status = await answer(await client.get("/check-status/payment/transaction/000000001", headers=service))
    assert len(status["transaction"]) == 38 and problems("StatusResponse", status) == []
    legacy = await answer(await client.get("/operation/000000001", headers=service))
    assert len(legacy) == 28 and problems("LegacyOperation", legacy) == []
    cards = await answer(await client.get("/cards/testuser1", headers=service))
    assert cards and all(problems("SavedCard", card) == [] for card in cards)
    deactivated = await answer(await client.post(f"/card/deactivate/{VISA_CARD}", headers=service))
    assert problems("CardDeactivated", deactivated) == []


async def test_an_unknown_invoice_a_decline_and_a_3ds_step_are_described(aiohttp_client):
    client = await gateway(aiohttp_client)
    service = {"Authorization": f"Bearer {await get_service_token(client)}"}
    unknown = await answer(await client.get("/check-status/payment/transaction/000000999", headers=service))
    assert unknown["transaction"] is None and problems("StatusResponse", unknown) == []
    declined = await answer(await pay(client, await get_token(client),
                                      payment_body(cardId={"id": LOCKED_CARD})), 400)
    assert declined["code"] == 465 and problems("Error", declined) == []
    token = await get_token(client, invoiceID="000000002")
    secure = await answer(await pay(client, token, payment_body(invoiceId="000000002",
                                                                cardId={"id": SECURE3D_CARD})))
    assert secure["secure3D"]["md"] == secure["id"] and problems("CardPaymentResponse", secure) == []


async def test_legacy_callbacks_and_operation_callbacks_are_described(aiohttp_client, shop):
    receiver, url = shop
    client = await gateway(aiohttp_client, callback_format="legacy", callbacks_after_operations=True,
                           terminals=(Terminal(TEST_TERMINAL_ID, "98120001", two_stage=True),))
    paid = await answer(await pay(client, await get_token(client), payment_body(postLink=url)))
    approved = await receiver.next_body()
    assert approved["code"] == 0 and problems("LegacyCallbackApproved", approved) == []
    service = {"Authorization": f"Bearer {await get_service_token(client)}"}
    charged = await client.post(f"/operation/{paid['id']}/charge?amount=40", headers=service)
    assert charged.status == 200
    after_charge = await receiver.next_body()
    assert after_charge["operationAmount"] == 40 and problems("LegacyCallbackApproved", after_charge) == []
    token = await get_token(client, invoiceID="000000003")
    await answer(await pay(client, token, payment_body(invoiceId="000000003", cardId={"id": LOCKED_CARD},
                                                       failurePostLink=url)), 400)
    declined = await receiver.next_body()
    assert declined["code"] == -1 and problems("LegacyCallbackDeclined", declined) == []


async def test_the_admin_answers_are_described_key_by_key(aiohttp_client, shop):
    _, url = shop
    client = await gateway(aiohttp_client)
    paid = await answer(await pay(client, await get_token(client), payment_body(postLink=url)))
    wait = await client.get("/_mock/callbacks/wait?invoiceId=000000001&timeout=5")
    assert problems("Delivery", await answer(wait)) == []
    rule = {"name": "decline-next", "description": "one decline", "match": {"invoiceId": "000000465"},
            "outcome": {"result": "decline", "reasonCode": 465}, "times": 2}
    checks = [
        ("Health", await client.get("/_mock/health")),
        ("Journal", await client.get("/_mock/requests")),
        ("Transactions", await client.get("/_mock/transactions")),
        ("Transaction", await client.get(f"/_mock/transactions/{paid['id']}")),
        ("Deliveries", await client.get("/_mock/deliveries")),
        ("Merchants", await client.get("/_mock/merchants")),
        ("OverrideAdded", await client.post("/_mock/scenarios", json=rule)),
        ("Scenarios", await client.get("/_mock/scenarios")),
        ("OverridesCleared", await client.delete("/_mock/scenarios/overrides")),
        ("ScenariosReloaded", await client.post("/_mock/scenarios/reload")),
        ("ClockOffset", await client.post("/_mock/clock/advance", json={"seconds": 60})),
        ("ResetDone", await client.post("/_mock/reset")),
    ]
    for name, response in checks:
        body = await answer(response, 201 if name == "OverrideAdded" else 200)
        assert problems(name, body) == [], name
    detail = await answer(await client.get("/_mock/transactions"))
    assert detail["transactions"] == []  # the reset above forgot the payment
