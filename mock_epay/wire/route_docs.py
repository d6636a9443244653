"""Documentation attached where a route is registered: `add_route(..., doc=...)` records a `RouteDoc`.

`doc` is a zero-argument callable returning the path's OpenAPI operation object, so nothing is
built at start-up; the document at `/_mock/openapi.json` calls them on its first request.
The app keeps the registered docs in registration order (`web.app_keys.ROUTE_DOCS`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

OperationDoc = Callable[[], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class RouteDoc:
    """One documented path and method, as registered (without the trailing-slash twin)."""

    path: str
    method: str
    build: OperationDoc
