"""OAuth tokens: issuing them (payment or service), checking a request's bearer token, and the
one check that a payment matches the payment token it is made under (`token_mismatches`).

A payment token is bound to (merchant, terminal, invoiceID, amount, currency) and
remembers postLink, failurePostLink and secret_hash; a service token is bound to the
merchant only. Both expire on the mock's clock. `TokenService` is given what it uses: the
token store, the settings, the clock and the source of access-token values.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol

import msgspec

from mock_epay.gateway.codes import GENERIC
from mock_epay.gateway.errors import EpayError, unauthorized
from mock_epay.gateway.lifecycle import expires_at
from mock_epay.gateway.models import Merchant, Token, TokenKind

if TYPE_CHECKING:
    from mock_epay.core.clock import Clock
    from mock_epay.settings import Settings
    from mock_epay.store.base import MerchantStore, TokenStore

    class TokenAndMerchantStore(TokenStore, MerchantStore, Protocol):
        """What the token service reads: tokens, and merchants for the password grant."""


class AccessTokenSource(Protocol):
    """Where access-token values come from (`FakeData`: reproducible with a seed)."""

    def access_token(self) -> str: ...


class TokenRequest(msgspec.Struct, frozen=True):
    """A validated token request (see routes/oauth.py for parsing)."""

    client_id: str
    client_secret: str
    scope: str
    terminal_id: str | None = None
    invoice_id: str | None = None
    amount: float | None = None
    currency: str | None = None
    post_link: str | None = None
    failure_post_link: str | None = None
    secret_hash: str | None = None

    @property
    def is_payment(self) -> bool:
        return self.invoice_id is not None


class Mismatch(msgspec.Struct, frozen=True):
    """One way a payment differs from its payment token."""

    name: str  # as the payment page names it: invoiceId, amount, currency, terminal
    field: str  # the cards/auth body field: invoiceId, amount, currency, terminalId
    token_name: str  # as the token request names it: invoiceID, amount, currency, terminal
    given: str  # the payment's value, as text
    bound: str  # the token's value, as text


def _amount_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(round(value, 2))


def token_mismatches(
    token: Token, *, invoice_id: str, amount: float, currency: str, terminal_id: str
) -> list[Mismatch]:
    """Every way this payment differs from what its payment token is bound to (empty: it matches)."""
    found = []
    if invoice_id != token.invoice_id:
        found.append(Mismatch("invoiceId", "invoiceId", "invoiceID", invoice_id, str(token.invoice_id)))
    if token.amount is not None and amount != token.amount:
        found.append(Mismatch("amount", "amount", "amount", _amount_text(amount), _amount_text(token.amount)))
    if token.currency and currency != token.currency:
        found.append(Mismatch("currency", "currency", "currency", currency, token.currency))
    if token.terminal_id and terminal_id != token.terminal_id:
        found.append(Mismatch("terminal", "terminalId", "terminal", terminal_id[:64], token.terminal_id))
    return found


PASSWORD_SCOPE = "webapi usermanagement email_send verification statement statistics payment"
REFRESH_TOKEN_TTL = 7 * 24 * 3600  # seconds a password grant's refresh token can be used


class TokenService:
    """Issues tokens into the store and resolves `Authorization` headers back to tokens."""

    def __init__(self, store: TokenAndMerchantStore, settings: Settings, clock: Clock,
                 ids: AccessTokenSource) -> None:
        self._store = store
        self._settings = settings
        self._clock = clock
        self._ids = ids

    def issue(self, merchant: Merchant, request: TokenRequest) -> Token:
        kind = TokenKind.PAYMENT if request.is_payment else TokenKind.SERVICE
        ttl = (
            self._settings.payment_token_ttl
            if kind is TokenKind.PAYMENT
            else self._settings.service_token_ttl
        )
        token = Token(
            access_token=self._ids.access_token(),
            client_id=merchant.client_id,
            kind=kind,
            scope=request.scope,
            expires_at=expires_at(self._clock.now(), ttl),
            expires_in=ttl,
            invoice_id=request.invoice_id,
            amount=request.amount,
            currency=request.currency,
            terminal_id=request.terminal_id,
            post_link=request.post_link,
            failure_post_link=request.failure_post_link,
            secret_hash=request.secret_hash,
        )
        self._store.add_token(token)
        return token

    # -- the password grant and its refresh tokens (invoice links, statements) ----------

    def merchant_by_login(self, username: str, password: str) -> Merchant | None:
        """The merchant whose cabinet login this is (constant-time password check)."""
        for merchant in self._store.merchants():
            same_login = merchant.cabinet_login.lower() == username.strip().lower()
            if merchant.cabinet_login and same_login and hmac.compare_digest(
                    merchant.cabinet_password.encode(), password.encode()):
                return merchant
        return None

    def issue_password(self, merchant: Merchant, scope: str, secret_hash: str | None = None) -> Token:
        """A service token for the cabinet user, `expires_in` "900", with a refresh token."""
        now = self._clock.now()
        ttl = self._settings.password_token_ttl
        refresh = Token(access_token=self._ids.access_token(), client_id=merchant.client_id,
                        kind=TokenKind.SERVICE, scope=scope or PASSWORD_SCOPE,
                        expires_at=expires_at(now, REFRESH_TOKEN_TTL), expires_in=REFRESH_TOKEN_TTL,
                        secret_hash=secret_hash, refresh=True)
        token = Token(access_token=self._ids.access_token(), client_id=merchant.client_id,
                      kind=TokenKind.SERVICE, scope=scope or PASSWORD_SCOPE,
                      expires_at=expires_at(now, ttl), expires_in=ttl, secret_hash=secret_hash,
                      refresh_token=refresh.access_token)
        self._store.add_token(refresh)
        self._store.add_token(token)
        return token

    def refresh(self, refresh_token: str) -> Token:
        """A new password-grant token for a refresh token (401 when unknown or expired)."""
        record = self._store.token(refresh_token.strip())
        if record is None or not record.refresh or record.expires_at <= self._clock.now():
            raise unauthorized("invalid refresh_token")
        merchant = self._store.merchant(record.client_id)
        if merchant is None:
            raise unauthorized("invalid refresh_token")
        return self.issue_password(merchant, record.scope, record.secret_hash)

    def response_body(self, token: Token) -> dict[str, object]:
        """The token endpoint's JSON answer (`expires_in` typed as configured)."""
        if token.refresh_token:  # the password grant answers as its doc page shows
            return {"access_token": token.access_token, "expires_in": str(token.expires_in),
                    "refresh_token": token.refresh_token, "scope": token.scope, "token_type": "Bearer"}
        as_string = (
            self._settings.payment_expires_in_as_string
            if token.kind is TokenKind.PAYMENT
            else self._settings.service_expires_in_as_string
        )
        return {
            "access_token": token.access_token,
            "expires_in": str(token.expires_in) if as_string else token.expires_in,
            "refresh_token": "",
            "scope": token.scope,
            "token_type": "Bearer",
        }

    def resolve(self, access_token: str) -> Token:
        token = self._store.token(access_token)
        if token is None or token.refresh:
            raise unauthorized("invalid access token")
        if token.expires_at <= self._clock.now():
            raise unauthorized("access token expired")
        return token

    def authenticate(self, headers: Mapping[str, str], kind: TokenKind | None = None) -> Token:
        """Resolve the bearer token of a request; 401 when missing, unknown or expired.

        Accepts `Authorization` and the doc's typo `Authorize`, and any case of "Bearer".
        With `kind`, only a token of that kind is accepted.
        """
        header = headers.get("Authorization") or headers.get("Authorize")
        if not header:
            raise unauthorized("missing Authorization header (expected 'Bearer <access_token>')")
        scheme, _, value = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise unauthorized("Authorization header must be 'Bearer <access_token>'")
        token = self.resolve(value.strip())
        if kind is not None and token.kind is not kind:
            raise wrong_kind(kind)
        return token


def may_read_invoice(token: Token, invoice_id: str) -> bool:
    """A service token reads every invoice of its merchant; a payment token only its own."""
    return token.kind is TokenKind.SERVICE or token.invoice_id == invoice_id


def has_scope(token: Token, scope: str) -> bool:
    """Whether the token was requested with `scope` among its space-separated scopes."""
    return scope in token.scope.split()


def require_scope(token: Token, scope: str) -> None:
    """401 `insufficient scope` unless the token has `scope` (the transfer endpoints need `transfer`)."""
    if not has_scope(token, scope):
        raise EpayError(401, GENERIC, f"insufficient scope: this operation needs a token requested "
                                      f"with scope '{scope}'")


def wrong_kind(expected: TokenKind) -> EpayError:
    if expected is TokenKind.PAYMENT:
        return unauthorized(
            "this operation needs a payment token (requested with invoiceID, amount, currency "
            "and terminal)"
        )
    return unauthorized("this operation needs a service token (requested without invoiceID)")
