"""QR-by-API shapes (spec §4): the generate answer and the SDK's status object."""

from __future__ import annotations

from mock_epay.wire.shape import Shape


class QrGenerated(Shape):
    """200 of `POST /payment/qr/generate`."""

    billNumber: str
    qrcode: str
    homebankLink: str
    onlinebankLink: str


class QrStatus(Shape):
    """200 of `GET /qr` (the SDK's `QRResponseBody`; `secure3D` is a boolean here)."""

    qrcode: str
    status: str
    trType: str
    secure3D: bool
    issuer: str
    issuerBankCountry: str
    fee: float
    amount: float
    currency: str
    paymentChannel: str
    errDescription: str
    retCode: str
