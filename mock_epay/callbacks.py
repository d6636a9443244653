"""The callback dispatcher: queues postLink / failurePostLink deliveries and sends them.

It is the only code that talks to merchants' servers. Handlers hand it a finished
transaction and the outcome's callback plan; the HTTP answer never waits for delivery.
"""

from __future__ import annotations

import asyncio
import logging

import aiohttp

from mock_epay.models import CallbackMode, CallbackPlan, Transaction
from mock_epay.serializers import callback_body
from mock_epay.settings import Settings
from mock_epay.store import Store

log = logging.getLogger("mock_epay.callbacks")


class CallbackDispatcher:
    """Delivers callbacks in the background."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self._store = store
        self._settings = settings
        self._queue: asyncio.Queue[tuple[str, dict, float]] = asyncio.Queue()
        self._session: aiohttp.ClientSession | None = None
        self._worker: asyncio.Task[None] | None = None

    async def start(self) -> None:
        timeout = aiohttp.ClientTimeout(total=self._settings.callback_timeout)
        self._session = aiohttp.ClientSession(timeout=timeout)
        self._worker = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._worker:
            self._worker.cancel()
        if self._session:
            await self._session.close()

    def payment_finished(self, tx: Transaction, plan: CallbackPlan) -> None:
        target = tx.post_link if tx.status.is_success else (tx.failure_post_link or tx.post_link)
        if not target or plan.mode is CallbackMode.SKIP:
            return
        merchant = self._store.merchant(tx.client_id)
        body = callback_body(tx, legacy=bool(merchant and merchant.callback_format == "legacy"))
        delay = plan.delay_ms / 1000 if plan.mode is CallbackMode.DELAY else 0.0
        copies = 2 if plan.mode is CallbackMode.TWICE else 1
        for _ in range(copies):
            self._queue.put_nowait((target, body, delay))

    def operation_finished(self, tx: Transaction, operation: str, amount: float) -> None:
        """After charge/cancel/refund: a callback only for merchants that opted in."""
        merchant = self._store.merchant(tx.client_id)
        if merchant is None or not merchant.callbacks_after_operations or not tx.post_link:
            return
        body = callback_body(tx, legacy=merchant.callback_format == "legacy")
        body["operation"] = operation
        self._queue.put_nowait((tx.post_link, body, 0.0))

    async def _run(self) -> None:
        assert self._session is not None
        while True:
            url, body, delay = await self._queue.get()
            if delay:
                await asyncio.sleep(delay)
            try:
                async with self._session.post(url, json=body) as response:
                    await response.read()
            except (TimeoutError, aiohttp.ClientError) as exc:
                log.warning("callback to %s failed: %s", url, exc)
