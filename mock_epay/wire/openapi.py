"""The OpenAPI 3.1 description of every endpoint the mock serves: the bank's and its own `/_mock/` API.

Built as a Python dict by `build_document(app[ROUTE_DOCS])` from the docs attached where each
route is registered, and served at `GET /_mock/openapi.json`. Bank paths appear once per prefix
they are served under
(`/oauth2/token` and `/epay2/oauth2/token`, `/payments/...` and `/api/payments/...`,
`/payform/` and `/redesign-payform/`), because that is how merchants configure them.
Examples come from the bank's documentation (spec sections named in each summary);
`tests/test_openapi.py` sends every request example to a real app and checks the answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mock_epay import __version__
from mock_epay.wire.openapi_parts import (
    ADMIN,
    CALLBACK_BODY,
    CALLBACK_EXAMPLE,
    OPEN_ADMIN_REFUSED,
    json_content,
)
from mock_epay.wire.route_docs import RouteDoc


def _schemas() -> dict[str, Any]:
    """Generated from the declarations in wire/ (mock_epay.wire.schemas)."""
    from mock_epay.wire.schemas import components

    return components()


def _with_admin_refusal(op: dict[str, Any]) -> dict[str, Any]:
    """An admin operation also answers 403 when the server has no admin token and the client is not local."""
    if op.get("security") != ADMIN:
        return op
    responses = {k: v for k, v in op["responses"].items() if k != "default"}
    default = op["responses"]["default"]
    return {**op, "responses": {**responses, "403": OPEN_ADMIN_REFUSED, "default": default}}


def build_document(route_docs: Sequence[RouteDoc]) -> dict[str, Any]:
    """The whole OpenAPI 3.1 document (a fresh dict each call) from the docs attached to an app's routes
    (`app[ROUTE_DOCS]`): one path per registered route, one operation per method."""
    paths: dict[str, dict[str, Any]] = {}
    for doc in route_docs:
        paths.setdefault(doc.path, {})[doc.method] = _with_admin_refusal(doc.build())
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "mock-epay: a local Halyk Bank ePay sandbox",
            "version": __version__,
            "description": "The bank's endpoints as mock-epay serves them (under every prefix the real hosts "
            "use), plus the mock's own API under /_mock/. Errors are always "
            '{"code": int, "message": str}. See docs/admin.md.',
        },
        "servers": [{"url": "http://127.0.0.1:8080", "description": "mock-epay on its default port"}],
        "tags": [
            {"name": name}
            for name in (
                "oauth",
                "payments",
                "operations",
                "cards",
                "widget",
                "3-D Secure",
                "admin",
                "callbacks",
                "state",
                "scenarios",
            )
        ],
        "paths": paths,
        "webhooks": {
            "paymentCallback": {
                "post": {
                    "summary": "postLink / failurePostLink: what your backend receives after a payment",
                    "requestBody": {"content": json_content(CALLBACK_BODY, CALLBACK_EXAMPLE)},
                    "responses": {
                        "200": {"description": "Any 2xx counts as delivered; anything else is retried"}
                    },
                }
            },
        },
        "components": {
            "schemas": _schemas(),
            "securitySchemes": {
                "paymentToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A token from /oauth2/token requested with invoiceID, amount, "
                    "currency and terminal (bound to that order)",
                },
                "serviceToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A token from /oauth2/token requested without invoiceID",
                },
                "adminToken": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-Mock-Admin-Token",
                    "description": "Only when the server has an admin token (--admin-token)",
                },
                "adminQuery": {
                    "type": "apiKey",
                    "in": "query",
                    "name": "token",
                    "description": "The admin token in the URL (for the dashboard in a browser)",
                },
                "adminBearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The admin token as a bearer token",
                },
            },
        },
    }
