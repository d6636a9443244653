"""The pure matcher and the engine's small state: every match field, header picks, sequences, overrides."""

from __future__ import annotations

from typing import Any

import pytest

from mock_epay.gateway.errors import EpayError
from mock_epay.gateway.models import CallbackMode, OperationAttempt, OutcomeKind, PaymentAttempt
from mock_epay.scenarios.engine import RuleSet, ScenarioEngine, compile_rule, select_rule

TERMINAL = "67e34d63-102f-4bd1-898e-370781d0074d"
DECLINE = {"preset": "insufficient_funds"}


def attempt(**fields: Any) -> PaymentAttempt:
    values: dict[str, Any] = {"client_id": "test", "invoice_id": "000000001", "amount": 100.0,
                              "currency": "KZT", "terminal_id": TERMINAL,
                              "card_pan": "4405639704015096", "card_id": "card-1"}
    values.update(fields)
    return PaymentAttempt(**values)


def operation(**fields: Any) -> OperationAttempt:
    values: dict[str, Any] = {"client_id": "test", "operation": "refund", "transaction_id": "tx-1",
                              "invoice_id": "000000001", "amount": 100.0, "currency": "KZT",
                              "terminal_id": TERMINAL}
    values.update(fields)
    return OperationAttempt(**values)


def rule(name: str = "r", match: dict[str, Any] | None = None, **rest: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"name": name, "description": "test rule", "match": match or {}}
    spec.update(rest)
    if "outcome" not in spec and "outcomes" not in spec:
        spec["outcome"] = DECLINE
    return spec


def engine(*specs: dict[str, Any]) -> ScenarioEngine:
    return ScenarioEngine.from_rules(specs)


def fires(match: dict[str, Any], **fields: Any) -> bool:
    return engine(rule(match=match)).decide(attempt(**fields)).kind is OutcomeKind.DECLINE


@pytest.mark.parametrize(
    ("match", "fields", "expected"),
    [
        ({"amount": 4840}, {"amount": 4840.0}, True),
        ({"amount": 4840}, {"amount": 4840.5}, False),
        ({"amount": [1, 2.5]}, {"amount": 2.5}, True),
        ({"amount": {"min": 10, "max": 20}}, {"amount": 20.0}, True),
        ({"amount": {"min": 10, "max": 20}}, {"amount": 20.01}, False),
        ({"amount": {"min": 1000}}, {"amount": 999.99}, False),
        ({"amount": {"max": 5}}, {"amount": 5.0}, True),
        ({"invoiceId": "000000042"}, {"invoice_id": "000000042"}, True),
        ({"invoiceId": "000000042"}, {"invoice_id": "000000043"}, False),
        ({"invoiceId": {"regex": "^9\\d+$"}}, {"invoice_id": "9123456"}, True),
        ({"invoiceId": {"regex": "^9\\d+$"}}, {"invoice_id": "1923456"}, False),
        ({"invoiceIdAlt": "1234567"}, {"invoice_id_alt": "1234567"}, True),
        ({"cardNumber": 4405639704015096}, {}, True),
        ({"cardNumber": "5522042705066736"}, {}, False),
        ({"cardNumber": {"regex": "^4405"}}, {}, True),
        ({"cardId": "card-1"}, {}, True),
        ({"cardId": ["card-2", "card-3"]}, {}, False),
        ({"cardId": "card-1"}, {"card_id": None}, False),
        ({"accountId": "vip"}, {"account_id": "vip"}, True),
        ({"accountId": "vip"}, {"account_id": "vip2"}, False),
        ({"terminal": TERMINAL}, {}, True),
        ({"terminal": "other"}, {}, False),
        ({"currency": "USD"}, {"currency": "USD"}, True),
        ({"currency": "USD"}, {}, False),
        ({"description": {"contains": "decline me"}}, {"description": "please decline me now"}, True),
        ({"description": {"contains": "decline me"}}, {"description": "approve me"}, False),
        ({"email": "fail@example.com"}, {"email": "fail@example.com"}, True),
        ({"email": {"regex": "@fail\\.test$"}}, {"email": "a@ok.test"}, False),
        ({"phone": "77000000484"}, {"phone": "77000000484"}, True),
        ({"name": {"in": ["DECLINE ME"]}}, {"name": "DECLINE ME"}, True),
        ({"language": "ENG"}, {"language": "RU"}, False),
        ({"source": "payform"}, {"source": "payform"}, True),
        ({"source": "payform"}, {"source": "cards/auth"}, False),
        ({"cardCvc": {"regex": "^(?!321$)\\d{3}$"}}, {"card_cvc": "999"}, True),
        ({"cardCvc": {"regex": "^(?!321$)\\d{3}$"}}, {"card_cvc": "321"}, False),
        ({"cardCvc": {"regex": "^(?!321$)\\d{3}$"}}, {"card_cvc": ""}, False),
        ({"cardExpiry": "09/20"}, {"card_expiry": "09/20"}, True),
        ({}, {}, True),
        ({"amount": 100, "currency": "USD"}, {}, False),  # every condition must hold
        ({"amount": 100, "accountId": "testuser1"}, {"account_id": "testuser1"}, True),
    ],
)
def test_match_fields(match, fields, expected):
    assert fires(match, **fields) is expected


def test_first_matching_rule_wins():
    e = engine(rule("first", {"amount": {"min": 1}}, outcome={"reasonCode": 462, "result": "decline"}),
               rule("second", {"amount": 100}, outcome={"reasonCode": 465, "result": "decline"}))
    outcome = e.decide(attempt())
    assert (outcome.rule, outcome.reason_code) == ("first", 462)


def test_index_keeps_file_order_between_exact_and_generic_rules():
    e = engine(rule("generic-early", {"currency": "USD"}, outcome={"result": "approve"}),
               rule("exact", {"amount": 100}),
               rule("generic-late", {}, outcome={"result": "duplicate"}))
    assert e.decide(attempt(currency="USD")).rule == "generic-early"
    assert e.decide(attempt()).rule == "exact"
    assert e.decide(attempt(amount=5.0)).rule == "generic-late"


def test_nothing_matches_means_approve():
    outcome = engine(rule(match={"amount": 1})).decide(attempt())
    assert outcome.kind is OutcomeKind.APPROVE and outcome.rule == ""


def test_header_picks_a_rule_outright():
    e = engine(rule("never", {"amount": 1}), rule("only", header_only=True,
                                                  outcome={"result": "server_error", "http_status": 503}))
    assert e.decide(attempt(scenario="never")).rule == "never"
    outcome = e.decide(attempt(scenario="only"))
    assert (outcome.kind, outcome.http_status) == (OutcomeKind.SERVER_ERROR, 503)
    assert e.decide(attempt()).kind is OutcomeKind.APPROVE  # header_only never matches by itself


def test_unknown_header_is_a_400_listing_the_rules():
    with pytest.raises(EpayError) as caught:
        engine(rule("a"), rule("b")).decide(attempt(scenario="zzz"))
    assert (caught.value.status, caught.value.code) == (400, -1)
    assert caught.value.message == "unknown scenario 'zzz'; loaded: a, b"


def test_select_rule_is_pure():
    rules = [compile_rule(rule("a", {"amount": 100}), "x", 0)]
    rule_set = RuleSet(rules, for_operations=False)
    empty = RuleSet([], for_operations=False)
    for _ in range(3):
        assert select_rule(empty, rule_set, attempt()).name == "a"
        assert select_rule(empty, rule_set, attempt(amount=1.0)) is None


def test_outcome_fields_are_compiled():
    e = engine(rule("d", {"amount": 1}, outcome={"result": "decline", "reasonCode": 465, "message": "nope",
                                                  "http_status": 402, "delay_ms": 5,
                                                  "callback": {"mode": "delay", "delay_ms": 900}}),
               rule("p", {"amount": 2}, outcome={"preset": "expired_card"}),
               rule("s", {"amount": 3}, outcome={"result": "secure3d", "otp": "4321"}),
               rule("e", {"amount": 4}, outcome={"result": "server_error", "body": ""}),
               rule("t", {"amount": 5}, outcome={"preset": "secure3d_failure"}))
    d = e.decide(attempt(amount=1.0))
    assert (d.reason_code, d.message, d.http_status, d.delay_ms) == (465, "nope", 402, 5)
    assert (d.callback.mode, d.callback.delay_ms) == (CallbackMode.DELAY, 900)
    p = e.decide(attempt(amount=2.0))
    assert (p.kind, p.reason_code, p.message, p.http_status) == (
        OutcomeKind.DECLINE, 478, "Card expired", 400)
    assert e.decide(attempt(amount=3.0)).otp == "4321"
    err = e.decide(attempt(amount=4.0))
    assert (err.http_status, err.body) == (500, "")
    assert e.decide(attempt(amount=5.0)).reason_code == 473


def test_sequence_per_invoice_is_isolated_between_invoices():
    e = engine(rule("seq", {}, outcomes=[DECLINE, DECLINE, {"result": "approve"}]))
    kinds_a = [e.decide(attempt(invoice_id="000000001")).kind for _ in range(2)]
    kinds_b = [e.decide(attempt(invoice_id="000000002")).kind for _ in range(4)]
    third_a = e.decide(attempt(invoice_id="000000001")).kind
    assert kinds_a == [OutcomeKind.DECLINE] * 2
    assert kinds_b == [OutcomeKind.DECLINE] * 2 + [OutcomeKind.APPROVE] * 2  # the last one repeats
    assert third_a is OutcomeKind.APPROVE


def test_sequence_per_card_is_isolated_between_cards_and_merchants():
    e = engine(rule("seq", {}, outcomes=[DECLINE, {"result": "approve"}], sequence_by="card"))
    visa = [e.decide(attempt(invoice_id=f"00000000{i}")).kind for i in range(2)]
    other_card = e.decide(attempt(card_pan="5522042705066736")).kind
    other_merchant = e.decide(attempt(client_id="shop")).kind
    assert visa == [OutcomeKind.DECLINE, OutcomeKind.APPROVE]
    assert other_card is OutcomeKind.DECLINE and other_merchant is OutcomeKind.DECLINE


def test_reset_forgets_sequences():
    e = engine(rule("seq", {}, outcomes=[DECLINE, {"result": "approve"}]))
    e.decide(attempt())
    e.reset()
    assert e.decide(attempt()).kind is OutcomeKind.DECLINE
    e.reset("other-merchant")
    assert e.decide(attempt()).kind is OutcomeKind.APPROVE
    e.reset("test")
    assert e.decide(attempt()).kind is OutcomeKind.DECLINE


def test_override_applies_to_the_next_n_matching_payments_only():
    e = engine(rule("base", {"amount": 100}, outcome={"result": "approve"}))
    e.add_override({"match": {"invoiceId": "000000009"}, "outcome": {"preset": "blocked_card"}}, times=2)
    assert e.decide(attempt()).rule == "base"  # another invoice: not counted
    first = e.decide(attempt(invoice_id="000000009"))
    second = e.decide(attempt(invoice_id="000000009"))
    third = e.decide(attempt(invoice_id="000000009"))
    assert (first.reason_code, second.reason_code) == (465, 465)
    assert third.rule == "base"
    assert e.overrides == ()


def test_clear_overrides():
    e = engine(rule("base", {}, outcome={"result": "approve"}))
    e.add_override({"name": "x", "match": {}, "outcome": DECLINE}, times=5)
    assert e.clear_overrides() == 1
    assert e.decide(attempt()).rule == "base"


def test_payment_rules_never_match_operations_and_back():
    e = engine(rule("pay", {}), rule("op", {"operation": "refund"},
                                     outcome={"result": "server_error", "http_status": 502}))
    assert e.decide(attempt()).rule == "pay"
    assert e.decide_operation(operation()).rule == "op"
    assert e.decide_operation(operation(operation="charge")) is None


def test_operation_rules():
    e = engine(
        rule("refund-flaky", {"operation": ["refund"], "amount": 6222},
             outcomes=[{"result": "server_error"}, {"result": "server_error"}, {"result": "approve"}],
             sequence_by="transaction"),
        rule("charge-decline", {"operation": "charge"}, outcome={"result": "decline"}),
        rule("cancel-slow", {"operation": "cancel"}, outcome={"result": "approve", "delay_ms": 50}),
        rule("by-tx", {"operation": "refund", "transactionId": "tx-special"},
             outcome={"result": "decline", "reasonCode": 102, "http_status": 404}),
    )
    tx1 = [e.decide_operation(operation(amount=6222.0)) for _ in range(3)]
    assert [o.http_status if o else None for o in tx1] == [500, 500, None]
    tx2 = e.decide_operation(operation(amount=6222.0, transaction_id="tx-2"))
    assert tx2 is not None and tx2.http_status == 500
    declined = e.decide_operation(operation(operation="charge"))
    assert (declined.kind, declined.reason_code, declined.message, declined.http_status) == (
        OutcomeKind.DECLINE, 100, "operation failed", 400)
    slow = e.decide_operation(operation(operation="cancel"))
    assert (slow.kind, slow.delay_ms) == (OutcomeKind.APPROVE, 50)
    by_tx = e.decide_operation(operation(transaction_id="tx-special"))
    assert (by_tx.reason_code, by_tx.message, by_tx.http_status) == (102, "transaction not found", 404)
    assert e.decide_operation(operation()) is None


def test_operation_header_picks_operation_rule_and_ignores_payment_rule():
    e = engine(rule("pay", {}), rule("op", {"operation": "refund", "amount": 1},
                                     outcome={"result": "server_error"}))
    assert e.decide_operation(operation(scenario="op")).rule == "op"
    assert e.decide_operation(operation(scenario="pay")) is None
    with pytest.raises(EpayError):
        e.decide_operation(operation(scenario="nope"))


def test_shipped_operation_library():
    e = ScenarioEngine()
    assert e.decide_operation(operation(amount=6100.0)).reason_code == 100
    assert e.decide_operation(operation(amount=6500.0)).http_status == 500
    assert e.decide_operation(operation(amount=6003.0)).delay_ms == 3000
    assert e.decide_operation(operation(operation="charge", amount=6101.0)).reason_code == 100
    assert e.decide_operation(operation(operation="charge", amount=6503.0)).body == ""
    assert e.decide_operation(operation(operation="cancel", amount=6102.0)).reason_code == 100
    assert e.decide_operation(operation(operation="cancel", amount=6502.0)).http_status == 502
    flaky = [e.decide_operation(operation(amount=6222.0)) for _ in range(3)]
    assert [o and o.http_status for o in flaky] == [500, 500, None]
    assert e.decide_operation(operation(amount=100.0)) is None
    assert e.decide_operation(operation(operation="charge", amount=6100.0)) is None


def test_test_card_table_applies_when_no_rule_fits():
    e = ScenarioEngine()
    typed = {"source": "payform", "card_expiry": "01/27"}
    assert e.decide(attempt(card_cvc="999", **typed)).reason_code == 462
    assert e.decide(attempt(card_cvc="321", **typed)).kind is OutcomeKind.APPROVE
    assert e.decide(attempt()).kind is OutcomeKind.APPROVE  # cards/auth carries no CVC
    # a rule (here a user's) comes before the table
    mine = engine(rule("mine", {"cardNumber": "4405639704015096"}, outcome={"result": "approve"}))
    assert mine.decide(attempt(card_cvc="999", **typed)).rule == "mine"


def test_bench_rules_never_match_the_bench_payment():
    from pathlib import Path

    bench = ScenarioEngine([Path(__file__).resolve().parent.parent / "bench" / "fifty_rules.yaml"])
    assert len(bench.rules) >= 50
    for invoice in ("000000001", "123456789", "999999999999999", "555512345", "555501234567890"[:14]):
        outcome = bench.decide(attempt(invoice_id=invoice, account_id="testuser1",
                                       card_id="e7e2587f-de26-4f41-ae1f-80c1fea31728",
                                       description="bench", email="buyer@example.com"))
        assert outcome.rule == ""


def test_many_rules_compile_into_one_matcher():
    specs = [rule(f"r{i}", {"amount": float(i), "accountId": {"regex": f"^a{i}$"}}) for i in range(2000)]
    e = engine(*specs)
    assert e.decide(attempt(amount=1999.0, account_id="a1999")).rule == "r1999"
    assert e.decide(attempt(amount=1999.0, account_id="a1")).rule == ""


def test_time_scale_shortens_delays():
    e = ScenarioEngine(time_scale=0.01)
    assert e.decide(attempt(amount=7003.0)).delay_ms == 30
    assert e.decide_operation(operation(amount=6003.0)).delay_ms == 30
