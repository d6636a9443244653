"""QR-by-API shapes (spec §4): the generate request and answer, and the SDK's status object.

`normalise_qr_request` is the generate body's one normalisation step.
"""

from __future__ import annotations

from typing import Any

from mock_epay.wire.bank_requests import Request, Text
from mock_epay.wire.decode import absent_nulls
from mock_epay.wire.shape import Shape

QR_URL_FIELDS = ("postLink", "failurePostLink")


class QrGenerateRequest(Request):
    """`POST /payment/qr/generate` (spec 4.2), every field optional (the body too): the amount and the
    invoice come from the payment token. postLink / failurePostLink are http(s) URLs (anything else
    answers `{"code": 100, "message": "postLink is not a valid URL"}`); language defaults to RU."""

    postLink: Text = ""
    failurePostLink: Text = ""
    description: Text = ""
    language: Text = "RU"
    accountId: Text = ""
    payerEmail: Text = ""
    payerPhone: Text = ""


def normalise_qr_request(body: dict[str, Any]) -> dict[str, Any]:
    """The generate body as its declaration reads it: a `null` field is an absent one."""
    return absent_nulls(body)


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
