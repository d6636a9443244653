"""Transfers, end to end: P2P (card to card), AFT (debit a card) and OCT (pay out to a card or phone).

The handler hands over a validated `TransferRequest`; `run_transfer` checks the token's
`transfer` scope and binding, resolves the card parts (a card number, a saved card, or a
phone and IIN), asks the scenario engine (source `p2p`, `aft` or `oct`; the bank's test cards
decide when no rule does, and a locked receiver card declines a P2P too), records the transfer
through the store (one success per order) and queues its callback through the dispatcher.
Transfers have no 3-D Secure step (the SDK has none): a 3-D Secure outcome approves.
"""

from __future__ import annotations

import asyncio

import msgspec

from mock_epay.gateway import lifecycle, sandbox_cards
from mock_epay.gateway.errors import bad_request
from mock_epay.gateway.models import Card, Outcome, OutcomeKind, PaymentAttempt, Status, Token, evolve
from mock_epay.gateway.outcomes import entry_for
from mock_epay.gateway.payments import ClientGone, hold_until_gone
from mock_epay.gateway.service import Gateway
from mock_epay.gateway.tokens import may_read_invoice, require_scope, token_mismatches
from mock_epay.gateway.transfer_records import Transfer, TransferKind, TransferParty, TransferType
from mock_epay.store.base import duplicate_error

TRANSFER_SCOPE = "transfer"


class PartyRequest(msgspec.Struct, frozen=True):
    """A validated `card.sender` / `card.receiver` (the handler checked shapes, Luhn and lengths)."""

    transfer_type: TransferType
    card_cred: str = ""  # the card number (TYPEPAN) or saved card id (TYPECARDID)
    expiry: str = ""  # MM/YY, sender TYPEPAN only
    cvc: str = ""
    name: str = ""
    save: bool = False
    phone: str = ""  # TYPEPHONE only
    iin: str = ""


class TransferOrder(msgspec.Struct, frozen=True):
    """A validated `order` object."""

    order_id: str
    amount: float
    currency: str
    description: str
    terminal_id: str
    sender_email: str = ""
    post_link: str | None = None
    failure_post_link: str | None = None


class TransferRequest(msgspec.Struct, frozen=True):
    kind: TransferKind
    order: TransferOrder
    sender: PartyRequest | None
    receiver: PartyRequest | None


class TransferResult(msgspec.Struct, frozen=True):
    outcome: Outcome
    transfer: Transfer | None


def transfer_fee(gateway: Gateway, amount: float) -> float:
    """The fee shown to the buyer: `transfer_fee_percent` of the amount, in tenge and tiyn."""
    return round(amount * gateway.settings.transfer_fee_percent / 100, 2)


def check_token(token: Token, request: TransferRequest) -> None:
    """The token needs the `transfer` scope; a token bound to an order must match this one."""
    require_scope(token, TRANSFER_SCOPE)
    if token.invoice_id is None:
        return
    order = request.order
    mismatches = token_mismatches(
        token,
        invoice_id=order.order_id,
        amount=order.amount,
        currency=order.currency,
        terminal_id=order.terminal_id,
    )
    if mismatches:
        first = mismatches[0]
        names = {"invoiceId": "order.id", "terminalId": "order.terminalId"}
        raise bad_request(
            f"field '{names.get(first.field, 'order.' + first.field)}' ({first.given}) "
            f"does not match the token's {first.token_name} ({first.bound})"
        )


def _party(gateway: Gateway, client_id: str, part: PartyRequest | None, role: str) -> TransferParty | None:
    """The card part as recorded: a card made from its number, or the merchant's saved card."""
    if part is None:
        return None
    if part.transfer_type is TransferType.PHONE:
        return TransferParty(part.transfer_type, phone=part.phone, iin=part.iin, name=part.name)
    if part.transfer_type is TransferType.CARD_ID:
        saved = gateway.store.card(client_id, part.card_cred)
        if saved is None or not saved.active:
            raise bad_request(f"field 'card.{role}.cardCred': saved card {part.card_cred[:64]!r} not found")
        return TransferParty(
            part.transfer_type, saved.card, card_id=saved.id, name=part.name or saved.card.payer_name
        )
    card = lifecycle.make_card(part.card_cred, part.name, part.expiry)
    return TransferParty(part.transfer_type, card, name=part.name)


def _attempt(
    request: TransferRequest, token: Token, charged: TransferParty | None, scenario: str | None, ip: str
) -> PaymentAttempt:
    """The attempt the scenario engine sees: the card the money moves on (the receiver's for OCT)."""
    order = request.order
    typed = request.sender if request.kind.needs_sender else None
    return PaymentAttempt(
        client_id=token.client_id,
        invoice_id=order.order_id,
        amount=order.amount,
        currency=order.currency,
        terminal_id=order.terminal_id,
        description=order.description,
        email=order.sender_email,
        name=charged.name if charged else "",
        card_pan=charged.card.pan if charged and charged.card else None,
        card_id=charged.card_id or None if charged else None,
        card_expiry=typed.expiry if typed else "",
        card_cvc=typed.cvc if typed else "",
        scenario=scenario,
        source=request.kind.value,
        post_link=order.post_link or token.post_link,
        failure_post_link=order.failure_post_link or token.failure_post_link,
        secret_hash=token.secret_hash,
        ip=ip,
    )


def _decide(
    gateway: Gateway, attempt: PaymentAttempt, receiver: TransferParty | None, kind: TransferKind
) -> Outcome:
    outcome = gateway.engine.decide(attempt)
    if outcome.kind is OutcomeKind.SECURE3D:
        return Outcome(rule=outcome.rule, callback=outcome.callback, delay_ms=outcome.delay_ms)
    if (
        kind is TransferKind.P2P
        and outcome.kind is OutcomeKind.APPROVE
        and not outcome.rule
        and receiver is not None
        and receiver.card is not None
    ):
        to_receiver = evolve(attempt, card_pan=receiver.card.pan, card_expiry="", card_cvc="")
        declined = sandbox_cards.decide(to_receiver)
        if declined is not None and declined.kind is OutcomeKind.DECLINE:
            return evolve(declined, rule=declined.rule + " (receiver)")
    return outcome


async def run_transfer(
    gateway: Gateway,
    request: TransferRequest,
    token: Token,
    *,
    scenario: str | None = None,
    ip: str = "",
    client_gone: ClientGone | None = None,
) -> TransferResult:
    """Decide and record one transfer; raises the bank's 400/401 for a request it refuses outright."""
    check_token(token, request)
    store = gateway.store
    client_id, order = token.client_id, request.order
    terminal = store.terminal_of(client_id, order.terminal_id)
    if terminal is None:
        raise bad_request(f"field 'order.terminalId': unknown terminal {order.terminal_id[:64]!r}")
    sender = _party(gateway, client_id, request.sender, "sender")
    receiver = _party(gateway, client_id, request.receiver, "receiver")
    if store.transfer_succeeded(client_id, order.order_id):
        raise duplicate_error()
    charged = receiver if request.kind is TransferKind.OCT else sender
    attempt = _attempt(request, token, charged, scenario, ip)
    outcome = _decide(gateway, attempt, receiver, request.kind)
    if outcome.delay_ms:
        await asyncio.sleep(outcome.delay_ms / 1000)
    entry = entry_for(outcome.kind)
    if not entry.records:
        transfer = None
        if outcome.records_approval:
            approved = Outcome(rule=outcome.rule, callback=outcome.callback)
            transfer = _record(gateway, request, attempt, approved, sender, receiver, charged)
        if outcome.kind is OutcomeKind.HANG:
            await hold_until_gone(client_gone, gateway.settings.scenario_hang_seconds)
        return TransferResult(outcome, transfer)
    return TransferResult(outcome, _record(gateway, request, attempt, outcome, sender, receiver, charged))


def _record(
    gateway: Gateway,
    request: TransferRequest,
    attempt: PaymentAttempt,
    outcome: Outcome,
    sender: TransferParty | None,
    receiver: TransferParty | None,
    charged: TransferParty | None,
) -> Transfer:
    """Record the transfer (CHARGE when approved, whatever the terminal), save cards, queue the callback."""
    store = gateway.store
    terminal = store.terminal_of(attempt.client_id, attempt.terminal_id)
    card: Card | None = charged.card if charged else None
    tx = lifecycle.new_transaction(
        attempt, outcome, terminal, card, attempt.card_id, gateway.clock.now(), store.fake
    )
    if tx.status.is_success and tx.status is not Status.CHARGE:
        tx = evolve(tx, status=Status.CHARGE, charged_amount=tx.amount)
    if tx.status.is_success:
        sender = _saved(gateway, attempt.client_id, sender, request.sender)
        receiver = _saved(gateway, attempt.client_id, receiver, request.receiver)
    transfer = store.insert_transfer(
        Transfer(request.kind, tx, transfer_fee(gateway, attempt.amount), sender, receiver)
    )
    gateway.callbacks.payment_finished(tx, outcome.callback)
    return transfer


def _saved(
    gateway: Gateway, client_id: str, party: TransferParty | None, part: PartyRequest | None
) -> TransferParty | None:
    """The party after saving its typed card when it asked (`save: true`)."""
    if party is None or part is None or not part.save or party.card is None or party.card_id:
        return party
    saved = gateway.store.save_card(client_id, "", party.card)
    return evolve(party, card_id=saved.id)


def readable_transfer(gateway: Gateway, token: Token, order_id: str) -> Transfer | None:
    """The order's latest transfer, when `token` may read it (else None, as if unknown)."""
    if not may_read_invoice(token, order_id):
        return None
    return gateway.store.transfer_for_order(token.client_id, order_id)
