"""The pieces every path description is made of: schema helpers, media types, security, spec examples.

`docs_bank.py` and `docs_admin.py` describe the paths with these; the component schemas
themselves are generated from the declarations (`wire/schemas.py`).
"""

from __future__ import annotations

from typing import Any

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


def request_body(shape: type, example: Any = None, *, required: bool = True,
                 media: tuple[str, ...] = (JSON,)) -> dict[str, Any]:
    """A request body described by the declaration that decodes it: `shape`'s generated schema
    (wire/schemas.py) under each media type, the example (if any) under the first."""
    content: dict[str, Any] = {}
    for index, name in enumerate(media):
        content[name] = {"schema": ref(shape.__name__)}
        if example is not None and index == 0:
            content[name]["example"] = example
    return {"required": required, "content": content}


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


def static_files(operation_id: str, summary: str, tag: str, example: str) -> dict[str, Any]:
    """A public `GET .../static/{name}` operation serving CSS and JS files."""
    files = {"text/css": {"schema": STR}, "application/javascript": {"schema": STR}}
    return operation(operation_id, summary, [tag],
                     {"200": {"description": "The file", "content": files}, "404": error("No such file")},
                     parameters=[param("name", "path", STR, example=example)], security=PUBLIC)


PAYMENT_TOKEN: list[dict[str, list[str]]] = [{"paymentToken": []}]
SERVICE_TOKEN: list[dict[str, list[str]]] = [{"serviceToken": []}]
ANY_TOKEN: list[dict[str, list[str]]] = [{"serviceToken": []}, {"paymentToken": []}]
# Needed only when the server has an admin token (--admin-token); `?token=` also sets a cookie.
ADMIN: list[dict[str, list[str]]] = [{}, {"adminToken": []}, {"adminBearer": []}, {"adminQuery": []}]
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


CALLBACK_BODY = {"anyOf": [ref("Callback"), ref("LegacyCallbackApproved"), ref("LegacyCallbackDeclined")]}
