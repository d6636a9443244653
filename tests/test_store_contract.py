"""The store contract: every backend must keep these promises (memory today; SQLite and PostgreSQL next).

A backend plugs in by adding one entry to BACKENDS: a factory taking
(merchants, clock, fake, max_transactions, journal_size) and returning a store with the
contract of `mock_epay.store.base` plus the composed calls of `mock_epay.store.compose`.
Concurrent tests run their calls in threads (`asyncio.to_thread`), so a backend whose
calls are not atomic fails them even when the event loop alone would hide it.
"""

from __future__ import annotations

import asyncio
import copy
import pickle
from collections.abc import Callable, Iterator
from typing import Any

import msgspec
import pytest

from mock_epay.core.clock import Clock
from mock_epay.core.fakedata import FakeData
from mock_epay.gateway import lifecycle
from mock_epay.gateway.lifecycle import Operation
from mock_epay.gateway.models import (
    APPROVED,
    CallbackPlan,
    Merchant,
    Outcome,
    OutcomeKind,
    PaymentAttempt,
    SeedCard,
    Status,
    Terminal,
    Token,
    TokenKind,
    Transaction,
    evolve,
)
from mock_epay.gateway.tokens import TokenRequest, TokenService
from mock_epay.settings import ConfigError, Settings
from mock_epay.store.base import (
    CardIdTaken,
    HoldNotFound,
    InvoiceReservation,
    MerchantTaken,
    Secure3DHold,
    VersionConflict,
)
from mock_epay.store.memory import MemoryStore
from mock_epay.store.sqlite import SqliteStore
from mock_epay.web.errors import EpayError
from tests.pg_cluster import fresh_url

try:
    from mock_epay.store.postgres import PostgresStore
except ImportError:  # psycopg not installed: tests/pg_cluster.py skips (fails in CI) before this is used
    PostgresStore = None  # type: ignore[assignment, misc]

BACKENDS: dict[str, Callable[..., Any]] = {
    "memory": MemoryStore,
    "postgresql": lambda *args, **kwargs: PostgresStore(fresh_url(), *args, **kwargs),
    "sqlite": SqliteStore,  # sqlite:///:memory:, one connection
}

SEED_A = "aaaaaaaa-0000-4000-8000-000000000001"
SEED_B = "bbbbbbbb-0000-4000-8000-000000000001"
SHOP_A = Merchant("a", "secret-a", "Shop A", (
    Terminal("ta", "90000001"),
    Terminal("ta-two-stage", "90000002", two_stage=True, auto_cancel_seconds=60),
), saved_cards=(SeedCard("u1", "4405639704015096", SEED_A, "ANNA A"),))
SHOP_B = Merchant("b", "secret-b", "Shop B", (Terminal("tb", "90000003"),),
                  saved_cards=(SeedCard("u1", "5522042705066736", SEED_B, "BORIS B"),))
DECLINED = Outcome(kind=OutcomeKind.DECLINE, reason_code=484, message="declined")
SECURE3D = Outcome(kind=OutcomeKind.SECURE3D)


@pytest.fixture(params=list(BACKENDS))
def make_store(request: pytest.FixtureRequest) -> Iterator[Callable[..., Any]]:
    factory = BACKENDS[request.param]

    opened: list[Any] = []

    def make(max_transactions: int = 20_000, journal_size: int = 500) -> Any:
        store = factory([SHOP_A, SHOP_B], Clock(), FakeData(7), max_transactions=max_transactions,
                        journal_size=journal_size)
        opened.append(store)
        return store

    yield make
    for store in opened:
        if hasattr(store, "close"):
            store.close()


@pytest.fixture
def store(make_store: Callable[..., Any]) -> Any:
    return make_store()


def attempt(invoice_id: str, client_id: str = "a", terminal: str = "ta") -> PaymentAttempt:
    return PaymentAttempt(client_id=client_id, invoice_id=invoice_id, amount=100, currency="KZT",
                          terminal_id=terminal)


def pay(store: Any, invoice_id: str, outcome: Outcome = APPROVED, **kwargs: Any) -> Transaction:
    paying = attempt(invoice_id, **kwargs)
    reservation = store.reserve_invoice(paying.client_id, invoice_id)
    return store.record_payment(reservation, paying, outcome, store.make_card("4405639704015096"))


def refused_as_duplicate(call: Callable[[], Any]) -> bool:
    try:
        call()
    except EpayError as exc:
        return exc.status == 400 and exc.code == -1 and exc.message == "dublicate transaction"
    return False


# -- invoices -----------------------------------------------------------------------


def test_an_invoice_in_flight_is_refused_until_its_attempt_is_recorded(store):
    reservation = store.reserve_invoice("a", "000000101")
    assert refused_as_duplicate(lambda: store.reserve_invoice("a", "000000101"))
    assert refused_as_duplicate(lambda: store.reserve_invoice("a", "999000101"))  # same last six
    store.record_payment(reservation, attempt("000000101"), DECLINED, None)
    store.release_invoice(store.reserve_invoice("a", "000000101"))  # a decline frees it


def test_a_paid_invoice_is_refused_also_by_its_last_six_digits(store):
    pay(store, "000000102")
    assert store.invoice_succeeded("a", "000000102")
    assert refused_as_duplicate(lambda: store.reserve_invoice("a", "000000102"))
    assert refused_as_duplicate(lambda: store.reserve_invoice("a", "777000102"))
    assert store.invoice_succeeded("a", "777000102")
    store.reserve_invoice("b", "000000102")  # another merchant's orders are its own


def test_releasing_a_stale_reservation_does_not_free_the_newer_one(store):
    first = store.reserve_invoice("a", "000000103")
    store.release_invoice(first)
    second = store.reserve_invoice("a", "000000103")
    store.release_invoice(first)  # late, e.g. a `finally` after a hand-over
    assert refused_as_duplicate(lambda: store.reserve_invoice("a", "000000103"))
    store.release_invoice(second)
    store.reserve_invoice("a", "000000103")


async def test_of_100_concurrent_reservations_of_one_invoice_exactly_one_wins(store):
    async def claim() -> bool:
        try:
            await asyncio.to_thread(store.reserve_invoice, "a", "000000104")
        except EpayError:
            return False
        return True

    results = await asyncio.gather(*(claim() for _ in range(100)))
    assert results.count(True) == 1


# -- payments and 3-D Secure holds --------------------------------------------------


def test_a_recorded_payment_is_stored_as_given_with_version_zero(store):
    tx = pay(store, "000000201")
    assert tx.status is Status.CHARGE and tx.version == 0
    assert store.transaction("a", tx.id) == tx
    assert store.transaction_for_invoice("a", "000000201") == tx
    assert store.find_transaction(tx.id) == tx
    assert [t.id for t in store.transactions("a")] == [tx.id]
    assert tx.card is not None and tx.card.mask == "440563...5096"


def test_records_handed_out_cannot_change_the_store(store):
    tx = pay(store, "000000202")
    with pytest.raises(AttributeError, match="immutable"):
        tx.status = Status.REFUND  # type: ignore[misc]
    listing = store.transactions()
    listing.clear()
    assert store.transactions() == [tx]


def test_every_kind_of_record_the_store_hands_out_is_frozen(store):
    tx = pay(store, "000000206")
    saved = store.attach_saved_card(tx, tx.card)
    store.add_token(Token("tok-206", "a", TokenKind.SERVICE, "webapi", store.clock.now(), 7200))
    handed_out = [store.transaction("a", tx.id), tx.history[0], tx.card, saved,
                  store.card("a", saved.id), store.token("tok-206")]
    for record in handed_out:
        name = msgspec.structs.fields(record)[0].name
        with pytest.raises(AttributeError, match="immutable"):
            setattr(record, name, "changed")
        assert getattr(record, name) != "changed"


def test_a_record_read_before_an_operation_still_shows_what_it_showed(store):
    before = pay(store, "000000207")
    after = store.apply_operation("a", before.id, Operation.REFUND, 30).transaction
    assert (before.status, before.amount, before.version, len(before.history)) == (Status.CHARGE, 100, 0, 1)
    assert (after.status, after.amount, after.version, len(after.history)) == (Status.REFUND, 70, 1, 2)
    assert store.transaction("a", before.id) == after != before


def test_a_changed_record_is_a_copy_that_keeps_every_other_field(store):
    tx = pay(store, "000000208")
    changed = evolve(tx, status=Status.REFUND, amount=90.0)
    assert changed == msgspec.structs.replace(tx, status=Status.REFUND, amount=90.0)
    assert type(changed) is Transaction and tx.status is Status.CHARGE
    with pytest.raises(AttributeError, match="immutable"):
        changed.amount = 1.0  # type: ignore[misc]
    with pytest.raises(TypeError, match="no field 'colour'"):
        evolve(tx, colour="red")
    assert copy.copy(tx) == tx == pickle.loads(pickle.dumps(tx))
    assert hash(tx.history[0]) == hash(copy.deepcopy(tx.history[0]))


def hold_payment(store: Any, invoice_id: str, ttl: float = 300, **kwargs: Any) -> Transaction:
    paying = attempt(invoice_id, **kwargs)
    tx = store.record_payment(store.reserve_invoice(paying.client_id, invoice_id), paying, SECURE3D, None)
    store.hold_for_secure3d(tx, paying, "123456", CallbackPlan(), ttl=ttl, context={"short": True})
    return tx


def test_a_3ds_hold_keeps_the_invoice_reserved_until_it_ends(store):
    tx = hold_payment(store, "000000203")
    assert tx.status is Status.NEW
    hold = store.pending_secure3d(tx.id)
    assert hold.otp == "123456" and hold.context["short"] is True
    assert refused_as_duplicate(lambda: store.reserve_invoice("a", "000000203"))
    done = store.finish_secure3d(tx.id, approved=True)
    assert done.status is Status.CHARGE and done.secure and done.version == 1
    assert store.pending_secure3d(tx.id) is None
    assert store.invoice_succeeded("a", "000000203")


def test_insert_payment_hands_the_reservation_over_to_the_hold_in_one_call(store):
    paying = attempt("000000204")
    reservation = store.reserve_invoice("a", "000000204")
    made = lifecycle.new_transaction(paying, SECURE3D, store.terminal_of("a", "ta"), None, None,
                                     store.clock.now(), store.fake)
    expires = lifecycle.expires_at(store.clock.now(), 300)
    hold = Secure3DHold(made.id, "a", "654321", CallbackPlan(), paying, InvoiceReservation("a", "000000204"),
                        expires, {})
    store.insert_payment(reservation, made, hold)
    store.release_invoice(reservation)  # the old reservation no longer frees the invoice
    assert refused_as_duplicate(lambda: store.reserve_invoice("a", "000000204"))
    assert store.secure3d_hold(made.id) == hold


async def test_two_concurrent_ends_of_one_3ds_step_have_one_winner(store):
    tx = hold_payment(store, "000000205")

    async def finish(approved: bool) -> Status | None:
        try:
            return (await asyncio.to_thread(store.finish_secure3d, tx.id, approved)).status
        except (HoldNotFound, VersionConflict):
            return None

    results = await asyncio.gather(*(finish(n % 2 == 0) for n in range(20)))
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    assert store.transaction("a", tx.id).status is winners[0]
    assert len(store.transaction("a", tx.id).history) == 2


def test_an_abandoned_3ds_step_ends_as_failed_on_the_clock_and_frees_the_invoice(store):
    tx = hold_payment(store, "000000206", ttl=300)
    store.clock.advance(299)
    assert store.pending_secure3d(tx.id) is not None
    store.clock.advance(2)
    assert store.expired_secure3d(store.clock.now())[0].transaction_id == tx.id
    assert store.pending_secure3d(tx.id) is None
    failed = store.transaction("a", tx.id)
    assert failed.status is Status.THREE_D and failed.reason_code == 499
    store.reserve_invoice("a", "000000206")


# -- operations with versions ---------------------------------------------------------


def test_a_write_from_a_stale_read_is_refused_with_a_clear_error(store):
    tx = pay(store, "000000301")
    store.apply_operation("a", tx.id, Operation.REFUND, 10)
    stale = evolve(tx, status=Status.REFUND)  # made from version 0
    with pytest.raises(VersionConflict) as conflict:
        store.replace_transaction(stale, expected_version=0)
    assert conflict.value.code == 100 and "changed while this operation was applied" in conflict.value.message
    assert store.transaction("a", tx.id).refunded_amount == 10


async def test_50_concurrent_refunds_of_10_on_100_move_exactly_100(store):
    tx = pay(store, "000000302")

    async def refund() -> bool:
        try:
            await asyncio.to_thread(store.apply_operation, "a", tx.id, Operation.REFUND, 10)
        except EpayError as exc:
            assert exc.code == 100
            return False
        return True

    results = await asyncio.gather(*(refund() for _ in range(50)))
    assert results.count(True) == 10
    after = store.transaction("a", tx.id)
    assert after.refunded_amount == 100 and after.amount == 0 and after.version == 10
    assert [h.status for h in after.history].count(Status.REFUND) == 10


async def test_charge_and_cancel_of_one_auth_have_one_winner(store):
    tx = pay(store, "000000303", terminal="ta-two-stage")
    assert tx.status is Status.AUTH

    async def run(operation: Operation) -> Operation | None:
        try:
            await asyncio.to_thread(store.apply_operation, "a", tx.id, operation)
        except EpayError:
            return None
        return operation

    results = await asyncio.gather(*(run(op) for op in [Operation.CHARGE, Operation.CANCEL] * 10))
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    assert store.transaction("a", tx.id).status is lifecycle.RESULT_STATUS[winners[0]]


def test_an_old_auth_is_auto_cancelled_on_the_mocks_clock(store):
    tx = pay(store, "000000304", terminal="ta-two-stage")
    store.clock.advance(59)
    assert store.transaction("a", tx.id).status is Status.AUTH
    store.clock.advance(1)
    cancelled = store.transaction("a", tx.id)
    assert cancelled.status is Status.CANCEL_OLD
    assert cancelled.history[-1].note == "auto-cancel after 60 s"
    assert store.transactions("a")[0] == cancelled  # written once, read the same everywhere


# -- saved cards ---------------------------------------------------------------------


def test_config_cards_are_saved_per_merchant(store):
    assert [c.id for c in store.cards_for_account("a", "u1")] == [SEED_A]
    assert store.card("a", SEED_A).card.payer_name == "ANNA A"
    assert store.card("b", SEED_A) is None
    assert store.card_id_taken(SEED_A)


def test_a_card_id_belongs_to_one_merchant(store):
    theirs = evolve(store.card("a", SEED_A), client_id="b")
    with pytest.raises(CardIdTaken):
        store.insert_card(theirs, replace=True)
    with pytest.raises(ConfigError, match="belongs to two merchants"):
        store.save_card("b", "u1", store.make_card("4405639704015096"), card_id=SEED_A)
    assert store.card("a", SEED_A).client_id == "a"


def test_a_card_saved_from_a_payment_is_linked_to_it_in_one_call(store):
    tx = pay(store, "000000401")
    saved = store.attach_saved_card(tx, tx.card)
    assert saved.transaction_id == tx.id and saved.reference == tx.reference
    assert store.transaction("a", tx.id).card_id == saved.id
    assert saved.id in {c.id for c in store.cards_for_account("a", "")}


def test_a_card_is_deactivated_once(store):
    gone = store.deactivate_card("a", SEED_A)
    assert not gone.active and store.cards_for_account("a", "u1") == []
    with pytest.raises(EpayError, match="already deactivated"):
        store.deactivate_card("a", SEED_A)
    with pytest.raises(EpayError, match="not found"):
        store.deactivate_card("b", SEED_A)  # another merchant's card is not found


# -- tokens, merchants, isolation ---------------------------------------------------------


def token(store: Any, name: str, client_id: str = "a", ttl: float = 10) -> Token:
    return Token(name, client_id, TokenKind.SERVICE, "webapi", lifecycle.expires_at(store.clock.now(), ttl),
                 int(ttl))


def test_tokens_expire_on_the_mocks_clock_and_are_swept(store):
    store.add_token(token(store, "T1"))
    assert store.token("T1").expires_at > store.clock.now()
    store.clock.advance(10)
    assert store.token("T1").expires_at <= store.clock.now()  # expired: the caller refuses it
    store.add_token(token(store, "T2"))
    assert store.token("T1") is None and store.token("T2") is not None


class CountingIds:
    """An id source that is not the store's: tokens must take their values from it."""

    def __init__(self) -> None:
        self.issued = 0

    def access_token(self) -> str:
        self.issued += 1
        return f"GIVEN-{self.issued:02d}"


def test_the_token_service_issues_on_the_clock_and_ids_it_is_given(store):
    clock, ids = Clock(), CountingIds()
    tokens = TokenService(store, Settings(service_token_ttl=60), clock, ids)
    issued = tokens.issue(SHOP_A, TokenRequest("a", "secret-a", "webapi"))
    assert issued.access_token == "GIVEN-01" and store.token("GIVEN-01") == issued
    assert tokens.authenticate({"Authorization": "Bearer GIVEN-01"}) == issued
    store.clock.advance(3600)  # the store's clock is not the one the service reads
    assert tokens.resolve("GIVEN-01") == issued
    clock.advance(60)
    with pytest.raises(EpayError, match="access token expired"):
        tokens.resolve("GIVEN-01")


def test_merchants_authenticate_with_their_own_secret(store):
    assert store.authenticate_client("a", "secret-a") == SHOP_A
    assert store.authenticate_client("a", "secret-b") is None
    assert store.terminal_of("a", "tb") is None and store.terminal_of("b", "tb").number == "90000003"


def test_a_call_scoped_by_merchant_never_returns_another_merchants_data(store):
    mine = pay(store, "000000501")
    theirs = pay(store, "000000501", client_id="b", terminal="tb")
    assert store.transaction("b", mine.id) is None
    assert store.transaction_for_invoice("b", "000000501") == theirs
    assert store.transactions("b") == [theirs]
    assert store.cards_for_account("b", "u1")[0].id == SEED_B
    with pytest.raises(EpayError) as refused:
        store.apply_operation("b", mine.id, Operation.REFUND, 10)
    assert refused.value.code == 102
    with pytest.raises(EpayError):
        store.replace_transaction(evolve(mine, client_id="b"), 0)
    assert store.transaction("a", mine.id) == mine


SEED_C = "cccccccc-0000-4000-8000-000000000001"
SHOP_C = Merchant("c", "secret-c", "Shop C", (Terminal("tc", "90000004"),),
                  saved_cards=(SeedCard("u1", "4003032704547597", SEED_C, "CARL C"),))


def test_a_merchant_inserted_at_run_time_gets_its_cards_and_pays_on_its_own(store):
    store.insert_merchant(SHOP_C)
    assert store.merchant("c") == SHOP_C and store.authenticate_client("c", "secret-c") == SHOP_C
    assert store.cards_for_account("c", "u1")[0].id == SEED_C
    ours = pay(store, "000000801", client_id="c", terminal="tc")
    theirs = pay(store, "000000801")  # the same invoice number, another merchant: both succeed
    assert store.transactions("c") == [ours] and store.transaction("a", ours.id) is None
    assert theirs.status is Status.CHARGE


def test_a_taken_client_id_or_terminal_is_refused_and_nothing_is_written(store):
    with pytest.raises(MerchantTaken):
        store.insert_merchant(evolve(SHOP_C, client_id="a"))
    with pytest.raises(MerchantTaken):
        store.insert_merchant(evolve(SHOP_C, terminals=(Terminal("tb", "90000009"),)))
    assert store.merchant("c") is None and store.card("c", SEED_C) is None
    assert store.merchant("a") == SHOP_A


def test_a_merchant_whose_card_id_is_taken_is_not_kept(store):
    clash = evolve(SHOP_C, saved_cards=(SeedCard("u1", "4003032704547597", SEED_B),))
    with pytest.raises(ConfigError):
        store.insert_merchant(clash)
    assert store.merchant("c") is None and store.card("b", SEED_B) is not None


def test_removing_a_merchant_forgets_all_it_owns_and_nothing_of_the_others(store):
    store.insert_merchant(SHOP_C)
    gone = pay(store, "000000802", client_id="c", terminal="tc")
    held = hold_payment(store, "000000803", client_id="c", terminal="tc")
    kept = pay(store, "000000802")
    store.add_token(token(store, "TC", client_id="c"))
    store.add_token(token(store, "TA"))
    store.journal_request((0, "POST", "/oauth2/token", 200, 0.1, b"", b"", "c"))
    store.journal_request((1, "POST", "/oauth2/token", 200, 0.1, b"", b"", "a"))
    store.journal_request((2, "GET", "/", 404, 0.1, b"", b""))
    assert store.remove_merchant("c") == SHOP_C
    assert store.merchant("c") is None and store.authenticate_client("c", "secret-c") is None
    assert store.token("TC") is None and store.find_transaction(gone.id) is None
    assert store.secure3d_hold(held.id) is None and store.transactions("c") == []
    assert store.card("c", SEED_C) is None and not store.card_id_taken(SEED_C)
    assert [e[0] for e in store.journal()] == [1, 2]
    assert store.token("TA") is not None and store.transaction("a", kept.id) == kept
    assert store.remove_merchant("c") is None
    store.insert_merchant(SHOP_C)  # the id, its terminal and its card id are free again
    assert store.transactions("c") == [] and not store.invoice_succeeded("c", "000000802")


# -- journal, reset, retention ----------------------------------------------------------------


def test_the_journal_keeps_only_the_last_entries(make_store):
    store = make_store(journal_size=3)
    for n in range(5):
        store.journal_request((n, "GET", f"/{n}", 200, 0.1, b"", b""))
    assert [e[2] for e in store.journal()] == ["/2", "/3", "/4"]
    assert [e[2] for e in store.journal(2)] == ["/3", "/4"]


def test_reset_of_one_merchant_keeps_the_others(store):
    kept = pay(store, "000000601", client_id="b", terminal="tb")
    gone = pay(store, "000000601")
    held = hold_payment(store, "000000602")
    store.add_token(token(store, "TA"))
    store.add_token(token(store, "TB", client_id="b"))
    store.deactivate_card("a", SEED_A)
    store.journal_request((0, "GET", "/", 200, 0.1, b"", b""))
    store.reset("a")
    assert store.transaction("a", gone.id) is None and store.pending_secure3d(held.id) is None
    assert store.token("TA") is None and store.token("TB") is not None
    assert store.transaction("b", kept.id) == kept and store.invoice_succeeded("b", "000000601")
    assert not store.invoice_succeeded("a", "000000601")
    store.reserve_invoice("a", "000000602")  # the hold's reservation went with it
    assert store.card("a", SEED_A).active  # config cards are saved again
    assert len(store.journal()) == 1


def test_a_global_reset_forgets_everything_but_merchants_and_config_cards(store):
    pay(store, "000000603")
    store.journal_request((0, "GET", "/", 200, 0.1, b"", b""))
    store.reset()
    assert store.transactions() == [] and store.journal() == []
    assert [m.client_id for m in store.merchants()] == ["a", "b"]
    assert store.card("b", SEED_B) is not None


def test_past_max_transactions_the_oldest_are_dropped_with_their_invoices(make_store):
    store = make_store(max_transactions=3)
    paid = [pay(store, f"00000070{n}") for n in range(5)]
    assert [t.id for t in store.transactions()] == [t.id for t in reversed(paid[2:])]
    assert store.transaction_for_invoice("a", "000000700") is None
    assert not store.invoice_succeeded("a", "000000700")
    assert store.invoice_succeeded("a", "000000704")


# -- invoice links, QR bills and the outbox (issue 15) ----------------------------------------------


def a_link(store: Any, link_id: str, client_id: str = "a", invoice_id: str = "000000900",
           ttl: float = 60) -> Any:
    from datetime import timedelta

    from mock_epay.gateway.models import InvoiceLink

    now = store.clock.now()
    return InvoiceLink(id=link_id, client_id=client_id, shop_id="shop", terminal_id="ta",
                       invoice_id=invoice_id, amount=100.0, currency="KZT", created_at=now,
                       expires_at=now + timedelta(seconds=ttl), expire_period="1m")


def a_bill(store: Any, number: str, client_id: str = "a", invoice_id: str = "000000901") -> Any:
    from mock_epay.gateway.models import QrBill

    return QrBill(bill_number=number, client_id=client_id, invoice_id=invoice_id, amount=100.0,
                  currency="KZT", terminal_id="ta", created_at=store.clock.now(), token="t")


def test_a_second_live_link_for_one_shop_and_invoice_is_refused_until_the_first_expires(store):
    store.insert_link(a_link(store, "l1"), store.clock.now())
    assert refused_as_duplicate(lambda: store.insert_link(a_link(store, "l2"), store.clock.now()))
    store.insert_link(a_link(store, "l3", client_id="b"), store.clock.now())  # another merchant's shop
    store.clock.advance(61)
    assert store.insert_link(a_link(store, "l4"), store.clock.now()).id == "l4"


def test_links_and_bills_are_read_only_by_their_merchant_and_written_by_version(store):
    from mock_epay.gateway.models import LinkStatus, QrStatus
    from mock_epay.store.base import RecordConflict

    link = store.insert_link(a_link(store, "l1"), store.clock.now())
    assert store.link("b", "l1") is None and store.find_link("l1") == link
    assert [x.id for x in store.links("a")] == ["l1"] and store.links("b") == []
    charged = store.replace_link(evolve(link, status=LinkStatus.CHARGED), 0)
    assert charged.version == 1
    with pytest.raises(RecordConflict):
        store.replace_link(evolve(link, status=LinkStatus.EXPIRED), 0)
    bill = store.insert_bill(a_bill(store, "100000000001"))
    assert store.bill("b", "100000000001") is None
    assert store.bill_for_invoice("a", "000000901") == bill
    with pytest.raises(ValueError):
        store.insert_bill(a_bill(store, "100000000001"))
    assert store.replace_bill(evolve(bill, status=QrStatus.SCANNED), 0).version == 1
    with pytest.raises(RecordConflict):
        store.replace_bill(evolve(bill, status=QrStatus.PAID), 0)


def test_outbox_messages_are_kept_per_merchant_and_reset_with_it(store):
    from mock_epay.gateway.models import OutboxMessage

    for client_id in ("a", "b"):
        store.add_message(OutboxMessage(id=client_id, client_id=client_id, channel="sms", to="+77000000000",
                                        text="pay", invoice_id="000000900", invoice_url="http://x/1",
                                        sent_at=store.clock.now()))
    assert [m.id for m in store.messages("a")] == ["a"] and len(store.messages()) == 2
    store.insert_link(a_link(store, "l1"), store.clock.now())
    store.reset("a")
    assert [m.id for m in store.messages()] == ["b"] and store.links() == []


# -- secrets and subscriptions ---------------------------------------------------------------


def test_the_first_secret_written_wins_and_survives_reset(store):
    assert store.get_secret("rsa_private_key") is None
    assert store.put_secret("rsa_private_key", "first") == "first"
    assert store.put_secret("rsa_private_key", "second") == "first"
    store.reset()
    assert store.get_secret("rsa_private_key") == "first"


def _subscription(store: Any, client_id: str = "a", transaction_id: str = "tx-1") -> Any:
    from mock_epay.gateway.models import Subscription

    now = store.clock.now()
    return Subscription(id=f"sub-{client_id}-{transaction_id}", client_id=client_id,
                        transaction_id=transaction_id, invoice_id="000000001", card_id=SEED_A,
                        account_id="u1", terminal_id="ta", amount=100, currency="KZT", frequency="MONTHLY",
                        created_at=now, ends_at=now)


def test_one_subscription_per_transaction_and_writes_only_over_what_was_read(store):
    first = _subscription(store)
    assert store.put_subscription(first)
    assert not store.put_subscription(evolve(first, id="sub-other"))  # same transaction
    renewed = evolve(first, renewals=1)
    assert store.put_subscription(renewed, expected=first)
    assert not store.put_subscription(evolve(first, renewals=2), expected=first)  # stale
    assert store.subscription("a", first.id) == renewed
    assert store.subscription_for_transaction("a", "tx-1") == renewed


def test_subscriptions_are_scoped_by_merchant_and_forgotten_by_reset(store):
    store.put_subscription(_subscription(store, "a"))
    store.put_subscription(_subscription(store, "b"))
    assert [s.client_id for s in store.subscriptions("a")] == ["a"]
    assert store.subscription("b", "sub-a-tx-1") is None
    assert len(store.subscriptions()) == 2
    store.reset("a")
    assert [s.client_id for s in store.subscriptions()] == ["b"]


# -- transfers and the statement search ---------------------------------------------------------------


def transfer(store: Any, order_id: str, outcome: Outcome = APPROVED, client_id: str = "a",
             terminal: str = "ta") -> Any:
    from mock_epay.gateway.transfer_records import Transfer, TransferKind, TransferParty, TransferType

    paying = evolve(attempt(order_id, client_id, terminal), source="p2p")
    card = store.make_card("4405639704015096")
    tx = lifecycle.new_transaction(paying, outcome, store.terminal_of(client_id, terminal), card, None,
                                   store.clock.now(), store.fake)
    party = TransferParty(TransferType.PAN, card)
    return store.insert_transfer(Transfer(TransferKind.P2P, tx, 0.0, party, party))


def statement(source: str, *conditions: dict[str, Any], **paging: Any) -> Any:
    from mock_epay.gateway.statements import Source, parse_query

    period = {"name": "created_date", "method": "between",
              "searchParameter": ["2000-01-01T00:00:00Z", "2999-01-01T00:00:00Z"]}
    return parse_query({"searchParameters": [period, *conditions], "paging": paging or None},
                       Source(source))


def test_one_successful_transfer_per_order_and_declines_do_not_count(store):
    transfer(store, "000000201", DECLINED)
    assert not store.transfer_succeeded("a", "000000201")
    first = transfer(store, "000000201")
    assert store.transfer_succeeded("a", "000000201")
    assert refused_as_duplicate(lambda: transfer(store, "000000201"))
    assert store.transfer_for_order("a", "000000201").id == first.id
    transfer(store, "000000201", client_id="b", terminal="tb")  # another merchant's orders are its own
    assert [t.order_id for t in store.transfers("b")] == ["000000201"]


def test_transfers_never_appear_among_payments_and_go_with_a_reset(store):
    transfer(store, "000000202")
    assert store.transactions("a") == [] and store.transaction_for_invoice("a", "000000202") is None
    store.reset("a")
    assert store.transfers("a") == []


def test_the_statement_search_reads_one_merchants_records_of_one_source(store):
    pay(store, "000000301")
    pay(store, "000000302")
    pay(store, "000000301", client_id="b", terminal="tb")
    transfer(store, "000000303")
    wanted = {"name": "invoice_id", "method": "in", "searchParameter": ["000000301", "000000303"]}
    found = store.search_statement("a", statement("payments", wanted))
    assert found.total == 1 and [r.client_id for r in found.records] == ["a"]
    transfers = store.search_statement("a", statement("transfers"))
    assert [t.order_id for t in transfers.records] == ["000000303"]


def test_the_statement_total_counts_before_paging(store):
    for number in range(311, 316):
        pay(store, f"000000{number}")
    page = store.search_statement("a", statement("payments", page=1, size=2))
    assert page.total == 5 and len(page.records) == 2


# -- product records: bounded, forgotten with their merchant, one winner under concurrency ---------


def test_product_records_are_bounded_like_transactions(make_store):
    store = make_store(max_transactions=3)
    for n in range(5):
        store.insert_link(a_link(store, f"l{n}", invoice_id=f"00000090{n}"), store.clock.now())
        store.insert_bill(a_bill(store, f"10000000000{n}"))
        transfer(store, f"00000020{n}")
        store.put_subscription(_subscription(store, transaction_id=f"tx-{n}"))
    assert [x.id for x in store.links()] == ["l4", "l3", "l2"]
    assert [b.bill_number for b in store.bills()] == ["100000000004", "100000000003", "100000000002"]
    assert [t.order_id for t in store.transfers()] == ["000000204", "000000203", "000000202"]
    assert not store.transfer_succeeded("a", "000000200")  # its success mark went with it
    assert [s.transaction_id for s in store.subscriptions()] == ["tx-2", "tx-3", "tx-4"]


def test_removing_a_merchant_forgets_its_product_records_and_keeps_the_others(store):
    from mock_epay.gateway.models import OutboxMessage

    store.insert_merchant(SHOP_C)
    for client_id, terminal in (("c", "tc"), ("a", "ta")):
        link = evolve(a_link(store, f"l-{client_id}", client_id), terminal_id=terminal)
        store.insert_link(link, store.clock.now())
        store.insert_bill(a_bill(store, f"bill-{client_id}", client_id))
        store.add_message(OutboxMessage(id=client_id, client_id=client_id, channel="sms", to="+77000000000",
                                        text="pay", invoice_id="000000900", invoice_url="http://x/1",
                                        sent_at=store.clock.now()))
        store.put_subscription(_subscription(store, client_id))
        transfer(store, "000000205", client_id=client_id, terminal=terminal)
    store.remove_merchant("c")
    assert [x.client_id for x in store.links()] == ["a"] and [b.client_id for b in store.bills()] == ["a"]
    assert [m.client_id for m in store.messages()] == ["a"]
    assert [s.client_id for s in store.subscriptions()] == ["a"]
    assert [t.client_id for t in store.transfers()] == ["a"]
    assert not store.transfer_succeeded("c", "000000205")
    store.insert_merchant(SHOP_C)  # fresh again: its invoice and order are free
    store.insert_link(evolve(a_link(store, "l-c2", "c"), terminal_id="tc"), store.clock.now())
    assert transfer(store, "000000205", client_id="c", terminal="tc").client_id == "c"


async def test_of_20_concurrent_links_for_one_invoice_exactly_one_is_made(store):
    def insert(n: int) -> bool:
        try:
            store.insert_link(a_link(store, f"l{n}"), store.clock.now())
        except EpayError:
            return False
        return True

    made = await asyncio.gather(*(asyncio.to_thread(insert, n) for n in range(20)))
    assert made.count(True) == 1 and len(store.links("a")) == 1


async def test_of_20_concurrent_transfers_of_one_order_exactly_one_is_kept(store):
    def send(_: int) -> bool:
        try:
            transfer(store, "000000206")
        except EpayError:
            return False
        return True

    sent = await asyncio.gather(*(asyncio.to_thread(send, n) for n in range(20)))
    assert sent.count(True) == 1 and len(store.transfers("a")) == 1
