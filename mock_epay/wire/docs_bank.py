"""The OpenAPI operations of the bank's paths (token, payments, operations, cards, page, 3-D Secure).

One function per operation; each route attaches its function where it is registered
(`add_route(..., doc=lazy_doc(BANK_DOCS, "issue_token", prefix))`), so this module is
imported only when the document is first built.
"""

from __future__ import annotations

from typing import Any

from mock_epay.wire.bank_requests import (
    CardPaymentRequest,
    ConfirmPaymentRequest,
    OperationAmountRequest,
)
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
    operation,
    param,
    redirect,
    ref,
    request_body,
    response,
    static_files,
)
from mock_epay.wire.token_grants import token_request_schema

# -- shared pieces ---------------------------------------------------------------------------------


def _invoice() -> dict[str, Any]:
    return param("invoice_id", "path", STR, "the merchant's order number (invoiceId)", "000000001")


def _amount_query() -> dict[str, Any]:
    return param("amount", "query", {"type": "string", "pattern": r"^\d+(\.\d{1,2})?$"},
                 "amount in tenge; absent = the full amount", required=False)


def _html_page() -> dict[str, Any]:
    return {
        "200": html("The page"),
        "400": html("The page explains what is wrong"),
        "401": html("The payment token is not accepted"),
        "409": html("The order is already paid"),
    }


def _page_result() -> dict[str, Any]:
    return {**_html_page(), "303": redirect("Back to backLink / failureBackLink")}


def _form_body() -> dict[str, Any]:
    return {"required": True, "content": {FORM: {"schema": {"type": "object"}}}}


# -- oauth -----------------------------------------------------------------------------------------


def issue_token() -> dict[str, Any]:
    grants = token_request_schema()  # client_credentials, password or refresh_token (wire/token_grants.py)
    body = {
        "required": True,
        "content": {
            FORM: {"schema": grants, "example": TOKEN_REQUEST_EXAMPLE},
            MULTIPART: {"schema": grants},
            JSON: {"schema": grants},
        },
    }
    return operation(
        "issueToken",
        "Get a payment or service token (spec 3)",
        ["oauth"],
        {
            "200": response("The token", ref("TokenResponse"), TOKEN_RESPONSE_EXAMPLE),
            "400": error("Malformed request", {"code": -1, "message": "field 'grant_type' is required"}),
            "401": error("Wrong client_id / client_secret (password grant: username / password; "
                         "refresh grant: an unknown or expired refresh_token)",
                         {"code": -1, "message": "invalid client_id or client_secret"}),
        },
        body=body,
        security=PUBLIC,
    )


def token_preflight() -> dict[str, Any]:
    return operation("tokenPreflight", "CORS preflight of the token endpoint", ["oauth"],
                     {"204": {"description": "CORS headers"}}, security=PUBLIC)


# -- payments --------------------------------------------------------------------------------------


def pay_with_saved_card() -> dict[str, Any]:
    return operation(
        "payWithSavedCard",
        "Pay with a saved card (spec 8.5)",
        ["payments"],
        {
            "200": response("Paid, or a 3-D Secure step is needed (`secure3D`)",
                            ref("CardPaymentResponse"), CARD_PAYMENT_RESPONSE_EXAMPLE),
            "400": error("Invalid request, declined (code = reason code) or duplicate",
                         {"code": 465, "message": "Card is blocked"}),
            "401": UNAUTHORIZED,
        },
        body=request_body(CardPaymentRequest, CARD_PAYMENT_EXAMPLE),
        parameters=[param("X-Mock-Scenario", "header", STR, "mock only: name a scenario rule",
                          required=False)],
        security=PAYMENT_TOKEN,
    )


def transaction_status() -> dict[str, Any]:
    return operation(
        "transactionStatus",
        "Transaction status by invoiceId (spec 6)",
        ["payments"],
        {
            "200": response(
                "resultCode 100 and the transaction; for an unknown invoice resultCode 102 "
                "and `\"transaction\": null` (status_unknown_http 200, the default)",
                ref("StatusResponse"),
                {"resultCode": "100", "resultMessage": "SUCCESS", "transaction": STATUS_TRANSACTION_EXAMPLE},
            ),
            "400": response(
                "Not found (resultCode 102) with status_unknown_http 400; or the bank's error format",
                {"anyOf": [ref("StatusResponse"), ref("Error")]},
                {"resultCode": "102", "resultMessage": "transaction not found"},
            ),
            "401": UNAUTHORIZED,
        },
        parameters=[_invoice()],
        security=ANY_TOKEN,
    )


def confirm_payment() -> dict[str, Any]:
    return operation(
        "confirmPayment",
        "3-D Secure TermUrl: the ACS posts MD and PaRes here (spec 2.4)",
        ["payments"],
        {
            "303": redirect("To backLink?reference=... or failureBackLink?errorCode=..."),
            "400": error("No 3-D Secure step pending for this MD"),
            "401": UNAUTHORIZED,
        },
        parameters=[param("Access", "query", STR, "the payment token", required=True)],
        body=request_body(ConfirmPaymentRequest, required=False, media=(FORM,)),
        security=PUBLIC,
    )


# -- operations ------------------------------------------------------------------------------------


def legacy_operation_status() -> dict[str, Any]:
    return operation(
        "legacyOperationStatus",
        "Legacy status call (spec 6.5)",
        ["payments"],
        {
            "200": response("A flat, postLink-like object", ref("LegacyOperation"), LEGACY_OPERATION_EXAMPLE),
            "400": error("Not found", {"code": 100, "message": "invoice '000000009' not found"}),
            "401": UNAUTHORIZED,
        },
        parameters=[_invoice()],
        security=ANY_TOKEN,
    )


def _transaction_operation(name: str, summary: str, params: list[dict[str, Any]],
                           example: dict[str, Any]) -> dict[str, Any]:
    tx_id = param("transaction_id", "path", STR, "the transaction UUID (`id` of the payment)", TX_ID)
    return operation(
        f"{name}Transaction",
        summary,
        ["operations"],
        {
            "200": {"description": "Done (empty body)"},
            "400": error("Wrong state or amount (code 100), unknown transaction (code 102)",
                         {"code": 100, "message": "operation is not allowed in status CHARGE"}),
            "401": UNAUTHORIZED,
        },
        parameters=[tx_id, *params],
        body=request_body(OperationAmountRequest, example, required=False),
        security=SERVICE_TOKEN,
    )


def charge_transaction() -> dict[str, Any]:
    return _transaction_operation("charge", "Charge (confirm) an AUTH, fully or partly (spec 7)",
                                  [_amount_query()], {"amount": 100})


def cancel_transaction() -> dict[str, Any]:
    return _transaction_operation("cancel", "Cancel (void) an AUTH, for its full amount only (spec 7)", [],
                                  {"amount": 100})


def refund_transaction() -> dict[str, Any]:
    external = param("externalID", "query", STR, "the merchant's refund id", required=False)
    return _transaction_operation("refund", "Refund a CHARGE, fully or partly, at least 10 tenge (spec 7)",
                                  [_amount_query(), external], {"amount": 100, "externalID": "refund-1"})


# -- cards -----------------------------------------------------------------------------------------


def list_saved_cards() -> dict[str, Any]:
    return operation(
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
    )


def deactivate_card() -> dict[str, Any]:
    return operation(
        "deactivateCard",
        "Deactivate a saved card (spec 8.3)",
        ["cards"],
        {
            "200": response("Deactivated", ref("CardDeactivated"),
                            {"status": "card successfully deactivated"}),
            "400": error("Unknown or already inactive card"),
            "401": UNAUTHORIZED,
        },
        parameters=[param("card_id", "path", STR, "the saved card's ID", MC_CARD_ID)],
        security=SERVICE_TOKEN,
    )


# -- the hosted payment page -----------------------------------------------------------------------


def payment_api_js() -> dict[str, Any]:
    return operation("paymentApiJs", "The widget script: halyk.pay, halyk.showPaymentWidget (spec 4.1)",
                     ["widget"], {"200": response("JavaScript", STR, media="application/javascript")},
                     security=PUBLIC)


def payment_page() -> dict[str, Any]:
    return operation(
        "paymentPage",
        "The hosted payment page for `?params=<encoded payment object>` (spec 4.4)",
        ["widget"],
        _html_page(),
        parameters=[
            param("params", "query", STR, "the payment object as halyk.pay encodes it (LZString of "
                  "`key=value` pairs, or of JSON); decoded, it is a `PaymentPageRequest` "
                  "(#/components/schemas/PaymentPageRequest)", required=False),
            param("isShortForm", "query", STR, "true in the widget's iframe", required=False),
            param("isTransfer", "query", STR, "true from halyk.p2p: the P2P transfer page", required=False),
            param("isAFT", "query", STR, "true from halyk.aft: the AFT (card debit) page", required=False),
            param("isOCT", "query", STR, "true from halyk.oct: the OCT (payout) page", required=False),
        ],
        security=PUBLIC,
    )


def submit_payment_page() -> dict[str, Any]:
    return operation("submitPaymentPage", "The payment page's card form", ["widget"], _page_result(),
                     body=_form_body(), security=PUBLIC)


def submit_transfer_page() -> dict[str, Any]:
    return operation("submitTransferPage", "The transfer page's card form (halyk.p2p, halyk.aft, halyk.oct)",
                     ["widget"], _page_result(), body=_form_body(), security=PUBLIC)


def submit_secure3d_page() -> dict[str, Any]:
    return operation("submitSecure3dPage", "The payment page's 3-D Secure code form", ["widget"],
                     _page_result(), body=_form_body(), security=PUBLIC)


def payment_page_static() -> dict[str, Any]:
    return static_files("paymentPageStatic", "The payment page's CSS and JS", "widget", "payform.css")
