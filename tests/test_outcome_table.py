"""The outcome table decides how every outcome kind behaves: each kind has one complete entry, and
the cards/auth answer, the scenario schema and the payment service follow what the entry says."""

from __future__ import annotations

import pytest

from mock_epay.gateway import outcomes
from mock_epay.gateway.models import OutcomeKind, evolve
from mock_epay.gateway.outcomes import OUTCOMES, ApiAnswer, ApiShape, PageShape
from mock_epay.web.app_keys import STORE
from tests.conftest import get_token
from tests.test_cards_auth import pay, payment_body


@pytest.mark.parametrize("kind", list(OutcomeKind))
def test_every_outcome_kind_has_a_complete_entry(kind):
    entry = OUTCOMES[kind]
    assert entry.kind is kind
    assert entry.doc and "\n" not in entry.doc
    assert entry.payments or entry.operations
    assert callable(entry.api)
    assert (entry.operation_api is not None) == entry.operations
    assert (entry.page_status is not None) == (entry.page_shape in (PageShape.UNAVAILABLE, PageShape.DROPPED))
    assert entry.default_message


def test_the_table_lists_exactly_the_outcome_kinds():
    assert set(OUTCOMES) == set(OutcomeKind)


async def add_rule(client, outcome: dict, match: dict | None = None):
    return await client.post("/_mock/scenarios", json={"match": match or {"invoiceId": "000000777"},
                                                       "outcome": outcome})


async def test_a_kind_the_table_forbids_for_operations_is_refused_in_an_operation_rule(client):
    allowed = await add_rule(client, {"result": "server_error"}, {"operation": "refund"})
    assert allowed.status == 201
    refused = await add_rule(client, {"result": "hang"}, {"operation": "refund"})
    assert refused.status == 400
    assert "hang" in (await refused.json())["message"]


async def test_a_duplicate_outcome_answers_as_its_entry_says_and_records_a_transaction(client):
    assert (await add_rule(client, {"result": "duplicate"})).status == 201
    token = await get_token(client, invoiceID="000000777")
    response = await pay(client, token, payment_body(invoiceId="000000777"))
    assert response.status == 400
    assert await response.json() == {"code": -1, "message": "dublicate transaction"}
    assert client.app[STORE].transaction_for_invoice("test", "000000777") is not None


async def test_changing_an_entry_changes_the_answer_through_the_api(client, monkeypatch):
    # The answer comes from the table, not from a branch in the route: a new rendering for
    # `duplicate` (HTTP 409, its own message) is one change to its entry.
    def conflict(outcome):
        return ApiAnswer(ApiShape.ERROR, 409, -1, f"conflict: {outcome.message}")

    table = dict(OUTCOMES)
    table[OutcomeKind.DUPLICATE] = evolve(OUTCOMES[OutcomeKind.DUPLICATE], api=conflict)
    monkeypatch.setattr(outcomes, "OUTCOMES", table)
    assert (await add_rule(client, {"result": "duplicate"})).status == 201
    token = await get_token(client, invoiceID="000000777")
    response = await pay(client, token, payment_body(invoiceId="000000777"))
    assert response.status == 409
    assert await response.json() == {"code": -1, "message": "conflict: dublicate transaction"}


async def test_an_entry_that_does_not_record_leaves_no_transaction(client, monkeypatch):
    table = dict(OUTCOMES)
    table[OutcomeKind.DECLINE] = evolve(OUTCOMES[OutcomeKind.DECLINE], records=False)
    monkeypatch.setattr(outcomes, "OUTCOMES", table)
    assert (await add_rule(client, {"result": "decline", "reasonCode": 484})).status == 201
    token = await get_token(client, invoiceID="000000777")
    response = await pay(client, token, payment_body(invoiceId="000000777"))
    assert response.status == 400
    assert await response.json() == {"code": 484, "message": "Insufficient funds"}
    assert client.app[STORE].transaction_for_invoice("test", "000000777") is None
