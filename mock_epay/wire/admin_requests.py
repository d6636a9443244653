"""The request bodies of the mock's own `/_mock/` API: scenario overrides, forged callbacks, the clock,
reset and new merchants, each with its normalisation step.

The admin handlers decode these (wire/decode.py `decode_explained`) and word a failing field as
that field's own check does; the OpenAPI document's request bodies are built from the same classes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

import msgspec

from mock_epay.wire.shape import UNSET, UnsetType

Number = int | float  # kept as given: a whole number stays an integer in the JSON
MAX_OVERRIDE_TIMES = 1_000_000


class ScenarioOverrideRequest(msgspec.Struct):
    """`POST /_mock/scenarios`: a rule as in a YAML file (docs/scenarios.md) plus `times` (default 1):
    it decides the next `times` matching requests, ahead of every file."""

    match: dict[str, Any] | UnsetType = UNSET
    outcome: dict[str, Any] | UnsetType = UNSET
    outcomes: list[dict[str, Any]] | UnsetType = UNSET
    name: str | UnsetType = UNSET
    description: str | UnsetType = UNSET
    header_only: bool | UnsetType = UNSET
    sequence_by: Literal["invoice", "card", "transaction"] | UnsetType = UNSET
    times: Annotated[int, msgspec.Meta(ge=1, le=MAX_OVERRIDE_TIMES)] | UnsetType = UNSET


class ForgeRequest(msgspec.Struct):
    """`POST /_mock/callbacks/forge`: `{"url", "body"}` sends `body` verbatim; or name a transaction
    (`invoiceId` / `transactionId`, `clientId`) and change its real callback body (`overrides`, `omit`);
    `url` defaults to the transaction's postLink / failurePostLink."""

    url: str | None | UnsetType = UNSET
    body: dict[str, Any] | list[Any] | str | UnsetType = UNSET
    invoiceId: str | int | None | UnsetType = UNSET
    transactionId: str | None | UnsetType = UNSET
    clientId: str | int | None | UnsetType = UNSET
    overrides: dict[str, Any] | UnsetType = UNSET
    omit: list[str] | UnsetType = UNSET


class ClockAdvanceRequest(msgspec.Struct):
    """`POST /_mock/clock/advance` body (or `?seconds=`): seconds to move forward, 0 to ten years."""

    seconds: Number | str | UnsetType = UNSET


class ResetRequest(msgspec.Struct):
    """`POST /_mock/reset` body (or `?client_id=`): only this merchant's state; absent means everything."""

    client_id: str | None | UnsetType = UNSET


class NewSavedCard(msgspec.Struct, forbid_unknown_fields=True):
    """A saved card for `POST /_mock/merchants`: its account and full number (Luhn-checked, answered
    masked); `id` defaults to a fresh UUID, `expiry` (MM/YY) to 01/27, `payerName` to a generated name."""

    accountId: str
    cardNumber: str | int
    id: str | UnsetType = UNSET
    payerName: str | UnsetType = UNSET
    expiry: str | UnsetType = UNSET


class NewMerchantRequest(msgspec.Struct, forbid_unknown_fields=True):
    """`POST /_mock/merchants`: every field may be left out. `clientId` and `clientSecret` are generated
    unless given (a taken `clientId` is refused with 409); one terminal is made, one-stage unless
    `twoStage`; `autoCancelSeconds` turns an AUTH older than that into CANCEL_OLD."""

    clientId: str | UnsetType = UNSET
    clientSecret: str | UnsetType = UNSET
    name: str | UnsetType = UNSET
    twoStage: bool | UnsetType = UNSET
    autoCancelSeconds: Number | None | UnsetType = UNSET
    callbackFormat: Literal["current", "legacy"] | UnsetType = UNSET
    callbacksAfterOperations: bool | UnsetType = UNSET
    savedCards: list[NewSavedCard] | UnsetType = UNSET


def normalise_clock_advance(body: Mapping[str, Any]) -> dict[str, Any]:
    """The clock's body: `seconds` only, a JSON null read as absent."""
    seconds = body.get("seconds")
    return {} if seconds is None else {"seconds": seconds}


def normalise_reset(body: Mapping[str, Any]) -> dict[str, Any]:
    """The reset body: `client_id` only; an empty value (null, "", 0, false, [], {}) means every merchant."""
    client_id = body.get("client_id")
    return {"client_id": client_id} if client_id else {}


def override_rule(body: Mapping[str, Any]) -> dict[str, Any]:
    """A scenario override's rule: the body without `times` (the scenario schema checks the rule)."""
    return {key: value for key, value in body.items() if key != "times"}


DECLARATIONS: tuple[type, ...] = (
    NewMerchantRequest, ScenarioOverrideRequest, ForgeRequest, ClockAdvanceRequest, ResetRequest,
)
