"""The contract check's judgement without a network: shapes, formats, the diff, the allow-list, safety."""

from __future__ import annotations

import json
import random
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mock_epay.contract.client import Exchange
from mock_epay.contract.compare import AllowFileError, AllowList, AllowRule, Drift, compare, parse_rules
from mock_epay.contract.flows import InvoiceNumbers, widget_facts
from mock_epay.contract.report import RunResult, json_report, render_table
from mock_epay.contract.shape import describe, descriptor, string_format
from mock_epay.contract.targets import (
    TargetError,
    build_gateway,
    default_pause,
    is_production_host,
    refuse_production,
)


def answer(flow: str, body: object, status: int = 200) -> Exchange:
    return Exchange(flow=flow, method="GET", url="http://x/api", status=status,
                    content_type="application/json", text=json.dumps(body), json=body)


@pytest.mark.parametrize(("text", "expected"), [
    ("2025-02-07T23:32:53.089532914+05:00", "rfc3339"),
    ("2022-11-15T03:52:17+06:00", "rfc3339"),
    ("2024-01-01T12:00:00.0000000+0600", "datetime, offset without colon"),
    ("2024-01-01T12:00:00", "datetime without offset"),
    ("2024-01-01T12:00:00Z", "rfc3339 utc"),
    ("75890cc5-157a-4cce-9624-16b227c2b9ec", "uuid"),
    ("099467918563", "digits(12)"),
    ("1200", "digits(4)"),
    ("440563...5096", "card mask"),
    ("https://test-epay.homebank.kz/payform/", "url"),
    ("", "empty"),
    ("12.50", "decimal"),
    ("card successfully deactivated", "text"),
])
def test_string_formats_are_recognised(text, expected):
    assert string_format(text) == expected


def test_enumerations_are_compared_by_value_and_everything_else_by_type():
    assert descriptor("CHARGE", "statusName") == 'string "CHARGE"'
    assert descriptor(465, "code") == "integer 465"
    assert descriptor("100", "resultCode") == 'string "100"'
    assert descriptor("ISPDSDK30IZJEXPOU0CB1R", "access_token") == "string opaque"


def test_a_random_hex_reference_that_happens_to_be_all_digits_is_not_drift():
    # regression: an intReference of 16 random hex digits is sometimes all decimal digits
    hexed = answer("paid/cards-auth", {"intReference": "C3B673466V9600X3", "reference": "099467918563"})
    digits = answer("paid/cards-auth", {"intReference": "3466960073466960", "reference": "123456789012"})
    assert compare([hexed], [digits]).drift == []
    assert descriptor(12.22, "amount") == "number"
    assert descriptor(100, "amount") == "integer"
    assert descriptor(True, "secure") == "boolean"
    assert descriptor(None, "issuerBankCountry") == "null"


def test_volatile_values_never_make_drift_but_a_type_or_an_enum_does():
    left = answer("paid/status", {"resultCode": "100", "transaction": {
        "id": str(uuid.uuid4()), "reference": "099467918563", "statusName": "CHARGE", "secure": True}})
    right = answer("paid/status", {"resultCode": "100", "transaction": {
        "id": str(uuid.uuid4()), "reference": "123456789012", "statusName": "AUTH", "secure": "yes",
        "xlsRRN": ""}})

    drift = compare([left], [right]).drift

    assert drift == [
        Drift("paid/status", "$.transaction.statusName", 'string "CHARGE"', 'string "AUTH"'),
        Drift("paid/status", "$.transaction.secure", "boolean", "string text"),
        Drift("paid/status", "$.transaction.xlsRRN", "absent", "string empty"),
    ]


def test_http_status_media_type_and_body_kind_are_compared():
    left = answer("refund-full/refund", {"code": 100, "message": ""}, status=400)
    right = Exchange(flow="refund-full/refund", method="POST", url="http://y", status=200, content_type="")

    fields = {d.field: (d.left, d.right) for d in compare([left], [right]).drift}

    assert fields["HTTP status"] == ("400", "200")
    assert fields["Content-Type"] == ("application/json", "(none)")
    assert fields["body"] == ("json", "empty")
    assert fields["$.code"] == ("integer 100", "absent")


def test_array_items_are_described_together_whatever_their_number():
    one = answer("saved-cards/list", [{"ID": str(uuid.uuid4()), "CardMask": "440563...5096"}])
    three = answer("saved-cards/list", [{"ID": str(uuid.uuid4()), "CardMask": "552204...6736"}] * 3)

    assert describe(one)["$[].ID"] == "string uuid"
    assert compare([one], [three]).drift == []


def test_a_step_run_on_one_side_only_is_drift_and_on_neither_side_a_note():
    ran = answer("charge/charge", {})
    skipped = Exchange(flow="charge/charge", skipped="no transaction id")

    one_side = compare([ran], [skipped])
    neither = compare([skipped], [skipped])

    assert one_side.drift == [Drift("charge/charge", "step", "ran, HTTP 200", "not run: no transaction id")]
    assert neither.drift == [] and neither.not_run == [("charge/charge", "no transaction id",
                                                        "no transaction id")]


def test_allow_rules_match_flow_field_and_sides_by_glob():
    rule = parse_rules(
        "- {flow: 'saved-cards/*', field: '$[].Token', right: absent, reason: not in the bank's answer}\n",
        "mine.yaml",
    )[0]

    assert rule.matches(Drift("saved-cards/list", "$[].Token", "string text", "absent"))
    assert not rule.matches(Drift("saved-cards/list", "$[].Token", "absent", "string text"))
    assert not rule.matches(Drift("saved-cards/list", "$[]xToken", "string text", "absent"))
    assert not rule.matches(Drift("paid/status", "$[].Token", "string text", "absent"))


def test_the_allow_list_moves_explained_drift_aside():
    drift = [Drift("a/b", "$.x", "integer", "string digits(1)"), Drift("a/b", "$.y", "null", "absent")]
    allow = AllowList([AllowRule(flow="a/*", field="$.x", reason="documented")])
    comparison = compare([answer("a/b", {"x": 1, "y": None})], [answer("a/b", {"x": "1"})])

    split = allow.split(comparison)

    assert comparison.drift == drift
    assert split.drift == [drift[1]] and split.allowed == [(drift[0], allow.rules[0])]


@pytest.mark.parametrize(("text", "problem"), [
    ("flow: x", "expected a list"),
    ("- {flow: x, field: y}", "'reason' is required"),
    ("- {flow: x, field: y, reason: z, side: left}", "unknown key(s) side"),
    ("- [1, 2]", "expected a mapping"),
    ("- {flow: x, field: y, reason: z, left: 3}", "'left' must be a string"),
    ("- {flow: [", "not valid YAML"),
])
def test_a_bad_allow_file_is_refused_naming_the_entry(text, problem):
    with pytest.raises(AllowFileError) as error:
        parse_rules(text, "mine.yaml")
    assert str(error.value).startswith("mine.yaml") and problem in str(error.value)


def test_the_shipped_known_differences_load_and_each_has_a_reason():
    rules = AllowList.load([]).rules
    assert rules and all(r.reason and r.source.endswith("known_differences.yaml") for r in rules)


def test_card_numbers_are_masked_in_the_table_and_the_json():
    left, right = build_gateway("left", "http://127.0.0.1:1/api"), build_gateway("right", "http://127.0.0.1:2")
    exchange = answer("paid/cards-auth", {"message": "card 4405639704015096 declined", "code": 465})
    comparison = compare([exchange], [answer("paid/cards-auth", {"code": "465"})])
    comparison.drift.append(Drift("paid/cards-auth", "note", "4405639704015096", "5522042705066736"))
    result = RunResult(left=left, right=right, comparison=comparison, exchanges={"left": [exchange]})

    text = render_table(result) + str(json_report(result))

    assert "4405639704015096" not in text and "5522042705066736" not in text
    assert "440563...5096" in text


def test_tokens_are_redacted_in_the_json_report():
    left, right = build_gateway("left", "http://127.0.0.1:1"), build_gateway("right", "http://127.0.0.1:2")
    token = answer("tokens/service-urlencoded",
                   {"access_token": "DCEB8O_ZM5U7SO_T_U5EJQ", "expires_in": 7200})
    result = RunResult(left=left, right=right, comparison=compare([token], [token]),
                       exchanges={"left": [token]})

    assert "DCEB8O_ZM5U7SO_T_U5EJQ" not in str(json_report(result))


def test_bank_api_hosts_bring_their_oauth_and_widget_hosts():
    legacy = build_gateway("right", "https://testepay.homebank.kz/api")
    newer = build_gateway("right", "https://test-epay-api.epayment.kz")
    mock = build_gateway("left", "http://127.0.0.1:8080/api", oauth="http://127.0.0.1:8080/epay2")

    assert legacy.token_url == "https://testoauth.homebank.kz/epay2/oauth2/token"
    assert legacy.widget_url == "https://test-epay.homebank.kz/payform/payment-api.js"
    assert newer.token_url == "https://test-epay-oauth.epayment.kz/oauth2/token"
    assert mock.token_url == "http://127.0.0.1:8080/epay2/oauth2/token"
    assert mock.widget_url == "http://127.0.0.1:8080/payform/payment-api.js"
    assert default_pause(mock) == 0 and default_pause(legacy) == 0.3


@pytest.mark.parametrize(("host", "production"), [
    ("epay-api.homebank.kz", True), ("epay-oauth.homebank.kz", True), ("epay.homebank.kz", True),
    ("epay-api-staging.homebank.kz", True), ("testepay.homebank.kz", False),
    ("test-epay-api.epayment.kz", False), ("testoauth.homebank.kz", False), ("127.0.0.1", False),
    ("example.com", False),
])
def test_production_hosts_are_those_of_the_bank_without_test_in_the_name(host, production):
    assert is_production_host(host) is production


def test_a_production_oauth_host_is_refused_even_behind_a_test_api_host():
    gateway = build_gateway("right", "https://testepay.homebank.kz/api", oauth="https://epay-oauth.homebank.kz")
    with pytest.raises(TargetError, match="epay-oauth.homebank.kz is a production host"):
        refuse_production((gateway,), allow_production=False)
    refuse_production((gateway,), allow_production=True)


def test_invoice_numbers_are_fresh_12_digit_numbers_with_distinct_last_six():
    numbers = InvoiceNumbers(random.Random(7), now=1_700_000_123)
    issued = [next(numbers) for _ in range(40)]

    assert all(len(n) == 12 and n.isdigit() and n.startswith("000123") for n in issued)
    assert len({n[-6:] for n in issued}) == 40


def test_the_widget_facts_find_the_global_and_its_entry_points():
    facts = widget_facts("var halyk = (function(){ return {pay: function(p){}, showPaymentWidget: "
                         "function(p, c){}}; })();")
    assert facts == {"script: global halyk": "present", "script: halyk.showPaymentWidget": "present",
                     "script: halyk.pay": "present"}
    assert widget_facts("<html>Not found</html>")["script: global halyk"] == "absent"


_volatile = st.one_of(st.uuids().map(str), st.text(alphabet="0123456789", min_size=12, max_size=12),
                      st.integers(min_value=0, max_value=10**9))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["id", "reference", "approvalCode", "amount"]), _volatile),
                min_size=1, max_size=4), st.randoms())
def test_two_answers_differing_only_in_volatile_values_never_drift(pairs, rng):
    body = dict(pairs)
    other = {key: _same_shape(value, rng) for key, value in body.items()}
    assert compare([answer("f/s", body)], [answer("f/s", other)]).drift == []


def _same_shape(value, rng):
    if isinstance(value, int):
        return rng.randrange(10**9)
    if "-" in value:
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))
    return "".join(rng.choice("0123456789") for _ in value)
