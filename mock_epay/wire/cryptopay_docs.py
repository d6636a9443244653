"""The OpenAPI description of the cryptogram and recurring paths, and of `/_mock/subscriptions`.

Each function returns the `doc=` callable its route is registered with (wire/route_docs.py), so
nothing is built until `/_mock/openapi.json` is first asked for. Paths under `/api` get the
operation id suffix `_api`, as the bank paths of wire/docs_bank.py do.
"""

from __future__ import annotations

from typing import Any

from mock_epay.wire.openapi_parts import (
    ADMIN,
    ANY_TOKEN,
    CARD_PAYMENT_RESPONSE_EXAMPLE,
    PAYMENT_TOKEN,
    PUBLIC,
    STR,
    TERMINAL,
    TX_ID,
    UNAUTHORIZED,
    error,
    json_content,
    operation,
    param,
    ref,
    response,
)
from mock_epay.wire.route_docs import OperationDoc

PLAIN_CRYPTOGRAM = ('{"hpan":"4405639704015096","expDate":"0127","cvc":"321","terminalId":"'
                    + TERMINAL + '"}')
CRYPTOPAY_EXAMPLE = {
    "amount": 100,
    "currency": "KZT",
    "name": "JON JONSON",
    "cryptogram": PLAIN_CRYPTOGRAM,
    "invoiceId": "000000001",
    "description": "test payment",
    "accountId": "testuser1",
    "email": "jj@example.com",
    "phone": "77777777777",
    "postLink": "http://127.0.0.1:9/epay/callback",
    "failurePostLink": "http://127.0.0.1:9/epay/callback-fail",
    "cardSave": True,
}
SUBSCRIBE_EXAMPLE = {"transactionId": TX_ID, "paymentFrequency": "MONTHLY"}
SUBSCRIBE_RESPONSE_EXAMPLE = {
    "createdDate": "2025-02-07T21:22:44.3828015+0500", "paymentFrequency": "MONTHLY",
    "lastPaymentDate": "2026-02-07T21:22:44.3828015+0500", "clientId": "test", "invoiceId": "000000001",
    "amount": 100, "currency": "KZT", "reference": "099467918563",
}
SCENARIO_HEADER = param("X-Mock-Scenario", "header", STR, "mock only: name a scenario rule", required=False)


def _suffix(prefix: str) -> str:
    return "_" + prefix.strip("/") if prefix else ""


def public_key(prefix: str) -> OperationDoc:
    def build() -> dict[str, Any]:
        return operation(
            "publicRsa" + _suffix(prefix), "The RSA public key cryptograms are encrypted with (spec 2.2)",
            ["payments"],
            {"200": response("PEM (2048-bit, SubjectPublicKeyInfo); made on first use, reproducible with "
                             "--seed, or from rsa_key_file", STR, media="application/x-pem-file"),
             "503": error("The configured rsa_key_file is not a usable RSA key")},
            security=PUBLIC)
    return build


def cryptopay(prefix: str) -> OperationDoc:
    def build() -> dict[str, Any]:
        return operation(
            "payByCryptogram" + _suffix(prefix), "Pay with an encrypted card: a cryptogram (spec 2.3)",
            ["payments"],
            {"200": response("Paid (or VERIFIED for amount 0), or a 3-D Secure step is needed (`secure3D`)",
                             ref("CardPaymentResponse"), CARD_PAYMENT_RESPONSE_EXAMPLE),
             "400": error("Unreadable cryptogram (code -1), a card failing its checks (472 number, 478 "
                          "expired, 457 expiry, 477 CVC), declined (code = reason code) or duplicate",
                          {"code": 465, "message": "Card is blocked"}),
             "401": UNAUTHORIZED,
             "503": error("The configured rsa_key_file is not a usable RSA key")},
            body={"required": True, "content": json_content(ref("CryptopayRequest"), CRYPTOPAY_EXAMPLE)},
            parameters=[SCENARIO_HEADER], security=PAYMENT_TOKEN,
            description="`cryptogram` is base64 of RSA PKCS#1 v1.5 over "
                        '`{"hpan","expDate":"MMYY","cvc","terminalId"}` with the key at /public.rsa; the SDK '
                        "spells the key with a Cyrillic first letter (`сryptogram`), also read. The mock "
                        "also reads that JSON plain (as in this example) or base64-encoded.")
    return build


def subscribe(prefix: str) -> OperationDoc:
    def build() -> dict[str, Any]:
        return operation(
            "subscribeRecurrent" + _suffix(prefix),
            "Subscribe a paid transaction's saved card to recurring charges (SDK; products spec 2.3)",
            ["payments"],
            {"200": response("The subscription (the same one again for a transaction already subscribed)",
                             ref("SubscribeResponse"), SUBSCRIBE_RESPONSE_EXAMPLE),
             "400": error("Unknown, unpaid or another merchant's transaction (code 102), or no saved card",
                          {"code": 102, "message": "transaction '75890cc5-...' not found"}),
             "401": UNAUTHORIZED},
            body={"required": True, "content": json_content(ref("SubscribeRequest"), SUBSCRIBE_EXAMPLE)},
            security=ANY_TOKEN)
    return build


def list_subscriptions() -> dict[str, Any]:
    return operation(
        "listSubscriptions", "Recurring subscriptions, their renewals and next dates (mock only)", ["admin"],
        {"200": response("Oldest first", ref("Subscriptions"))},
        parameters=[param("client_id", "query", STR, "only this merchant's", required=False)],
        security=ADMIN)


def cancel_subscription() -> dict[str, Any]:
    return operation(
        "cancelSubscription", "Cancel a subscription: no more renewals (mock only)", ["admin"],
        {"200": response("The subscription, now inactive", ref("SubscriptionCancelled")),
         "404": error("No such subscription", {"code": 102, "message": "subscription 'x' not found"})},
        parameters=[param("subscription_id", "path", STR, "the subscription's id", TX_ID)],
        security=ADMIN)
