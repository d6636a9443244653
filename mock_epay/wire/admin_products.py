"""The admin answers about invoice links and QR bills: `GET /_mock/invoice-links`, `GET /_mock/qr` and
`POST /_mock/qr/{billNumber}/{action}`.

An admin link is the bank's §3.3 link object plus the merchant it belongs to (`client_id`,
snake_case like the link); an admin bill is the SDK's QR status object (`GET /qr`) plus the
bill's number, merchant, invoice, transaction and creation time (camelCase like the status).
"""

from __future__ import annotations

from mock_epay.wire.invoice_links import InvoiceLink
from mock_epay.wire.qr import QrStatus
from mock_epay.wire.shape import Shape


class AdminInvoiceLink(InvoiceLink):
    """One link of `GET /_mock/invoice-links`: the §3.3 object and its merchant's `client_id`."""

    client_id: str


class AdminInvoiceLinks(Shape):
    """`GET /_mock/invoice-links`: every link (current status), newest first."""

    links: list[AdminInvoiceLink]


class AdminQrBill(QrStatus):
    """One QR bill as the admin API shows it: the status object and where the bill belongs.
    `transactionId` is empty until the bill is paid."""

    billNumber: str
    clientId: str
    invoiceId: str
    transactionId: str
    createdDate: str


class AdminQrBills(Shape):
    """`GET /_mock/qr`: every QR bill, newest first."""

    bills: list[AdminQrBill]
