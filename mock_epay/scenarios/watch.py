"""Watching scenario files: reload the engine when a watched file or directory changes.

Polls modification times (no extra dependency). A bad file on reload is logged by
the engine and the previous rules stay in force; the next good save loads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

from aiohttp import web

from mock_epay.scenarios.engine import ScenarioEngine
from mock_epay.scenarios.schema import ScenarioError, expand_paths
from mock_epay.web.app_keys import ENGINE, SETTINGS

log = logging.getLogger("mock_epay.scenarios")

Snapshot = dict[Path, tuple[int, int] | None]


def snapshot(engine: ScenarioEngine) -> Snapshot:
    """Modification time and size of every watched file (None for a missing one)."""
    state: Snapshot = {}
    for path in expand_paths(engine.watched_files()):
        try:
            stat = path.stat()
        except OSError:
            state[path] = None
            continue
        state[path] = (stat.st_mtime_ns, stat.st_size)
    return state


class ScenarioWatcher:
    """Background task: every `interval` seconds, reload the engine if its files changed."""

    def __init__(self, engine: ScenarioEngine, interval: float) -> None:
        self._engine = engine
        self._interval = interval
        self._task: asyncio.Task[None] | None = None
        self._last = snapshot(engine)
        self.reloads = 0  # successful reloads (for tests and the admin listing)
        self.failures = 0

    def check(self) -> bool:
        """Reload now if anything changed; True when a reload was attempted."""
        current = snapshot(self._engine)
        if current == self._last:
            return False
        self._last = current
        try:
            self._engine.reload()
            self.reloads += 1
        except ScenarioError:
            self.failures += 1  # logged by the engine; previous rules stay in force
        return True

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                self.check()
            except Exception:  # never let the watcher die on an unexpected error
                log.exception("scenario watcher: unexpected error")

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


WATCHER: web.AppKey[ScenarioWatcher] = web.AppKey("scenario_watcher")


async def _start(app: web.Application) -> None:
    app[WATCHER].start()


async def _stop(app: web.Application) -> None:
    await app[WATCHER].stop()


def setup_watcher(app: web.Application) -> None:
    """Watch the engine's files when the settings ask for it."""
    settings = app[SETTINGS]
    if not settings.watch_scenarios:
        return
    app[WATCHER] = ScenarioWatcher(app[ENGINE], settings.scenario_watch_interval)
    app.on_startup.append(_start)
    app.on_cleanup.append(_stop)
