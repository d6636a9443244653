"""Invoice links, QR bills, the outbox, subscriptions and transfers on the durable stores: they outlive
the store object on SQLite, two PostgreSQL stores share them, their invariants hold between two
store objects (two processes), renewals are charged once per period however many processes run
them, and an older schema is migrated at start."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mock_epay.core.clock import Clock
from mock_epay.core.fakedata import FakeData
from mock_epay.gateway import recurring
from mock_epay.gateway.errors import EpayError
from mock_epay.gateway.models import APPROVED, LinkStatus, OutboxMessage, PaymentAttempt, QrStatus, evolve
from mock_epay.gateway.service import Gateway
from mock_epay.gateway.tokens import TokenService
from mock_epay.scenarios.engine import ScenarioEngine
from mock_epay.settings import Settings
from mock_epay.store.base import RecordConflict
from mock_epay.store.sqlite import SqliteStore
from mock_epay.store.sqlite_schema import SCHEMA_VERSION, _migrate_to_1, schema_version
from tests.pg_cluster import fresh_url, pg_store_url, postgres_url  # noqa: F401  (fixtures)
from tests.test_gateway_services import RecordingSink
from tests.test_store_contract import (
    SEED_A,
    SHOP_A,
    SHOP_B,
    _subscription,
    a_bill,
    a_link,
    pay,
    refused_as_duplicate,
    token,
    transfer,
)

DAY = 24 * 3600


def sqlite_opener(tmp_path: Path) -> Callable[[int], Any]:
    path = str(tmp_path / "sandbox.db")
    return lambda seed: SqliteStore([SHOP_A, SHOP_B], Clock(), FakeData(seed), path=path)


def postgres_opener(url: str) -> Callable[[int], Any]:
    from mock_epay.store.postgres import PostgresStore

    return lambda seed: PostgresStore(url, [SHOP_A, SHOP_B], Clock(), FakeData(seed))


@pytest.fixture(params=["sqlite", "postgresql"])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[int], Any]]:
    """Opens store objects on ONE durable sandbox, as separate processes would."""
    opener = sqlite_opener(tmp_path) if request.param == "sqlite" else postgres_opener(fresh_url())
    opened: list[Any] = []

    def open_one(seed: int = 1) -> Any:
        store = opener(seed)
        opened.append(store)
        return store

    yield open_one
    for store in opened:
        store.close()


def message(store: Any, message_id: str) -> OutboxMessage:
    return OutboxMessage(id=message_id, client_id="a", channel="email", to="buyer@example.com", text="pay",
                         invoice_id="000000900", invoice_url="http://127.0.0.1/l1", sent_at=store.clock.now(),
                         link_id="l1")


def write_one_of_each(store: Any) -> dict[str, Any]:
    sent, subscribed = message(store, "m1"), _subscription(store)
    store.add_message(sent)
    assert store.put_subscription(subscribed)
    return {
        "link": store.insert_link(a_link(store, "l1"), store.clock.now()),
        "bill": store.insert_bill(a_bill(store, "100000000001")),
        "message": sent,
        "subscription": subscribed,
        "transfer": transfer(store, "000000201"),
        "secret": store.put_secret("rsa_private_key", "PEM"),
    }


def assert_sees(store: Any, written: dict[str, Any]) -> None:
    assert store.find_link("l1") == written["link"] and store.links("a") == [written["link"]]
    assert store.bill_for_invoice("a", "000000901") == written["bill"]
    assert store.messages("a") == [written["message"]]
    assert store.subscription_for_transaction("a", "tx-1") == written["subscription"]
    assert store.transfer_for_order("a", "000000201") == written["transfer"]
    assert store.transfer_succeeded("a", "000000201")
    assert store.get_secret("rsa_private_key") == "PEM"


# -- durable and shared ----------------------------------------------------------------------------


def test_every_product_record_outlives_the_sqlite_store_that_wrote_it(tmp_path):
    first = sqlite_opener(tmp_path)(1)
    written = write_one_of_each(first)
    first.close()
    reopened = sqlite_opener(tmp_path)(2)
    assert_sees(reopened, written)
    # and the invariants still know about them
    assert refused_as_duplicate(lambda: reopened.insert_link(a_link(reopened, "l2"), reopened.clock.now()))
    assert refused_as_duplicate(lambda: transfer(reopened, "000000201"))
    scanned = reopened.replace_bill(evolve(written["bill"], status=QrStatus.SCANNED), 0)
    assert scanned.version == 1
    reopened.close()


def test_two_postgresql_stores_see_each_others_product_records(pg_store_url):  # noqa: F811
    first, second = (postgres_opener(pg_store_url)(seed) for seed in (1, 2))
    written = write_one_of_each(first)
    assert_sees(second, written)
    scanned = second.replace_bill(evolve(written["bill"], status=QrStatus.SCANNED), 0)
    assert first.find_bill("100000000001") == scanned
    with pytest.raises(RecordConflict):  # the first store's read is stale now
        first.replace_bill(evolve(written["bill"], status=QrStatus.REJECTED), 0)
    second.reset("a")
    assert first.links() == [] and first.transfers() == [] and first.subscriptions() == []
    assert first.get_secret("rsa_private_key") == "PEM"  # secrets survive a reset
    first.close()
    second.close()


# -- invariants between two store objects --------------------------------------------------------------


async def race(stores: list[Any], call: Callable[[Any, int], Any], count: int) -> list[Any]:
    """`count` calls spread over the stores, each in a thread; the results, or the errors raised."""
    def run(n: int) -> Any:
        try:
            return call(stores[n % len(stores)], n)
        except EpayError as exc:
            return exc

    return list(await asyncio.gather(*(asyncio.to_thread(run, n) for n in range(count))))


async def test_of_20_concurrent_links_for_one_invoice_over_two_stores_one_is_made(open_store):
    stores = [open_store(1), open_store(2)]
    results = await race(stores, lambda s, n: s.insert_link(a_link(s, f"l{n}"), s.clock.now()), 20)
    made = [r for r in results if not isinstance(r, EpayError)]
    assert len(made) == 1 and all(r.code == -1 for r in results if isinstance(r, EpayError))
    assert [x.id for x in stores[1].links("a")] == [made[0].id]


async def test_of_20_concurrent_transfers_of_one_order_over_two_stores_one_succeeds(open_store):
    stores = [open_store(1), open_store(2)]
    results = await race(stores, lambda s, n: transfer(s, "000000777"), 20)
    assert len([r for r in results if not isinstance(r, EpayError)]) == 1
    assert len(stores[0].transfers("a")) == 1 and stores[1].transfer_succeeded("a", "000000777")


async def test_a_link_changed_by_one_store_cannot_be_overwritten_from_a_stale_read_by_another(open_store):
    first, second = open_store(1), open_store(2)
    link = first.insert_link(a_link(first, "l1"), first.clock.now())
    stale = second.find_link("l1")
    first.replace_link(evolve(link, status=LinkStatus.CHARGED), 0)
    with pytest.raises(RecordConflict):
        second.replace_link(evolve(stale, status=LinkStatus.EXPIRED), stale.version)
    assert second.find_link("l1").status is LinkStatus.CHARGED


# -- renewals once across processes ------------------------------------------------------------------


def gateway_on(store: Any) -> Gateway:
    """One process's gateway; its renewals approve after a short pause, so two passes interleave."""
    settings = Settings(seed=7, log_requests=False)
    engine = ScenarioEngine.from_rules([{
        "name": "slow-renewals", "description": "renewals answer after a pause",
        "match": {"source": "recurring"}, "outcome": {"result": "approve", "delay_ms": 20}}])
    tokens = TokenService(store, settings, store.clock, store.fake)
    return Gateway(settings, store.clock, store, tokens, engine, RecordingSink())


async def test_two_processes_running_due_renewals_charge_each_period_once(open_store):
    first, second = gateway_on(open_store(1)), gateway_on(open_store(2))
    paying = PaymentAttempt(client_id="a", invoice_id="000000501", amount=100, currency="KZT",
                            terminal_id="ta", account_id="u1")
    saved = first.store.card("a", SEED_A)
    paid = first.store.record_payment(first.store.reserve_invoice("a", "000000501"), paying, APPROVED,
                                      saved.card, saved.id)
    subscription = recurring.subscribe(first, token(first.store, "T"), paid.id, "MONTHLY")
    for gateway in (first, second):
        gateway.clock.advance(95 * DAY)

    made = await asyncio.gather(recurring.charge_due(first), recurring.charge_due(second))

    renewals = [tx for tx in first.store.transactions("a") if tx.id != paid.id]
    assert len(renewals) == 3 == len(made[0]) + len(made[1])
    after = second.store.subscription("a", subscription.id)
    assert after.renewals == 3 and sorted(after.charge_ids) == sorted(tx.id for tx in renewals)
    due = [recurring.due_date(subscription, n) for n in (1, 2, 3)]
    assert all(when <= first.clock.now() for when in due)
    assert await recurring.charge_due(second) == [] and await recurring.charge_due(first) == []


# -- migrations from the previous schema --------------------------------------------------------------


def test_a_version_1_sqlite_file_is_migrated_at_start_and_keeps_its_data(tmp_path):
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        db.execute("INSERT INTO schema_version VALUES (1)")
        _migrate_to_1(db)
        db.execute("INSERT INTO journal (at, method, path, status, ms, body, answer) "
                   "VALUES (1, 'GET', '/old', 200, 0.1, x'', x'')")
        db.execute("INSERT INTO kv VALUES ('secret:rsa_private_key', 'OLD PEM')")
    store = SqliteStore([SHOP_A, SHOP_B], Clock(), FakeData(1), path=str(path))
    assert schema_version(store._db) == SCHEMA_VERSION
    assert [e[2] for e in store.journal()] == ["/old"] and store.get_secret("rsa_private_key") == "OLD PEM"
    written = write_one_of_each_but_the_secret(store)
    store.journal_request((2, "GET", "/new", 200, 0.1, b"", b"", "a"))
    store.remove_merchant("a")
    assert [e[2] for e in store.journal()] == ["/old"] and store.find_link(written.id) is None
    store.close()


def test_a_version_1_postgresql_schema_is_migrated_at_start_and_keeps_its_data(pg_store_url):  # noqa: F811
    import psycopg

    from mock_epay.store.postgres_schema import MIGRATIONS, SCHEMA_VERSION, dump_entry

    with psycopg.connect(pg_store_url, autocommit=True) as conn:
        conn.execute(MIGRATIONS[0])
        conn.execute("CREATE TABLE mock_epay_schema (version integer NOT NULL)")
        conn.execute("INSERT INTO mock_epay_schema VALUES (1)")
        conn.execute("INSERT INTO journal (entry) VALUES (%s)",
                     (dump_entry((1, "GET", "/old", 200, 0.1, b"", b"")),))
    store = postgres_opener(pg_store_url)(1)
    assert store._one("SELECT version FROM mock_epay_schema")[0] == SCHEMA_VERSION
    assert [e[2] for e in store.journal()] == ["/old"]
    written = write_one_of_each_but_the_secret(store)
    store.journal_request((2, "GET", "/new", 200, 0.1, b"", b"", "a"))
    store.remove_merchant("a")
    assert [e[2] for e in store.journal()] == ["/old"] and store.find_link(written.id) is None
    store.close()


def write_one_of_each_but_the_secret(store: Any) -> Any:
    link = store.insert_link(a_link(store, "l1"), store.clock.now())
    store.insert_bill(a_bill(store, "100000000001"))
    store.add_message(message(store, "m1"))
    store.put_subscription(_subscription(store))
    transfer(store, "000000201")
    pay(store, "000000202")
    assert store.links("a") == [link] == [store.find_link("l1")] and len(store.transfers("a")) == 1
    return link


# -- the same through two apps, one after the other, on one SQLite file -----------------------------


async def test_links_bills_outbox_transfers_and_subscriptions_outlive_the_app_on_sqlite(make_client,
                                                                                       tmp_path):
    from tests.conftest import get_token
    from tests.test_cryptopay import card_json, cryptopay
    from tests.test_invoice_links import password_token, send_link
    from tests.test_recurring import subscribe
    from tests.test_transfers import body, send

    settings = Settings(seed=1234, log_requests=False, store=f"sqlite:///{tmp_path / 'sandbox.db'}")
    first = await make_client(settings)
    grant = await password_token(first)
    assert (await send_link(first, grant["access_token"])).status == 200
    qr_token = await get_token(first, invoiceID="000000431")
    bill = await (await first.post("/payment/qr/generate", json={},
                                   headers={"Authorization": f"Bearer {qr_token}"})).json()
    assert (await send(first, "/p2p/transfer", body("12345678900001"))).status == 200
    paid = await (await cryptopay(first, card_json().decode(), invoice="000000432", cardSave=True)).json()
    assert (await subscribe(first, paid["id"])).status == 200
    before = {path: await (await first.get(path)).json() for path in ADMIN_LISTS}
    key = await (await first.get("/public.rsa")).text()
    await first.close()

    second = await make_client(evolve(settings, seed=4321))
    after = {path: await (await second.get(path)).json() for path in ADMIN_LISTS}
    for listed in (before, after):  # the bill's qrcode URL names the server's own port
        listed["/_mock/qr"]["bills"][0].pop("qrcode")
    assert after == before
    assert {path: [len(v) for v in listed.values()] for path, listed in before.items()} == {
        "/_mock/outbox": [2], "/_mock/qr": [1], "/_mock/transfers": [1], "/_mock/subscriptions": [1]}
    relinked = await send_link(second, (await password_token(second))["access_token"])
    assert relinked.status == 400  # the link sent before the restart is still live
    polled = await second.get("/qr", params={"billNumber": bill["billNumber"]},
                              headers={"Authorization": f"Bearer {qr_token}"})
    assert polled.status == 200 and (await polled.json())["status"] == "NEW"
    again = await send(second, "/p2p/transfer", body("12345678900001"))
    assert again.status == 400  # the order succeeded before the restart
    assert await (await second.get("/public.rsa")).text() == key


ADMIN_LISTS = ("/_mock/outbox", "/_mock/qr", "/_mock/transfers", "/_mock/subscriptions")
