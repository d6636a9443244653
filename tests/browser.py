"""Shared set-up of the headless-Chromium tests: Debian's chromium driven by Playwright.

Importing this module skips the importing test module when /usr/bin/chromium is missing,
unless MOCK_EPAY_REQUIRE_BROWSER=1 (CI), where a missing browser must fail, not skip.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
WAIT_MS = 10_000

if not CHROMIUM.exists() and os.environ.get("MOCK_EPAY_REQUIRE_BROWSER") != "1":
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)
playwright_sync = pytest.importorskip("playwright.sync_api")


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium for a test module (no browser download: Debian's binary)."""
    ARTIFACTS.mkdir(exist_ok=True)
    with playwright_sync.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def browser_page(browser: Any, width: int, height: int) -> Iterator[Any]:
    """A fresh tab in its own context (no shared cookies), with the suite's wait limit."""
    context = browser.new_context(viewport={"width": width, "height": height})
    context.set_default_timeout(WAIT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


def browser_fixtures(width: int, height: int) -> tuple[Any, Any]:
    """A test module's `browser` (one Chromium per module) and `page` (a fresh tab of width x height):
    `browser, page = browser_fixtures(1400, 900)` at module level."""

    @pytest.fixture(scope="module")
    def browser() -> Iterator[Any]:
        with chromium() as launched:
            yield launched

    @pytest.fixture
    def page(browser: Any) -> Iterator[Any]:
        with browser_page(browser, width, height) as tab:
            yield tab

    return browser, page


class LoopbackSites:
    """aiohttp apps served on 127.0.0.1 from a background event loop, so sync Playwright can drive them.

    Subclasses implement `_start()` (run on that loop) with `serve(...)` calls.
    """

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.runners: list[web.AppRunner] = []

    def start(self) -> None:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(timeout=20)

    def stop(self) -> None:
        async def cleanup() -> None:
            for runner in self.runners:
                await runner.cleanup()

        asyncio.run_coroutine_threadsafe(cleanup(), self.loop).result(timeout=20)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)

    @staticmethod
    def bind() -> tuple[socket.socket, str]:
        """A bound loopback socket and its URL (to know an app's address before building it)."""
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        return sock, f"http://127.0.0.1:{sock.getsockname()[1]}"

    async def serve(self, app: web.Application, bound: tuple[socket.socket, str] | None = None) -> str:
        sock, url = bound or self.bind()
        runner = web.AppRunner(app)
        await runner.setup()
        await web.SockSite(runner, sock).start()
        self.runners.append(runner)
        return url

    async def _start(self) -> None:
        raise NotImplementedError
