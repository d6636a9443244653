"""The JSON Schemas of every declared shape, as OpenAPI `components/schemas`, generated from the declarations.

Each object schema says `additionalProperties: false` (a `Shape` forbids unknown keys), so
a key the mock sends but no declaration names fails validation against the document.
"""

from __future__ import annotations

from typing import Any

import msgspec

from mock_epay.wire import (
    admin,
    admin_requests,
    bank_answers,
    bank_requests,
    callbacks,
    cryptopay,
    errors,
    invoice_links,
    payform,
    qr,
    statements,
    token_grants,
    transfers,
)

REF_TEMPLATE = "#/components/schemas/{name}"
DECLARATIONS: tuple[type, ...] = (
    errors.Error,
    bank_requests.TokenRequest,
    *token_grants.DECLARATIONS,
    bank_requests.CardPaymentRequest,
    bank_requests.OperationAmountRequest,
    bank_requests.ConfirmPaymentRequest,
    bank_requests.AcsRequest,
    bank_answers.TokenResponse,
    bank_answers.CardPaymentResponse,
    bank_answers.StatusResponse,
    bank_answers.LegacyOperation,
    bank_answers.SavedCard,
    bank_answers.CardDeactivated,
    callbacks.Callback,
    callbacks.LegacyCallbackApproved,
    callbacks.LegacyCallbackDeclined,
    admin.Health,
    admin.Journal,
    admin.Deliveries,
    admin.Transactions,
    admin.Merchants,
    admin.MerchantCreated,
    admin.Scenarios,
    admin.OverrideAdded,
    admin.OverridesCleared,
    admin.ScenariosReloaded,
    admin.ClockOffset,
    admin.ResetDone,
    *admin_requests.DECLARATIONS,
    *cryptopay.DECLARATIONS,
    payform.PaymentPageRequest,
    invoice_links.LinkRequest,
    invoice_links.LinkSearchRequest,
    qr.QrGenerateRequest,
    transfers.TransferRequest,
    transfers.TransferResponse,
    transfers.P2PStatusResponse,
    transfers.TransferListing,
    statements.StatementRequest,
    statements.StatementResponse,
)


def components() -> dict[str, Any]:
    """`components/schemas` for every declaration and every shape they contain."""
    _, schemas = msgspec.json.schema_components(DECLARATIONS, ref_template=REF_TEMPLATE)
    for schema in schemas.values():
        _describe_absent_fields(schema)
    return schemas


def ref(shape: type) -> dict[str, Any]:
    """`{"$ref": ...}` to a declared shape's schema."""
    return {"$ref": REF_TEMPLATE.format(name=shape.__name__)}


def _describe_absent_fields(schema: dict[str, Any]) -> None:
    """msgspec leaves out `required` when every field may be absent; say it outright (no field required)."""
    if schema.get("type") == "object" and "properties" in schema:
        schema.setdefault("required", [])
