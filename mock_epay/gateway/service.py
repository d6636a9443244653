"""`Gateway`: the domain's parts in one object: settings, clock, store, tokens, engine, callback sink.

`create_app` builds one and puts it in the app under one key; the payment and operation
services take it instead of the web application. It also owns the one full reset.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from mock_epay.gateway.models import CallbackPlan, Transaction

if TYPE_CHECKING:
    from mock_epay.core.clock import Clock
    from mock_epay.gateway.tokens import TokenService
    from mock_epay.scenarios.engine import ScenarioEngine
    from mock_epay.settings import Settings
    from mock_epay.store.compose import ComposedCalls


class CallbackSink(Protocol):
    """Where finished payments and operations go to become callbacks (the dispatcher)."""

    def payment_finished(self, tx: Transaction, plan: CallbackPlan) -> None: ...

    def operation_finished(self, tx: Transaction, operation: str, amount: float) -> None: ...

    def reset(self, client_id: str | None = None) -> None: ...

    def forget_merchant(self, client_id: str) -> None: ...


@dataclass(eq=False)
class Gateway:
    """Everything a gateway service needs, and nothing from the web layer."""

    settings: Settings
    clock: Clock
    store: ComposedCalls  # the `Store` contract (store/base.py) plus its composed calls, any backend
    tokens: TokenService
    engine: ScenarioEngine
    callbacks: CallbackSink

    def reset(self, client_id: str | None = None) -> None:
        """Forget state: one merchant's (tokens, transactions, cards, sequence positions, deliveries),
        or everything, which also drops scenario overrides and puts the clock back."""
        self.store.reset(client_id)
        self.engine.reset(client_id)
        self.callbacks.reset(client_id)
        if client_id is None:
            self.clock.reset()
