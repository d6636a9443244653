"""The gateway services without HTTP: a payment and an operation run on a `Gateway`, tell its callback
sink, honour a hang's `client_gone`, and `Gateway.reset` resets every part it holds."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import pytest

from mock_epay.core.clock import Clock
from mock_epay.core.fakedata import FakeData
from mock_epay.gateway.errors import EpayError
from mock_epay.gateway.lifecycle import Operation
from mock_epay.gateway.models import CallbackPlan, Card, Status, Token, TokenKind, Transaction
from mock_epay.gateway.operations import OperationRequest, run_operation
from mock_epay.gateway.outcomes import ApiShape
from mock_epay.gateway.payments import finish_secure3d, payment_attempt, run_payment
from mock_epay.gateway.service import Gateway
from mock_epay.gateway.tokens import TokenService, token_mismatches
from mock_epay.scenarios.engine import ScenarioEngine
from mock_epay.settings import TEST_CLIENT_ID, TEST_TERMINAL_ID, Settings
from mock_epay.store.memory import Store

APPROVING_CARD = "4405639704015096"
SECURE3D_CARD = "4000000000003220"


@dataclass
class RecordingSink:
    """A callback sink that only remembers what it was told."""

    payments: list[tuple[str, CallbackPlan]] = field(default_factory=list)
    operations: list[tuple[str, str, float]] = field(default_factory=list)
    resets: list[str | None] = field(default_factory=list)

    def payment_finished(self, tx: Transaction, plan: CallbackPlan) -> None:
        self.payments.append((tx.id, plan))

    def operation_finished(self, tx: Transaction, operation: str, amount: float) -> None:
        self.operations.append((tx.id, operation, amount))

    def reset(self, client_id: str | None = None) -> None:
        self.resets.append(client_id)


@dataclass(frozen=True)
class Order:
    invoice_id: str = "000000101"
    amount: float = 100.0
    currency: str = "KZT"
    terminal_id: str = TEST_TERMINAL_ID
    description: str = "test"
    account_id: str = ""
    invoice_id_alt: str = ""
    name: str = ""
    email: str = ""
    phone: str = ""
    language: str = "RU"
    data: str = ""
    post_link: str | None = None
    failure_post_link: str | None = None


def make_gateway(rules: list[dict] | None = None, **settings: object) -> tuple[Gateway, RecordingSink]:
    values = Settings(seed=7, log_requests=False, **settings)  # type: ignore[arg-type]
    clock = Clock()
    store = Store(values.merchants, clock, FakeData(7))
    engine = ScenarioEngine.from_rules(rules) if rules else ScenarioEngine((), include_defaults=False)
    sink = RecordingSink()
    return Gateway(values, clock, store, TokenService(store, values, clock, store.fake), engine, sink), sink


def payment_token(**overrides: object) -> Token:
    fields: dict = {"access_token": "T", "client_id": TEST_CLIENT_ID, "kind": TokenKind.PAYMENT, "scope": "",
                    "expires_at": 0.0, "expires_in": 1200, "invoice_id": "000000101", "amount": 100.0,
                    "currency": "KZT", "terminal_id": TEST_TERMINAL_ID, "post_link": "http://127.0.0.1:9/ok"}
    fields.update(overrides)
    return Token(**fields)


def card_for(gateway: Gateway, pan: str) -> Card:
    return gateway.store.make_card(pan, "TEST TEST", "01/27")


async def pay(gateway: Gateway, pan: str = APPROVING_CARD, order: Order | None = None, **kw: object):
    attempt = payment_attempt(order or Order(), payment_token(), source="payform", card_pan=pan)
    return await run_payment(gateway, attempt, card_for(gateway, pan), **kw)  # type: ignore[arg-type]


async def test_an_approved_payment_is_recorded_and_its_callback_handed_to_the_sink():
    gateway, sink = make_gateway()
    result = await pay(gateway)
    assert result.transaction is not None and result.transaction.status is Status.CHARGE
    assert sink.payments == [(result.transaction.id, CallbackPlan())]
    assert gateway.store.transaction_for_invoice(TEST_CLIENT_ID, "000000101") is result.transaction


async def test_the_attempt_falls_back_to_the_token_links_and_binds_its_merchant():
    attempt = payment_attempt(Order(), payment_token(secret_hash="s"), source="cards/auth", card_pan=None,
                              name="GIVEN NAME")
    assert (attempt.client_id, attempt.post_link, attempt.secret_hash) == (TEST_CLIENT_ID,
                                                                         "http://127.0.0.1:9/ok", "s")
    assert attempt.name == "GIVEN NAME"


async def test_a_hang_ends_as_soon_as_the_client_is_gone():
    gateway, sink = make_gateway([{"name": "hangs", "description": "d", "match": {"invoiceId": "000000101"},
                                   "outcome": {"result": "hang"}}], scenario_hang_seconds=30)
    checks: list[float] = []

    def client_gone() -> bool:
        checks.append(time.monotonic())
        return len(checks) >= 3

    started = time.monotonic()
    result = await asyncio.wait_for(pay(gateway, client_gone=client_gone), timeout=5)
    assert result.transaction is None and sink.payments == []
    assert len(checks) == 3 and time.monotonic() - started < 5


async def test_a_secure3d_step_is_held_then_finished_with_the_code():
    gateway, sink = make_gateway()
    result = await pay(gateway, SECURE3D_CARD)
    assert result.transaction is not None and sink.payments == []
    tx = finish_secure3d(gateway, result.transaction.id, "123456")
    assert tx.status.is_success and [p[0] for p in sink.payments] == [tx.id]


async def test_an_operation_forced_to_fail_changes_nothing_then_a_refund_goes_through():
    rules = [{"name": "refund-fails", "description": "d", "match": {"operation": "refund"},
              "outcomes": [{"result": "server_error", "http_status": 503}, {"result": "approve"}],
              "sequence_by": "transaction"}]
    gateway, sink = make_gateway(rules)
    paid = (await pay(gateway)).transaction
    request = OperationRequest(Operation.REFUND, paid.id, 40.0, "")
    forced = await run_operation(gateway, TEST_CLIENT_ID, request)
    assert forced.forced is not None and (forced.forced.shape, forced.forced.status) == (ApiShape.ERROR, 503)
    assert paid.refunded_amount == 0 and sink.operations == []
    done = await run_operation(gateway, TEST_CLIENT_ID, request)
    assert done.forced is None and done.transaction.status is Status.REFUND
    assert sink.operations == [(paid.id, "refund", 40.0)]


async def test_an_operation_on_an_unknown_transaction_is_code_102():
    gateway, _ = make_gateway()
    with pytest.raises(EpayError) as raised:
        await run_operation(gateway, TEST_CLIENT_ID, OperationRequest(Operation.CHARGE, "nope", None, ""))
    assert (raised.value.status, raised.value.code) == (400, 102)


async def test_reset_of_one_merchant_keeps_the_clock_a_full_reset_puts_it_back():
    gateway, sink = make_gateway()
    await pay(gateway)
    gateway.clock.advance(60)
    gateway.reset(TEST_CLIENT_ID)
    assert gateway.store.transaction_for_invoice(TEST_CLIENT_ID, "000000101") is None
    assert gateway.clock.offset == 60 and sink.resets == [TEST_CLIENT_ID]
    gateway.reset()
    assert gateway.clock.offset == 0 and sink.resets == [TEST_CLIENT_ID, None]


def test_one_token_check_names_every_mismatch():
    token = payment_token()
    assert token_mismatches(token, invoice_id="000000101", amount=100.0, currency="KZT",
                            terminal_id=TEST_TERMINAL_ID) == []
    found = token_mismatches(token, invoice_id="000000102", amount=12.5, currency="USD",
                             terminal_id="other")
    assert [(m.field, m.given, m.bound) for m in found] == [
        ("invoiceId", "000000102", "000000101"), ("amount", "12.5", "100"), ("currency", "USD", "KZT"),
        ("terminalId", "other", TEST_TERMINAL_ID)]
