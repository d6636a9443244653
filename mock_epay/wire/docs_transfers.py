"""The OpenAPI description of the transfer and statement paths, attached where their routes are registered.

Each function returns the zero-argument builder `add_route(..., doc=...)` expects; the
schemas come from the declarations in wire/transfers.py and wire/statements.py.
"""

from __future__ import annotations

from typing import Any

from mock_epay.gateway.transfer_records import TransferKind
from mock_epay.wire.openapi_parts import (
    ADMIN,
    JSON,
    SERVICE_TOKEN,
    STR,
    UNAUTHORIZED,
    error,
    operation,
    param,
    ref,
    response,
)
from mock_epay.wire.route_docs import OperationDoc

P2P_TERMINAL = "67e34d63-102f-4bd1-898e-370781d0074d"  # one of the four documented transfer terminals
TRANSFER_TOKEN = SERVICE_TOKEN  # a client-credentials token whose scope includes `transfer`
SENDER = {
    "save": False,
    "cardCred": "4405639704015096",
    "cvc": "321",
    "expire": {"month": "01", "year": "27"},
    "name": "IVAN IVANOV",
    "transferType": "TYPEPAN",
}
RECEIVER = {"save": False, "cardCred": "5522042705066736", "transferType": "TYPEPAN"}
CARDS = {
    TransferKind.P2P: {"sender": SENDER, "receiver": RECEIVER},
    TransferKind.AFT: {"sender": SENDER},
    TransferKind.OCT: {"receiver": RECEIVER},
}
SUMMARIES = {
    TransferKind.P2P: "Card-to-card transfer, P2P (spec products 5.4)",
    TransferKind.AFT: "Account funding transfer, AFT: debit the sender's card (spec products 5.4)",
    TransferKind.OCT: "Payout, OCT: to a card (TYPEPAN / TYPECARDID) or a phone and IIN (TYPEPHONE)",
}
RESPONSE_EXAMPLE = {
    "id": "55dd8788-f222-479c-a318-fb06ad2fc090",
    "amount": 200,
    "fee": 0,
    "currency": "KZT",
    "accountID": "",
    "email": "sender@example.com",
    "description": "TEST p2p",
    "reference": "135616235512",
    "intReference": "C3B673466V9600X3",
    "orderID": "12345678937780",
    "terminalID": P2P_TERMINAL,
    "senderCardID": "",
    "senderCardPAN": "440563...5096",
    "senderCardType": "VISA",
    "senderTransferType": "TYPEPAN",
    "receiverCardID": "",
    "receiverCardPAN": "552204...6736",
    "receiverCardType": "MasterCard",
    "receiverTransferType": "TYPEPAN",
}
STATEMENT_EXAMPLE = {
    "paging": {"page": 0, "size": 2},
    "searchParameters": [
        {
            "name": "created_date",
            "method": "between",
            "searchParameter": ["2020-01-01T00:00:00Z", "2100-01-01T00:00:00Z"],
        },
        {"name": "invoice_id", "method": "in", "searchParameter": ["000000123", "000000124"]},
    ],
    "orderParameters": [{"field": "created_date", "typeOrder": "DESC"}],
}


def _suffix(prefix: str) -> str:
    return "_api" if prefix else ""


def transfer_doc(kind: TransferKind, prefix: str) -> OperationDoc:
    def build() -> dict[str, Any]:
        example = {
            "order": {
                "amount": 200,
                "currency": "KZT",
                "description": "TEST p2p",
                "id": "12345678937780",
                "senderEmail": "sender@example.com",
                "foreign": False,
                "terminalId": P2P_TERMINAL,
                "postLink": "http://127.0.0.1:9/p2p/ok",
                "failurePostLink": "http://127.0.0.1:9/p2p/fail",
            },
            "card": CARDS[kind],
        }
        return operation(
            f"{kind.value}Transfer{_suffix(prefix)}",
            SUMMARIES[kind],
            ["transfers"],
            {
                "200": response(
                    "The transfer went through (no `code`/`message` pair)",
                    ref("TransferResponse"),
                    RESPONSE_EXAMPLE,
                ),
                "400": error(
                    "Malformed body, failed Luhn check, unknown saved card, or a decline (its code)",
                    {"code": 465, "message": "Card is blocked"},
                ),
                "401": error(
                    "Missing or expired token, or a token without the `transfer` scope",
                    {
                        "code": -1,
                        "message": "insufficient scope: this operation needs a token "
                        "requested with scope 'transfer'",
                    },
                ),
            },
            body={
                "required": True,
                "content": {JSON: {"schema": ref("TransferRequest"), "example": example}},
            },
            security=TRANSFER_TOKEN,
            description="Token: client credentials with scope `transfer` (bound to the order when requested "
            "with invoiceID). Test cards decide declines (a lock card declines with 465).",
        )

    return build


def status_doc(prefix: str) -> OperationDoc:
    def build() -> dict[str, Any]:
        order = param(
            "order", "path", STR, "the merchant's order id (`order.id` of the transfer)", "12345678937780"
        )
        return operation(
            f"p2pStatus{_suffix(prefix)}",
            "Status of a transfer by order id (spec products 5.6)",
            ["transfers"],
            {
                "200": response(
                    '`result.code` "100" with `transaction.p2p`, or "102" (unknown order)',
                    ref("P2PStatusResponse"),
                    {"result": {"code": "102", "message": "transaction not found"}},
                ),
                "401": UNAUTHORIZED,
            },
            parameters=[order],
            security=TRANSFER_TOKEN,
        )

    return build


def statement_doc(transfers: bool, prefix: str) -> OperationDoc:
    def build() -> dict[str, Any]:
        name = "p2pStatement" if transfers else "statement"
        what = "transfers" if transfers else "payments"
        return operation(
            f"{name}{_suffix(prefix)}",
            f"Search the merchant's {what} (spec products 6)",
            ["statements"],
            {
                "200": response(
                    "Matches: `totalCount` before paging, `records` after",
                    ref("StatementResponse"),
                    {"totalCount": 0, "records": []},
                ),
                "400": error(
                    "No created_date period, wrong arity, unknown method or filter (code 100)",
                    {"code": 100, "message": "created_date is required (the transaction period)"},
                ),
                "401": UNAUTHORIZED,
            },
            body={
                "required": True,
                "content": {JSON: {"schema": ref("StatementRequest"), "example": STATEMENT_EXAMPLE}},
            },
            security=SERVICE_TOKEN,
        )

    return build


def list_doc() -> dict[str, Any]:
    client = param("client_id", "query", STR, "only this merchant's transfers", required=False)
    return operation(
        "listTransfers",
        "Every transfer the mock recorded, newest first (cards masked)",
        ["admin"],
        {"200": response("The transfers", ref("TransferListing"))},
        parameters=[client],
        security=ADMIN,
    )
