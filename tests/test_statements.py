"""Statements over real HTTP: `POST /operations` and `/p2p/operations` with the documented grammar.

A finance team's story: payments made over two days, a query for the first day's orders in a
set, matched with `like`, ordered and paged, returns exactly those records, and never another
merchant's payments even when their order numbers are the same. Every test here runs on the
memory store, on SQLite and on PostgreSQL (`store` below): the SQL stores run the same query in SQL,
and must answer exactly what the memory store answers.
"""

from __future__ import annotations

from typing import Any

import pytest

from mock_epay.gateway.models import Merchant, SeedCard, Terminal
from mock_epay.settings import DEFAULT_MERCHANT, Settings
from tests.conftest import get_service_token, get_token
from tests.pg_cluster import fresh_url
from tests.test_cards_auth import pay, payment_body
from tests.test_transfers import body as transfer_body
from tests.test_transfers import receiver, send

VISA_ID, MASTERCARD_ID = "e7e2587f-de26-4f41-ae1f-80c1fea31728", "22f2c5db-64d8-475f-8066-af3de3dc8233"
OTHER_CARD = "bbbbbbbb-0000-4000-8000-00000000000b"
OTHER = Merchant(
    "other-shop",
    "other-secret-123",
    "Other shop",
    (Terminal("aaaaaaaa-0000-4000-8000-00000000000a", "90000010"),),
    saved_cards=(SeedCard("testuser1", "4405639704015096", id=OTHER_CARD),),
)
DAY = 86_400
ALL_TIME = {
    "name": "created_date",
    "method": "between",
    "searchParameter": ["2000-01-01T00:00:00Z", "2999-01-01T00:00:00Z"],
}


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    """The store URL of one backend (PostgreSQL: a fresh schema of the session's throwaway cluster)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'statements.db'}"
    if request.param == "postgresql":
        return fresh_url()
    return "memory://"


@pytest.fixture
def settings(store: str) -> Settings:
    return Settings(seed=99, log_requests=False, merchants=(DEFAULT_MERCHANT, OTHER), store=store)


async def paid(client: Any, invoice: str, amount: int, card: str = VISA_ID, **extra: Any) -> dict[str, Any]:
    token = await get_token(client, invoiceID=invoice, amount=str(amount))
    response = await pay(
        client,
        token,
        payment_body(
            invoiceId=invoice,
            amount=amount,
            cardId={"id": card},
            postLink=None,
            failurePostLink=None,
            **extra,
        ),
    )
    assert response.status == 200, await response.text()
    return await response.json()


async def other_paid(client: Any, invoice: str) -> None:
    token = await get_token(
        client,
        client_id=OTHER.client_id,
        client_secret=OTHER.client_secret,
        terminal=OTHER.terminals[0].id,
        invoiceID=invoice,
        amount="150",
    )
    body = payment_body(
        invoiceId=invoice,
        amount=150,
        cardId={"id": OTHER_CARD},
        terminalId=OTHER.terminals[0].id,
        postLink=None,
        failurePostLink=None,
    )
    assert (await pay(client, token, body)).status == 200


async def search(
    client: Any, query: dict[str, Any], path: str = "/operations", token: str | None = None
) -> Any:
    token = token or await get_service_token(client)
    return await client.post(path, json=query, headers={"Authorization": f"Bearer {token}"})


async def found(client: Any, query: dict[str, Any], path: str = "/operations") -> dict[str, Any]:
    response = await search(client, query, path)
    assert response.status == 200, await response.text()
    return await response.json()


async def two_days_of_payments(client: Any, clock: Any) -> tuple[str, str]:
    """Day one: orders 100101-100104 (100103 by MasterCard); day two: 100105. The other shop pays 100101."""
    start = clock.now()
    for number, amount in ((100101, 100), (100102, 300), (100103, 200), (100104, 400)):
        card = MASTERCARD_ID if number == 100103 else VISA_ID
        await paid(client, f"000{number}", amount, card=card)
    await other_paid(client, "000100101")
    clock.advance(DAY)
    await paid(client, "000100105", 500)
    return start.replace(microsecond=0).isoformat(), clock.now().replace(microsecond=0).isoformat()


async def test_a_period_an_in_filter_like_ordering_and_paging_give_exactly_the_expected_records(
    client, clock
):
    day_one, day_two = await two_days_of_payments(client, clock)
    query = {
        "paging": {"page": 1, "size": 2},  # skip one record, return two (the docs' offset reading)
        "searchParameters": [
            {"name": "created_date", "method": "between", "searchParameter": [day_one, day_two]},
            {
                "name": "invoice_id",
                "method": "in",
                "searchParameter": ["000100101", "000100102", "000100104", "000100105"],
            },
            {"name": "card_mask", "method": "like", "searchParameter": ["4405%"]},
        ],
        "orderParameters": [{"field": "amount", "typeOrder": "DESC"}],
    }
    answer = await found(client, query)
    assert answer["totalCount"] == 3  # 100105 is on day two, 100103 is by MasterCard
    assert [(r["invoiceId"], r["amount"]) for r in answer["records"]] == [
        ("000100102", 300),
        ("000100101", 100),
    ]
    record = answer["records"][0]
    assert (record["status"], record["cardMask"], record["cardType"]) == ("CHARGE", "440563...5096", "VISA")
    assert record["payerEmail"] == "buyer@example.com" and record["transactionTypeId"] == 1
    assert "4405639704015096" not in str(answer)


async def test_another_merchants_payments_never_appear_even_with_the_same_order_number(client, clock):
    await two_days_of_payments(client, clock)
    query = {
        "searchParameters": [
            ALL_TIME,
            {"name": "invoice_id", "method": "=", "searchParameter": ["000100101"]},
        ]
    }
    ours = await found(client, query)
    assert [r["amount"] for r in ours["records"]] == [100]
    other = await get_service_token(client, client_id=OTHER.client_id, client_secret=OTHER.client_secret)
    theirs = await (await search(client, query, token=other)).json()
    assert [r["amount"] for r in theirs["records"]] == [150]


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        (
            {"name": "amount", "method": ">=", "searchParameter": ["300"]},
            ["000100102", "000100104", "000100105"],
        ),
        ({"name": "amount", "method": "<", "searchParameter": [200]}, ["000100101"]),
        (
            {"name": "amount", "method": "between", "searchParameter": ["150", "350"]},
            ["000100102", "000100103"],
        ),
        ({"name": "invoice_id", "method": "like", "searchParameter": ["%0_03"]}, ["000100103"]),
        ({"name": "card_mask", "method": "=", "searchParameter": ["552204...6736"]}, ["000100103"]),
        (
            {"name": "client", "method": "like", "searchParameter": ["test%"]},
            ["000100101", "000100102", "000100103", "000100104", "000100105"],
        ),
        ({"name": "post_link", "method": "=", "searchParameter": ["true"]}, []),
        ({"name": "transaction_type_id", "method": "in", "searchParameter": ["2", "3"]}, []),
    ],
)
async def test_each_filter_method_selects_the_matching_payments(client, clock, condition, expected):
    await two_days_of_payments(client, clock)
    answer = await found(
        client,
        {
            "searchParameters": [ALL_TIME, condition],
            "orderParameters": [{"field": "invoice_id", "typeOrder": "ASC"}],
        },
    )
    assert [r["invoiceId"] for r in answer["records"]] == expected
    assert answer["totalCount"] == len(expected)


async def test_an_empty_result_is_a_200_with_no_records(client):
    assert await found(client, {"searchParameters": [ALL_TIME]}) == {"totalCount": 0, "records": []}


@pytest.mark.parametrize(
    ("query", "complaint"),
    [
        ({"searchParameters": []}, "created_date is required"),
        (
            {"searchParameters": [{"name": "invoice_id", "method": "in", "searchParameter": ["1"]}]},
            "created_date is required",
        ),
        (
            {
                "searchParameters": [
                    {"name": "created_date", "method": "between", "searchParameter": ["2025-01-01"]}
                ]
            },
            "takes exactly 2",
        ),
        (
            {"searchParameters": [ALL_TIME, {"name": "amount", "method": "~", "searchParameter": ["1"]}]},
            "unknown method",
        ),
        (
            {"searchParameters": [ALL_TIME, {"name": "colour", "method": "=", "searchParameter": ["1"]}]},
            "unknown filter",
        ),
        (
            {
                "searchParameters": [
                    ALL_TIME,
                    {"name": "invoice_id", "method": "like", "searchParameter": ["1"]},
                ]
            },
            "must contain %",
        ),
        (
            {"searchParameters": [ALL_TIME, {"name": "invoice_id", "method": "in", "searchParameter": []}]},
            "at least 1",
        ),
        (
            {"searchParameters": [ALL_TIME, {"name": "amount", "method": "=", "searchParameter": ["ten"]}]},
            "needs numbers",
        ),
        (
            {
                "searchParameters": [
                    {"name": "created_date", "method": "between", "searchParameter": ["x", "y"]}
                ]
            },
            "ISO 8601",
        ),
        (
            {"searchParameters": [ALL_TIME], "orderParameters": [{"field": "amount", "typeOrder": "UP"}]},
            "ASC or DESC",
        ),
        ({"searchParameters": [ALL_TIME], "paging": {"page": -1, "size": 2}}, "paging.page"),
        ({"searchParameters": "created_date"}, "must be a list"),
        # refused by the declaration (wire.statements.StatementRequest) before the grammar's checks
        ({"searchParameters": [ALL_TIME, 5]}, "searchParameters[1] must be an object with name, method"),
        ({"searchParameters": [ALL_TIME, {"name": 7, "method": "=", "searchParameter": ["1"]}]},
         "searchParameters[1] must be an object"),
        ({"searchParameters": [ALL_TIME], "orderParameters": [{"field": 5}]},
         "orderParameters[0] must be an object with field and typeOrder"),
        ({"searchParameters": [ALL_TIME], "paging": "first"},
         "'paging' must be an object with page and size"),
        ({"searchParameters": [ALL_TIME], "paging": {"size": [2]}}, "'paging.size' must be a whole number"),
        (
            {"searchParameters": [ALL_TIME, {"name": "amount", "method": "like", "searchParameter": ["1%"]}]},
            "'like' matches text",
        ),
        (
            {
                "searchParameters": [
                    ALL_TIME,
                    {"name": "invoice_id", "method": "in", "searchParameter": [str(n) for n in range(1001)]},
                ]
            },
            "at most 1000 values",
        ),
    ],
)
async def test_a_query_the_bank_cannot_read_gets_a_clear_400_with_code_100(client, query, complaint):
    response = await search(client, query)
    assert response.status == 400
    answer = await response.json()
    assert answer["code"] == 100 and complaint in answer["message"]


async def test_paging_accepts_numeric_strings_and_can_mean_page_numbers(make_client, clock, store, tmp_path):
    offset_client = await make_client(Settings(seed=3, log_requests=False, store=store))
    for number in range(1, 6):
        await paid(offset_client, f"00020000{number}", 100 * number)
    by_amount = [{"field": "amount", "typeOrder": "ASC"}]
    answer = await found(
        offset_client,
        {"paging": {"page": "2", "size": "2"}, "searchParameters": [ALL_TIME], "orderParameters": by_amount},
    )
    assert [r["amount"] for r in answer["records"]] == [300, 400]  # skip two, take two

    second = f"sqlite:///{tmp_path / 'pages.db'}" if store.startswith("sqlite") else store
    if store.startswith("postgresql"):
        second = fresh_url()
    page_client = await make_client(
        Settings(seed=3, log_requests=False, statement_paging="page", store=second)
    )
    for number in range(1, 6):
        await paid(page_client, f"00020000{number}", 100 * number)
    answer = await found(
        page_client,
        {"paging": {"page": 2, "size": 2}, "searchParameters": [ALL_TIME], "orderParameters": by_amount},
    )
    assert [r["amount"] for r in answer["records"]] == [300, 400]  # page 2 of size 2
    answer = await found(
        page_client,
        {"paging": {"page": 3, "size": 2}, "searchParameters": [ALL_TIME], "orderParameters": by_amount},
    )
    assert [r["amount"] for r in answer["records"]] == [500]


async def test_p2p_operations_lists_transfers_only_and_filters_by_receiver_card(client):
    await paid(client, "000300001", 100)
    assert (await send(client, "/p2p/transfer", transfer_body("000300002"))).status == 200
    payout = transfer_body("000300003", cards={"receiver": receiver("4405639704015096")})
    assert (await send(client, "/chpayment/transfer", payout)).status == 200
    query = {
        "searchParameters": [
            ALL_TIME,
            {"name": "receiver_card_mask", "method": "like", "searchParameter": ["552204%"]},
        ]
    }
    answer = await found(client, query, path="/api/p2p/operations")
    assert [(r["invoiceId"], r["transactionTypeId"]) for r in answer["records"]] == [("000300002", 2)]
    assert answer["records"][0]["senderCardMask"] == "440563...5096" and answer["records"][0]["fee"] == 0
    payments = await found(client, {"searchParameters": [ALL_TIME]})
    assert [r["invoiceId"] for r in payments["records"]] == ["000300001"]


async def test_a_payment_token_cannot_read_statements(client):
    token = await get_token(client)
    response = await search(client, {"searchParameters": [ALL_TIME]}, token=token)
    assert response.status == 401
