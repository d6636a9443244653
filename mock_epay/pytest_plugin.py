"""pytest fixtures that run mock-epay in-process on a free loopback port.

Loaded automatically once mock-epay is installed (entry point `pytest11`):

- `mock_epay`: a fresh server per test; returns a `mock_epay.testing.MockEpay` handle
  (base URLs, the test merchant's credentials, admin helpers). Settings come from the
  overridable `mock_epay_settings` fixture and the `@pytest.mark.mock_epay(...)` marker.
- `mock_epay_session`: one server for the whole session (settings from the overridable
  `mock_epay_session_settings`); call `.reset()` where a test needs a clean state.
- `mock_epay_merchant`: a merchant of this test's own on the session server, created before
  the test and deleted (with all its data) after it; returns a `MockEpay` handle bound to
  its credentials. `@pytest.mark.mock_epay_merchant(twoStage=True, savedCards=[...])` passes
  the fields of `POST /_mock/merchants`.

The server runs on its own thread and event loop, so sync tests (requests, urllib,
Django, Flask) and async tests can both use it; it is ready when the fixture returns.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import fields, replace
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # imported lazily: the plugin loads in every pytest run of a project that has mock-epay
    from mock_epay.settings import Settings
    from mock_epay.testing import MockEpay

MARKER = "mock_epay"
MERCHANT_MARKER = "mock_epay_merchant"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(config=None, **settings): settings for this test's `mock_epay` server, e.g. "
        f"seed=1, admin_token='t', config='tests/epay.yaml' (a mock-epay YAML config file)",
    )
    config.addinivalue_line(
        "markers",
        f"{MERCHANT_MARKER}(**fields): the fields of POST /_mock/merchants for this test's "
        f"`mock_epay_merchant`, e.g. twoStage=True, savedCards=[{{'accountId': 'u1', 'cardNumber': ...}}]",
    )


def settings_for_marker(base: Settings, marker: pytest.Mark | None) -> Settings:
    """`base` with the marker's keyword arguments applied (`config=` loads a YAML config file)."""
    from mock_epay.settings import Settings, load_config_file, settings_from_config  # noqa: F811

    if marker is None:
        return base
    if marker.args:
        raise pytest.UsageError(f"@pytest.mark.{MARKER} takes keyword arguments only, got {marker.args!r}")
    overrides = dict(marker.kwargs)
    config = overrides.pop("config", None)
    settings = base
    if config is not None:
        settings = settings_from_config(load_config_file(Path(config)), settings)
    known = {f.name for f in fields(Settings)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise pytest.UsageError(
            f"@pytest.mark.{MARKER}: unknown setting(s) {', '.join(unknown)}; "
            f"known: {', '.join(sorted(known))}"
        )
    return replace(settings, **overrides)


@pytest.fixture
def mock_epay_settings() -> Settings:
    """Settings for the function-scoped `mock_epay` server; override this fixture to change them."""
    from mock_epay.settings import Settings

    return Settings()


@pytest.fixture(scope="session")
def mock_epay_session_settings() -> Settings:
    """Settings for the session-scoped `mock_epay_session` server; override to change them."""
    from mock_epay.settings import Settings

    return Settings()


@pytest.fixture
def mock_epay(request: pytest.FixtureRequest, mock_epay_settings: Settings) -> Iterator[MockEpay]:
    """A fresh mock-epay server for this test, on a free 127.0.0.1 port."""
    from mock_epay.testing import MockEpayServer

    settings = settings_for_marker(mock_epay_settings, request.node.get_closest_marker(MARKER))
    with MockEpayServer(settings) as handle:
        yield handle


@pytest.fixture(scope="session")
def mock_epay_session(mock_epay_session_settings: Settings) -> Iterator[MockEpay]:
    """One mock-epay server shared by the whole session; call `.reset()` for a clean state."""
    from mock_epay.testing import MockEpayServer

    with MockEpayServer(mock_epay_session_settings) as handle:
        yield handle



@pytest.fixture
def mock_epay_merchant(request: pytest.FixtureRequest, mock_epay_session: MockEpay) -> Iterator[MockEpay]:
    """A merchant of this test's own on the session server, deleted with all its data afterwards."""
    marker = request.node.get_closest_marker(MERCHANT_MARKER)
    if marker is not None and marker.args:
        raise pytest.UsageError(f"@pytest.mark.{MERCHANT_MARKER} takes keyword arguments only, "
                                f"got {marker.args!r}")
    handle = mock_epay_session.create_merchant(**(marker.kwargs if marker else {}))
    try:
        yield handle
    finally:
        handle.delete_merchant()
