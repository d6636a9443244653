"""The statement endpoints' JSON (`POST /operations`, `/p2p/operations`): the documented request
grammar and the camelCase `{totalCount, records}` answer, with the renderer that fills it.
"""

from __future__ import annotations

import re
import typing

from mock_epay.gateway.models import Transaction
from mock_epay.gateway.statements import TRANSACTION_TYPES, Record, StatementPage
from mock_epay.gateway.transfer_records import Transfer
from mock_epay.wire.bank_requests import Request, TextOrNumber
from mock_epay.wire.render import rfc3339
from mock_epay.wire.shape import UNSET, Shape, UnsetType, amount_json


class StatementPagingRequest(Request):
    """`page` is the number of records to skip (the docs' definition; `statement_paging: page` makes it a
    1-based page number); `size` the number to return. Numbers or numeric strings."""

    page: TextOrNumber | UnsetType = UNSET
    size: TextOrNumber | UnsetType = UNSET


class SearchParameterRequest(Request):
    """One filter: `between` takes 2 values, `like` 1 containing %, `in` at least 1, comparisons 1;
    one value may be sent bare instead of in a list."""

    name: str
    method: str
    searchParameter: list[TextOrNumber] | TextOrNumber


class OrderParameterRequest(Request):
    """A sort: a record field and ASC (the default) or DESC."""

    field: str
    typeOrder: str | UnsetType = UNSET


class StatementRequest(Request):
    """A statement query; a `created_date` entry (the period) is mandatory."""

    searchParameters: list[SearchParameterRequest]
    paging: StatementPagingRequest | UnsetType = UNSET
    orderParameters: list[OrderParameterRequest] | UnsetType = UNSET


def statement_field_problem(path: str) -> str:
    """How the bank words a statement body field of the wrong JSON type (after "invalid search
    parameter: ")."""
    entry = re.match(r"(searchParameters|orderParameters)\[(\d+)\]", path)
    if entry is not None:
        searching = entry.group(1) == "searchParameters"
        parts = "name, method and searchParameter" if searching else "field and typeOrder"
        return f"{entry.group(0)} must be an object with {parts}"
    if path.startswith("paging."):
        least = 1 if path == "paging.size" else 0
        return f"'{path}' must be a whole number of at least {least}"
    if path == "paging":
        return "'paging' must be an object with page and size"
    return f"'{path or 'the body'}' must be a list"


class StatementRecord(Shape):
    """One payment (or transfer) of a statement; the transfer fields appear on `/p2p/operations` only."""

    id: str
    invoiceId: str
    reference: str
    amount: float
    orgAmount: float
    currency: str
    createdDate: str
    payoutDate: str
    payoutAmount: float
    status: str
    cardMask: str
    cardType: str
    issuer: str
    approvalCode: str
    payerName: str
    payerPhone: str
    payerEmail: str
    accountId: str
    terminalId: str
    transactionTypeId: int
    fee: float | UnsetType = UNSET
    senderCardMask: str | UnsetType = UNSET
    receiverCardMask: str | UnsetType = UNSET


class StatementResponse(Shape):
    """200 of a statement: `totalCount` counts every match before paging."""

    totalCount: int
    records: list[StatementRecord]


def _record(record: Record) -> StatementRecord:
    transfer = record if isinstance(record, Transfer) else None
    tx: Transaction = record.transaction if isinstance(record, Transfer) else record
    charged = tx.status.value == "CHARGE"
    kind = transfer.kind.value if transfer else "payment"
    extra: dict[str, typing.Any] = {}
    if transfer is not None:
        extra = {
            "fee": amount_json(transfer.fee),
            "senderCardMask": transfer.sender.mask if transfer.sender else "",
            "receiverCardMask": transfer.receiver.mask if transfer.receiver else "",
        }
    return StatementRecord(
        id=tx.id,
        invoiceId=tx.invoice_id,
        reference=tx.reference,
        amount=amount_json(tx.amount),
        orgAmount=amount_json(tx.org_amount),
        currency=tx.currency,
        createdDate=rfc3339(tx.created_at),
        payoutDate=rfc3339(tx.created_at) if charged else "",
        payoutAmount=amount_json(tx.amount if charged else 0),
        status=tx.status.value,
        cardMask=tx.card.mask if tx.card else "",
        cardType=tx.card.card_type if tx.card else "",
        issuer=tx.card.issuer if tx.card else "",
        approvalCode=tx.approval_code,
        payerName=tx.name,
        payerPhone=tx.phone,
        payerEmail=tx.email,
        accountId=tx.account_id,
        terminalId=tx.terminal_id,
        transactionTypeId=TRANSACTION_TYPES[kind],
        **extra,
    )


def statement_body(page: StatementPage) -> StatementResponse:
    return StatementResponse(totalCount=page.total, records=[_record(r) for r in page.records])
