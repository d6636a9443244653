"""Group commit on the SQLite store: the writes of one loop turn commit together, each call still
all-or-nothing, answers leave only once committed, and never while another process shares the file."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from mock_epay.app import create_app
from mock_epay.settings import Settings
from mock_epay.web.app_keys import STORE
from tests.conftest import TOKEN_PATH, served, token_form
from tests.test_sqlite_store import open_file, pay
from tests.test_store_contract import token


class RefusingCommit:
    """A connection whose COMMIT fails as a full or broken disk makes it fail."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def execute(self, sql: str, *args: Any) -> Any:
        if sql == "COMMIT":
            raise sqlite3.OperationalError("disk I/O error")
        return self._db.execute(sql, *args)


def _rows(path: Path, table: str) -> int:
    """What another connection sees: only committed rows."""
    with sqlite3.connect(path) as db:
        return int(db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


async def test_the_writes_of_one_turn_commit_together_and_durable_says_when(tmp_path: Path) -> None:
    store = open_file(tmp_path / "s.db")
    store.group_commit(asyncio.get_running_loop())
    try:
        assert store.durable() is None  # nothing written yet
        store.add_token(token(store, "T1", ttl=600))
        store.add_token(token(store, "T2", ttl=600))
        paid = pay(store, "000000711")
        pending = store.durable()
        assert pending is not None
        assert _rows(tmp_path / "s.db", "tokens") == 0  # not committed yet: other connections see nothing
        assert store.token("T2") is not None and store.transaction("a", paid.id) == paid  # this one does
        await pending
        assert store.durable() is None
        assert _rows(tmp_path / "s.db", "tokens") == 2
        assert _rows(tmp_path / "s.db", "transactions") == 1
    finally:
        store.group_commit(None)
        store.close()


async def test_a_call_that_fails_in_a_batch_undoes_only_itself(tmp_path: Path) -> None:
    store = open_file(tmp_path / "s.db")
    store.group_commit(asyncio.get_running_loop())
    try:
        first = pay(store, "000000712")
        with pytest.raises(ValueError, match="recorded already"):
            store.insert_payment(store.reserve_invoice("a", "000000713"), first)  # the same id again
        store.add_token(token(store, "T3", ttl=600))
        await store.durable()  # type: ignore[misc]
    finally:
        store.group_commit(None)
        store.close()
    again = open_file(tmp_path / "s.db")
    assert again.transaction("a", first.id) == first
    assert again.token("T3") is not None
    assert again.transaction_for_invoice("a", "000000713") is None
    again.close()


async def test_a_failed_commit_fails_what_waits_for_it_and_forgets_the_cache(tmp_path: Path) -> None:
    store = open_file(tmp_path / "s.db")
    store.group_commit(asyncio.get_running_loop())
    store.add_token(token(store, "T4", ttl=600))
    pending = store.durable()
    real = store._db
    store._db = RefusingCommit(real)  # type: ignore[assignment]
    try:
        with pytest.raises(sqlite3.OperationalError, match="disk I/O"):
            await pending  # type: ignore[misc]
    finally:
        store._db = real
    assert store.token("T4") is None  # rolled back, and not served from the cache either
    store.group_commit(None)
    store.close()


async def test_an_answer_leaves_only_after_its_commit(tmp_path: Path, aiohttp_client: Any) -> None:
    """Through the server: each token answered is already in the file when its answer arrives."""
    path = tmp_path / "s.db"
    client = await aiohttp_client(served(create_app(Settings(store=f"sqlite:///{path}"))))
    assert client.server.app[STORE].durable() is None
    for number in range(3):
        answer = await client.post(TOKEN_PATH, data=token_form(invoiceID=f"00071400{number}"))
        assert answer.status == 200
        assert _rows(path, "tokens") == number + 1
    merchants = await client.get("/_mock/merchants")  # an answer aiohttp writes waits too
    assert merchants.status == 200
    store = client.server.app[STORE]
    store.add_token(token(store, "T7", ttl=600))
    assert store.durable() is not None  # served by the mock's runner: commits are grouped
    await store.durable()


async def test_no_batch_while_another_process_has_the_file_open(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = open_file(path)
    store.group_commit(asyncio.get_running_loop())
    other = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        from mock_epay.store.sqlite_presence import Presence
        presence = Presence({str(path)!r})
        print("open", flush=True)
        sys.stdin.readline()
    """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout is not None and other.stdout.readline().strip() == "open"
        await asyncio.sleep(0.06)  # past the presence check's recheck interval
        store.add_token(token(store, "T5", ttl=600))
        assert store.durable() is None  # committed at once: the other process may want the lock
        assert _rows(path, "tokens") == 1
    finally:
        assert other.stdin is not None
        other.stdin.close()
        other.wait(5)
    await asyncio.sleep(0.06)
    store.add_token(token(store, "T6", ttl=600))
    assert store.durable() is not None  # alone again: grouped
    await store.durable()  # type: ignore[misc]
    store.group_commit(None)
    store.close()


def test_a_side_file_that_cannot_be_opened_means_never_alone(tmp_path: Path) -> None:
    from mock_epay.store.sqlite_presence import Presence

    presence = Presence(str(tmp_path / "no-such-dir" / "s.db"))
    assert presence.alone() is False
    presence.close()


async def test_only_the_mocks_own_runner_groups_commits(tmp_path: Path, aiohttp_client: Any) -> None:
    """An app served by another runner (aiohttp's own, as when embedded) cannot hold its answers for
    a commit, so its store commits each call, and each token is in the file before it is answered."""
    path = tmp_path / "s.db"
    client = await aiohttp_client(create_app(Settings(store=f"sqlite:///{path}")))
    answer = await client.post(TOKEN_PATH, data=token_form(invoiceID="000715001"))
    assert answer.status == 200
    assert client.server.app[STORE].durable() is None
    assert _rows(path, "tokens") == 1


async def test_a_failed_commit_answers_the_banks_500_on_the_lane_and_off_it(
        tmp_path: Path, aiohttp_client: Any) -> None:
    """What a request wrote could not be committed: its answer (a token on the fast lane, a payment
    through aiohttp's handler) is the bank's 500, never the success it would have reported."""
    from tests.test_cards_auth import payment_body

    client = await aiohttp_client(served(create_app(Settings(store=f"sqlite:///{tmp_path / 's.db'}"))))
    store = client.server.app[STORE]
    issued = await (await client.post(TOKEN_PATH, data=token_form(invoiceID="000716001"))).json()
    real = store._db
    store._db = RefusingCommit(real)
    try:
        token_answer = await client.post(TOKEN_PATH, data=token_form(invoiceID="000716002"))
        paid = await client.post("/payments/cards/auth", json=payment_body(invoiceId="000716001"),
                                 headers={"Authorization": f"Bearer {issued['access_token']}"})
        answers = [(token_answer.status, await token_answer.json()), (paid.status, await paid.json())]
    finally:
        store._db = real
    for status, body in answers:
        assert status == 500
        assert set(body) == {"code", "message"}
