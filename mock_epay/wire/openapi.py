"""The OpenAPI 3.1 description of every endpoint the mock serves: the bank's and its own `/_mock/` API.

One source of truth, built as a Python dict by `build_document()` and served at
`GET /_mock/openapi.json`. Bank paths appear once per prefix they are served under
(`/oauth2/token` and `/epay2/oauth2/token`, `/payments/...` and `/api/payments/...`,
`/payform/` and `/redesign-payform/`), because that is how merchants configure them.
Examples come from the bank's documentation (spec sections named in each summary);
`tests/test_openapi.py` sends every request example to a real app and checks the answer.
"""

from __future__ import annotations

import copy
from typing import Any

from mock_epay import __version__

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
HTML = "text/html"

MAX_WAIT_SECONDS = 60  # /_mock/callbacks/wait caps its timeout here

# -- schema helpers ---------------------------------------------------------------------------

STR: dict[str, Any] = {"type": "string"}
BACK_LINK: dict[str, Any] = {
    "type": "string",
    "description": "any absolute URI (https://..., an app's myapp://...); javascript:, data:, "
                   "vbscript:, blob:, filesystem: and about: are refused",
}
INT: dict[str, Any] = {"type": "integer"}
NUM: dict[str, Any] = {"type": "number"}
BOOL: dict[str, Any] = {"type": "boolean"}
ANY: dict[str, Any] = {}


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def obj(properties: dict[str, Any], required: tuple[str, ...] | None = None, **extra: Any) -> dict[str, Any]:
    """An object schema; every property is required unless `required` says otherwise."""
    names = tuple(properties) if required is None else required
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if names:
        schema["required"] = list(names)
    schema.update(extra)
    return schema


def ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def json_content(schema: dict[str, Any], example: Any = None) -> dict[str, Any]:
    media: dict[str, Any] = {"schema": schema}
    if example is not None:
        media["example"] = example
    return {JSON: media}


def response(
    description: str, schema: dict[str, Any] | None = None, example: Any = None, media: str = JSON
) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": description}
    if schema is not None:
        content: dict[str, Any] = {"schema": schema}
        if example is not None:
            content["example"] = example
        answer["content"] = {media: content}
    return answer


def error(description: str, example: dict[str, Any] | None = None) -> dict[str, Any]:
    return response(description, ref("Error"), example)


def html(description: str) -> dict[str, Any]:
    return response(description, STR, media=HTML)


def redirect(description: str) -> dict[str, Any]:
    return {"description": description, "headers": {"Location": {"schema": STR}}}


def param(
    name: str,
    where: str,
    schema: dict[str, Any],
    description: str = "",
    example: Any = None,
    required: bool | None = None,
) -> dict[str, Any]:
    parameter: dict[str, Any] = {
        "name": name,
        "in": where,
        "schema": schema,
        "required": where == "path" if required is None else required,
    }
    if description:
        parameter["description"] = description
    if example is not None:
        parameter["example"] = example
    return parameter


def operation(
    operation_id: str,
    summary: str,
    tags: list[str],
    responses: dict[str, Any],
    *,
    parameters: list[dict[str, Any]] | None = None,
    body: dict[str, Any] | None = None,
    security: list[dict[str, list[str]]] | None = None,
    description: str = "",
) -> dict[str, Any]:
    """One operation; every one also declares `default`: the bank's error JSON."""
    op: dict[str, Any] = {"operationId": operation_id, "summary": summary, "tags": tags}
    if description:
        op["description"] = description
    if parameters:
        op["parameters"] = parameters
    if body is not None:
        op["requestBody"] = body
    if security is not None:
        op["security"] = security
    op["responses"] = {**responses, "default": error("Any other error, in the bank's error format")}
    return op


PAYMENT_TOKEN = [{"paymentToken": []}]
SERVICE_TOKEN = [{"serviceToken": []}]
ANY_TOKEN = [{"serviceToken": []}, {"paymentToken": []}]
# Needed only when the server has an admin token (--admin-token); `?token=` also sets a cookie.
ADMIN = [{}, {"adminToken": []}, {"adminBearer": []}, {"adminQuery": []}]
PUBLIC: list[dict[str, list[str]]] = [{}]
OPEN_ADMIN_REFUSED = error(
    "Only without an admin token: the Host is not the mock's own, or a state-changing request came "
    "from another origin or as a form / text/plain body (see docs/admin.md)",
    {"code": -1, "message": "cross-origin admin request from 'https://evil.example' refused: without "
     "an admin token, state-changing admin requests are accepted only from no web page or this "
     "mock's own pages"},
)

UNAUTHORIZED = error("Missing, unknown or expired token", {"code": -1, "message": "invalid access token"})

# -- examples from the spec ------------------------------------------------------------------

TERMINAL = "67e34d63-102f-4bd1-898e-370781d0074d"
VISA_CARD_ID = "e7e2587f-de26-4f41-ae1f-80c1fea31728"
MC_CARD_ID = "22f2c5db-64d8-475f-8066-af3de3dc8233"
TX_ID = "75890cc5-157a-4cce-9624-16b227c2b9ec"

TOKEN_REQUEST_EXAMPLE = {
    "grant_type": "client_credentials",
    "scope": "webapi usermanagement email_send verification statement statistics payment",
    "client_id": "test",
    "client_secret": "yF587AV9Ms94qN2QShFzVR3vFnWkhjbAK3sG",
    "invoiceID": "000000001",
    "amount": "100",
    "currency": "KZT",
    "terminal": TERMINAL,
    "secret_hash": "JDKCNDDGGDTPSKJD",
}
TOKEN_RESPONSE_EXAMPLE = {
    "access_token": "DCEB8O_ZM5U7SO_T_U5EJQ",
    "expires_in": "1200",
    "refresh_token": "",
    "scope": "webapi usermanagement email_send verification statement statistics payment",
    "token_type": "Bearer",
}
CARD_PAYMENT_EXAMPLE = {
    "amount": 100,
    "currency": "KZT",
    "name": "JON JONSON",
    "terminalId": TERMINAL,
    "invoiceId": "000000001",
    "description": "test payment",
    "accountId": "testuser1",
    "email": "jj@example.com",
    "phone": "77777777777",
    "backLink": "https://example.kz/success.html",
    "failureBackLink": "https://example.kz/failure.html",
    "postLink": "http://127.0.0.1:9/epay/callback",
    "failurePostLink": "http://127.0.0.1:9/epay/callback-fail",
    "language": "rus",
    "paymentType": "cardId",
    "cardId": {"id": VISA_CARD_ID},
}
CARD_PAYMENT_RESPONSE_EXAMPLE = {
    "id": TX_ID,
    "accountId": "testuser1",
    "amount": 100,
    "amountBonus": 0,
    "currency": "KZT",
    "description": "test payment",
    "email": "jj@example.com",
    "invoiceID": "000000001",
    "language": "RU",
    "phone": "77777777777",
    "reference": "099467918563",
    "intReference": "C3B673466V9600X3",
    "secure3D": None,
    "cardID": VISA_CARD_ID,
    "fee": 0,
    "approvalCode": "170243",
    "code": 0,
    "status": "CHARGE",
    "secureDetails": "",
    "qrReference": "",
    "ip": "127.0.0.1",
    "ipCity": "",
    "ipCountry": "",
    "ipDistrict": "",
    "ipLatitude": 0,
    "ipLongitude": 0,
    "ipRegion": "",
    "issuerBankCountry": "KAZ",
    "isCredit": False,
    "issuer": "HALYK BANK",
}
STATUS_TRANSACTION_EXAMPLE = {
    "id": "af2089fe-43b1-47eb-a61f-c78dd196e18d",
    "createdDate": "2022-11-15T03:52:17.289853+05:00",
    "invoiceID": "000000001",
    "amount": 100,
    "amountBonus": 0,
    "payoutAmount": 100,
    "orgAmount": 100,
    "approvalCode": "170243",
    "data": "",
    "currency": "KZT",
    "terminal": "98120001",
    "terminalID": TERMINAL,
    "accountID": "testuser1",
    "description": "test payment",
    "language": "RU",
    "cardMask": "440563...5096",
    "cardType": "VISA",
    "issuer": "HALYK BANK",
    "reference": "027980238029",
    "reason": "success",
    "reasonCode": "0",
    "intReference": "C3B673466V9600X3",
    "secure": False,
    "secureDetails": "",
    "statusID": "3",
    "statusName": "CHARGE",
    "name": "JON JONSON",
    "email": "jj@example.com",
    "phone": "77777777777",
    "cardID": VISA_CARD_ID,
    "xlsRRN": "",
    "ip": "127.0.0.1",
    "ipCountry": "",
    "ipCity": "",
    "ipRegion": "",
    "ipDistrict": "",
    "ipLatitude": 0,
    "ipLongitude": 0,
}
LEGACY_OPERATION_EXAMPLE = {
    "id": "97131c28-07db-4de0-be4a-9a108de7f01b",
    "dateTime": "2020-10-05T16:47:26.507545+05:00",
    "invoiceId": "000000001",
    "amount": 4,
    "currency": "KZT",
    "terminal": "98458031",
    "accountId": "",
    "description": "Оплата в интернет магазине",
    "language": "RU",
    "cardMask": "4003...3957",
    "cardType": "VISA",
    "issuer": "Казкоммерцбанк",
    "reference": "027980238029",
    "secure": "false",
    "code": "CHARGE",
    "reason": "Successfully",
    "reasonCode": 0,
    "name": "test",
    "email": "",
    "phone": "77472261170",
    "ip": "10.6.58.11",
    "ipCountry": "",
    "ipCity": "",
    "ipRegion": "",
    "ipDistrict": "",
    "ipLongitude": 0,
    "ipLatitude": 0,
    "cardId": "16aae4f4-6d24-4a17-b1c6-c09ce7659efb",
}
SAVED_CARD_EXAMPLE = {
    "ID": VISA_CARD_ID,
    "TransactionId": "",
    "MerchantID": "test",
    "CardHash": "9F0C...",
    "CardMask": "440563...5096",
    "PayerName": "TEST CARDHOLDER",
    "Reference": "027980238029",
    "IntReference": "C3B673466V9600X3",
    "Token": "9F0C...",
    "Terminal": "",
    "CreatedDate": "2024-01-01T12:00:00.000000+05:00",
    "PaymentAvailable": True,
    "AccountID": "testuser1",
}
CALLBACK_EXAMPLE = {
    "id": "b79d53ee-6120-4cc9-85e1-fbab4b007aac",
    "dateTime": "2025-02-07T23:32:53.089532914+05:00",
    "invoiceId": "000000001",
    "invoiceIdAlt": "",
    "amount": 100,
    "currency": "KZT",
    "terminal": TERMINAL,
    "accountId": "testuser1",
    "description": "Оплата в интернет магазине",
    "language": "RUS",
    "cardMask": "440563...5096",
    "cardType": "VISA",
    "issuer": "HALYK BANK",
    "issuerBankCountry": None,
    "reference": "027980238029",
    "approvalCode": "178644",
    "secure": "yes",
    "secureDetails": None,
    "tokenRecipient": "",
    "code": "ok",
    "reason": "success",
    "reasonCode": 0,
    "name": "CARDHOLDER NAME",
    "email": "example@example.com",
    "phone": "77777777777",
    "ip": "85.117.125.131",
    "ipCountry": None,
    "ipCity": None,
    "ipRegion": None,
    "ipDistrict": None,
    "ipLongitude": 0,
    "ipLatitude": 0,
    "cardId": "16aae4f4-6d24-4a17-b1c6-c09ce7659efb",
    "secret_hash": "JDKCNDDGGDTPSKJD",
}

# -- component schemas -----------------------------------------------------------------------

STATUS_NAMES = [
    "NEW",
    "AUTH",
    "CHARGE",
    "CANCEL",
    "CANCEL_OLD",
    "REFUND",
    "REJECT",
    "FAILED",
    "3D",
    "VERIFIED",
]
DELIVERY_STATUSES = ["pending", "delivered", "failed", "skipped"]
DELIVERY_KINDS = ["payment", "operation", "forged", "replay"]


def _schemas() -> dict[str, Any]:
    text_or_number = {"type": ["string", "number"]}
    return {
        "Error": obj({"code": INT, "message": STR}, description="The bank's error format (spec 2.1)"),
        "TokenRequest": obj(
            {
                "grant_type": {"type": "string", "enum": ["client_credentials"]},
                "scope": {"type": "string", "minLength": 1},
                "client_id": STR,
                "client_secret": STR,
                "invoiceID": {
                    **STR,
                    "description": "payment token: 6-15 digits (also `InvoiceID`, `invoiceId`)",
                },
                "amount": {**text_or_number, "description": "payment token: amount in tenge"},
                "currency": {**STR, "description": "payment token: KZT, USD, ... (also `curency`)"},
                "terminal": {**STR, "description": "terminal UUID; required for a payment token"},
                "postLink": STR,
                "failurePostLink": STR,
                "secret_hash": STR,
            },
            required=("grant_type", "scope", "client_id", "client_secret"),
            description="Without invoiceID: a service token; with it: a payment token bound to the order",
        ),
        "TokenResponse": obj(
            {
                "access_token": STR,
                "expires_in": {
                    **text_or_number,
                    "description": 'a string by default: "1200" for payment tokens, "7200" for service '
                                   "tokens (numbers with payment_expires_in_as_string / "
                                   "service_expires_in_as_string false)",
                },
                "refresh_token": STR,
                "scope": STR,
                "token_type": {"const": "Bearer"},
            }
        ),
        "CardPaymentRequest": obj(
            {
                "amount": text_or_number,
                "currency": STR,
                "terminalId": STR,
                "invoiceId": STR,
                "description": STR,
                "accountId": STR,
                "paymentType": {"const": "cardId"},
                "cardId": {
                    "anyOf": [obj({"id": STR}), STR],
                    "description": '{"id": "<card UUID>"} (also a bare string, `cardid`)',
                },
                "name": STR,
                "email": STR,
                "phone": STR,
                "language": STR,
                "invoiceIdAlt": STR,
                "backLink": BACK_LINK,
                "failureBackLink": BACK_LINK,
                "postLink": STR,
                "failurePostLink": STR,
                "recurrent": BOOL,
                "data": ANY,
            },
            required=("amount", "currency", "terminalId", "invoiceId", "description", "cardId"),
        ),
        "CardPaymentResponse": obj(
            {
                "id": STR,
                "accountId": STR,
                "amount": NUM,
                "amountBonus": NUM,
                "currency": STR,
                "description": STR,
                "email": STR,
                "invoiceID": STR,
                "language": STR,
                "phone": STR,
                "reference": STR,
                "intReference": STR,
                "cardID": STR,
                "fee": NUM,
                "approvalCode": STR,
                "code": INT,
                "status": {"enum": STATUS_NAMES},
                "secure3D": nullable(obj({"action": STR, "md": STR, "paReq": STR, "termURL": STR})),
            },
            required=("id", "amount", "currency", "invoiceID", "reference", "secure3D", "cardID", "status"),
            description="200 of cards/auth (spec 8.5); `secure3D` is set when a 3-D Secure step is needed",
        ),
        "StatusTransaction": obj(
            {
                "id": STR,
                "createdDate": STR,
                "invoiceID": STR,
                "amount": NUM,
                "amountBonus": NUM,
                "payoutAmount": NUM,
                "orgAmount": NUM,
                "approvalCode": STR,
                "data": STR,
                "currency": STR,
                "terminal": STR,
                "terminalID": STR,
                "accountID": STR,
                "description": STR,
                "language": STR,
                "cardMask": STR,
                "cardType": STR,
                "issuer": STR,
                "reference": STR,
                "reason": STR,
                "reasonCode": STR,
                "intReference": STR,
                "secure": BOOL,
                "secureDetails": STR,
                "statusID": STR,
                "statusName": {"enum": STATUS_NAMES},
                "name": STR,
                "email": STR,
                "phone": STR,
                "cardID": STR,
                "xlsRRN": STR,
                "ip": STR,
                "ipCountry": STR,
                "ipCity": STR,
                "ipRegion": STR,
                "ipDistrict": STR,
                "ipLatitude": NUM,
                "ipLongitude": NUM,
            }
        ),
        "StatusResponse": obj(
            {
                "resultCode": STR,
                "resultMessage": STR,
                "transaction": {
                    "anyOf": [ref("StatusTransaction"), {"type": "null"}],
                    "description": "null for resultCode 102 (absent with "
                                   "status_unknown_transaction_null false)",
                },
            },
            required=("resultCode", "resultMessage"),
        ),
        "LegacyOperation": obj(
            {
                "id": STR,
                "dateTime": STR,
                "invoiceId": STR,
                "amount": NUM,
                "currency": STR,
                "terminal": STR,
                "accountId": STR,
                "description": STR,
                "language": STR,
                "cardMask": STR,
                "cardType": STR,
                "issuer": STR,
                "reference": STR,
                "secure": {"enum": ["true", "false"]},
                "code": {"enum": STATUS_NAMES},
                "reason": STR,
                "reasonCode": INT,
                "name": STR,
                "email": STR,
                "phone": STR,
                "ip": STR,
                "cardId": STR,
            }
        ),
        "SavedCard": obj(
            {
                "ID": STR,
                "TransactionId": STR,
                "MerchantID": STR,
                "CardHash": STR,
                "CardMask": STR,
                "PayerName": STR,
                "Reference": STR,
                "IntReference": STR,
                "Token": STR,
                "Terminal": STR,
                "CreatedDate": STR,
                "PaymentAvailable": BOOL,
                "AccountID": STR,
            }
        ),
        "Callback": obj(
            {
                "id": STR,
                "dateTime": STR,
                "invoiceId": STR,
                "amount": NUM,
                "currency": STR,
                "terminal": STR,
                "code": {"enum": ["ok", "error"]},
                "reason": STR,
                "reasonCode": INT,
                "cardMask": nullable(STR),
                "cardId": nullable(STR),
                "secure": STR,
                "secret_hash": STR,
            },
            required=(
                "id",
                "dateTime",
                "invoiceId",
                "amount",
                "currency",
                "terminal",
                "code",
                "reason",
                "reasonCode",
            ),
            description="postLink / failurePostLink body (spec 5.2, 5.3)",
        ),
        # -- the mock's own shapes --
        "DeliveryAttempt": obj(
            {
                "attempt": INT,
                "startedAt": STR,
                "durationMs": NUM,
                "responseStatus": nullable(INT),
                "responseBody": nullable(STR),
                "error": nullable(STR),
            }
        ),
        "Delivery": obj(
            {
                "id": STR,
                "kind": {"enum": DELIVERY_KINDS},
                "clientId": STR,
                "invoiceId": STR,
                "transactionId": STR,
                "url": nullable(STR),
                "status": {"enum": DELIVERY_STATUSES},
                "body": ANY,
                "attempts": {"type": "array", "items": ref("DeliveryAttempt")},
                "nextRetryAt": nullable(STR),
                "error": nullable(STR),
                "replayOf": nullable(STR),
                "note": STR,
                "createdAt": STR,
                "finishedAt": nullable(STR),
            }
        ),
        "HistoryEntry": obj({"at": STR, "status": {"enum": STATUS_NAMES}, "amount": NUM, "note": STR}),
        "Transaction": obj(
            {
                "id": STR,
                "clientId": STR,
                "invoiceId": STR,
                "amount": NUM,
                "orgAmount": NUM,
                "chargedAmount": NUM,
                "refundedAmount": NUM,
                "currency": STR,
                "status": {"enum": STATUS_NAMES},
                "reasonCode": INT,
                "reason": STR,
                "terminalId": STR,
                "accountId": STR,
                "description": STR,
                "cardMask": nullable(STR),
                "cardType": nullable(STR),
                "cardId": nullable(STR),
                "secure": BOOL,
                "createdDate": {**STR, "description": "RFC 3339, Asia/Almaty (+05:00)"},
                "source": {"enum": ["cards/auth", "payform"]},
                "callbacks": obj(
                    {"count": INT, "attempts": INT, "latestStatus": nullable({"enum": DELIVERY_STATUSES})}
                ),
            }
        ),
        "TransactionDetail": {
            "allOf": [
                ref("Transaction"),
                obj(
                    {
                        "history": {"type": "array", "items": ref("HistoryEntry")},
                        "deliveries": {"type": "array", "items": ref("Delivery")},
                    }
                ),
            ]
        },
        "Merchant": obj(
            {
                "clientId": STR,
                "name": STR,
                "callbackFormat": {"enum": ["current", "legacy"]},
                "callbacksAfterOperations": BOOL,
                "terminals": {
                    "type": "array",
                    "items": obj(
                        {"id": STR, "number": STR, "twoStage": BOOL, "autoCancelSeconds": nullable(NUM)}
                    ),
                },
            }
        ),
        "JournalEntry": obj(
            {
                "at": STR,
                "method": STR,
                "path": STR,
                "status": INT,
                "ms": NUM,
                "body": {**STR, "description": "the request's body: first 2 KB, card numbers masked"},
                "responseBody": {**STR, "description": "the answer's body: first 2 KB, card numbers "
                                                         "masked (empty for a streamed answer)"},
            }
        ),
        "ScenarioRule": {
            "type": "object",
            "description": "A scenario rule as in a YAML file (docs/scenarios.md)",
            "additionalProperties": True,
        },
    }


# -- bank endpoints --------------------------------------------------------------------------


def _bank_operations() -> list[tuple[tuple[str, ...], str, str, dict[str, Any]]]:
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
                        "Deactivated", obj({"status": STR}), {"status": "card successfully deactivated"}
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


# -- the mock's own endpoints ------------------------------------------------------------------


def _admin_operations() -> list[tuple[str, str, dict[str, Any]]]:
    bad = error(
        "Bad query or body", {"code": -1, "message": "query parameter 'status': unknown status 'PAID'"}
    )
    delivery_id = param("delivery_id", "path", STR, "a delivery id from the log", "dlv-1")
    tx_path = param("transaction_id", "path", STR, "the transaction UUID", TX_ID)
    selector = [
        param("invoiceId", "query", STR, required=False, example="000000001"),
        param("transactionId", "query", STR, required=False),
        param("clientId", "query", STR, required=False),
    ]
    limit = param(
        "limit",
        "query",
        {"type": "string", "pattern": r"^\d+$"},
        "at most this many, newest first",
        required=False,
    )
    deliveries = obj({"deliveries": {"type": "array", "items": ref("Delivery")}, "total": INT})
    reset_body = {"required": False, "content": json_content(obj({"client_id": STR}, required=()))}
    clock_body = {"required": False, "content": json_content(obj({"seconds": NUM}, required=()))}
    forge = obj(
        {
            "url": STR,
            "body": ANY,
            "invoiceId": STR,
            "transactionId": STR,
            "clientId": STR,
            "overrides": {"type": "object"},
            "omit": {"type": "array", "items": STR},
        },
        required=(),
    )
    rule_example = {
        "match": {"invoiceId": "000000465"},
        "outcome": {"result": "decline", "reasonCode": 465},
        "times": 1,
    }
    return [
        (
            "/_mock/health",
            "get",
            operation(
                "health",
                "Liveness check (never needs the admin token)",
                ["admin"],
                {
                    "200": response(
                        "Up",
                        obj({"status": {"const": "ok"}, "version": STR}),
                        {"status": "ok", "version": __version__},
                    )
                },
                security=PUBLIC,
            ),
        ),
        (
            "/_mock/requests",
            "get",
            operation(
                "requestJournal",
                "The last requests to the bank's endpoints with their answers (card numbers masked)",
                ["admin"],
                {
                    "200": response(
                        "Newest first", obj({"requests": {"type": "array", "items": ref("JournalEntry")}})
                    )
                },
                parameters=[
                    param("limit", "query", STR, "how many (default 100)", required=False, example="20")
                ],
                security=ADMIN,
            ),
        ),
        (
            "/_mock/transactions",
            "get",
            operation(
                "listTransactions",
                "Transactions, newest first, with a summary of their callbacks",
                ["admin"],
                {
                    "200": response(
                        "The list",
                        obj({"transactions": {"type": "array", "items": ref("Transaction")}, "total": INT}),
                    ),
                    "400": bad,
                },
                parameters=[
                    param("clientId", "query", STR, "one merchant", required=False),
                    param("invoiceId", "query", STR, "one invoice", required=False),
                    param(
                        "status",
                        "query",
                        STR,
                        "a status or a comma-separated list (AUTH,CHARGE)",
                        required=False,
                        example="CHARGE",
                    ),
                    limit,
                ],
                security=ADMIN,
            ),
        ),
        (
            "/_mock/transactions/{transaction_id}",
            "get",
            operation(
                "showTransaction",
                "One transaction with its history and callback deliveries",
                ["admin"],
                {
                    "200": response("The transaction", ref("TransactionDetail")),
                    "404": error("Unknown id", {"code": 102, "message": "no transaction with id 'x'"}),
                },
                parameters=[tx_path],
                security=ADMIN,
            ),
        ),
        (
            "/_mock/merchants",
            "get",
            operation(
                "listMerchants",
                "Configured merchants and terminals (never secrets)",
                ["admin"],
                {
                    "200": response(
                        "The merchants", obj({"merchants": {"type": "array", "items": ref("Merchant")}})
                    )
                },
                security=ADMIN,
            ),
        ),
        (
            "/_mock/deliveries",
            "get",
            operation(
                "listDeliveries",
                "The callback delivery log, newest first",
                ["callbacks"],
                {"200": response("Deliveries", deliveries), "400": bad},
                parameters=[
                    *selector,
                    param("status", "query", {"enum": DELIVERY_STATUSES}, required=False),
                    param("kind", "query", {"enum": DELIVERY_KINDS}, required=False),
                    param("limit", "query", {"type": "number", "minimum": 0}, required=False),
                ],
                security=ADMIN,
            ),
        ),
        (
            "/_mock/deliveries/{delivery_id}",
            "get",
            operation(
                "showDelivery",
                "One delivery with every attempt",
                ["callbacks"],
                {"200": response("The delivery", ref("Delivery")), "404": error("Unknown id")},
                parameters=[delivery_id],
                security=ADMIN,
            ),
        ),
        (
            "/_mock/deliveries/{delivery_id}/replay",
            "post",
            operation(
                "replayDelivery",
                "Send a delivery's body to its URL again (a new delivery)",
                ["callbacks"],
                {
                    "202": response("Queued", ref("Delivery")),
                    "400": error("The delivery has no URL"),
                    "404": error("Unknown id"),
                },
                parameters=[delivery_id],
                security=ADMIN,
            ),
        ),
        (
            "/_mock/callbacks/forge",
            "post",
            operation(
                "forgeCallback",
                "Send any callback body to any allowed URL",
                ["callbacks"],
                {"202": response("Queued", ref("Delivery")), "400": bad, "404": error("Unknown transaction")},
                body={
                    "required": True,
                    "content": json_content(
                        forge,
                        {
                            "url": "http://127.0.0.1:9/epay/callback",
                            "body": {"invoiceId": "000000001", "code": "ok"},
                        },
                    ),
                },
                security=ADMIN,
            ),
        ),
        (
            "/_mock/callbacks/wait",
            "get",
            operation(
                "waitForCallback",
                "Wait until the callbacks of an invoice / transaction are final",
                ["callbacks"],
                {
                    "200": response("The latest matching delivery", ref("Delivery")),
                    "400": bad,
                    "408": error("Nothing final within the timeout"),
                },
                parameters=[
                    *selector,
                    param("deliveryId", "query", STR, required=False),
                    param(
                        "timeout",
                        "query",
                        {"type": "number", "minimum": 0, "maximum": MAX_WAIT_SECONDS},
                        f"seconds, default 5, at most {MAX_WAIT_SECONDS}",
                        required=False,
                        example=1,
                    ),
                ],
                security=ADMIN,
            ),
        ),
        (
            "/_mock/clock/advance",
            "post",
            operation(
                "advanceClock",
                "Move the mock's clock forward (token expiry, auto-cancel, retries)",
                ["state"],
                {
                    "200": response("The clock's total offset", obj({"offset": NUM}), {"offset": 3600}),
                    "400": bad,
                },
                parameters=[
                    param(
                        "seconds",
                        "query",
                        {"type": "number", "minimum": 0, "maximum": 315360000},
                        required=False,
                        example=3600,
                    )
                ],
                body=clock_body,
                security=ADMIN,
            ),
        ),
        (
            "/_mock/reset",
            "post",
            operation(
                "resetState",
                "Forget tokens, transactions, cards and callbacks (all, or one merchant's)",
                ["state"],
                {
                    "200": response(
                        "Reset",
                        obj({"status": {"const": "reset"}, "client_id": nullable(STR)}),
                        {"status": "reset", "client_id": None},
                    ),
                    "400": bad,
                },
                parameters=[param("client_id", "query", STR, "only this merchant", required=False)],
                body=reset_body,
                security=ADMIN,
            ),
        ),
        (
            "/_mock/scenarios",
            "get",
            operation(
                "listScenarios",
                "Loaded scenario rules and one-off overrides",
                ["scenarios"],
                {
                    "200": response(
                        "Rules",
                        obj(
                            {
                                "files": {"type": "array", "items": STR},
                                "rules": {"type": "array", "items": ref("ScenarioRule")},
                                "overrides": {"type": "array", "items": ref("ScenarioRule")},
                                "last_error": nullable(STR),
                            }
                        ),
                    )
                },
                security=ADMIN,
            ),
        ),
        (
            "/_mock/scenarios",
            "post",
            operation(
                "addScenarioOverride",
                "Put one rule above every file for the next `times` matching requests",
                ["scenarios"],
                {"201": response("Added", obj({"override": ref("ScenarioRule")})), "400": bad},
                body={"required": True, "content": json_content(ref("ScenarioRule"), rule_example)},
                security=ADMIN,
            ),
        ),
        (
            "/_mock/scenarios/overrides",
            "delete",
            operation(
                "clearScenarioOverrides",
                "Forget every one-off rule",
                ["scenarios"],
                {"200": response("How many were dropped", obj({"cleared": INT}))},
                security=ADMIN,
            ),
        ),
        (
            "/_mock/scenarios/reload",
            "post",
            operation(
                "reloadScenarios",
                "Re-read the scenario files (a bad file keeps the old rules)",
                ["scenarios"],
                {
                    "200": response("Reloaded", obj({"status": {"const": "reloaded"}, "rules": INT})),
                    "400": bad,
                },
                security=ADMIN,
            ),
        ),
        (
            "/_mock/acs",
            "get",
            operation(
                "mockAcs",
                "The mock issuer's 3-D Secure page (the `action` of `secure3D`)",
                ["3-D Secure"],
                {"200": html("The page"), "400": html("MD / TermUrl missing")},
                parameters=[
                    param("MD", "query", STR, required=False),
                    param("PaReq", "query", STR, required=False),
                    param("TermUrl", "query", STR, required=False),
                ],
                security=PUBLIC,
            ),
        ),
        (
            "/_mock/acs",
            "post",
            operation(
                "mockAcsForm",
                "The mock ACS page, opened by a form post",
                ["3-D Secure"],
                {"200": html("The page"), "400": html("MD / TermUrl missing")},
                body={
                    "required": False,
                    "content": {
                        FORM: {"schema": obj({"MD": STR, "PaReq": STR, "TermUrl": STR}, required=())}
                    },
                },
                security=PUBLIC,
            ),
        ),
        (
            "/_mock/acs/result",
            "get",
            operation(
                "mockAcsResult",
                "Where a cards/auth 3-D Secure step ends without a backLink",
                ["3-D Secure"],
                {"200": html("Success or failure page")},
                parameters=[
                    param("reference", "query", STR, required=False),
                    param("errorCode", "query", STR, required=False),
                ],
                security=PUBLIC,
            ),
        ),
        (
            "/_mock/ui/",
            "get",
            operation(
                "dashboard",
                "The dashboard (open with ?token= when the admin token is on)",
                ["admin"],
                {"200": html("The page")},
                parameters=[param("token", "query", STR, "the admin token", required=False)],
                security=ADMIN,
            ),
        ),
        (
            "/_mock/static/{name}",
            "get",
            operation(
                "dashboardStatic",
                "The dashboard's CSS and JS",
                ["admin"],
                {
                    "200": {
                        "description": "The file",
                        "content": {"text/css": {"schema": STR}, "application/javascript": {"schema": STR}},
                    },
                    "404": error("No such file"),
                },
                parameters=[param("name", "path", STR, example="dashboard.css")],
                security=PUBLIC,
            ),
        ),
        (
            "/_mock/demo",
            "get",
            operation(
                "demoShop",
                "A demo shop that pays the public test merchant through the widget",
                ["admin"],
                {"200": html("The demo shop"), "404": error("The server has no public test merchant")},
                parameters=[
                    param("amount", "query", STR, "pre-filled amount", required=False),
                    param("result", "query", STR, "success or failure (the widget's backLinks)",
                          required=False),
                    param("invoiceId", "query", STR, "invoice to show the status of", required=False),
                ],
                security=PUBLIC,
            ),
        ),
        (
            "/_mock/openapi.json",
            "get",
            operation(
                "openapi",
                "This document",
                ["admin"],
                {"200": response("OpenAPI 3.1", {"type": "object"})},
                security=ADMIN,
            ),
        ),
    ]


def _with_id_suffix(op: dict[str, Any], prefix: str) -> dict[str, Any]:
    if not prefix:
        return op
    variant = copy.deepcopy(op)
    variant["operationId"] += "_" + prefix.strip("/").replace("-", "_")
    variant["summary"] += f" [under {prefix}]"
    return variant


def build_document() -> dict[str, Any]:
    """The whole OpenAPI 3.1 document (a fresh dict each call)."""
    paths: dict[str, dict[str, Any]] = {}
    for prefixes, path, method, op in _bank_operations():
        for prefix in prefixes:
            variant = _with_id_suffix(op, "" if prefix in ("", "/payform") else prefix)
            paths.setdefault(prefix + path, {})[method] = variant
    for path, method, op in _admin_operations():
        if op.get("security") is ADMIN:
            responses = {k: v for k, v in op["responses"].items() if k != "default"}
            op["responses"] = {**responses, "403": OPEN_ADMIN_REFUSED, "default": op["responses"]["default"]}
        paths.setdefault(path, {})[method] = op
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
                    "requestBody": {"content": json_content(ref("Callback"), CALLBACK_EXAMPLE)},
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
