"""The PostgreSQL store's pipelined writes (store/postgres_pipeline.py), through the mock's runner.

Each token answer leaves only after its row is committed; a write that fails answers the bank's 500
and keeps no token; a connection that breaks fails the waiting write and the next request opens a
new one; a payment right after a token on the same connection sees it. A payment's tail (its row,
its callback's row, the COMMIT) is sent with the COMMIT: its answer and its callback both come after
the commit, and a commit that fails answers 500, leaves nothing recorded and sends no callback.
"""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
import pytest
from aiohttp import web

from mock_epay.app import create_app
from mock_epay.settings import Settings
from mock_epay.store.postgres_pipeline import PipelinedWrites
from mock_epay.web.app_keys import STORE
from tests.conftest import TOKEN_PATH, served, token_form
from tests.pg_cluster import pg_store_url, postgres_url  # noqa: F401  (fixtures)
from tests.test_cards_auth import payment_body
from tests.test_store_contract import token

pytestmark = pytest.mark.usefixtures("postgres_url")


def _schema_conn(url: str) -> psycopg.Connection[Any]:
    return psycopg.connect(url, autocommit=True)


async def _client(aiohttp_client: Any, url: str) -> Any:
    client = await aiohttp_client(served(create_app(Settings(store=url))))
    for invoice in ("000000900", "000000899"):  # the first one sweeps; each prepares its statement
        first = await client.post(TOKEN_PATH, data=token_form(invoiceID=invoice))
        assert first.status == 200
    return client


async def test_concurrent_token_answers_each_leave_after_their_row_is_committed(
        aiohttp_client: Any, pg_store_url: str) -> None:  # noqa: F811
    client = await _client(aiohttp_client, pg_store_url)
    store = client.server.app[STORE]
    store.add_token(token(store, "T-pipelined", ttl=600))
    assert store.durable() is not None  # served by the mock's runner: the write went into the pipeline
    await store.durable()
    with _schema_conn(pg_store_url) as other:
        async def issue(number: int) -> bool:
            answer = await client.post(TOKEN_PATH, data=token_form(invoiceID=f"00091{number:04d}"))
            assert answer.status == 200
            issued = (await answer.json())["access_token"]
            found = other.execute("SELECT 1 FROM tokens WHERE access_token = %s", (issued,)).fetchone()
            return found is not None

        assert all(await asyncio.gather(*(issue(n) for n in range(40))))
        assert other.execute("SELECT 1 FROM tokens WHERE access_token = 'T-pipelined'").fetchone()
    assert store.durable() is None


async def test_a_payment_right_after_its_token_on_the_same_connection_is_approved(
        aiohttp_client: Any, pg_store_url: str) -> None:  # noqa: F811
    client = await _client(aiohttp_client, pg_store_url)
    for number in range(5):
        invoice = f"00092{number:04d}"
        issued = await client.post(TOKEN_PATH, data=token_form(invoiceID=invoice))
        bearer = (await issued.json())["access_token"]
        paid = await client.post("/payments/cards/auth", json=payment_body(invoiceId=invoice),
                                 headers={"Authorization": f"Bearer {bearer}"})
        assert paid.status == 200, await paid.text()


async def test_a_write_that_fails_in_the_pipeline_answers_500_and_keeps_no_token(
        aiohttp_client: Any, pg_store_url: str) -> None:  # noqa: F811
    client = await _client(aiohttp_client, pg_store_url)
    with _schema_conn(pg_store_url) as other:
        other.execute("ALTER TABLE tokens ADD CONSTRAINT refuse_new CHECK (false) NOT VALID")
        try:
            refused = await client.post(TOKEN_PATH, data=token_form(invoiceID="000000901"))
            assert refused.status == 500
            assert set(await refused.json()) == {"code", "message"}
            store = client.server.app[STORE]
            assert store.durable() is None
            assert other.execute("SELECT count(*) FROM tokens").fetchone()[0] == 2  # _client's only
        finally:
            other.execute("ALTER TABLE tokens DROP CONSTRAINT refuse_new")
    again = await client.post(TOKEN_PATH, data=token_form(invoiceID="000000902"))
    assert again.status == 200


async def test_a_broken_connection_fails_the_waiting_write_and_the_next_request_reconnects(
        aiohttp_client: Any, pg_store_url: str) -> None:  # noqa: F811
    client = await _client(aiohttp_client, pg_store_url)
    with _schema_conn(pg_store_url) as other:
        other.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                      "WHERE datname = current_database() AND pid <> pg_backend_pid()")
    await asyncio.sleep(0.1)
    broken = await client.post(TOKEN_PATH, data=token_form(invoiceID="000000903"))
    assert broken.status == 500
    assert set(await broken.json()) == {"code", "message"}
    for number in range(3):
        answer = await client.post(TOKEN_PATH, data=token_form(invoiceID=f"00000090{4 + number}"))
        assert answer.status == 200


async def test_a_connection_broken_under_a_waiting_write_fails_it_and_keeps_no_token(
        aiohttp_client: Any, pg_store_url: str) -> None:  # noqa: F811
    # a write that waited in place would wait on the lock below for good: 5 s, then it fails
    client = await _client(aiohttp_client, pg_store_url + "%20-clock_timeout%3D5000")
    store = client.server.app[STORE]
    with _schema_conn(pg_store_url) as other:
        with other.transaction():
            other.execute("LOCK TABLE tokens IN ACCESS EXCLUSIVE MODE")  # the write waits on it
            store.add_token(token(store, "T-lost", ttl=600))
            waiting = store.durable()
            assert waiting is not None
            await asyncio.sleep(0.05)
            assert not waiting.done()  # the loop goes on while the write waits
            other.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        with pytest.raises(psycopg.OperationalError):
            await asyncio.wait_for(waiting, 5)
        assert store.durable() is None
        assert store.token("T-lost") is None  # a new connection: the row was never written
        assert other.execute("SELECT 1 FROM tokens WHERE access_token = 'T-lost'").fetchone() is None
    answer = await client.post(TOKEN_PATH, data=token_form(invoiceID="000000910"))
    assert answer.status == 200


async def _receiver(aiohttp_server: Any, url: str) -> tuple[str, list[tuple[str, bool]]]:
    """A merchant's postLink on loopback that notes, for each callback, whether its payment was
    already committed when the callback arrived (read from another connection)."""
    seen: list[tuple[str, bool]] = []
    other = _schema_conn(url)

    async def post_link(request: web.Request) -> web.Response:
        invoice = (await request.json())["invoiceId"]
        row = other.execute("SELECT 1 FROM transactions WHERE invoice_id = %s", (invoice,)).fetchone()
        seen.append((invoice, row is not None))
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/cb", post_link)
    app.on_cleanup.append(lambda _app: asyncio.to_thread(other.close))
    server = await aiohttp_server(app)
    return f"http://127.0.0.1:{server.port}/cb", seen


@pytest.fixture
def tails_sent(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many transaction tails went into the pipeline (the path these tests are about)."""
    sent: list[int] = []
    original = PipelinedWrites.send_transaction_tail

    def counted(self: PipelinedWrites, *args: Any, **kwargs: Any) -> None:
        sent.append(1)
        original(self, *args, **kwargs)

    monkeypatch.setattr(PipelinedWrites, "send_transaction_tail", counted)
    return sent


async def _pay(client: Any, invoice: str, post_link: str) -> Any:
    issued = await client.post(TOKEN_PATH, data=token_form(invoiceID=invoice, postLink=post_link))
    bearer = (await issued.json())["access_token"]
    return await client.post("/payments/cards/auth", json=payment_body(invoiceId=invoice, postLink=post_link),
                             headers={"Authorization": f"Bearer {bearer}"})


async def test_a_payment_and_its_callback_are_committed_before_the_answer_and_before_the_callback(
        aiohttp_client: Any, aiohttp_server: Any, pg_store_url: str, tails_sent: list[int]) -> None:  # noqa: F811
    client = await _client(aiohttp_client, pg_store_url)
    post_link, seen = await _receiver(aiohttp_server, pg_store_url)
    invoices = [f"00093{number:04d}" for number in range(20)]
    with _schema_conn(pg_store_url) as other:
        async def pay_and_look(invoice: str) -> tuple[bool, bool]:
            paid = await _pay(client, invoice, post_link)
            assert paid.status == 200, await paid.text()
            def found(table: str) -> bool:
                query = f"SELECT 1 FROM {table} WHERE invoice_id = %s"  # noqa: S608 (a fixed name)
                return other.execute(query, (invoice,)).fetchone() is not None

            return found("transactions"), found("deliveries")

        assert await asyncio.gather(*(pay_and_look(invoice) for invoice in invoices)) == [(True, True)] * 20
    for _ in range(100):
        if len(seen) == 20:
            break
        await asyncio.sleep(0.05)
    assert sorted(seen) == [(invoice, True) for invoice in invoices]  # each one once, after its commit
    assert len(tails_sent) >= 20  # each payment's tail went with its COMMIT


async def test_a_payment_whose_commit_fails_answers_500_records_nothing_and_sends_no_callback(
        aiohttp_client: Any, aiohttp_server: Any, pg_store_url: str, tails_sent: list[int]) -> None:  # noqa: F811
    client = await _client(aiohttp_client, pg_store_url)
    post_link, seen = await _receiver(aiohttp_server, pg_store_url)
    with _schema_conn(pg_store_url) as other:
        other.execute("ALTER TABLE transactions ADD CONSTRAINT refuse_new CHECK (false) NOT VALID")
        try:
            refused = await _pay(client, "000000940", post_link)
            assert tails_sent  # the insert failed with the COMMIT it was sent with
            assert refused.status == 500
            assert set(await refused.json()) == {"code", "message"}
            await asyncio.sleep(0.5)
            assert other.execute("SELECT count(*) FROM transactions").fetchone()[0] == 0
            assert other.execute("SELECT count(*) FROM deliveries").fetchone()[0] == 0
            assert other.execute("SELECT count(*) FROM reservations").fetchone()[0] == 0  # rolled back
        finally:
            other.execute("ALTER TABLE transactions DROP CONSTRAINT refuse_new")
    assert seen == []
    again = await _pay(client, "000000940", post_link)  # the invoice was never marked paid
    assert again.status == 200, await again.text()
    for _ in range(100):
        if seen:
            break
        await asyncio.sleep(0.05)
    assert seen == [("000000940", True)]


async def test_the_journal_batch_goes_into_the_pipeline_in_order_and_is_read_back_whole(
        aiohttp_client: Any, pg_store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    """A due journal batch is sent without waiting (run in place at most once, the first time,
    which prepares its statement while no write is in flight), its entries keep their order and
    merchant, and reading the journal writes what still waits first."""
    from mock_epay.store import postgres_journal
    from mock_epay.store.postgres_fast import FAST
    from mock_epay.store.postgres_schema import load_entry

    client = await _client(aiohttp_client, pg_store_url)
    in_place: list[str] = []
    run = FAST.run

    def spying_run(conn: Any, sql: str, params: tuple[Any, ...] = ()) -> Any:
        if sql == postgres_journal.JOURNAL_INSERT:
            in_place.append(sql)
        return run(conn, sql, params)

    monkeypatch.setattr(FAST, "run", spying_run)
    for number in range(200):  # three batches of 64 and 8 waiting
        answer = await client.post(TOKEN_PATH, data=token_form(invoiceID=f"00093{number:04d}"))
        assert answer.status == 200
    assert len(in_place) <= 1  # the later batches went out in the pipeline
    in_place.clear()
    with _schema_conn(pg_store_url) as other:
        rows = other.execute("SELECT entry, client_id FROM journal ORDER BY seq").fetchall()
    written = [load_entry(bytes(entry)) for entry, _client_id in rows]
    assert len(written) == 192
    assert all(entry[2] == TOKEN_PATH for entry in written)
    assert {client_id for _entry, client_id in rows} == {"test"}
    assert [entry[0] for entry in written] == sorted(entry[0] for entry in written)  # in arrival order
    store = client.server.app[STORE]
    whole = store.journal()
    assert len(whole) == 202  # _client's two and these 200: the waiting ones were written first
    assert in_place == [postgres_journal.JOURNAL_INSERT]  # that read waited for its write, as it must
    assert [entry[0] for entry in whole] == sorted(entry[0] for entry in whole)
