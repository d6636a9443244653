"""`mock-epay export` / `import`: a sandbox moves memory → SQLite → PostgreSQL and keeps working.

The memory sandbox is made over HTTP in-process (tokens, payments, a refund, a saved and a
deactivated card, a 3-D Secure hold); it goes into a SQLite file through `import_state`; a real
server on that file adds what only a durable store keeps (a pending callback, an override, a
clock offset); `mock-epay export` and `mock-epay import` take it to PostgreSQL, where a real server
answers for all of it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections import Counter
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

from mock_epay.core.clock import Clock
from mock_epay.core.fakedata import FakeData
from mock_epay.settings import DEFAULT_MERCHANT
from mock_epay.store.export import export_state, import_state
from mock_epay.store.open import StoreArgs, open_store
from mock_epay.web.app_keys import STORE
from tests.conftest import get_service_token, get_token
from tests.pg_cluster import pg_store_url, postgres_url  # noqa: F401  (fixtures)
from tests.test_cards_auth import payment_body
from tests.test_cli import free_port, wait_healthy
from tests.test_cryptopay import SECURE3D_CARD, card_json, cryptopay
from tests.test_durable_restart import call, deliveries, pay, serve
from tests.test_postgres_callbacks import Receiver
from tests.test_postgres_callbacks import serve as serve_on

SAVED_VISA = "e7e2587f-de26-4f41-ae1f-80c1fea31728"
MASTERCARD = "22f2c5db-64d8-475f-8066-af3de3dc8233"
FULL_PAN = "4405639704015096"


def mock_epay(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mock_epay", *args], input=stdin, capture_output=True,
                          text=True, timeout=120)


def comparable(state: dict[str, Any]) -> dict[str, Any]:
    """A state without what a store may number differently (transaction versions)."""
    state = json.loads(json.dumps(state))
    for tx in state["transactions"]:
        tx.pop("version", None)
    return state


async def memory_sandbox(client: Any) -> dict[str, str]:
    """Payments, a refund, a saved and a deactivated card and a 3-D Secure hold, on memory://."""
    made: dict[str, str] = {"service": await get_service_token(client)}
    auth = {"Authorization": f"Bearer {made['service']}"}
    for invoice in ("000000801", "000000802"):
        token = await get_token(client, invoiceID=invoice)
        paid = await client.post("/payments/cards/auth", json=payment_body(invoiceId=invoice, postLink=None,
                                                                           failurePostLink=None),
                                 headers={"Authorization": f"Bearer {token}"})
        assert paid.status == 200, await paid.text()
        made[invoice] = (await paid.json())["id"]
    refund = await client.post(f"/operation/{made['000000802']}/refund", params={"amount": "40"},
                               headers=auth)
    assert refund.status == 200, await refund.text()
    assert (await client.post(f"/card/deactivate/{MASTERCARD}", headers=auth)).status == 200
    held = await cryptopay(client, card_json(pan=SECURE3D_CARD, exp="1230", cvc="123").decode(),
                           invoice="000000803")
    assert (await held.json())["status"] == "NEW"
    made["payment"] = await get_token(client, invoiceID="000000804")
    return made


async def test_a_sandbox_moves_from_memory_to_sqlite_to_postgresql_and_keeps_working(
        client, tmp_path: Path, pg_store_url: str):  # noqa: F811
    made = await memory_sandbox(client)
    from_memory = export_state(client.app[STORE])
    assert [tx["invoice_id"] for tx in from_memory["transactions"]] == ["000000801", "000000802", "000000803"]
    assert len(from_memory["holds"]) == 1 and from_memory["tokens"]

    db = tmp_path / "sandbox.db"
    sqlite = open_store(f"sqlite://{db}", StoreArgs([DEFAULT_MERCHANT], Clock(), FakeData()))
    import_state(sqlite, from_memory)
    again = export_state(sqlite)
    sqlite.close()
    assert comparable(again) == comparable(from_memory)

    # a server on the file adds a pending callback, an override and a clock offset
    port, merchant_port = free_port(), free_port()
    server = serve(port, db)
    try:
        post_link = f"http://127.0.0.1:{merchant_port}/cb"
        assert pay(port, "000000805", post_link)[0] == 200
        rule = {"name": "next-blocked", "description": "after the move", "match": {"invoiceId": "000000806"},
                "outcome": {"result": "decline", "reasonCode": 465}, "times": 1}
        assert call(port, "POST", "/_mock/scenarios", body=rule)[0] in (200, 201)
        assert call(port, "POST", "/_mock/clock/advance?seconds=30")[0] == 200
        while not deliveries(port, "pending") or not deliveries(port, "pending")[0]["attempts"]:
            time.sleep(0.1)  # its first attempt failed: the merchant is down
    finally:
        server.terminate()
        server.wait(20)

    exported = mock_epay("export", "--store", f"sqlite://{db}")
    assert exported.returncode == 0, exported.stderr
    state = json.loads(exported.stdout)
    assert FULL_PAN in exported.stdout  # saved cards keep their sandbox numbers (docs/durable.md)
    assert [d["status"] for d in state["deliveries"]] == ["pending"]
    assert [o[0]["name"] for o in state["scenarios"]["overrides"]] == ["next-blocked"]
    assert state["clock_offset"] == 30
    imported = mock_epay("import", "--store", pg_store_url, "-", stdin=exported.stdout)
    assert imported.returncode == 0, imported.stderr
    assert "4 transactions" in imported.stdout and "1 deliveries" in imported.stdout
    on_pg = mock_epay("export", "--store", pg_store_url)
    assert comparable(json.loads(on_pg.stdout)) == comparable(state)

    await answers_for_all_of_it_on(pg_store_url, made, merchant_port)


async def answers_for_all_of_it_on(url: str, made: dict[str, str], merchant_port: int) -> None:
    port = free_port()
    server = serve_on(port, url)
    Receiver.answered = Counter()
    Receiver.hang.clear()
    receiver = ThreadingHTTPServer(("127.0.0.1", merchant_port), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    try:
        wait_healthy(port, time.monotonic() + 30)
        status, found = call(port, "GET", "/check-status/payment/transaction/000000802",
                             token=made["service"])
        assert status == 200 and found["transaction"]["statusName"] == "REFUND", found
        assert pay(port, "000000801", "http://127.0.0.1:9/x")[1] == {"code": -1,
                                                                      "message": "dublicate transaction"}
        assert pay(port, "000000806", "http://127.0.0.1:9/x")[1]["code"] == 465  # the moved override
        cards = call(port, "GET", "/cards/testuser1", token=made["service"])[1]
        assert {card["ID"] for card in cards} == {SAVED_VISA, "16aae4f4-6d24-4a17-b1c6-c09ce7659efb"}
        deadline = time.monotonic() + 60
        while Receiver.answered["/cb"] < 1 and time.monotonic() < deadline:
            call(port, "POST", "/_mock/clock/advance?seconds=60")  # the moved callback is due at once
            time.sleep(0.2)
        assert Receiver.answered == Counter({"/cb": 1})
    finally:
        receiver.shutdown()
        server.terminate()
        server.wait(20)


def test_a_file_that_is_not_an_export_is_one_line_and_exit_2_and_changes_nothing(tmp_path: Path):
    db = tmp_path / "sandbox.db"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"merchants": []}))
    result = mock_epay("import", "--store", f"sqlite://{db}", str(bad))
    assert result.returncode == 2 and "not a mock-epay state export" in result.stderr
    assert "Traceback" not in result.stderr
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"format": "mock-epay-state", "version": 1, "tokens": [{"nope": 1}]}))
    result = mock_epay("import", "--store", f"sqlite://{db}", str(broken))
    assert result.returncode == 2 and "a record does not fit" in result.stderr
    exported = json.loads(mock_epay("export", "--store", f"sqlite://{db}").stdout)
    assert [m["client_id"] for m in exported["merchants"]] == [DEFAULT_MERCHANT.client_id]
    assert exported["transactions"] == [] and exported["tokens"] == []
