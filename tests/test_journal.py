"""The request journal keeps the last requests with card numbers masked."""

from __future__ import annotations

from tests.conftest import get_token
from tests.test_cards_auth import pay, payment_body
from tests.test_widget import open_page, payment_object, token_response


async def test_journal_lists_requests_newest_first_with_masked_card_numbers(client):
    token = await get_token(client)
    await pay(client, token, payment_body(description="card 4405639704015096 in text"))
    response = await client.get("/_mock/requests?limit=10")
    assert response.status == 200
    entries = (await response.json())["requests"]
    assert [e["path"] for e in entries[:2]] == ["/payments/cards/auth", "/epay2/oauth2/token"]
    payment = entries[0]
    assert payment["method"] == "POST" and payment["status"] == 200
    assert "4405639704015096" not in payment["body"]
    assert "440563...5096" in payment["body"]
    assert payment["at"].endswith("+05:00")


async def test_admin_requests_are_not_journaled(client):
    await client.get("/_mock/health")
    entries = (await (await client.get("/_mock/requests")).json())["requests"]
    assert all(not e["path"].startswith("/_mock/") for e in entries)


async def test_journal_shows_why_a_request_failed_with_the_answer_body(client):
    response = await pay(client, "not-a-token", payment_body())
    assert response.status == 401
    [entry] = (await (await client.get("/_mock/requests?limit=1")).json())["requests"]
    assert entry["status"] == 401
    assert entry["responseBody"] == await response.text()
    assert '"code"' in entry["responseBody"]


async def test_journal_cuts_long_answers_to_two_kilobytes(client):
    auth = await token_response(client)
    page = await (await open_page(client, payment_object(auth))).read()
    assert len(page) > 2048  # the payment page
    [entry] = (await (await client.get("/_mock/requests?limit=1")).json())["requests"]
    assert entry["path"].startswith("/payform/?params=")
    assert entry["responseBody"] == page[:2048].decode("utf-8", "replace")


async def test_a_path_logged_again_is_masked_and_escaped_again_and_the_memo_is_bounded() -> None:
    import io

    from mock_epay.web.journal import _PATHS_KEPT, AccessLog

    stream = io.StringIO()
    log = AccessLog(stream)
    forged = "/cards/4405639704015096\r\nFAKE 200"
    for _ in range(2):
        log.write("GET", forged, 404, 0.1)
    for number in range(_PATHS_KEPT + 50):
        log.write("GET", f"/check-status/payment/transaction/{number}", 200, 0.1)
    log.flush()
    lines = stream.getvalue().splitlines()
    assert lines[0] == lines[1] and lines[0].endswith("GET /cards/440563...5096\\r\\nFAKE 200 404 0.1ms")
    assert "4405639704015096" not in stream.getvalue()
    assert lines[-1].endswith(f"/transaction/{_PATHS_KEPT + 49} 200 0.1ms")
    assert len(log._middles) == _PATHS_KEPT
