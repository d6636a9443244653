"""Without an admin token the admin API is open to the developer, not to every web page they visit.

A foreign page can make the browser POST a form or `text/plain` body anywhere, and DNS rebinding
lets it read answers under its own host name. So, with no token: admin requests under a Host that is
not the mock's own get 403; state-changing ones need no page or a same-origin page, and a JSON body
labelled `application/json` (or no body). With a token, the token alone decides.
"""

from __future__ import annotations

import json

import pytest

from mock_epay.settings import Settings
from mock_epay.web.app_keys import DISPATCHER, ENGINE, STORE
from tests.conftest import get_token
from tests.test_cards_auth import pay, payment_body

EVIL = "https://evil.example"
RULE = {"match": {"amount": 123}, "outcome": {"preset": "insufficient_funds"}}


async def a_paid_invoice(client) -> None:
    token = await get_token(client)
    assert (await pay(client, token, payment_body())).status == 200


def transactions(client) -> list:
    return list(client.server.app[STORE].transactions())


def own_origin(client) -> str:
    return f"http://{client.server.host}:{client.server.port}"


async def refused(response, mentions: str) -> None:
    assert response.status == 403, await response.text()
    body = await response.json()
    assert body["code"] == -1 and mentions in body["message"]


async def test_a_text_plain_post_to_reset_is_refused_and_nothing_is_forgotten(client):
    await a_paid_invoice(client)
    response = await client.post("/_mock/reset", data="{}", headers={"Content-Type": "text/plain"})
    await refused(response, "Content-Type: application/json")
    assert len(transactions(client)) == 1


async def test_a_form_post_to_forge_is_refused_and_nothing_is_sent(client):
    response = await client.post("/_mock/callbacks/forge",
                                 data={"url": "http://127.0.0.1:9/hook", "body": "x"})
    await refused(response, "form or text/plain")
    assert not list(client.server.app[DISPATCHER].log.newest_first())


async def test_a_multipart_or_unlabelled_body_is_refused(client):
    for headers in ({"Content-Type": "multipart/form-data; boundary=b"}, {}):
        response = await client.post("/_mock/scenarios", data=b"--b--\r\n", headers=headers,
                                     skip_auto_headers=("Content-Type",))
        await refused(response, "Content-Type: application/json")
    assert not client.server.app[ENGINE].describe()["overrides"]


@pytest.mark.parametrize("header", ["Origin", "Referer"])
async def test_a_json_post_from_another_origin_is_refused(client, header):
    source = EVIL if header == "Origin" else EVIL + "/page.html"
    response = await client.post("/_mock/scenarios", json=RULE, headers={header: source})
    await refused(response, "cross-origin")
    assert not client.server.app[ENGINE].describe()["overrides"]


async def test_an_opaque_origin_is_refused(client):
    response = await client.delete("/_mock/scenarios/overrides", headers={"Origin": "null"})
    await refused(response, "cross-origin")


async def test_another_port_on_localhost_is_another_origin(client):
    response = await client.post("/_mock/reset", headers={"Origin": "http://127.0.0.1:3000"})
    await refused(response, "cross-origin")


async def test_a_same_origin_json_post_is_accepted(client):
    response = await client.post("/_mock/scenarios", json=RULE, headers={"Origin": own_origin(client)})
    assert response.status == 201, await response.text()
    assert client.server.app[ENGINE].describe()["overrides"]


async def test_tools_without_a_page_keep_working(client):
    """curl -X POST .../_mock/reset and JSON clients send no Origin and no (or a JSON) body."""
    await a_paid_invoice(client)
    assert (await client.post("/_mock/clock/advance", params={"seconds": "5"})).status == 200
    assert (await client.post("/_mock/scenarios", json=RULE)).status == 201
    assert (await client.delete("/_mock/scenarios/overrides")).status == 200
    response = await client.post("/_mock/reset", data=json.dumps({}),
                                 headers={"Content-Type": "application/json; charset=utf-8"})
    assert response.status == 200
    assert (await client.post("/_mock/reset")).status == 200
    assert transactions(client) == []


async def test_an_admin_read_under_a_foreign_host_name_is_refused(client):
    """DNS rebinding: the attacker's name now points at 127.0.0.1, but the Host header still says it."""
    await a_paid_invoice(client)
    response = await client.get("/_mock/transactions", headers={"Host": "evil.example"})
    await refused(response, "DNS rebinding")
    response = await client.get("/_mock/transactions", headers={"Host": "evil.example:8080"})
    await refused(response, "DNS rebinding")


@pytest.mark.parametrize("host", ["localhost", "localhost:8080", "shop.localhost", "127.0.0.1",
                                  "127.1.2.3:9", "[::1]:8080", "LOCALHOST."])
async def test_loopback_names_reach_the_admin_api(client, host):
    response = await client.get("/_mock/transactions", headers={"Host": host})
    assert response.status == 200


async def test_the_public_url_host_reaches_the_admin_api(make_client):
    client = await make_client(Settings(log_requests=False, public_url="https://epay.test.internal"))
    response = await client.get("/_mock/merchants", headers={"Host": "epay.test.internal"})
    assert response.status == 200
    response = await client.post("/_mock/reset", headers={"Host": "epay.test.internal",
                                                          "Origin": "https://epay.test.internal"})
    assert response.status == 200


async def test_the_banks_paths_and_the_payer_pages_are_not_affected(client):
    token = await get_token(client)
    response = await pay(client, token, payment_body())
    assert response.status == 200
    response = await client.get("/_mock/health", headers={"Host": "mock-epay"})
    assert response.status == 200
    response = await client.post("/_mock/acs", data={"MD": "x", "TermUrl": "https://shop.example/t"},
                                 headers={"Origin": "https://shop.example"})
    assert response.status == 200  # the issuer page a shop's page posts the buyer to
    response = await client.post("/oauth2/token", data={"grant_type": "client_credentials"},
                                 headers={"Host": "evil.example", "Origin": EVIL})
    assert response.status == 400  # an ordinary validation error, not the admin guard


async def test_with_an_admin_token_the_token_alone_decides(make_client):
    client = await make_client(Settings(log_requests=False, admin_token="s3cret"))
    headers = {"Authorization": "Bearer s3cret", "Host": "mock.behind.proxy", "Origin": EVIL}
    response = await client.get("/_mock/transactions", headers=headers)
    assert response.status == 200
    response = await client.post("/_mock/reset", data="{}",
                                 headers={**headers, "Content-Type": "text/plain"})
    assert response.status == 200
    response = await client.post("/_mock/reset", headers={"Host": "mock.behind.proxy"})
    assert response.status == 401


def test_the_python_handle_drives_a_real_server_through_the_guard(mock_epay):
    """MockEpay (the pytest plugin's handle) sends JSON or nothing, and no Origin: all accepted."""
    mock_epay.add_scenario(match={"amount": 321}, outcome={"preset": "insufficient_funds"})
    assert mock_epay.scenarios()["overrides"]
    mock_epay.clear_scenarios()
    mock_epay.advance_clock(10)
    mock_epay.reset()
    assert mock_epay.deliveries() == []


@pytest.mark.parametrize("path", ["/_mock/reset", "/_mock/clock/advance", "/_mock/scenarios"])
async def test_a_callback_from_a_mock_never_changes_the_mocks_state(client, path):
    """A postLink pointing at the mock's own admin API (found by no address check) is refused here."""
    await a_paid_invoice(client)
    response = await client.post(path, json={"seconds": 60},
                                 headers={"X-Mock-Epay-Callback": "1", "Content-Type": "application/json"})

    await refused(response, "callback")
    assert response.headers["X-Mock-Epay-Refused"] == "callback-loop"
    assert len(transactions(client)) == 1
