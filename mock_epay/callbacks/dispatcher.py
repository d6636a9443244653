"""The callback dispatcher: the delivery queue, retry policy and delivery log.

With its sender (`mock_epay.callbacks.sender`, one attempt on the wire) it is the only code
that talks to merchants' servers. Handlers hand it a finished
transaction and the outcome's callback plan (`payment_finished` is synchronous and
O(1)); the HTTP answer never waits for delivery.

* One chain per (merchant, invoice): callbacks of one invoice go out in order, each
  waiting for the previous one to be delivered or to fail. Different invoices are
  delivered concurrently, at most `callback_concurrency` requests in flight, and at
  most `callback_per_host_concurrency` of them to one host:port (a hung merchant
  cannot starve the others).
* A callback is delivered on any 2xx. Anything else (another status, connection error,
  timeout after `callback_timeout`, any exception at all) is a failed attempt, logged at
  once and retried with exponential backoff and jitter, up to `callback_max_attempts`
  attempts within `callback_window` seconds. A chain never wedges on one delivery.
* URLs are sent IRI-encoded (`iri_to_uri`). A URL into the mock's own `/_mock/` API is
  refused before sending, and every callback carries `X-Mock-Epay-Callback: 1`, which the
  forge / replay endpoints refuse: a callback can never make the mock send more callbacks.
* Delays and retries are timed on the mock `Clock`, so `clock.advance()` makes them
  due at once; real waiting uses asyncio timers that also wake on a clock jump. A chain
  whose next attempt is more than a second away has no task meanwhile: it is parked
  (`mock_epay.callbacks.parking`) and restarted when due, so a merchant that is down
  under load costs memory for its callbacks' records only.
* Every attempt is recorded in the `DeliveryLog`; on shutdown, whatever is still
  pending is marked failed, never silently dropped. With a durable store the log is
  written through to its outbox (`mock_epay.callbacks.outbox`): pending deliveries stay
  pending at shutdown, resume on the next start, and each attempt is claimed first.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import deque
from collections.abc import Hashable
from datetime import datetime, timedelta
from typing import Any

from mock_epay.callbacks.delivery_log import (
    Delivery,
    DeliveryAttempt,
    DeliveryKind,
    DeliveryLog,
    DeliveryStatus,
    select_deliveries,
    wait_until_final,
)
from mock_epay.callbacks.hints import loggable
from mock_epay.callbacks.http_client import PlainHttpClient, iri_to_uri
from mock_epay.callbacks.outbox import Outbox
from mock_epay.callbacks.parking import PARK_AFTER_SECONDS, ParkedChains
from mock_epay.callbacks.sender import AttemptSender, CallbackSender, record_attempt
from mock_epay.callbacks.sending import backoff_delay, describe_error
from mock_epay.callbacks.targets import (
    SelfAddresses,
    TargetPolicy,
)
from mock_epay.core.clock import Clock
from mock_epay.gateway.models import CallbackMode, CallbackPlan, Transaction
from mock_epay.settings import Settings
from mock_epay.store.memory import Store
from mock_epay.wire.render import amount_json, callback_body

log = logging.getLogger("mock_epay.callbacks")

SHUTDOWN_ERROR = "mock-epay shut down before delivery"
MERCHANT_REMOVED = "its merchant was removed (DELETE /_mock/merchants/...) before delivery"


class CallbackDispatcher:
    """Delivers callbacks in the background and keeps the delivery log."""

    def __init__(self, store: Store, settings: Settings, clock: Clock | None = None,
                 http: PlainHttpClient | None = None) -> None:
        self._store = store
        self._settings = settings
        self._clock = clock or store.clock
        self.log = DeliveryLog(settings.callback_log_size)
        self.policy = TargetPolicy(settings.callback_allowed_hosts)
        self.own = SelfAddresses()  # where the mock itself listens (see set_listen_addresses)
        self.own.add(settings.host, settings.port)
        self._random = random.Random(settings.seed)
        self._chains: dict[Hashable, deque[Delivery]] = {}
        self._workers: dict[Hashable, asyncio.Task[None]] = {}
        self._parked = ParkedChains(self._clock)
        self._unparker: asyncio.Task[None] | None = None
        self._pending: dict[str, Delivery] = {}
        self._wake = asyncio.Event()
        self._sender = _sender_for(settings, self.policy, http)
        self._running = False
        self._closing = False
        self._dropped_at_shutdown = 0
        self.outbox = Outbox.of(store, self._clock, settings.callback_timeout)
        self._poller: asyncio.Task[None] | None = None

    # -- lifecycle ---------------------------------------------------------------

    @property
    def in_container(self) -> bool | None:
        """Whether the mock runs in a container (a refused loopback callback then logs a hint)."""
        return self._sender.in_container

    @in_container.setter
    def in_container(self, value: bool | None) -> None:
        self._sender.in_container = value

    @property
    def sender_pid(self) -> int | None:
        """The pid of the helper process callbacks are sent from, while one runs (`callback_sender`)."""
        pid: int | None = getattr(self._sender, "worker_pid", None)
        return pid

    async def start(self) -> None:
        await self._sender.start()
        self._clock.add_listener(self._on_clock_jump)
        self._running = True
        self._unparker = asyncio.get_running_loop().create_task(self._parked.run(self._unpark))
        if self.outbox is not None:
            self._resume(self.outbox.load())
            self._poller = asyncio.get_running_loop().create_task(
                self.outbox.adopt_orphans(self._resume, lambda: self._pending))
        for key in list(self._chains):
            if key not in self._workers:  # resumed chains have theirs already
                self._spawn(key)

    def _resume(self, deliveries: list[Delivery]) -> None:
        """Put stored deliveries back in the log, and pending ones back on their chains."""
        for delivery in deliveries:
            known = self.log.get(delivery.id)
            if known is None:
                self.log.add(delivery)
            elif known is not delivery and delivery.status is DeliveryStatus.PENDING:
                # an orphan adopted later: keep the one object the log shows, with the stored attempts
                known.attempts, known.due_at = delivery.attempts, delivery.due_at
                known.waiting = delivery.waiting
                delivery = known
            if delivery.status is DeliveryStatus.PENDING and delivery.id not in self._pending:
                self._pending[delivery.id] = delivery
                own_chain = delivery.kind in (DeliveryKind.FORGED, DeliveryKind.REPLAY)
                key = ("delivery", delivery.id) if own_chain else (delivery.client_id, delivery.invoice_id)
                self._chains.setdefault(key, deque()).append(delivery)
                self._start_chain(key)

    async def stop(self) -> None:
        """Finish what is due within `callback_shutdown_grace`; mark the rest failed."""
        if self._closing:
            return
        self._closing = True
        self._on_clock_jump()  # wake waiting chains so they give up at once
        if self._poller is not None:
            self._poller.cancel()
        if self._unparker is not None:
            self._unparker.cancel()  # parked chains wait longer than any grace: they give up below
            await asyncio.gather(self._unparker, return_exceptions=True)
            self._unparker = None
        workers = list(self._workers.values())
        if workers:
            _, unfinished = await asyncio.wait(workers, timeout=self._settings.callback_shutdown_grace)
            for task in unfinished:
                task.cancel()
            await asyncio.gather(*unfinished, return_exceptions=True)
        if self.outbox is not None:
            self.outbox.flush()  # the final saves of this last loop turn
        if self.outbox is not None and self._pending:
            log.info("shutdown: %d callback(s) stay pending in the store and resume on the next start",
                     len(self._pending))
            self._pending.clear()
        for delivery in list(self._pending.values()):
            self._finish(delivery, DeliveryStatus.FAILED, SHUTDOWN_ERROR)
        if self._dropped_at_shutdown:
            log.warning("shutdown: %d callback(s) were not delivered and are marked failed in the log",
                        self._dropped_at_shutdown)
        self._clock.remove_listener(self._on_clock_jump)
        self._running = False
        await self._sender.close()

    def set_listen_addresses(self, addresses: list[tuple[str, int]]) -> None:
        """Tell the dispatcher where the mock listens (e.g. the runner's bound sockets), so
        callbacks into its own admin API are refused before they are sent."""
        for host, port in addresses:
            self.own.add(host, port)

    def note_local_socket(self, sockname: Any) -> None:
        """The local address a request to the mock arrived on (`transport.get_extra_info`)."""
        if isinstance(sockname, tuple) and len(sockname) >= 2:
            self.own.add(str(sockname[0]), int(sockname[1]))

    # -- what handlers call (synchronous, O(1)) ------------------------------------

    def payment_finished(self, tx: Transaction, plan: CallbackPlan) -> None:
        """Queue the callback(s) of a finished payment according to the outcome's plan."""
        body = self.callback_body_for(tx)
        target = self.target_for(tx)
        key = (tx.client_id, tx.invoice_id)
        if plan.mode is CallbackMode.SKIP:
            self._skip(DeliveryKind.PAYMENT, tx, target, body, "the outcome's callback plan is 'skip'")
            return
        if not target:
            self._skip(DeliveryKind.PAYMENT, tx, None, body, "no postLink / failurePostLink was given")
            return
        delay = plan.delay_ms / 1000 if plan.mode is CallbackMode.DELAY else 0.0
        copies = 2 if plan.mode is CallbackMode.TWICE else 1
        for copy in range(1, copies + 1):
            note = {CallbackMode.DELAY: f"delayed {plan.delay_ms} ms",
                    CallbackMode.TWICE: f"sent twice ({copy}/2)"}.get(plan.mode, "")
            self._enqueue(self._new(DeliveryKind.PAYMENT, tx, target, body, note), key, delay)

    def operation_finished(self, tx: Transaction, operation: str, amount: float) -> None:
        """After charge/cancel/refund: a callback only for merchants that opted in."""
        merchant = self._store.merchant(tx.client_id)
        if merchant is None or not merchant.callbacks_after_operations:
            return
        body = self.callback_body_for(tx)
        if isinstance(body, dict):
            body["operation"] = operation
            body["operationAmount"] = amount_json(amount)
        if not tx.post_link:
            self._skip(DeliveryKind.OPERATION, tx, None, body, "no postLink was given")
            return
        delivery = self._new(DeliveryKind.OPERATION, tx, tx.post_link, body, operation)
        self._enqueue(delivery, (tx.client_id, tx.invoice_id), 0.0)

    # -- what the admin API calls --------------------------------------------------

    def callback_body_for(self, tx: Transaction) -> dict[str, Any]:
        merchant = self._store.merchant(tx.client_id)
        return callback_body(tx, legacy=bool(merchant and merchant.callback_format == "legacy"))

    @staticmethod
    def target_for(tx: Transaction) -> str | None:
        """postLink for a success; failurePostLink (or postLink when none was given) for a failure."""
        if tx.status.is_success:
            return tx.post_link
        return tx.failure_post_link or tx.post_link

    def forge(self, url: str, body: Any, *, client_id: str = "", invoice_id: str = "",
              transaction_id: str = "") -> Delivery:
        """Queue a callback with any body to any (allowed) URL, sent at once."""
        delivery = Delivery(DeliveryKind.FORGED, client_id, invoice_id, transaction_id, url, body,
                            created_at=self._clock.now(), note="forged")
        self._enqueue(delivery, ("delivery", delivery.id), 0.0)
        return delivery

    def replay(self, original: Delivery) -> Delivery:
        """Send an earlier delivery's body to its URL again, as a new delivery."""
        delivery = Delivery(DeliveryKind.REPLAY, original.client_id, original.invoice_id,
                            original.transaction_id, original.url, original.body,
                            created_at=self._clock.now(), replay_of=original.id,
                            note=f"replay of {original.id}")
        self._enqueue(delivery, ("delivery", delivery.id), 0.0)
        return delivery

    def get(self, delivery_id: str) -> Delivery | None:
        return self.log.get(delivery_id) or self._pending.get(delivery_id)

    def select(self, *, invoice_id: str | None = None, transaction_id: str | None = None,
               delivery_id: str | None = None, client_id: str | None = None) -> list[Delivery]:
        """Deliveries matching one selector, oldest first."""
        return select_deliveries(self.log, self.get, invoice_id=invoice_id, transaction_id=transaction_id,
                                 delivery_id=delivery_id, client_id=client_id)

    async def wait_finished(self, timeout: float, **selector: str | None) -> Delivery | None:
        """The latest matching delivery once every matching one is final; None on timeout."""
        return await wait_until_final(self.log, lambda: self.select(**selector), timeout)

    def next_retry_at(self, delivery: Delivery) -> datetime | None:
        if delivery.status is not DeliveryStatus.PENDING or not delivery.waiting:
            return None
        return self._clock.now() + timedelta(seconds=delivery.due_at - self._clock.monotonic())

    def to_json(self, delivery: Delivery) -> dict[str, Any]:
        return delivery.to_json(self.next_retry_at(delivery))

    def reset(self, client_id: str | None = None) -> None:
        """`POST /_mock/reset`: forget finished deliveries; pending ones are still delivered."""
        self.log.forget(client_id)
        if self.outbox is not None:
            self.outbox.forget(client_id)

    def forget_merchant(self, client_id: str) -> None:
        """A removed merchant: its pending callbacks are never sent, and its deliveries leave the log."""
        for delivery in [d for d in self._pending.values() if d.client_id == client_id]:
            self._finish(delivery, DeliveryStatus.SKIPPED, MERCHANT_REMOVED)
        self._on_clock_jump()  # waiting chains wake, see their delivery finished and move on
        for key in self._parked.release([k for k in self._parked.parked_keys() if self._head_is_final(k)]):
            self._spawn(key)  # a parked chain of the merchant moves on too
        self.log.forget(client_id)

    # -- queueing -------------------------------------------------------------------

    def _new(self, kind: DeliveryKind, tx: Transaction, url: str | None, body: Any, note: str) -> Delivery:
        return Delivery(kind, tx.client_id, tx.invoice_id, tx.id, url, body,
                        created_at=self._clock.now(), note=note)

    def _skip(self, kind: DeliveryKind, tx: Transaction, url: str | None, body: Any, why: str) -> None:
        delivery = self._new(kind, tx, url, body, why)
        delivery.status = DeliveryStatus.SKIPPED
        delivery.error = why
        delivery.finished_at = delivery.created_at
        self.log.add(delivery)
        self._save(delivery)

    def _save(self, delivery: Delivery) -> None:
        if self.outbox is not None:
            self.outbox.save(delivery)

    def _enqueue(self, delivery: Delivery, key: Hashable, delay: float) -> None:
        delivery.due_at = self._clock.monotonic() + delay
        delivery.waiting = delay > 0
        self.log.add(delivery)
        self._save(delivery)  # committed right after the payment it follows, with no await between
        if self._closing:
            if self.outbox is None:
                self._finish(delivery, DeliveryStatus.FAILED, SHUTDOWN_ERROR)
            return
        self._pending[delivery.id] = delivery
        self._chains.setdefault(key, deque()).append(delivery)
        self._start_chain(key)

    def _start_chain(self, key: Hashable) -> None:
        """Give `key`'s chain a worker unless it has one or is parked (a parked chain takes its new
        deliveries in turn, when restarted)."""
        if self._running and key not in self._workers and key not in self._parked:
            self._spawn(key)

    def _spawn(self, key: Hashable) -> None:
        self._workers[key] = asyncio.get_running_loop().create_task(self._run_chain(key))

    def _unpark(self, key: Hashable) -> None:
        """A parked chain is due: its worker starts again where it stopped."""
        if key in self._chains and key not in self._workers:
            self._spawn(key)

    def _head_is_final(self, key: Hashable) -> bool:
        queue = self._chains.get(key)
        return not queue or queue[0].status.is_final

    async def _run_chain(self, key: Hashable) -> None:
        queue = self._chains[key]
        try:
            while queue:
                delivery = queue[0]
                try:
                    if await self._deliver(delivery):  # parked: its next attempt is a while away
                        self._parked.park(key, delivery.due_at)
                        return
                except Exception as exc:  # a bug must not wedge the chain: fail this one, go on
                    log.exception("callback %s: unexpected error", delivery.id)
                    self._finish(delivery, DeliveryStatus.FAILED, f"internal error: {describe_error(exc)}")
                queue.popleft()
        finally:
            self._workers.pop(key, None)
            if not queue:
                self._chains.pop(key, None)

    # -- delivering -------------------------------------------------------------------

    async def _deliver(self, delivery: Delivery) -> bool:
        """Attempt `delivery` until it is final; True when it was left pending to be parked (its
        next attempt is more than PARK_AFTER_SECONDS away), to be called again once it is due."""
        refusal, wire_url = self._check_target(delivery.url)
        if refusal or wire_url is None:
            self._finish(delivery, DeliveryStatus.FAILED, f"target refused: {refusal}")
            return False
        limit = self._settings.callback_max_attempts
        for number in range(len(delivery.attempts) + 1, limit + 1):
            if self._worth_parking(delivery):
                return True
            if not await self._wait_until_due(delivery):
                self._finish(delivery, DeliveryStatus.FAILED, SHUTDOWN_ERROR)
                return False
            if delivery.status.is_final:  # its merchant was removed meanwhile
                return False
            if self.outbox is not None:
                await self.outbox.settled(delivery)
                if not self.outbox.claim(delivery):
                    self._pending.pop(delivery.id, None)  # another process sends it (or did already)
                    return False
            number = len(delivery.attempts) + 1
            attempt, refused = await self._attempt(delivery, wire_url, number)
            status = attempt.response_status
            if status is not None and 200 <= status < 300:
                self._finish(delivery, DeliveryStatus.DELIVERED)
                return False
            problem = attempt.error or f"HTTP {status}"
            if refused:
                self._finish(delivery, DeliveryStatus.FAILED, f"target refused: {refused}")
                return False
            if number >= limit:
                self._finish(delivery, DeliveryStatus.FAILED, f"gave up after {number} attempt(s): {problem}")
                return False
            delay = self._backoff(number)
            delivery.due_at = self._clock.monotonic() + delay
            delivery.waiting = True
            log.warning("callback %s for invoice %s to %s: attempt %d of %d failed (%s); next attempt in "
                        "%.1f s", delivery.id, loggable(delivery.invoice_id), loggable(delivery.url),
                        number, limit, loggable(problem), delay)
            self.log.touch()
            self._save(delivery)
        return False

    def _worth_parking(self, delivery: Delivery) -> bool:
        """Whether the chain should give up its task until `delivery` is due: a wait longer than
        PARK_AFTER_SECONDS while running (a stopping dispatcher gives waiting ones up instead)."""
        return (self._running and not self._closing and not delivery.status.is_final
                and delivery.due_at - self._clock.monotonic() > PARK_AFTER_SECONDS)

    def _check_target(self, url: str | None) -> tuple[str | None, str | None]:
        """(why the URL is refused or None, the IRI-encoded URL to send to)."""
        refusal = self.policy.refusal(url)
        if refusal or url is None:
            return refusal, None
        try:
            wire_url = iri_to_uri(url)
        except ValueError as exc:
            return f"malformed URL: {exc}", None
        return self.own.refusal(wire_url), wire_url

    def _backoff(self, failed_attempt: int) -> float:
        return backoff_delay(self._settings, failed_attempt, self._random)

    async def _wait_until_due(self, delivery: Delivery) -> bool:
        """Wait on the mock clock until the delivery is due; False when shutting down first."""
        while True:
            remaining = delivery.due_at - self._clock.monotonic()
            if remaining <= 0 or delivery.status.is_final:
                delivery.waiting = False
                return True
            if self._closing:
                return False
            wake = self._wake
            try:
                async with asyncio.timeout(remaining):
                    await wake.wait()
            except TimeoutError:
                pass

    async def _attempt(self, delivery: Delivery, url: str, number: int) -> tuple[DeliveryAttempt, str | None]:
        """One attempt by the sender, recorded on the delivery (`record_attempt`); the log learns of it."""
        try:
            return await record_attempt(self._sender, delivery, url, number, self._clock.now())
        finally:
            self.log.touch()

    def _finish(self, delivery: Delivery, status: DeliveryStatus, error: str | None = None) -> None:
        if error == SHUTDOWN_ERROR and self.outbox is not None:
            self._pending.pop(delivery.id, None)  # stays pending in the store: the next start resumes it
            return
        delivery.status = status
        delivery.error = error
        delivery.waiting = False
        delivery.finished_at = self._clock.now()
        self._pending.pop(delivery.id, None)
        if error == SHUTDOWN_ERROR:
            self._dropped_at_shutdown += 1
        if status is DeliveryStatus.FAILED and error != SHUTDOWN_ERROR:  # shutdown logs one summary
            log.warning("callback %s for invoice %s to %s failed: %s", delivery.id,
                        loggable(delivery.invoice_id), loggable(delivery.url), loggable(error))
        self.log.touch()
        self._save(delivery)

    def _on_clock_jump(self) -> None:
        event, self._wake = self._wake, asyncio.Event()
        event.set()
        self._parked.wake()


def _sender_for(settings: Settings, policy: TargetPolicy, http: PlainHttpClient | None) -> AttemptSender:
    """The helper-process sender when `callback_sender` is `process` (and no test client is given),
    else sending in this event loop."""
    if settings.callback_sender == "process" and http is None:
        from mock_epay.callbacks.sender_process import ProcessSender

        return ProcessSender(settings, policy)
    return CallbackSender(settings, policy, http)
