"""Hostile input never gets a 5xx: each case the route fuzzer found is a 400 (or 401/404) in the bank's
format, and a refused payment records nothing and queues no callback."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from aiohttp import web

from mock_epay.core.lzstring import compress_to_encoded_uri_component
from mock_epay.gateway.errors import EpayError, bad_request
from mock_epay.settings import Settings
from mock_epay.web.app_keys import DISPATCHER, SETTINGS, STORE
from mock_epay.web.errors import error_middleware
from tests.conftest import TOKEN_PATH, get_service_token, get_token, token_form
from tests.test_cards_auth import payment_body

HUGE_INT = "9" * 5000  # past Python's 4,300-digit int-string limit
TOKEN_FORM = token_form()


def json_text(fields: dict[str, Any], raw_field: str = "", raw_value: str = "") -> str:
    """`fields` as JSON text, with `raw_field` set to the literal JSON `raw_value` (e.g. a surrogate)."""
    import json

    text = json.dumps(fields)
    if not raw_field:
        return text
    return text[:-1] + (", " if fields else "") + f'"{raw_field}": {raw_value}' + "}"


async def assert_bank_error(response, status: int = 400, mentions: str = "") -> dict[str, Any]:
    assert response.status == status, await response.text()
    assert response.content_type == "application/json"
    body = await response.json()
    assert set(body) == {"code", "message"}
    assert isinstance(body["code"], int) and isinstance(body["message"], str)
    assert mentions in body["message"]
    return body


def nothing_recorded(client) -> bool:
    app = client.server.app
    return not list(app[STORE].transactions()) and not list(app[DISPATCHER].log.newest_first())


@pytest.fixture
def server_log(caplog):
    caplog.set_level(logging.DEBUG)
    yield caplog
    tracebacks = [r for r in caplog.records if r.exc_info]
    assert not tracebacks, [r.getMessage() for r in tracebacks]


# -- huge integers and non-JSON number literals --------------------------------------------------


async def test_a_5000_digit_amount_in_a_json_token_request_is_a_400(client, server_log):
    body = json_text({k: v for k, v in TOKEN_FORM.items() if k != "amount"}, "amount", HUGE_INT)
    response = await client.post(TOKEN_PATH, data=body, headers={"Content-Type": "application/json"})
    await assert_bank_error(response, mentions="malformed JSON")


async def test_a_5000_digit_amount_in_cards_auth_is_a_400_and_records_nothing(client, server_log):
    token = await get_token(client)
    fields = {k: v for k, v in payment_body().items() if k != "amount"}
    response = await client.post("/payments/cards/auth", data=json_text(fields, "amount", HUGE_INT),
                                 headers={"Authorization": f"Bearer {token}",
                                          "Content-Type": "application/json"})
    await assert_bank_error(response, mentions="malformed JSON")
    assert nothing_recorded(client)


async def test_a_5000_digit_amount_in_an_operation_is_a_400(client, server_log):
    token = await get_service_token(client)
    for content_type in ("application/json", "application/x-www-form-urlencoded"):
        response = await client.post("/operation/abc/refund", data=json_text({}, "amount", HUGE_INT),
                                     headers={"Authorization": f"Bearer {token}",
                                              "Content-Type": content_type})
        await assert_bank_error(response, mentions="malformed JSON")


async def test_a_5000_digit_number_of_seconds_for_the_admin_clock_is_a_400(client, server_log):
    response = await client.post("/_mock/clock/advance", data=json_text({}, "seconds", HUGE_INT),
                                 headers={"Content-Type": "application/json"})
    await assert_bank_error(response, mentions="malformed JSON")


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400", "-1e400"])
async def test_number_literals_that_are_not_json_or_not_finite_are_refused(client, server_log, literal):
    token = await get_token(client)
    fields = {k: v for k, v in payment_body().items() if k != "amount"}
    response = await client.post("/payments/cards/auth", data=json_text(fields, "amount", literal),
                                 headers={"Authorization": f"Bearer {token}",
                                          "Content-Type": "application/json"})
    await assert_bank_error(response, mentions="malformed JSON")
    assert nothing_recorded(client)


@pytest.mark.parametrize("amount", [-100, 0, "-0", 0.001, "12.345", True, [100], {"v": 1}])
async def test_negative_zero_fractional_or_mistyped_amounts_are_refused(client, server_log, amount):
    token = await get_token(client)
    response = await client.post("/payments/cards/auth", json=payment_body(amount=amount),
                                 headers={"Authorization": f"Bearer {token}"})
    await assert_bank_error(response, mentions="'amount'")
    assert nothing_recorded(client)


# -- lone surrogates -----------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["description", "email", "phone", "name", "terminalId", "accountId"])
async def test_a_lone_surrogate_in_a_card_payment_is_a_400_naming_the_field_and_records_nothing(
    client, server_log, field
):
    token = await get_token(client)
    fields = {k: v for k, v in payment_body().items() if k != field}
    response = await client.post("/payments/cards/auth", data=json_text(fields, field, '"a\\ud800b"'),
                                 headers={"Authorization": f"Bearer {token}",
                                          "Content-Type": "application/json"})
    await assert_bank_error(response, mentions=f"'{field}'")
    assert nothing_recorded(client)


async def test_a_lone_surrogate_in_the_scope_of_a_json_token_request_is_a_400(client, server_log):
    fields = {k: v for k, v in TOKEN_FORM.items() if k != "scope"}
    response = await client.post(TOKEN_PATH, data=json_text(fields, "scope", '"\\ud800"'),
                                 headers={"Content-Type": "application/json"})
    await assert_bank_error(response, mentions="'scope'")


async def test_a_lone_surrogate_in_a_field_name_is_a_400(client, server_log):
    response = await client.post(TOKEN_PATH, data='{"\\udfff": 1}',
                                 headers={"Content-Type": "application/json"})
    await assert_bank_error(response, mentions="Unicode")


async def test_a_valid_surrogate_pair_is_an_ordinary_character(client, server_log):
    token = await get_token(client)
    fields = {k: v for k, v in payment_body().items() if k != "description"}
    response = await client.post("/payments/cards/auth",
                                 data=json_text(fields, "description", '"gift \\ud83c\\udf81"'),
                                 headers={"Authorization": f"Bearer {token}",
                                          "Content-Type": "application/json"})
    assert response.status == 200, await response.text()
    assert (await response.json())["description"] == "gift \U0001f381"


async def test_invalid_utf8_in_a_form_body_gets_no_5xx(client, server_log):
    response = await client.post(TOKEN_PATH, data=b"grant_type=client_credentials&scope=%ED%A0%80&"
                                                  b"client_id=\xff\xfe&client_secret=x",
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status in (400, 401)
    await assert_bank_error(response, status=response.status)


async def test_a_lone_surrogate_in_a_path_id_is_answered_in_the_bank_format(client, server_log):
    token = await get_service_token(client)
    response = await client.get("/cards/%ED%A0%80", headers={"Authorization": f"Bearer {token}"})
    assert response.status < 500
    response = await client.get("/_mock/transactions/%ED%A0%80")
    await assert_bank_error(response, status=404)


# -- the payment page's params -------------------------------------------------------------------


@pytest.mark.parametrize("payload", [
    '{"amount": ' + HUGE_INT + '}',
    '{"a": ' + "[" * 5000 + "]" * 5000 + "}",
    '{"amount": NaN}',
    '{"description": "\\ud800"}',
], ids=["huge-int", "deep", "nan", "surrogate"])
async def test_hostile_json_in_the_page_params_is_a_400_page(client, server_log, payload):
    response = await client.get("/payform/?params=" + compress_to_encoded_uri_component(payload))
    assert response.status == 400
    assert "The payment cannot be opened" in await response.text()


async def test_deeply_nested_json_body_is_a_400(client, server_log):
    response = await client.post(TOKEN_PATH, data='{"a": ' + "[" * 100_000 + "]" * 100_000 + "}",
                                 headers={"Content-Type": "application/json"})
    await assert_bank_error(response, mentions="nested")


# -- admin limits, ids and tokens ----------------------------------------------------------------


@pytest.mark.parametrize("path", ["/_mock/requests", "/_mock/deliveries", "/_mock/transactions"])
@pytest.mark.parametrize("limit", ["³", HUGE_INT, "-1", "0", "1.5", "ten", "10001"],
                         ids=["unicode-digit", "5000-digits", "-1", "0", "1.5", "ten", "10001"])
async def test_every_admin_limit_is_parsed_the_same_way(client, server_log, path, limit):
    response = await client.get(path, params={"limit": limit})
    await assert_bank_error(response, mentions="'limit'")


@pytest.mark.parametrize("path", ["/_mock/requests", "/_mock/deliveries", "/_mock/transactions"])
async def test_a_plain_admin_limit_still_works(client, path):
    response = await client.get(path, params={"limit": "5"})
    assert response.status == 200


@pytest.mark.parametrize("path", ["/_mock/transactions/", "/_mock/deliveries/"])
async def test_an_empty_admin_id_is_a_404_not_the_list(client, path):
    response = await client.get(path)
    await assert_bank_error(response, status=404)


async def raw_exchange(client, head: bytes) -> tuple[int, dict[str, Any]]:
    """Send `head` (a request without a body) byte for byte; the status and the JSON body."""
    import json

    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    writer.write(head)
    await writer.drain()
    answer = await reader.read()
    writer.close()
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), json.loads(rest.partition(b"\r\n\r\n")[2])


@pytest.mark.parametrize("header", [
    b"X-Mock-Admin-Token: s3cr\xe9t",
    b"Authorization: Bearer \xd0\xb6\xff",
    b"Cookie: mock_epay_admin_token=\xc3\xa9\xff",
], ids=["admin-header", "bearer", "cookie"])
async def test_a_non_ascii_admin_token_is_a_401(make_client, server_log, header):
    guarded = await make_client(Settings(log_requests=False, admin_token="s3cret"))
    head = (b"GET /_mock/transactions HTTP/1.1\r\nHost: 127.0.0.1\r\n" + header
            + b"\r\nConnection: close\r\n\r\n")
    status, body = await raw_exchange(guarded, head)
    assert status == 401
    assert isinstance(body["code"], int) and "admin token" in body["message"]


# -- the error renderer --------------------------------------------------------------------------


async def test_a_surrogate_quoted_in_an_error_message_does_not_break_the_answer(client, server_log):
    response = await client.post("/_mock/scenarios", data='{"match": {"\\ud800": 1}}',
                                 headers={"Content-Type": "application/json"})
    await assert_bank_error(response)


@pytest.mark.parametrize("content_type", ["application/xml", "image/png", "text/html"])
async def test_a_wrong_content_type_is_a_415_in_the_bank_format(client, server_log, content_type):
    response = await client.post(TOKEN_PATH, data=b"<x/>", headers={"Content-Type": content_type})
    await assert_bank_error(response, status=415)


async def test_a_huge_body_is_a_413_in_the_bank_format(make_client, server_log):
    small = await make_client(Settings(log_requests=False, max_body_bytes=1024))
    response = await small.post(TOKEN_PATH, data=b"{" + b" " * 4096 + b"}",
                                headers={"Content-Type": "application/json"})
    await assert_bank_error(response, status=413)


class _BrokenRendering(EpayError):
    """An error whose rendering fails: its code is something JSON cannot write."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(status, code, message)
        self.code = object()  # type: ignore[assignment]


async def _raise_with_surrogate(request: web.Request) -> web.Response:
    raise bad_request("field 'x' got 'a\ud800b'")  # as an error quoting raw input would


async def _raise_unrenderable(request: web.Request) -> web.Response:
    raise _BrokenRendering(400, -1, "never shown")


@pytest.fixture
async def bare_app(aiohttp_client):
    app = web.Application(middlewares=[error_middleware])
    app[SETTINGS] = Settings(log_requests=False)
    app.router.add_get("/surrogate", _raise_with_surrogate)
    app.router.add_get("/broken", _raise_unrenderable)
    return await aiohttp_client(app)


async def test_an_error_message_quoting_a_lone_surrogate_is_still_answered(bare_app, server_log):
    body = await assert_bank_error(await bare_app.get("/surrogate"))
    assert body["message"] == "field 'x' got 'a?b'"


async def test_a_failing_error_renderer_gives_the_fixed_500_and_one_log_line(bare_app, caplog):
    caplog.set_level(logging.DEBUG, logger="mock_epay")
    await assert_bank_error(await bare_app.get("/broken"), status=500, mentions="internal error")
    lines = [r for r in caplog.records if r.name == "mock_epay"]
    assert len(lines) == 1 and lines[0].exc_info is None
    assert "could not render an error answer" in lines[0].getMessage()


@pytest.mark.parametrize(("method", "path", "header"), [
    ("POST", "/payments/cards/auth", b"Authorization: Bearer \xff\xfe"),
    ("GET", "/check-status/payment/transaction/000000001", b"Authorization: Bearer \xd0"),
    ("POST", "/operation/abc/refund", b"Authorize: bearer \xed\xa0\x80"),
    ("GET", "/cards/testuser1", b"Authorization: \xff"),
    ("POST", "/payments/cards/auth", b"X-Mock-Scenario: \xff\xfe"),
    ("POST", "/_mock/reset", b"Origin: http://\xff\xfe:80"),
    ("POST", "/_mock/reset", b"Referer: \xff"),
], ids=["cards-auth", "status", "operation", "cards", "scenario-header", "origin", "referer"])
async def test_undecodable_header_bytes_get_a_4xx_in_the_bank_format(client, server_log, method, path,
                                                                     header):
    head = (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n".encode()
            + header + b"\r\nConnection: close\r\n\r\n")
    status, body = await raw_exchange(client, head)
    assert 400 <= status < 500
    assert isinstance(body["code"], int) and isinstance(body["message"], str)


async def test_an_undecodable_host_is_refused_by_the_admin_guard(client, server_log):
    head = b"GET /_mock/transactions HTTP/1.1\r\nHost: \xff\xfe.example\r\nConnection: close\r\n\r\n"
    status, body = await raw_exchange(client, head)
    assert status in (400, 403) and isinstance(body["code"], int)
