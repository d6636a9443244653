"""The OpenAPI operations of `POST /_mock/merchants` and `DELETE /_mock/merchants/{client_id}`, attached
where the routes are registered (`add_route(..., doc=...)`)."""

from __future__ import annotations

from typing import Any

from mock_epay.wire.admin_requests import NewMerchantRequest
from mock_epay.wire.openapi_parts import (
    ADMIN,
    OPEN_ADMIN_REFUSED,
    STR,
    error,
    operation,
    param,
    ref,
    request_body,
    response,
)

CREATE_EXAMPLE = {
    "name": "CI job 1234",
    "twoStage": True,
    "autoCancelSeconds": 3600,
    "savedCards": [{"accountId": "user-1", "cardNumber": "4405639704015096", "id": "card-visa-1"}],
}
CREATED_EXAMPLE = {
    "clientId": "m-3f2a9c0d1b7e",
    "clientSecret": "0v9J8kWz3m6Xq1sYtUe5bH2nR7cLp4aGdFhKjQw",
    "name": "CI job 1234",
    "terminalId": "1f0e7c2a-9b3d-4e5f-8a6b-7c8d9e0f1a2b",
    "terminals": [{"id": "1f0e7c2a-9b3d-4e5f-8a6b-7c8d9e0f1a2b", "number": "97123456", "twoStage": True,
                   "autoCancelSeconds": 3600}],
    "callbackFormat": "current",
    "callbacksAfterOperations": False,
    "savedCards": [{"id": "card-visa-1", "accountId": "user-1", "cardMask": "440563...5096",
                    "cardType": "VISA", "payerName": "ANNA SMIRNOVA", "expiry": "01/27"}],
}


def create_merchant_doc() -> dict[str, Any]:
    return operation(
        "createMerchant",
        "Create a merchant of its own (generated credentials, a terminal, optional saved cards)",
        ["admin"],
        {
            "201": response("The merchant, with its secret (shown only here)", ref("MerchantCreated"),
                            CREATED_EXAMPLE),
            "400": error("A field that breaks its rule",
                         {"code": -1, "message": "field 'savedCards[0].cardNumber' fails the Luhn check "
                                                 "(not a card number)"}),
            "403": OPEN_ADMIN_REFUSED,
            "409": error("The client id, or a saved card id, is taken",
                         {"code": -1, "message": "merchant not created: client id 'shop-1' is taken"}),
            "415": error("Not JSON", {"code": -1, "message": "Content-Type must be application/json, "
                                                            "got 'text/xml'"}),
        },
        body=request_body(NewMerchantRequest, CREATE_EXAMPLE, required=False),
        security=ADMIN,
        description="Parallel CI jobs on one sandbox each create their own merchant: invoices, "
                    "transactions, saved cards and callbacks of one are never seen by another. "
                    "An empty body (or `{}`) makes a merchant with everything generated.",
    )


def delete_merchant_doc() -> dict[str, Any]:
    return operation(
        "deleteMerchant",
        "Remove a merchant with all its data (tokens, transactions, cards, callbacks, journal entries)",
        ["admin"],
        {
            "204": {"description": "Removed; its tokens answer 401 from now on"},
            "400": error("A bad `force`", {"code": -1, "message": "query parameter 'force' must be "
                                                                  "true or false"}),
            "403": OPEN_ADMIN_REFUSED,
            "404": error("Unknown client id", {"code": 102, "message": "no merchant with client id 'x'"}),
            "409": error("A merchant the settings declare, without force",
                         {"code": -1, "message": "merchant 'test' is declared by the settings (the "
                                                 "built-in test merchant or a config file); add "
                                                 "?force=true to remove it until the next start"}),
        },
        parameters=[
            param("client_id", "path", STR, "the merchant's client id", "m-3f2a9c0d1b7e"),
            param("force", "query", {"type": "string", "enum": ["true", "false"]},
                  "also remove a merchant the settings declare (until the next start)", required=False),
        ],
        security=ADMIN,
    )
