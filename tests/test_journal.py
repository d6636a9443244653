"""The request journal keeps the last requests with card numbers masked."""

from __future__ import annotations

import json

import aiohttp
import pytest

from mock_epay.core.pan import mask_card_numbers
from mock_epay.settings import DEFAULT_MERCHANT
from tests.conftest import TOKEN_PATH, get_token, token_form
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


async def test_the_journal_never_shows_a_client_secret_however_it_was_sent(client):
    """The merchant's secret is a credential: its value is masked in a form, JSON, multipart and a query."""
    secret = DEFAULT_MERCHANT.client_secret
    form = token_form()
    multipart = aiohttp.FormData()
    for name, value in form.items():
        multipart.add_field(name, value, content_type="text/plain")  # a content type: multipart/form-data
    for sent in ({"data": form}, {"json": form}, {"data": multipart},
                 {"params": {"client_secret": secret}, "data": form}):
        assert (await client.post(TOKEN_PATH, **sent)).status == 200

    journal = await (await client.get("/_mock/requests?limit=10")).text()
    entries = json.loads(journal)["requests"]
    assert len(entries) == 4
    assert secret not in journal
    query, multipart_entry, as_json, as_form = entries
    assert "client_secret=***" in query["path"] and "client_secret=***" in query["body"]
    assert secret not in multipart_entry["body"]
    assert '"client_secret": "***"' in as_json["body"]
    assert "client_secret=***" in as_form["body"]


@pytest.mark.parametrize(("text", "masked"), [
    ("client_id=a&client_secret=s%2Fx&scope=webapi", "client_id=a&client_secret=***&scope=webapi"),
    ('{"client_secret": "a\\"b", "n": 1}', '{"client_secret": "***", "n": 1}'),
    ('name="client_secret"\r\n\r\nsekrit\r\n--b', 'name="client_secret"\r\n\r\n***\r\n--b'),
    ("x_client_secret=kept&my_client_secret_hint=kept", "x_client_secret=kept&my_client_secret_hint=kept"),
])
def test_a_client_secret_value_is_masked(text, masked):
    assert mask_card_numbers(text) == masked
