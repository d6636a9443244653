"""The OpenAPI description stays true: every route is described, every example gets a described answer.

Each operation's example request (path and query examples, the JSON or form body example)
is sent to a fresh app with the state it needs (a payment for a transaction id, a charge
before a refund, ...), and the answer must be one the document describes, with a body
that validates against the described schema (jsonschema, draft 2020-12).

Every object schema of the served document names its keys (`properties`) unless `FREE_FORM` says
why it may not, and every product's answers (links, QR, cryptopay, subscriptions, transfers,
statements, the outbox and the admin views) from real requests fit their operation's schema, in
which every object says `additionalProperties: false`.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from mock_epay.app import create_app
from mock_epay.gateway.models import Terminal, evolve
from mock_epay.settings import (
    DEFAULT_MERCHANT,
    TEST_CABINET_LOGIN,
    TEST_CABINET_PASSWORD,
    TEST_TERMINAL_ID,
    Settings,
)
from mock_epay.web.app_keys import ROUTE_DOCS
from mock_epay.wire.openapi import build_document
from tests.conftest import get_service_token, get_token, token_form
from tests.test_cards_auth import VISA_CARD, pay, payment_body
from tests.test_cryptopay import cryptopay_body, encrypted
from tests.test_transfers import body as transfer_body
from tests.test_transfers import receiver as transfer_receiver


def app_document(settings: Settings | None = None) -> dict[str, Any]:
    """The document as a real app builds it: from the docs attached to its routes."""
    return build_document(create_app(settings or Settings())[ROUTE_DOCS])


DOCUMENT = app_document()
OPERATIONS = [(path, method, op) for path, ops in DOCUMENT["paths"].items() for method, op in ops.items()]
# Operations whose example cannot succeed without a browser-made state; the answer they get instead.
EXPECTED_STATUS = {
    "paymentPage": 400,  # no payment object in the example: the page explains what is missing
    "submitPaymentPage": 400,
    "submitSecure3dPage": 400,
    "submitTransferPage": 400,  # no payment object in the example either
    "mockAcs": 400,
    "mockAcsForm": 400,
    "confirmPayment": 401,  # needs the payment token of a pending 3-D Secure step
    # invoice links and QR: the examples name a link or bill that does not exist yet
    "qrStatus": 404, "openInvoiceLink": 404, "homebankQrPage": 404, "homebankQrAction": 404,
    "qrAppAction": 404, "cancelInvoiceLink": 404,
    "subscribeRecurrent": 400,  # the example's transaction is not one of this app's (code 102)
    "cancelSubscription": 404,  # likewise, no such subscription
}
TWO_STAGE = evolve(DEFAULT_MERCHANT, terminals=(Terminal(TEST_TERMINAL_ID, "98120001", two_stage=True),))
SETTINGS = Settings(merchants=(TWO_STAGE,), seed=7, log_requests=False, callback_max_attempts=1,
                    callback_allowed_hosts=("127.0.0.1",))


def validator(schema: dict[str, Any]) -> Draft202012Validator:
    """A validator for `schema` that resolves `#/components/...` references of the document."""
    return Draft202012Validator({**schema, "components": DOCUMENT["components"]})


def op_id(item: tuple[str, str, dict[str, Any]]) -> str:
    return item[2]["operationId"]


# -- the document itself --------------------------------------------------------------------------


def _registered_routes(app: Any) -> set[tuple[str, str]]:
    """(method, path) of every route, without HEAD (aiohttp adds it to GET) and trailing-slash twins."""
    routes = {(r.method.lower(), r.resource.canonical) for r in app.router.routes() if r.method != "HEAD"}
    return {(m, p) for m, p in routes if not (p.endswith("/") and (m, p[:-1]) in routes)}


def test_every_registered_route_has_a_doc_attached_and_every_doc_has_a_route():
    app = create_app(Settings())
    documented = [(doc.method, doc.path) for doc in app[ROUTE_DOCS]]
    assert len(documented) == len(set(documented)), "a route documented twice"
    assert _registered_routes(app) - set(documented) == set(), "routes registered without doc="
    assert set(documented) - _registered_routes(app) == set(), "docs of paths the app does not serve"


def test_the_document_has_one_operation_per_attached_doc_and_nothing_else():
    app = create_app(Settings())
    described = {(method, path) for path, method, _ in OPERATIONS}
    assert described == {(doc.method, doc.path) for doc in app[ROUTE_DOCS]}


def test_a_route_served_under_two_prefixes_has_one_operation_id_per_prefix():
    ids = {path: ops["post"]["operationId"] for path, ops in DOCUMENT["paths"].items()
           if path.endswith("/oauth2/token")}
    assert ids == {"/oauth2/token": "issueToken", "/epay2/oauth2/token": "issueToken_epay2"}
    assert DOCUMENT["paths"]["/api/payments/cards/auth"]["post"]["summary"].endswith("[under /api]")


def test_the_docs_are_not_built_or_imported_until_the_document_is_asked_for():
    code = ("import sys; from mock_epay.app import create_app; create_app(); "
            "print(any(m.startswith('mock_epay.wire.docs_') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


async def test_the_served_document_is_the_built_one(client):
    response = await client.get("/_mock/openapi.json")
    assert response.status == 200
    served = await response.json()
    assert served["openapi"] == "3.1.0"
    assert served == json.loads(json.dumps(DOCUMENT))


def test_operation_ids_are_unique_and_every_operation_has_a_success_and_an_error_answer():
    ids = [op["operationId"] for _, _, op in OPERATIONS]
    assert len(ids) == len(set(ids))
    for _, _, op in OPERATIONS:
        assert any(code.startswith(("2", "3")) for code in op["responses"]), op["operationId"]
        assert op["responses"]["default"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Error"}


def _examples() -> list[tuple[str, dict[str, Any], Any]]:
    found = []
    for _, _, op in OPERATIONS:
        for code, answer in op["responses"].items():
            for media, content in answer.get("content", {}).items():
                if "example" in content:
                    where = f"{op['operationId']} {code} {media}"
                    found.append((where, content["schema"], content["example"]))
        for media, content in op.get("requestBody", {}).get("content", {}).items():
            if "example" in content:
                found.append((f"{op['operationId']} request {media}", content["schema"], content["example"]))
    for name, hook in DOCUMENT["webhooks"].items():
        content = hook["post"]["requestBody"]["content"]["application/json"]
        found.append((name, content["schema"], content["example"]))
    return found


@pytest.mark.parametrize(("where", "schema", "example"), _examples(), ids=[e[0] for e in _examples()])
def test_every_example_in_the_document_fits_its_own_schema(where, schema, example):
    errors = [e.message for e in validator(schema).iter_errors(example)]
    assert errors == [], where


# -- examples against the real app ------------------------------------------------------------------


class ExampleRun:
    """Prepares the state an example needs and sends it."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.payment: dict[str, Any] | None = None

    async def paid(self, charged: bool = False) -> dict[str, Any]:
        """Invoice 000000001 paid by saved card (AUTH on this two-stage terminal); its callback fails fast."""
        token = await get_token(self.client)
        body = payment_body(postLink="http://127.0.0.1:9/epay/callback", failurePostLink=None)
        response = await pay(self.client, token, body)
        assert response.status == 200, await response.text()
        payment = await response.json()
        if charged:
            service = await get_service_token(self.client)
            charge = await self.client.post(f"/operation/{payment['id']}/charge",
                                            headers={"Authorization": f"Bearer {service}"})
            assert charge.status == 200
        wait = await self.client.get("/_mock/callbacks/wait?invoiceId=000000001&timeout=5")
        self.delivery = await wait.json()
        return payment

    async def path_value(self, op: dict[str, Any], parameter: dict[str, Any]) -> str:
        name = parameter["name"]
        if name == "transaction_id":
            return (await self.paid(charged=op["operationId"].startswith("refund")))["id"]
        if name == "delivery_id":
            await self.paid()
            return self.delivery["id"]
        if name == "invoice_id":
            await self.paid()
        if name == "client_id":  # a merchant made through the API, so it may be deleted
            created = await self.client.post("/_mock/merchants", json={})
            return str((await created.json())["clientId"])
        return str(parameter["example"])

    async def send(self, path: str, method: str, op: dict[str, Any]) -> Any:
        query: dict[str, str] = {}
        headers: dict[str, str] = {}
        for parameter in op.get("parameters", []):
            if parameter["in"] == "path":
                value = await self.path_value(op, parameter)
                path = path.replace("{" + parameter["name"] + "}", value)
            elif parameter["in"] == "query" and "example" in parameter:
                query[parameter["name"]] = str(parameter["example"])
            elif parameter["in"] == "query" and parameter["required"]:
                query[parameter["name"]] = "example"
        if "invoiceId" in query and "invoiceId" not in path:
            await self.paid()  # the callback of invoice 000000001 exists
        kwargs: dict[str, Any] = {"params": query, "headers": headers}
        content = op.get("requestBody", {}).get("content", {})
        body = None
        for media, described in content.items():
            if "example" in described:
                body = described["example"]
                kwargs["json" if media == "application/json" else "data"] = body
                break
        else:
            if "application/x-www-form-urlencoded" in content:
                kwargs["data"] = {}
        scheme = next(iter(op.get("security", [{}])[0]), None)
        if scheme == "paymentToken":
            body = body or {}  # QR generate: the invoice and amount come from the token only
            token = await get_token(self.client, invoiceID=body.get("invoiceId", "000000001"),
                                    amount=str(body.get("amount", 100)))
            headers["Authorization"] = f"Bearer {token}"
        elif scheme == "serviceToken":
            token = await get_service_token(self.client, scope="webapi payment transfer")  # transfers need it
            headers["Authorization"] = f"Bearer {token}"
        return await self.client.request(method.upper(), path, allow_redirects=False, **kwargs)


@pytest.mark.parametrize(("path", "method", "op"), OPERATIONS, ids=[op_id(o) for o in OPERATIONS])
async def test_every_example_request_gets_a_described_answer_from_the_real_app(
    aiohttp_client, path, method, op
):
    client = await aiohttp_client(create_app(SETTINGS))
    response = await ExampleRun(client).send(path, method, op)
    text = await response.text()
    expected = EXPECTED_STATUS.get(re.sub(r"_(api|epay2|redesign_payform)$", "", op["operationId"]))
    if expected is None:
        assert 200 <= response.status < 300, f"{op['operationId']}: {response.status} {text[:300]}"
    else:
        assert response.status == expected, f"{op['operationId']}: {response.status} {text[:300]}"
    described = op["responses"].get(str(response.status))
    assert described is not None, f"{op['operationId']}: HTTP {response.status} is not described"
    media = response.content_type
    if "content" not in described:
        assert text == "" or media != "application/json"
        return
    assert media in described["content"], f"{op['operationId']}: {media} is not described"
    if media == "application/json":
        schema = described["content"][media]["schema"]
        errors = [e.message for e in validator(schema).iter_errors(json.loads(text))]
        assert errors == [], f"{op['operationId']}: {errors[:3]}"


# -- every object described, every product answer key by key ----------------------------------------

# Object schemas that may stay bare (no `properties`), each with the reason; keys are JSON pointers.
_PAGE_FORM = ("the payment page's own form (fields the page's script fills in), read by web/payform/; "
              "not yet declared in wire/")
_SCENARIO = "a scenario rule's part as its file has it: checked by scenarios/schema.py (docs/scenarios.md)"
FREE_FORM = {
    "/paths/~1_mock~1openapi.json/get/responses/200/content/application~1json/schema":
        "a document: an OpenAPI 3.1 description, defined by that specification",
    **{f"/paths/~1{prefix}~1{page}/post/requestBody/content/application~1x-www-form-urlencoded/schema":
       _PAGE_FORM for prefix in ("payform", "redesign-payform") for page in ("pay", "3ds", "transfer")},
    **{f"/components/schemas/{rule}/properties/{part}": _SCENARIO
       for rule in ("ScenarioRule", "ScenarioOverrideRequest")
       for part in ("match", "outcome", "outcomes/items")},
    "/components/schemas/ForgeRequest/properties/body/anyOf/0":
        "a forged callback body: any JSON the tester wants the merchant to receive",
    "/components/schemas/ForgeRequest/properties/overrides":
        "keys of the real callback body to replace, whatever that body holds",
    "/components/schemas/PaymentPageRequest/properties/auth/anyOf/0":
        "the token endpoint's answer as the shop's script got it and passed on (only access_token is read)",
    "/components/schemas/PaymentPageRequest/properties/cardId/anyOf/0":
        "a saved card object as the shop's script passes it (only id is read)",
    "/components/schemas/PaymentPageRequest/properties/autoPay/anyOf/0":
        "the mock's test-only autoPay object, checked field by field by the payment page (README)",
}
_DATA_KEYS = ("example", "examples", "const", "enum", "default")  # values there are data, not schemas


def _pointer(parts: tuple[str, ...]) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def bare_objects(node: Any, parts: tuple[str, ...] = ()) -> list[str]:
    """JSON pointers of the object schemas under `node` that describe no key (`type: object` without
    `properties`); example values are data and are not walked."""
    found = []
    if isinstance(node, dict):
        if node.get("type") == "object" and "properties" not in node:
            found.append(_pointer(parts))
        for key, value in node.items():
            if not (key in _DATA_KEYS and parts and parts[-1] != "responses"):
                found.extend(bare_objects(value, (*parts, key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.extend(bare_objects(value, (*parts, str(index))))
    return found


async def test_every_object_the_served_document_describes_names_its_keys_or_is_an_allowed_free_form(client):
    served = await (await client.get("/_mock/openapi.json")).json()
    bare = bare_objects(served)
    assert [p for p in bare if p not in FREE_FORM] == [], "object schemas with no properties"
    assert [p for p in FREE_FORM if p not in bare] == [], "FREE_FORM entries now declared: remove them"


def test_the_walk_finds_a_bare_object_in_a_request_body_and_in_an_answer():
    doc = {"paths": {"/x": {"post": {"requestBody": {"content": {JSON_MEDIA: {"schema": {"type": "object"}}}},
                                     "responses": {"default": {"content": {JSON_MEDIA: {"schema": {
                                         "type": "object", "properties": {"a": {"type": "object"}}},
                                         "example": {"type": "object"}}}}}}}}}
    assert bare_objects(doc) == [
        "/paths/~1x/post/requestBody/content/application~1json/schema",
        "/paths/~1x/post/responses/default/content/application~1json/schema/properties/a",
    ]


JSON_MEDIA = "application/json"
PRODUCT_OPERATIONS = {  # every product operation answering JSON, as (method, path) of the document
    ("post", "/invoice"), ("post", "/invoice-links"), ("get", "/_mock/outbox"),
    ("get", "/_mock/invoice-links"), ("post", "/_mock/invoice-links/{link_id}/cancel"),
    ("post", "/payment/qr/generate"), ("get", "/qr"), ("get", "/_mock/qr"),
    ("post", "/_mock/qr/{bill}/{action}"),
    ("post", "/payment/cryptopay"), ("post", "/recurrent/subscribe"), ("get", "/_mock/subscriptions"),
    ("delete", "/_mock/subscriptions/{subscription_id}"),
    ("post", "/p2p/transfer"), ("post", "/chdebit/transfer"), ("post", "/chpayment/transfer"),
    ("get", "/check-status/p2p/transaction/{order}"), ("get", "/_mock/transfers"),
    ("post", "/operations"), ("post", "/p2p/operations"),
}


def answer_objects(schema: Any, seen: frozenset[str] = frozenset()) -> list[dict[str, Any]]:
    """Every object schema with properties in `schema`, following `$ref`s into the document's components."""
    found: list[dict[str, Any]] = []
    if isinstance(schema, dict):
        target = schema.get("$ref", "")
        if target and target not in seen:
            found.extend(answer_objects(DOCUMENT["components"]["schemas"][target.rsplit("/", 1)[1]],
                                        seen | {target}))
        if "properties" in schema:
            found.append(schema)
        for key, value in schema.items():
            if key not in _DATA_KEYS:
                found.extend(answer_objects(value, seen))
    elif isinstance(schema, list):
        for value in schema:
            found.extend(answer_objects(value, seen))
    return found


class ProductRun:
    """Real requests to every product; each answer is checked against the document's schema for its
    operation and status, where every object must say `additionalProperties: false`."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.checked: set[tuple[str, str]] = set()

    async def call(self, method: str, template: str, path: str | None = None, *, status: int = 200,
                   token: str | None = None, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = await self.client.request(method.upper(), path or template, headers=headers, **kwargs)
        text = await response.text()
        assert response.status == status, f"{method} {path or template}: {response.status} {text[:300]}"
        described = DOCUMENT["paths"][template][method]["responses"][str(status)]
        schema = described["content"][JSON_MEDIA]["schema"]
        objects = answer_objects(schema)
        assert objects and all(o.get("additionalProperties") is False for o in objects), template
        body = json.loads(text)
        errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
                  for e in validator(schema).iter_errors(body)]
        assert errors == [], f"{method} {template}: {errors[:3]}"
        self.checked.add((method, template))
        return body


async def _links_and_outbox(run: ProductRun) -> None:
    service = await get_service_token(run.client)
    link_body = DOCUMENT["paths"]["/invoice"]["post"]["requestBody"]["content"][JSON_MEDIA]["example"]
    link = await run.call("post", "/invoice", token=service, json=link_body)
    same_invoice = {"name": "invoice_id", "method": "=", "searchParameter": [link["invoice_id"]]}
    search = {"paging": {"skip": 0, "limit": 5}, "orderParameters": {"field": "id", "typeOrder": "DESC"},
              "searchParameters": [same_invoice]}
    assert (await run.call("post", "/invoice-links", token=service, json=search))["TotalCount"] == 1
    assert (await run.call("get", "/_mock/outbox"))["messages"]
    (listed,) = (await run.call("get", "/_mock/invoice-links"))["links"]
    assert listed["client_id"] == DEFAULT_MERCHANT.client_id
    cancelled = await run.call("post", "/_mock/invoice-links/{link_id}/cancel",
                               f"/_mock/invoice-links/{link['id']}/cancel")
    assert cancelled["status"] == "CANCELLED"


async def _qr(run: ProductRun) -> None:
    token = await get_token(run.client, invoiceID="000000501", amount="2500")
    bill = await run.call("post", "/payment/qr/generate", token=token, json={"description": "Consultation"})
    assert (await run.call("get", "/qr", token=token))["status"] == "NEW"
    action = "/_mock/qr/{bill}/{action}"
    await run.call("post", action, f"/_mock/qr/{bill['billNumber']}/scan")
    approved = await run.call("post", action, f"/_mock/qr/{bill['billNumber']}/approve")
    assert approved["transactionId"] and approved["billNumber"] == bill["billNumber"]
    assert (await run.call("get", "/_mock/qr"))["bills"][0]["status"] == approved["status"]


async def _cryptopay_and_subscriptions(run: ProductRun) -> None:
    invoice = "000000601"
    token = await get_token(run.client, invoiceID=invoice)
    body = cryptopay_body(await encrypted(run.client), invoice, cardSave=True)
    paid = await run.call("post", "/payment/cryptopay", token=token, json=body)
    service = await get_service_token(run.client)
    subscribe = {"transactionId": paid["id"], "paymentFrequency": "MONTHLY"}
    await run.call("post", "/recurrent/subscribe", token=service, json=subscribe)
    (subscription,) = (await run.call("get", "/_mock/subscriptions"))["subscriptions"]
    cancel = f"/_mock/subscriptions/{subscription['id']}"
    assert (await run.call("delete", "/_mock/subscriptions/{subscription_id}", cancel))["subscription"]


async def _transfers_and_statements(run: ProductRun) -> None:
    token = await get_service_token(run.client, scope="webapi payment transfer")
    await run.call("post", "/p2p/transfer", token=token, json=transfer_body("000000701"))
    saved = {"sender": {"cardCred": VISA_CARD, "transferType": "TYPECARDID"}}
    await run.call("post", "/chdebit/transfer", token=token, json=transfer_body("000000702", cards=saved))
    payout = {"receiver": transfer_receiver()}
    await run.call("post", "/chpayment/transfer", token=token, json=transfer_body("000000703", cards=payout))
    await run.call("get", "/check-status/p2p/transaction/{order}", "/check-status/p2p/transaction/000000701",
                   token=token)
    assert len((await run.call("get", "/_mock/transfers"))["transfers"]) == 3
    everything = {"searchParameters": [{"name": "created_date", "method": "between",
                                        "searchParameter": ["2000-01-01T00:00:00Z", "2999-01-01T00:00:00Z"]}]}
    assert (await run.call("post", "/operations", token=token, json=everything))["records"]
    assert len((await run.call("post", "/p2p/operations", token=token, json=everything))["records"]) == 3


async def test_every_product_answer_is_described_key_by_key(aiohttp_client):
    client = await aiohttp_client(create_app(Settings(seed=11, log_requests=False)))
    run = ProductRun(client)
    await _links_and_outbox(run)
    await _qr(run)
    await _cryptopay_and_subscriptions(run)
    await _transfers_and_statements(run)
    assert run.checked == PRODUCT_OPERATIONS


async def test_the_token_request_describes_all_three_grants_and_each_real_one_fits(client):
    schema = DOCUMENT["paths"]["/oauth2/token"]["post"]["requestBody"]["content"][JSON_MEDIA]["schema"]
    assert set(schema["discriminator"]["mapping"]) == {"client_credentials", "password", "refresh_token"}
    login = {"grant_type": "password", "username": TEST_CABINET_LOGIN, "password": TEST_CABINET_PASSWORD}
    token = await (await client.post("/oauth2/token", data=login)).json()
    refresh = {"grant_type": "refresh_token", "refresh_token": token["refresh_token"]}
    assert (await client.post("/oauth2/token", data=refresh)).status == 200
    for body in (token_form(), login, refresh):
        assert [e.message for e in validator(schema).iter_errors(body)] == [], body["grant_type"]
    assert list(validator(schema).iter_errors({"grant_type": "implicit", "scope": "webapi"}))
