"""The document and the decoders cannot drift: each JSON request body is described by the declaration
that decodes it.

For every documented operation with a JSON request body, the described schema is a `$ref` to a
component generated from a declaration (wire/schemas.py), and the real app, sent the operation's
example request, decodes the body through that same class (msgspec.convert is watched). The payment
page's `?params=` object is held to the same rule.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec
import pytest

from mock_epay.app import create_app
from mock_epay.wire.schemas import DECLARATIONS, REF_TEMPLATE
from tests.test_openapi import OPERATIONS, SETTINGS, ExampleRun
from tests.test_widget import open_page, payment_object, token_response

JSON = "application/json"
DECLARED = {shape.__name__: shape for shape in DECLARATIONS}
# Routes whose handlers still read the body by hand (none now: every JSON body goes through wire/decode.py
# or msgspec.convert with its declaration); a new one listed here must say why.
NOT_YET_DECODED: set[str] = set()
_PREFIX_SUFFIX = re.compile(r"_(api|epay2|redesign_payform)$")


def _json_body_operations() -> list[tuple[str, str, dict[str, Any]]]:
    """One (path, method, operation) per operation id served without a prefix, with a JSON body."""
    return [(path, method, op) for path, method, op in OPERATIONS
            if not _PREFIX_SUFFIX.search(op["operationId"])
            and JSON in op.get("requestBody", {}).get("content", {})]


BODIES = _json_body_operations()
DECODED_BODIES = [item for item in BODIES if item[2]["operationId"] not in NOT_YET_DECODED]


def _declared_shapes(op: dict[str, Any]) -> set[type]:
    """The declarations the operation's JSON body schema refers to (every media type the same): one, or
    the alternatives of a `oneOf` (the token request's three grants)."""
    schemas = [media["schema"] for media in op["requestBody"]["content"].values()]
    assert all(schema == schemas[0] for schema in schemas), f"{op['operationId']}: request schemas {schemas}"
    refs = [alt.get("$ref") for alt in schemas[0].get("oneOf", [schemas[0]])]
    assert refs and None not in refs, f"{op['operationId']}: request schema {schemas[0]}"
    names = {ref.removeprefix(REF_TEMPLATE.format(name="")) for ref in refs}
    assert names <= set(DECLARED), f"{op['operationId']}: {names - set(DECLARED)} are not declarations"
    return {DECLARED[name] for name in names}


@pytest.fixture
def converted(monkeypatch: pytest.MonkeyPatch) -> list[type]:
    """The classes msgspec.convert decodes into while the test runs, in order."""
    seen: list[type] = []
    real = msgspec.convert

    def watching(obj: Any, type: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(type)
        return real(obj, type, *args, **kwargs)

    monkeypatch.setattr(msgspec, "convert", watching)
    return seen


def test_the_routes_left_to_convert_are_documented_routes_with_json_bodies():
    assert {op["operationId"] for _, _, op in BODIES} >= NOT_YET_DECODED
    assert len(DECODED_BODIES) >= 10  # token, cards/auth, charge, cancel, refund, and the admin bodies


@pytest.mark.parametrize(("path", "method", "op"), DECODED_BODIES,
                         ids=[o[2]["operationId"] for o in DECODED_BODIES])
async def test_the_real_app_decodes_each_json_body_through_its_described_declaration(
    aiohttp_client, converted, path, method, op
):
    shapes = _declared_shapes(op)
    client = await aiohttp_client(create_app(SETTINGS))
    send = client.request

    async def the_request_itself(*args: Any, **kwargs: Any) -> Any:
        converted.clear()  # what the example's set-up decoded does not count
        return await send(*args, **kwargs)

    client.request = the_request_itself  # type: ignore[method-assign]
    response = await ExampleRun(client).send(path, method, op)
    assert response.status < 500, await response.text()
    assert shapes & set(converted), f"{op['operationId']}: decoded {[t.__name__ for t in converted]}, " \
                                    f"documented {sorted(s.__name__ for s in shapes)}"


async def test_the_payment_page_decodes_params_through_the_declaration_its_parameter_names(
    aiohttp_client, converted
):
    [page] = [op for _, _, op in OPERATIONS if op["operationId"] == "paymentPage"]
    [params] = [p for p in page["parameters"] if p["name"] == "params"]
    name = re.search(r"#/components/schemas/(\w+)", params["description"])
    assert name is not None and name.group(1) in DECLARED
    client = await aiohttp_client(create_app(SETTINGS))
    auth = await token_response(client)
    converted.clear()
    response = await open_page(client, payment_object(auth))
    assert response.status == 200, await response.text()
    assert DECLARED[name.group(1)] in converted
