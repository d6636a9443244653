"""The OpenAPI description of the bank's paths (token, payments, operations, cards, page, 3-D Secure)."""

from __future__ import annotations

from typing import Any

from mock_epay.wire.openapi_parts import (
    ANY_TOKEN,
    CARD_PAYMENT_EXAMPLE,
    CARD_PAYMENT_RESPONSE_EXAMPLE,
    FORM,
    JSON,
    LEGACY_OPERATION_EXAMPLE,
    MC_CARD_ID,
    MULTIPART,
    PAYMENT_TOKEN,
    PUBLIC,
    SAVED_CARD_EXAMPLE,
    SERVICE_TOKEN,
    STATUS_TRANSACTION_EXAMPLE,
    STR,
    TOKEN_REQUEST_EXAMPLE,
    TOKEN_RESPONSE_EXAMPLE,
    TX_ID,
    UNAUTHORIZED,
    error,
    html,
    json_content,
    obj,
    operation,
    param,
    redirect,
    ref,
    response,
)

# -- bank endpoints --------------------------------------------------------------------------


def bank_operations() -> list[tuple[tuple[str, ...], str, str, dict[str, Any]]]:
    """(prefixes, path, method, operation) of the bank's API."""
    invoice = param("invoice_id", "path", STR, "the merchant's order number (invoiceId)", "000000001")
    tx_id = param("transaction_id", "path", STR, "the transaction UUID (`id` of the payment)", TX_ID)
    amount = param(
        "amount",
        "query",
        {"type": "string", "pattern": r"^\d+(\.\d{1,2})?$"},
        "amount in tenge; absent = the full amount",
        required=False,
    )
    optional_amount = {
        "content": {
            JSON: {"schema": obj({"amount": {"type": ["number", "string"]}, "externalID": STR}, required=())}
        },
        "required": False,
    }
    op_errors = {
        "400": error(
            "Wrong state or amount (code 100), unknown transaction (code 102)",
            {"code": 100, "message": "operation is not allowed in status CHARGE"},
        ),
        "401": UNAUTHORIZED,
    }
    token_body = {
        "required": True,
        "content": {
            FORM: {"schema": ref("TokenRequest"), "example": TOKEN_REQUEST_EXAMPLE},
            MULTIPART: {"schema": ref("TokenRequest")},
            JSON: {"schema": ref("TokenRequest")},
        },
    }
    html_page = {
        "200": html("The page"),
        "400": html("The page explains what is wrong"),
        "401": html("The payment token is not accepted"),
        "409": html("The order is already paid"),
    }
    page_result = {**html_page, "303": redirect("Back to backLink / failureBackLink")}
    form_body = {"required": True, "content": {FORM: {"schema": {"type": "object"}}}}
    return [
        (
            ("", "/epay2"),
            "/oauth2/token",
            "post",
            operation(
                "issueToken",
                "Get a payment or service token (spec 3)",
                ["oauth"],
                {
                    "200": response("The token", ref("TokenResponse"), TOKEN_RESPONSE_EXAMPLE),
                    "400": error(
                        "Malformed request", {"code": -1, "message": "field 'grant_type' is required"}
                    ),
                    "401": error(
                        "Wrong client_id / client_secret",
                        {"code": -1, "message": "invalid client_id or client_secret"},
                    ),
                },
                body=token_body,
                security=PUBLIC,
            ),
        ),
        (
            ("", "/epay2"),
            "/oauth2/token",
            "options",
            operation(
                "tokenPreflight",
                "CORS preflight of the token endpoint",
                ["oauth"],
                {"204": {"description": "CORS headers"}},
                security=PUBLIC,
            ),
        ),
        (
            ("", "/api"),
            "/payments/cards/auth",
            "post",
            operation(
                "payWithSavedCard",
                "Pay with a saved card (spec 8.5)",
                ["payments"],
                {
                    "200": response(
                        "Paid, or a 3-D Secure step is needed (`secure3D`)",
                        ref("CardPaymentResponse"),
                        CARD_PAYMENT_RESPONSE_EXAMPLE,
                    ),
                    "400": error(
                        "Invalid request, declined (code = reason code) or duplicate",
                        {"code": 465, "message": "Card is blocked"},
                    ),
                    "401": UNAUTHORIZED,
                },
                body={
                    "required": True,
                    "content": json_content(ref("CardPaymentRequest"), CARD_PAYMENT_EXAMPLE),
                },
                parameters=[
                    param("X-Mock-Scenario", "header", STR, "mock only: name a scenario rule", required=False)
                ],
                security=PAYMENT_TOKEN,
            ),
        ),
        (
            ("", "/api"),
            "/check-status/payment/transaction/{invoice_id}",
            "get",
            operation(
                "transactionStatus",
                "Transaction status by invoiceId (spec 6)",
                ["payments"],
                {
                    "200": response(
                        "resultCode 100 and the transaction; for an unknown invoice resultCode 102 "
                        "and `\"transaction\": null` (status_unknown_http 200, the default)",
                        ref("StatusResponse"),
                        {
                            "resultCode": "100",
                            "resultMessage": "SUCCESS",
                            "transaction": STATUS_TRANSACTION_EXAMPLE,
                        },
                    ),
                    "400": response(
                        "Not found (resultCode 102) with status_unknown_http 400; or the bank's "
                        "error format",
                        {"anyOf": [ref("StatusResponse"), ref("Error")]},
                        {"resultCode": "102", "resultMessage": "transaction not found"},
                    ),
                    "401": UNAUTHORIZED,
                },
                parameters=[invoice],
                security=ANY_TOKEN,
            ),
        ),
        (
            ("", "/api"),
            "/operation/{invoice_id}",
            "get",
            operation(
                "legacyOperationStatus",
                "Legacy status call (spec 6.5)",
                ["payments"],
                {
                    "200": response(
                        "A flat, postLink-like object", ref("LegacyOperation"), LEGACY_OPERATION_EXAMPLE
                    ),
                    "400": error("Not found", {"code": 100, "message": "invoice '000000009' not found"}),
                    "401": UNAUTHORIZED,
                },
                parameters=[invoice],
                security=ANY_TOKEN,
            ),
        ),
        *[
            (
                ("", "/api"),
                f"/operation/{{transaction_id}}/{name}",
                "post",
                operation(
                    f"{name}Transaction",
                    summary,
                    ["operations"],
                    {"200": {"description": "Done (empty body)"}, **op_errors},
                    parameters=[tx_id, *params],
                    body=optional_amount,
                    security=SERVICE_TOKEN,
                ),
            )
            for name, summary, params in (
                ("charge", "Charge (confirm) an AUTH, fully or partly (spec 7)", [amount]),
                ("cancel", "Cancel (void) an AUTH (spec 7)", []),
                (
                    "refund",
                    "Refund a CHARGE, fully or partly, at least 10 tenge (spec 7)",
                    [amount, param("externalID", "query", STR, "the merchant's refund id", required=False)],
                ),
            )
        ],
        (
            ("", "/api"),
            "/cards/{account_id}",
            "get",
            operation(
                "listSavedCards",
                "A customer's saved cards (spec 8.2)",
                ["cards"],
                {
                    "200": response(
                        "PascalCase card objects; no saved cards: `{\"code\": 1373, ...}` instead "
                        "of the array (HTTP status empty_cards_http, 200 by default)",
                        {"anyOf": [{"type": "array", "items": ref("SavedCard")}, ref("Error")]},
                        [SAVED_CARD_EXAMPLE],
                    ),
                    "400": error("No saved cards (code 1373) with empty_cards_http 400",
                                 {"code": 1373, "message": "no saved cards"}),
                    "401": UNAUTHORIZED,
                },
                parameters=[param("account_id", "path", STR, "the customer's accountId", "testuser1")],
                security=SERVICE_TOKEN,
            ),
        ),
        (
            ("", "/api"),
            "/card/deactivate/{card_id}",
            "post",
            operation(
                "deactivateCard",
                "Deactivate a saved card (spec 8.3)",
                ["cards"],
                {
                    "200": response(
                        "Deactivated", ref("CardDeactivated"), {"status": "card successfully deactivated"}
                    ),
                    "400": error("Unknown or already inactive card"),
                    "401": UNAUTHORIZED,
                },
                parameters=[param("card_id", "path", STR, "the saved card's ID", MC_CARD_ID)],
                security=SERVICE_TOKEN,
            ),
        ),
        (
            ("", "/api"),
            "/payments/cards/confirmPayment",
            "post",
            operation(
                "confirmPayment",
                "3-D Secure TermUrl: the ACS posts MD and PaRes here (spec 2.4)",
                ["payments"],
                {
                    "303": redirect("To backLink?reference=... or failureBackLink?errorCode=..."),
                    "400": error("No 3-D Secure step pending for this MD"),
                    "401": UNAUTHORIZED,
                },
                parameters=[param("Access", "query", STR, "the payment token", required=True)],
                body={
                    "required": False,
                    "content": {FORM: {"schema": obj({"MD": STR, "PaRes": STR}, required=())}},
                },
                security=PUBLIC,
            ),
        ),
        (
            ("/payform", "/redesign-payform"),
            "/payment-api.js",
            "get",
            operation(
                "paymentApiJs",
                "The widget script: halyk.pay, halyk.showPaymentWidget (spec 4.1)",
                ["widget"],
                {"200": response("JavaScript", STR, media="application/javascript")},
                security=PUBLIC,
            ),
        ),
        (
            ("/payform", "/redesign-payform"),
            "/",
            "get",
            operation(
                "paymentPage",
                "The hosted payment page for `?params=<encoded payment object>` (spec 4.4)",
                ["widget"],
                html_page,
                parameters=[
                    param(
                        "params", "query", STR, "the payment object as halyk.pay encodes it", required=False
                    ),
                    param("isShortForm", "query", STR, "true in the widget's iframe", required=False),
                ],
                security=PUBLIC,
            ),
        ),
        (
            ("/payform", "/redesign-payform"),
            "/pay",
            "post",
            operation(
                "submitPaymentPage",
                "The payment page's card form",
                ["widget"],
                page_result,
                body=form_body,
                security=PUBLIC,
            ),
        ),
        (
            ("/payform", "/redesign-payform"),
            "/3ds",
            "post",
            operation(
                "submitSecure3dPage",
                "The payment page's 3-D Secure code form",
                ["widget"],
                page_result,
                body=form_body,
                security=PUBLIC,
            ),
        ),
        (
            ("/payform", "/redesign-payform"),
            "/static/{name}",
            "get",
            operation(
                "paymentPageStatic",
                "The payment page's CSS and JS",
                ["widget"],
                {
                    "200": {
                        "description": "The file",
                        "content": {"text/css": {"schema": STR}, "application/javascript": {"schema": STR}},
                    },
                    "404": error("No such file"),
                },
                parameters=[param("name", "path", STR, example="payform.css")],
                security=PUBLIC,
            ),
        ),
    ]
