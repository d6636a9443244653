"""The token endpoint's three grants declared: client_credentials, password and refresh_token.

`POST /oauth2/token` takes `grant_type=client_credentials` (`bank_requests.TokenRequest`, the hot
path, decoded by `web/bank/oauth.py parse_token_request`), `grant_type=password` (the merchant's
cabinet login, spec products §3.1) and `grant_type=refresh_token` (a password-grant token's refresh
token). `GRANTS` names the shape of each grant; the OpenAPI request body (`token_request_schema`)
is a `oneOf` of the three, discriminated by `grant_type`. `normalise_grant` is the one
normalisation step of the password and refresh grants.
"""

from __future__ import annotations

from typing import Any, Literal

from mock_epay.wire.bank_requests import Request, Text, TokenRequest
from mock_epay.wire.decode import absent_nulls
from mock_epay.wire.shape import UNSET, UnsetType


class PasswordTokenRequest(Request):
    """`grant_type=password`: the merchant-cabinet login and password (spec products §3.1); the token is
    a service token that expires in 900 s and comes with a refresh token. `scope` empty or absent means
    the cabinet's default scope; `client_id` / `client_secret` are read by no one, as the page's clients
    send the cabinet web client's own."""

    grant_type: Literal["password"]
    username: Text
    password: Text
    scope: Text = ""
    secret_hash: Text | UnsetType = UNSET
    client_id: Text | UnsetType = UNSET
    client_secret: Text | UnsetType = UNSET


class RefreshTokenRequest(Request):
    """`grant_type=refresh_token`: a new password-grant token for the `refresh_token` of an earlier one."""

    grant_type: Literal["refresh_token"]
    refresh_token: Text


GRANTS: dict[str, type[Request]] = {
    "client_credentials": TokenRequest,
    "password": PasswordTokenRequest,
    "refresh_token": RefreshTokenRequest,
}
DECLARATIONS: tuple[type, ...] = (PasswordTokenRequest, RefreshTokenRequest)


def normalise_grant(form: dict[str, Any]) -> dict[str, Any]:
    """The password or refresh form as its declaration reads it: a JSON `null` is an absent field, and so
    is an empty (falsy) `scope` (the cabinet's default applies). One spelling per field: nothing is folded."""
    return absent_nulls(form, ("scope",))


def token_request_schema() -> dict[str, Any]:
    """The token request body of the OpenAPI document: one of the three grants, by `grant_type`."""
    refs = {grant: f"#/components/schemas/{shape.__name__}" for grant, shape in GRANTS.items()}
    return {"oneOf": [{"$ref": target} for target in refs.values()],
            "discriminator": {"propertyName": "grant_type", "mapping": refs}}
