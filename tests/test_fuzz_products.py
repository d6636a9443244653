"""Hostile variants of valid product requests reach the product parsers and never get a 5xx or a half record.

tests/test_fuzz_routes.py sends every route one flat body under a randomly chosen token, so few
of its examples get past a product route's token check. Here each product route starts from a
body the route accepts (fuzz_product_bodies.py: from the spec and the README walk-throughs) with
the token it needs: a payment token minted for the example's own invoice and amount, a
`transfer`-scope token, the password-grant token of invoice links, a service token for
statements. Hypothesis (derandomized, bounded) then mutates that body (fuzz_mutations.py) and,
for cryptopay, the card inside the cryptogram (plain, base64 or RSA-encrypted with the served
key, or garbage).

For every example: no 5xx, a 4xx JSON body in the bank's `{"code", "message"}` shape, nothing
logged at ERROR or with a traceback, and a refused request records nothing (transactions,
transfers, invoice links, QR bills, subscriptions, outbox messages and deliveries in the admin
API are as before). A success body validates against the served OpenAPI document, where every
object is `additionalProperties: false`. Each route must mostly reach its parser: a 2xx or a
field-specific refusal, not an auth, token-mismatch or body-format refusal.
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from mock_epay.core.lzstring import compress_to_encoded_uri_component
from mock_epay.gateway.statements import like
from mock_epay.settings import (
    TEST_CABINET_LOGIN,
    TEST_CABINET_PASSWORD,
    TEST_CLIENT_ID,
    TEST_CLIENT_SECRET,
    TEST_P2P_TERMINAL_ID,
    TEST_SHOP_ID,
    TEST_TERMINAL_ID,
)
from mock_epay.web.readers import is_valid_text
from tests.conftest import get_service_token, get_token
from tests.fuzz_mutations import dumps, mutated, mutations
from tests.fuzz_product_bodies import PRODUCTS, Product, card_json, numbers, party
from tests.test_cards_auth import pay, payment_body
from tests.test_fuzz_routes import (
    CONTENT_TYPES,
    Target,
    check_error_shape,
    running_target,
)

# Per route (a third for the /api twins, which share the handlers); MOCK_EPAY_FUZZ_EXAMPLES=600 digs deeper.
EXAMPLES_PER_ROUTE = int(os.environ.get("MOCK_EPAY_FUZZ_EXAMPLES", "40"))
REACHED_SHARE = 0.6  # at least this share of a route's examples reach its parser
RECORD_LISTS = (
    ("/_mock/transactions", "total"),
    ("/_mock/deliveries", "total"),
    ("/_mock/transfers", "transfers"),
    ("/_mock/invoice-links", "links"),
    ("/_mock/qr", "bills"),
    ("/_mock/subscriptions", "subscriptions"),
    ("/_mock/outbox", "messages"),
)
STATEMENT_PERIOD = {
    "name": "created_date",
    "method": "between",
    "searchParameter": ["2020-01-01T00:00:00Z", "2100-01-01T00:00:00Z"],
}


# -- the context: tokens and the state some routes need ---------------------------------------------


@dataclass
class Context:
    target: Target
    document: dict[str, Any]
    public_pem: str = ""
    tokens: dict[str, str] = field(default_factory=dict)
    paid: list[str] = field(default_factory=list)
    bill_number: str = ""
    transfer_order: str = ""
    records: tuple[int, ...] = ()
    settled: bool = False  # False after an example that failed before re-reading the records
    outcomes: dict[str, Counter[str]] = field(default_factory=dict)

    @property
    def client(self) -> Any:
        return self.target.client

    async def token(self, **fields: str) -> str:
        form = {
            "grant_type": "client_credentials",
            "client_id": TEST_CLIENT_ID,
            "client_secret": TEST_CLIENT_SECRET,
            "scope": "webapi payment transfer",
            **fields,
        }
        response = await self.client.post("/oauth2/token", data=form)
        if response.status != 200:
            return ""
        return str((await response.json())["access_token"])

    async def payment_token(self, invoice: Any, amount: Any) -> str:
        """A payment token for this invoice and amount (fresh ones when the mutated ones cannot be bound)."""
        bindable = (
            isinstance(invoice, str | int)
            and isinstance(amount, str | int | float)
            and is_valid_text(str(invoice))
            and is_valid_text(str(amount))
        )
        bound = (
            await self.token(
                invoiceID=str(invoice), amount=str(amount), currency="KZT", terminal=TEST_TERMINAL_ID
            )
            if bindable
            else ""
        )
        return bound or await self.token(
            invoiceID=f"{next(numbers):09d}", amount="100", currency="KZT", terminal=TEST_TERMINAL_ID
        )

    async def record_counts(self) -> tuple[int, ...]:
        counts = []
        for path, key in RECORD_LISTS:
            body = await (await self.client.get(path)).json()
            counts.append(body[key] if isinstance(body[key], int) else len(body[key]))
        return tuple(counts)

    async def prepare(self) -> None:
        self.document = await (await self.client.get("/_mock/openapi.json")).json()
        self.public_pem = await (await self.client.get("/public.rsa")).text()
        self.tokens["service"] = await self.token()
        self.tokens["transfer"] = await self.token(scope="transfer")
        password = await self.client.post(
            "/oauth2/token",
            data={
                "grant_type": "password",
                "username": TEST_CABINET_LOGIN,
                "password": TEST_CABINET_PASSWORD,
            },
        )
        self.tokens["password"] = (await password.json())["access_token"]
        for _ in range(3):  # paid transactions with a saved card, for recurrent/subscribe
            invoice = f"{next(numbers):09d}"
            paid = await self.client.post(
                "/payment/cryptopay",
                json={
                    "amount": 100,
                    "currency": "KZT",
                    "name": "JON JONSON",
                    "cryptogram": json.dumps(card_json()),
                    "invoiceId": invoice,
                    "description": "first",
                    "accountId": "buyer-1",
                    "cardSave": True,
                },
                headers={"Authorization": f"Bearer {await self.payment_token(invoice, 100)}"},
            )
            assert paid.status == 200, await paid.text()
            self.paid.append((await paid.json())["id"])
        self.paid.append("00000000-0000-4000-8000-000000000000")
        invoice = f"{next(numbers):09d}"
        self.tokens["bill"] = await self.payment_token(invoice, 2500)
        bill = await self.client.post(
            "/payment/qr/generate", json={}, headers={"Authorization": f"Bearer {self.tokens['bill']}"}
        )
        self.bill_number = (await bill.json())["billNumber"]
        order: dict[str, Any] = {
            "order": {
                "amount": 200,
                "currency": "KZT",
                "description": "first",
                "id": f"{next(numbers)}",
                "terminalId": TEST_P2P_TERMINAL_ID,
            },
            "card": {
                "sender": party("p2p", "sender", lambda _: 1),
                "receiver": party("p2p", "receiver", lambda _: 1),
            },
        }
        sent = await self.client.post(
            "/p2p/transfer", json=order, headers={"Authorization": f"Bearer {self.tokens['transfer']}"}
        )
        assert sent.status == 200, await sent.text()
        self.transfer_order = order["order"]["id"]
        self.records = await self.record_counts()


# -- one example: build, send, judge ------------------------------------------------------------------


def raw_quote(text: str) -> str:
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


def as_text(value: Any) -> str:
    return value if isinstance(value, str) else dumps(value)


def key_name(key: Any) -> str:
    return str(getattr(key, "name", key))


def encode(product: Product, tree: Any) -> tuple[str, bytes]:
    """(path with query, body bytes) for the tree of this route's kind."""
    if product.encoding == "query":
        query = "&".join(f"{raw_quote(key_name(k))}={raw_quote(as_text(v))}" for k, v in tree.items())
        return product.template + (f"?{query}" if query else ""), b""
    if product.encoding == "path":
        value = next((v for k, v in tree.items() if key_name(k) == "order"), "")
        return product.template.replace("{order}", raw_quote(as_text(value))), b""
    if product.encoding == "form":
        fields = [
            (key_name(k), compress_to_encoded_uri_component(dumps(v)) if isinstance(v, dict) else as_text(v))
            for k, v in tree.items()
        ]
        return product.template, "&".join(f"{raw_quote(k)}={raw_quote(v)}" for k, v in fields).encode("ascii")
    return product.template, dumps(tree).encode("utf-8", "surrogatepass")


def field_of(tree: Any, name: str) -> Any:
    return next((v for k, v in tree.items() if key_name(k) == name), None) if isinstance(tree, dict) else None


async def token_for(ctx: Context, product: Product, tree: Any) -> str:
    if product.token == "payment" and product.name == "cryptopay":
        return await ctx.payment_token(field_of(tree, "invoiceId"), field_of(tree, "amount"))
    if product.token == "payment":  # a QR bill is made for the token's own invoice
        return await ctx.payment_token(f"{next(numbers):09d}", 100)
    return ctx.tokens.get(product.token, "")


def classify(status: int, content_type: str, text: str) -> str:
    """How far a request got: success, parser (a field or domain refusal), token, auth, body, other."""
    if 200 <= status < 400:  # the transfer page answers a finished transfer with 303 to its result
        return "success"
    if status in (401, 403):
        return "auth"
    if content_type != "application/json":  # the transfer page's HTML answers
        return "token" if "not accepted for this transfer" in text else "parser"
    message = str(json.loads(text).get("message", "")) if text else ""
    if "does not match the" in message and "token" in message:
        return "token"
    if status == 415 or message.startswith(("malformed JSON", "request body", "Content-Type")):
        return "body"
    if status == 405 or message in ("Not Found", "Method Not Allowed"):
        return "other"
    return "parser"


def success_problems(ctx: Context, product: Product, status: int, text: str) -> list[str]:
    operation = ctx.document["paths"][product.template][product.method.lower()]
    schema = operation["responses"][str(status)]["content"]["application/json"]["schema"]
    validator = Draft202012Validator({**schema, "components": ctx.document["components"]})
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(json.loads(text))
    ]


async def run_example(ctx: Context, product: Product, tree: Any, content_type: str | None) -> None:
    target = ctx.target
    if not ctx.settled:
        ctx.records = await ctx.record_counts()
    ctx.settled = False
    target.problems.clear()
    path, body = encode(product, tree)
    headers = {"Content-Type": content_type} if content_type else {}
    token = await token_for(ctx, product, tree)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    response = await ctx.client.request(
        product.method,
        path,
        data=body or None,
        headers=headers,
        allow_redirects=False,
        skip_auto_headers=("Content-Type",),
    )
    text = await response.text(errors="replace")
    where = f"{product.method} {path[:160]} ({content_type}) {body[:300]!r}"
    assert response.status < 500, f"{where} -> {response.status}: {text[:300]}"
    assert not target.problems, (
        f"{where} logged: {[logging.Formatter().format(r)[-1500:] for r in target.problems]}"
    )
    ctx.outcomes.setdefault(product.template, Counter())[
        classify(response.status, response.content_type, text)
    ] += 1
    if 400 <= response.status < 500 and response.content_type == "application/json":
        check_error_shape(path, json.loads(text), where)
    if 200 <= response.status < 400:
        if response.content_type == "application/json":
            assert success_problems(ctx, product, response.status, text) == [], where
        ctx.records = await ctx.record_counts()
    else:
        after = await ctx.record_counts()
        if after != ctx.records:
            assert await is_recorded_decline(ctx, after, response.status, text), (
                f"{where} -> {response.status} {text[:200]} left a record: {ctx.records} -> {after}"
            )
            ctx.records = after
    ctx.settled = True


async def is_recorded_decline(ctx: Context, after: tuple[int, ...], status: int, text: str) -> bool:
    """A refusal that is a whole record: the bank's decline (a test card's, by reason code), recorded as
    one REJECT transaction or transfer with the answer's code, with at most its one callback."""
    grown = [b - a for a, b in zip(ctx.records, after, strict=True)]
    if status != 400 or any(grown[3:]) or not 0 < grown[0] + grown[2] <= 2 or grown[1] > 1 or min(grown) < 0:
        return False
    code = json.loads(text).get("code")
    path, key = ("/_mock/transfers", "transfers") if grown[2] else ("/_mock/transactions", "transactions")
    newest = (await (await ctx.client.get(path)).json())[key][0]
    return bool(newest["status"] == "REJECT" and newest["reasonCode"] == code)


# -- the run --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def context() -> Iterator[Context]:
    with running_target() as target:
        ctx = Context(target, {})
        target.run(ctx.prepare())
        yield ctx


@st.composite
def product_requests(draw: st.DrawFn, ctx: Context, product: Product) -> tuple[Any, str | None]:
    base = product.base(ctx, draw)
    tree = mutated(base, draw(mutations(base))) if draw(st.integers(0, 5)) else base
    wanted = {"json": "application/json", "form": "application/x-www-form-urlencoded"}.get(product.encoding)
    content_type = draw(st.sampled_from(CONTENT_TYPES)) if wanted and draw(st.integers(0, 9)) == 0 else wanted
    return tree, content_type


@pytest.mark.parametrize("product", PRODUCTS, ids=[f"{p.method} {p.template}" for p in PRODUCTS])
def test_mutated_product_requests_reach_the_parser_and_never_half_record(context, product):
    examples = EXAMPLES_PER_ROUTE if not product.template.startswith("/api/") else EXAMPLES_PER_ROUTE // 3

    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.data())
    def check(data: st.DataObject) -> None:
        tree, content_type = data.draw(product_requests(context, product))
        context.target.run(run_example(context, product, tree, content_type))

    context.outcomes.pop(product.template, None)
    check()
    seen = context.outcomes[product.template]
    reached = seen["success"] + seen["parser"]
    print(f"{product.method} {product.template}: {dict(seen)}")
    assert reached >= REACHED_SHARE * sum(seen.values()), dict(seen)


# -- what the fuzzing found, kept as plain stories ------------------------------------------------------

# `%a` repeated: as a regular expression (`.*a.*a...`) this backtracked exponentially on a long
# value and froze the event loop (one statement or link search stopped the whole mock).
BACKTRACKING_LIKE = "%a" * 30 + "%x"
LONG_VALUE = "a" * 80


async def test_a_statement_like_pattern_full_of_wildcards_answers_and_matches_as_sql_like(client):
    token = await get_token(client, invoiceID="000000951", amount="100")
    paid = await pay(
        client,
        token,
        payment_body(
            invoiceId="000000951", email=f"{LONG_VALUE}@example.com", postLink=None, failurePostLink=None
        ),
    )
    assert paid.status == 200, await paid.text()
    service = await get_service_token(client)

    async def count(pattern: str) -> int:
        response = await client.post(
            "/operations",
            headers={"Authorization": f"Bearer {service}"},
            json={
                "searchParameters": [
                    STATEMENT_PERIOD,
                    {"name": "payer_email", "method": "like", "searchParameter": [pattern]},
                ]
            },
        )
        assert response.status == 200, await response.text()
        return int((await response.json())["totalCount"])

    assert await count(BACKTRACKING_LIKE) == 0
    assert await count("%a" * 30 + "%@EXAMPLE.com") == 1  # case-insensitive, % may take nothing
    assert await count("a_a%.com") == 1 and await count("a_a%.co") == 0


async def test_an_invoice_link_search_with_a_backtracking_like_pattern_answers(client):
    token = await (
        await client.post(
            "/oauth2/token",
            data={
                "grant_type": "password",
                "username": TEST_CABINET_LOGIN,
                "password": TEST_CABINET_PASSWORD,
            },
        )
    ).json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    made = await client.post(
        "/invoice",
        headers=headers,
        json={"shop_id": TEST_SHOP_ID, "invoice_id": "000000952", "amount": 100, "description": LONG_VALUE},
    )
    assert made.status == 200, await made.text()

    async def found(pattern: str) -> int:
        response = await client.post(
            "/invoice-links",
            headers=headers,
            json={
                "searchParameters": [{"name": "description", "method": "like", "searchParameter": [pattern]}]
            },
        )
        assert response.status == 200, await response.text()
        return int((await response.json())["TotalCount"])

    assert await found(BACKTRACKING_LIKE) == 0
    assert await found("%A" * 30 + "%") == 1


@pytest.mark.parametrize(
    ("pattern", "text", "matches"),
    [
        ("4405%", "440563...5096", True),
        ("%5096", "440563...5096", True),
        ("44_5%", "445", False),
        ("%", "", True),
        ("", "a", False),
        ("a%", "", False),
        ("A%b", "axxB", True),
        ("%.*%", "x.*y", True),
        (".*", "ab", False),
        ("%ab%", "xaab", True),
        ("%aab", "aaab", True),
        ("Ж_к", "Жук", True),
        ("Ж_к", "жук", False),  # only ASCII letters fold, as on SQLite and PostgreSQL (README)
        (BACKTRACKING_LIKE, LONG_VALUE, False),
        (BACKTRACKING_LIKE[:-1] + "a", LONG_VALUE, True),
    ],
)
def test_like_is_sql_like_in_linear_steps(pattern, text, matches):
    assert like(pattern, text) is matches


@pytest.mark.parametrize(
    ("period", "status"), [("999999w", 400), ("3651d", 400), ("3650d", 200), ("52w", 200)]
)
async def test_an_expire_period_past_ten_years_is_the_banks_400_not_a_date_overflow(client, period, status):
    token = await (
        await client.post(
            "/oauth2/token",
            data={
                "grant_type": "password",
                "username": TEST_CABINET_LOGIN,
                "password": TEST_CABINET_PASSWORD,
            },
        )
    ).json()
    response = await client.post(
        "/invoice",
        headers={"Authorization": f"Bearer {token['access_token']}"},
        json={"shop_id": TEST_SHOP_ID, "invoice_id": "000000953", "amount": 100, "expire_period": period},
    )
    assert response.status == status, await response.text()
    if status == 400:
        assert await response.json() == {
            "code": 100,
            "message": f"invalid expire_period {period!r} (at most ten years)",
        }
        links = await (await client.get("/_mock/invoice-links")).json()
        outbox = await (await client.get("/_mock/outbox")).json()
        assert links["links"] == [] and outbox["messages"] == []
