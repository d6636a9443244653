"""The shipped scenario library, exercised through real HTTP: every rule, its trigger and its answer."""

from __future__ import annotations

import asyncio
import itertools
import logging
from typing import Any

import aiohttp
import pytest

from mock_epay.gateway.models import Merchant, SeedCard
from mock_epay.scenarios.engine import shipped_paths
from mock_epay.scenarios.schema import read_rules_file
from mock_epay.settings import DEFAULT_MERCHANT, Settings
from mock_epay.web.app_keys import DISPATCHER, STORE
from tests.conftest import get_service_token, get_token
from tests.test_cards_auth import LOCKED_CARD, VISA_CARD, payment_body

LOCKED_MASTERCARD = "aaaaaaaa-0000-0000-0000-00000000c0de"
_invoices = itertools.count(700_000_001)

# name -> (how to trigger it, HTTP status, body code or None for a non-JSON body)
EXPECTED: dict[str, tuple[dict[str, Any], int, int | None]] = {
    "locked-visa": ({"card": LOCKED_CARD}, 400, 465),
    "locked-mastercard": ({"card": LOCKED_MASTERCARD}, 400, 465),
    "approve": ({"header": "approve", "card": LOCKED_CARD}, 200, None),
    "insufficient-funds": ({"amount": 4840}, 400, 484),
    "card-blocked": ({"amount": 4650}, 400, 465),
    "card-expired": ({"amount": 4780}, 400, 478),
    "secure3d-failed": ({"amount": 4730}, 400, 473),
    "call-your-bank": ({"amount": 4620}, 400, 462),
    "declined-by-issuer": ({"amount": 4660}, 400, 466),
    "wrong-expiry": ({"amount": 4570}, 400, 457),
    "invalid-card-number": ({"amount": 4720}, 400, 472),
    "restricted-card": ({"amount": 4790}, 400, 479),
    "lost-card": ({"amount": 4810}, 400, 481),
    "stolen-card": ({"amount": 4830}, 400, 483),
    "not-permitted-to-cardholder": ({"amount": 4860}, 400, 486),
    "amount-limit-exceeded": ({"amount": 4880}, 400, 488),
    "frequency-limit-exceeded": ({"amount": 4910}, 400, 491),
    "issuer-timeout": ({"amount": 4930}, 400, 493),
    "issuer-unavailable": ({"amount": 4940}, 400, 494),
    "too-many-attempts": ({"amount": 5050}, 400, 505),
    "duplicate-transaction": ({"amount": 4001}, 400, -1),
    "insufficient-then-approve": ({"amount": 4841}, 400, 484),
    "slow-3s": ({"amount": 7003}, 200, None),
    "server-error-500": ({"amount": 7500}, 500, -1),
    "bad-gateway-502": ({"amount": 7502}, 502, None),
    "unavailable-503": ({"amount": 7503}, 503, None),
    "approved-but-502": ({"amount": 7512}, 502, None),
    "flaky-503-twice": ({"amount": 7222}, 503, None),
    "hang": ({"amount": 7777}, 0, None),  # tested below with a client timeout
    "drop-connection": ({"amount": 7778}, 0, None),
    "approved-but-dropped": ({"amount": 7779}, 0, None),
    "callback-twice": ({"amount": 7002}, 200, None),
    "callback-delayed-60s": ({"amount": 7060}, 200, None),
    "callback-lost": ({"amount": 7404}, 200, None),
}
NO_ANSWER = {"hang", "drop-connection", "approved-but-dropped"}
OPERATION_RULES = {"refund-declined", "refund-server-error", "refund-flaky", "refund-slow",
                   "charge-declined", "charge-unavailable", "cancel-declined", "cancel-bad-gateway"}


def shipped_rules() -> list[tuple[str, dict[str, Any]]]:
    return [(path.name, rule) for path in shipped_paths() for rule in read_rules_file(path)]


def library_settings(**overrides: Any) -> Settings:
    merchant = Merchant(
        client_id=DEFAULT_MERCHANT.client_id, client_secret=DEFAULT_MERCHANT.client_secret,
        name=DEFAULT_MERCHANT.name, terminals=DEFAULT_MERCHANT.terminals,
        saved_cards=(*DEFAULT_MERCHANT.saved_cards,
                     SeedCard("testuser1", "5578342710750560", LOCKED_MASTERCARD, "TEST LOCKED MC")),
    )
    values: dict[str, Any] = {"log_requests": False, "seed": 7, "merchants": (merchant,),
                              "scenario_time_scale": 0.001, "scenario_hang_seconds": 10.0}
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
async def lib(make_client):
    client = await make_client(library_settings())
    callbacks: list[tuple[str, Any]] = []
    dispatcher = client.app[DISPATCHER]
    original = dispatcher.payment_finished

    def spy(tx, plan):
        callbacks.append((tx.status.value, plan))
        original(tx, plan)

    dispatcher.payment_finished = spy
    client.callbacks = callbacks
    return client


async def trigger(client, trigger: dict[str, Any], invoice: str | None = None, **request: Any):
    invoice = invoice or f"{next(_invoices):09d}"
    amount = trigger.get("amount", 100)
    token = await get_token(client, invoiceID=invoice, amount=str(amount))
    headers = {"Authorization": f"Bearer {token}"}
    if "header" in trigger:
        headers["X-Mock-Scenario"] = trigger["header"]
    card = trigger.get("card", VISA_CARD)
    body = payment_body(invoiceId=invoice, amount=amount, cardId={"id": card})
    return await client.post("/payments/cards/auth", json=body, headers=headers, **request)


def test_every_shipped_rule_has_an_http_test():
    names = {rule["name"] for _, rule in shipped_rules()}
    assert names == set(EXPECTED) | OPERATION_RULES


def test_every_shipped_rule_has_a_one_line_comment_above_it():
    for path in shipped_paths():
        lines = path.read_text().splitlines()
        for number, line in enumerate(lines):
            if line.startswith("- name:"):
                assert lines[number - 1].startswith("# "), f"{path.name}:{number + 1} has no comment"


@pytest.mark.parametrize("name", sorted(set(EXPECTED) - NO_ANSWER))
async def test_shipped_rule_answers_as_documented(lib, name):
    how, status, code = EXPECTED[name]
    response = await trigger(lib, how)
    assert response.status == status, await response.text()
    assert response.headers["X-Mock-Rule"] == name
    if code is not None:
        assert (await response.json())["code"] == code
    if status == 200:
        body = await response.json()
        assert body["status"] == "CHARGE" and body["code"] == 0


@pytest.mark.parametrize("name", sorted(set(EXPECTED) - NO_ANSWER - {"approve"}))
async def test_shipped_rule_can_be_picked_by_header(lib, name):
    _, status, code = EXPECTED[name]
    response = await trigger(lib, {"header": name})
    assert response.status == status
    assert response.headers["X-Mock-Rule"] == name


async def test_ordinary_payments_approve_without_a_rule(lib):
    response = await trigger(lib, {"amount": 100})
    assert response.status == 200
    assert "X-Mock-Rule" not in response.headers
    assert lib.callbacks == [("CHARGE", lib.callbacks[0][1])]


async def test_decline_is_recorded_with_its_code_and_callback(lib):
    invoice = "000484001"
    response = await trigger(lib, {"amount": 4840}, invoice=invoice)
    assert await response.json() == {"code": 484, "message": "Insufficient funds"}
    status = await lib.get(f"/check-status/payment/transaction/{invoice}",
                           headers={"Authorization": f"Bearer {await get_service_token(lib)}"})
    tx = (await status.json())["transaction"]
    assert tx["statusName"] == "REJECT" and tx["reasonCode"] == "484"
    assert [s for s, _ in lib.callbacks] == ["REJECT"]


async def test_secure3d_failure_ends_in_status_3d(lib):
    await trigger(lib, {"amount": 4730}, invoice="000473001")
    status = await lib.get("/check-status/payment/transaction/000473001",
                           headers={"Authorization": f"Bearer {await get_service_token(lib)}"})
    assert (await status.json())["transaction"]["statusName"] == "3D"


async def test_server_error_bodies(lib):
    assert await (await trigger(lib, {"amount": 7500})).json() == {
        "code": -1, "message": "internal server error"}
    assert "502 Bad Gateway" in await (await trigger(lib, {"amount": 7502})).text()
    assert await (await trigger(lib, {"amount": 7503})).read() == b""
    assert lib.callbacks == []  # nothing was recorded


async def test_approved_but_502_still_approves_and_sends_the_callback(lib):
    response = await trigger(lib, {"amount": 7512}, invoice="000751201")
    assert response.status == 502
    assert [s for s, _ in lib.callbacks] == ["CHARGE"]
    assert lib.app[STORE].invoice_succeeded("test", "000751201")


async def test_insufficient_then_approve_is_a_sequence_per_invoice(lib):
    first = await trigger(lib, {"amount": 4841}, invoice="000484101")
    other = await trigger(lib, {"amount": 4841}, invoice="000484102")
    second = await trigger(lib, {"amount": 4841}, invoice="000484101")
    assert (first.status, other.status, second.status) == (400, 400, 200)


async def test_flaky_503_twice_then_approves_the_same_invoice(lib):
    statuses = [(await trigger(lib, {"amount": 7222}, invoice="000722201")).status for _ in range(3)]
    assert statuses == [503, 503, 200]


@pytest.mark.parametrize(("amount", "mode", "delay"), [(7002, "twice", 0), (7060, "delay", 60000),
                                                        (7404, "skip", 0)])
async def test_callback_plans_reach_the_dispatcher(lib, amount, mode, delay):
    response = await trigger(lib, {"amount": amount})
    assert response.status == 200
    [(status, plan)] = lib.callbacks
    assert (status, plan.mode.value, plan.delay_ms) == ("CHARGE", mode, delay)


async def wait_until_invoice_free(client, invoice: str) -> None:
    """Poll (bounded) until the hung payment has let go of its invoice reservation."""
    for _ in range(100):  # at most 100 x 20 ms
        try:
            reservation = client.app[STORE].reserve_invoice("test", invoice)
        except Exception:  # still reserved: a duplicate
            await asyncio.sleep(0.02)
            continue
        client.app[STORE].release_invoice(reservation)
        return
    raise AssertionError("the invoice reservation was never released")


async def assert_healthy(client) -> None:
    response = await client.get("/_mock/health")
    assert response.status == 200
    assert (await trigger(client, {"amount": 100})).status == 200


async def test_hang_holds_the_answer_until_the_client_gives_up(lib, caplog):
    caplog.set_level(logging.WARNING)
    with pytest.raises(asyncio.TimeoutError):
        await trigger(lib, {"amount": 7777}, invoice="000777701",
                      timeout=aiohttp.ClientTimeout(total=0.5))
    await wait_until_invoice_free(lib, "000777701")
    await assert_healthy(lib)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_hang_is_capped_by_a_setting(make_client):
    client = await make_client(library_settings(scenario_hang_seconds=0.2))
    response = await trigger(client, {"amount": 7777})
    assert response.status == 504
    assert (await response.json())["code"] == -1


async def test_drop_closes_the_connection_without_an_answer(lib, caplog):
    caplog.set_level(logging.WARNING)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await trigger(lib, {"amount": 7778}, timeout=aiohttp.ClientTimeout(total=0.5))
    await assert_healthy(lib)
    assert [s for s, _ in lib.callbacks] == ["CHARGE"]  # only the health-check payment's callback
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_approved_but_dropped_records_the_payment(lib):
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await trigger(lib, {"amount": 7779}, invoice="000777901",
                      timeout=aiohttp.ClientTimeout(total=0.5))
    assert lib.app[STORE].invoice_succeeded("test", "000777901")
    assert [s for s, _ in lib.callbacks] == ["CHARGE"]
    await assert_healthy(lib)


async def test_unknown_scenario_header_is_a_clear_400(lib):
    response = await trigger(lib, {"header": "no-such-rule"})
    assert response.status == 400
    body = await response.json()
    assert body["code"] == -1
    assert body["message"].startswith("unknown scenario 'no-such-rule'; loaded: ")
    assert "insufficient-funds" in body["message"]


async def test_operation_rule_named_in_a_payment_header_is_ignored(lib):
    response = await trigger(lib, {"header": "refund-declined"})
    assert response.status == 200


async def test_user_files_come_first_and_win(make_client, tmp_path):
    mine = tmp_path / "mine.yaml"
    mine.write_text(
        "# 100 is now declined\n"
        "- name: my-decline\n  description: my shop declines 100\n"
        "  match: {amount: 100}\n  outcome: {preset: insufficient_funds}\n"
        "# the shipped name is taken over\n"
        "- name: insufficient-funds\n  description: 4840 approves in my tests\n"
        "  match: {amount: 4840}\n  outcome: {result: approve}\n"
    )
    client = await make_client(library_settings(scenario_paths=(mine,)))
    assert (await trigger(client, {"amount": 100})).status == 400
    assert (await trigger(client, {"amount": 4840})).status == 200
    assert (await trigger(client, {"amount": 4650})).status == 400  # shipped rules still there


async def test_no_default_scenarios_leaves_only_the_test_card_table(make_client):
    client = await make_client(library_settings(default_scenarios=False))
    assert (await trigger(client, {"amount": 4840})).status == 200
    locked = await trigger(client, {"card": LOCKED_CARD})
    assert (locked.status, locked.headers["X-Mock-Rule"]) == (400, "test card: locked")


@pytest.mark.parametrize("document", ["docs/scenarios.md", "README.md"])
def test_docs_contain_the_current_generated_table(document):
    from pathlib import Path

    from mock_epay.scenarios.table import TABLE_END, TABLE_START, markdown_table

    doc = (Path(__file__).resolve().parent.parent / document).read_text()
    embedded = doc.split(TABLE_START, 1)[1].split(TABLE_END, 1)[0]
    assert embedded.strip() == markdown_table().strip(), "run: python -m mock_epay.scenarios.table"


async def pay_then(client, amount: int, invoice: str) -> str:
    response = await trigger(client, {"amount": amount}, invoice=invoice)
    assert response.status == 200
    return (await response.json())["id"]


@pytest.mark.parametrize(
    ("name", "amount", "statuses"),
    [("refund-declined", 6100, [400]), ("refund-server-error", 6500, [500]),
     ("refund-flaky", 6222, [500, 500, 200]), ("refund-slow", 6003, [200])],
)
async def test_shipped_refund_rules_through_http(lib, name, amount, statuses):
    invoice = f"{next(_invoices):09d}"
    tx_id = await pay_then(lib, amount, invoice)
    service = await get_service_token(lib)
    seen = []
    for _ in statuses:
        response = await lib.post(f"/operation/{tx_id}/refund",
                                  headers={"Authorization": f"Bearer {service}"})
        seen.append(response.status)
        if response.status == 400:
            assert (await response.json())["code"] == 100
    assert seen == statuses


async def test_operation_rule_picked_by_header_through_http(lib):
    tx_id = await pay_then(lib, 100, f"{next(_invoices):09d}")
    service = await get_service_token(lib)
    response = await lib.post(f"/operation/{tx_id}/refund", headers={
        "Authorization": f"Bearer {service}", "X-Mock-Scenario": "refund-server-error"})
    assert response.status == 500
    response = await lib.post(f"/operation/{tx_id}/refund", headers={"Authorization": f"Bearer {service}"})
    assert response.status == 200
