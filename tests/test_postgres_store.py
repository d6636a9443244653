"""Two real server processes on one PostgreSQL store keep one sandbox: the invariants hold across them.

Each test starts two `mock-epay serve --store postgresql://...` processes on a fresh schema of the
session's throwaway cluster (tests/pg_cluster.py) and splits concurrent requests between them.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from mock_epay.settings import ConfigError
from mock_epay.store.open import StoreArgs, open_store
from tests.conftest import TOKEN_PATH, service_form, token_form
from tests.pg_cluster import pg_store_url, postgres_url  # noqa: F401  (fixtures)
from tests.test_cards_auth import payment_body
from tests.test_cli import free_port, wait_healthy

NO_CALLBACKS: dict[str, Any] = {"postLink": None, "failurePostLink": None}


def start_server(port: int, store_url: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "mock_epay", "serve", "--port", str(port), "--store", store_url, "--quiet",
         *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def stop(process: subprocess.Popen) -> str:
    process.terminate()
    try:
        output, _ = process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
    return output


@pytest.fixture
def two_servers(pg_store_url: str) -> Iterator[list[str]]:  # noqa: F811
    """Base URLs of two server processes sharing one PostgreSQL store."""
    ports = [free_port(), free_port()]
    processes = [start_server(port, pg_store_url) for port in ports]
    try:
        for port in ports:
            wait_healthy(port, time.monotonic() + 30)
        yield [f"http://127.0.0.1:{port}" for port in ports]
    finally:
        for process in processes:
            stop(process)


async def payment_token(session: aiohttp.ClientSession, base: str, invoice_id: str, amount: int = 100) -> str:
    form = token_form(invoiceID=invoice_id, amount=str(amount))
    async with session.post(base + TOKEN_PATH, data=form) as r:
        assert r.status == 200, await r.text()
        return (await r.json())["access_token"]


async def service_token(session: aiohttp.ClientSession, base: str) -> str:
    async with session.post(base + TOKEN_PATH, data=service_form()) as r:
        assert r.status == 200, await r.text()
        return (await r.json())["access_token"]


async def pay(session: aiohttp.ClientSession, base: str, token: str, invoice_id: str,
              amount: int = 100) -> tuple[int, dict[str, Any]]:
    body = payment_body(invoiceId=invoice_id, amount=amount, **NO_CALLBACKS)
    async with session.post(base + "/payments/cards/auth", json=body,
                            headers={"Authorization": f"Bearer {token}"}) as r:
        return r.status, await r.json()


async def test_40_concurrent_payments_of_one_invoice_across_two_processes_give_one_success(two_servers):
    async with aiohttp.ClientSession() as session:
        # each token is issued by one process and spent on the other
        tokens = await asyncio.gather(*(payment_token(session, two_servers[n % 2], "000000401")
                                        for n in range(40)))
        answers = await asyncio.gather(*(pay(session, two_servers[(n + 1) % 2], token, "000000401")
                                         for n, token in enumerate(tokens)))
    statuses = [status for status, _ in answers]
    assert statuses.count(200) == 1, answers
    refusals = [body for status, body in answers if status != 200]
    assert len(refusals) == 39
    assert all(b == {"code": -1, "message": "dublicate transaction"} for b in refusals)


async def test_50_concurrent_refunds_of_10_on_100_across_two_processes_give_exactly_10(two_servers):
    async with aiohttp.ClientSession() as session:
        token = await payment_token(session, two_servers[0], "000000402")
        status, paid = await pay(session, two_servers[0], token, "000000402")
        assert status == 200, paid
        service = await service_token(session, two_servers[1])

        async def refund(base: str) -> int:
            async with session.post(f"{base}/operation/{paid['id']}/refund", params={"amount": "10"},
                                    headers={"Authorization": f"Bearer {service}"}) as r:
                if r.status != 200:
                    assert (await r.json())["code"] == 100
                return r.status

        statuses = await asyncio.gather(*(refund(two_servers[n % 2]) for n in range(50)))
        assert statuses.count(200) == 10 and statuses.count(400) == 40
        for base in two_servers:
            async with session.get(f"{base}/check-status/payment/transaction/000000402",
                                   headers={"Authorization": f"Bearer {service}"}) as r:
                tx = (await r.json())["transaction"]
            assert (tx["statusName"], tx["amount"], tx["orgAmount"]) == ("REFUND", 0, 100)


async def test_a_payment_made_on_one_process_is_read_on_the_other(two_servers):
    async with aiohttp.ClientSession() as session:
        token = await payment_token(session, two_servers[0], "000000403", amount=250)
        status, paid = await pay(session, two_servers[0], token, "000000403", amount=250)
        assert status == 200, paid
        service = await service_token(session, two_servers[1])
        async with session.get(f"{two_servers[1]}/check-status/payment/transaction/000000403",
                               headers={"Authorization": f"Bearer {service}"}) as r:
            assert r.status == 200
            tx = (await r.json())["transaction"]
        assert (tx["id"], tx["statusName"], tx["amount"]) == (paid["id"], "CHARGE", 250)
        async with session.get(f"{two_servers[1]}/_mock/transactions") as r:
            listed = await r.text()
        assert paid["id"] in listed and "4405639704015096" not in listed
        # the other process refuses the paid invoice as a duplicate too
        again = await payment_token(session, two_servers[1], "000000403", amount=250)
        assert await pay(session, two_servers[1], again, "000000403", amount=250) == (
            400, {"code": -1, "message": "dublicate transaction"})


def test_a_store_opened_twice_on_one_database_migrates_once_and_keeps_its_data(pg_store_url):  # noqa: F811
    from mock_epay.core.clock import Clock
    from mock_epay.core.fakedata import FakeData
    from mock_epay.settings import DEFAULT_MERCHANT
    from mock_epay.store.postgres_schema import SCHEMA_VERSION

    args = StoreArgs([DEFAULT_MERCHANT], Clock(), FakeData())
    first = open_store(pg_store_url, args)
    reservation = first.reserve_invoice(DEFAULT_MERCHANT.client_id, "000000404")
    first.release_invoice(reservation)
    second = open_store(pg_store_url.replace("postgresql://", "postgres://"), args)
    version = second._conn().execute("SELECT version FROM mock_epay_schema").fetchone()[0]
    assert version == SCHEMA_VERSION
    assert [m.client_id for m in second.merchants()] == [DEFAULT_MERCHANT.client_id]
    first.close()
    second.close()


def test_a_database_newer_than_the_code_is_refused_with_one_line(pg_store_url):  # noqa: F811
    import psycopg

    from mock_epay.core.clock import Clock
    from mock_epay.core.fakedata import FakeData

    with psycopg.connect(pg_store_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE mock_epay_schema (version integer NOT NULL)")
        conn.execute("INSERT INTO mock_epay_schema VALUES (999)")
    with pytest.raises(ConfigError, match="schema is version 999, newer than this mock-epay knows"):
        open_store(pg_store_url, StoreArgs([], Clock(), FakeData()))


def test_an_unreachable_database_is_one_line_and_exit_2(postgres_url):  # noqa: F811
    port = free_port()
    process = subprocess.run(
        [sys.executable, "-m", "mock_epay", "serve", "--port", str(port),
         "--store", f"postgresql://nobody@127.0.0.1:{free_port()}/nothing"],
        capture_output=True, text=True, timeout=60)
    assert process.returncode == 2
    assert "store: cannot connect to PostgreSQL" in process.stderr
    assert "Traceback" not in process.stderr


def test_the_compose_file_puts_two_replicas_on_one_postgresql_behind_a_proxy(tmp_path):
    import shutil
    from pathlib import Path

    import yaml

    root = Path(__file__).resolve().parent.parent
    compose = yaml.safe_load((root / "docker-compose.postgres.yml").read_text())
    services = compose["services"]
    replicas = [services["mock-epay-a"], services["mock-epay-b"]]
    stores = {r["environment"]["MOCK_EPAY_STORE"] for r in replicas}
    assert len(stores) == 1 and stores.pop().startswith("postgresql://mockepay:mockepay@postgres:5432/")
    assert all("MOCK_EPAY_SEED" not in r["environment"] for r in replicas)
    assert all(r["depends_on"]["postgres"]["condition"] == "service_healthy" for r in replicas)
    nginx = compose["configs"]["nginx"]["content"]
    assert "server mock-epay-a:8080;" in nginx and "server mock-epay-b:8080;" in nginx
    assert services["proxy"]["ports"] == ["8080:8080"]
    hadolint = shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))
    if hadolint is not None:
        dockerfile = tmp_path / "Dockerfile"
        dockerfile.write_text(replicas[0]["build"]["dockerfile_inline"])
        result = subprocess.run([hadolint, "--no-color", "--ignore", "DL3013", str(dockerfile)],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr


def test_a_card_read_and_cached_by_one_process_is_seen_deactivated_once_another_deactivates_it(
        pg_store_url: str) -> None:  # noqa: F811
    """Saved cards are cached (a payment by card id reads its card), and a change anywhere clears
    every process's cache: the changing transaction NOTIFYs at its commit."""
    from mock_epay.core.clock import Clock
    from mock_epay.core.fakedata import FakeData
    from mock_epay.store.postgres import PostgresStore
    from tests.test_store_contract import SEED_A, SHOP_A, SHOP_B

    stores = [PostgresStore(pg_store_url, [SHOP_A, SHOP_B], Clock(), FakeData(n)) for n in (1, 2)]
    try:
        one, other = stores
        assert other.card("a", SEED_A).active  # read, and now cached
        assert other.card("a", SEED_A) is other.card("a", SEED_A)  # from the cache
        one.deactivate_card("a", SEED_A)
        for _ in range(50):  # the notification arrives after the commit, within moments
            if not other.card("a", SEED_A).active:
                break
            time.sleep(0.01)
        assert not other.card("a", SEED_A).active
        one.reset("a")  # seeds the config card again, active
        for _ in range(50):
            if other.card("a", SEED_A).active:
                break
            time.sleep(0.01)
        assert other.card("a", SEED_A).active
    finally:
        for store in stores:
            store.close()
