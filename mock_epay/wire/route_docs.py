"""Documentation attached where a route is registered: `add_route(..., doc=...)` records a `RouteDoc`.

`doc` is a zero-argument callable returning the path's OpenAPI operation object, so nothing is
built at start-up; the document at `/_mock/openapi.json` calls them on its first request.
`lazy_doc(module, name, prefix)` names an operation function of a docs module (wire/docs_bank.py,
wire/docs_admin.py) without importing it at start-up. The app keeps the registered docs in
registration order (`web.app_keys.ROUTE_DOCS`); the document is built only from them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import msgspec

OperationDoc = Callable[[], dict[str, Any]]
BANK_DOCS = "mock_epay.wire.docs_bank"
ADMIN_DOCS = "mock_epay.wire.docs_admin"
# Prefixes whose paths are the operation's own: its operationId carries no suffix there.
PLAIN_PREFIXES = ("", "/payform", "/payform/")


class RouteDoc(msgspec.Struct, frozen=True):
    """One documented path and method, as registered (without the trailing-slash twin)."""

    path: str
    method: str
    build: OperationDoc


class LazyDoc(msgspec.Struct, frozen=True):
    """The operation `name()` of the docs module `module`, imported on first use, as served under `prefix`.

    Under another prefix than the plain one the operationId gets the prefix as a suffix
    (`issueToken_epay2`) and the summary says where, so every operationId stays unique."""

    module: str
    name: str
    prefix: str = ""

    def __call__(self) -> dict[str, Any]:
        op: dict[str, Any] = getattr(importlib.import_module(self.module), self.name)()
        if self.prefix not in PLAIN_PREFIXES:
            op["operationId"] += "_" + self.prefix.strip("/").replace("-", "_")
            op["summary"] += f" [under {self.prefix.rstrip('/')}]"
        return op


def lazy_doc(module: str, name: str, prefix: str = "") -> OperationDoc:
    """`doc=` for `add_route`: operation `name` of docs module `module`, served under `prefix`."""
    return LazyDoc(module, name, prefix)


class DeferredDoc(msgspec.Struct, frozen=True):
    """`factory(*args)` of the docs module `module`, imported on first use; a factory that answers
    a doc builder (a callable) is called once more, so both styles of docs module fit."""

    module: str
    factory: str
    args: tuple[Any, ...] = ()

    def __call__(self) -> dict[str, Any]:
        made = getattr(importlib.import_module(self.module), self.factory)(*self.args)
        op: dict[str, Any] = made() if callable(made) else made
        return op


def deferred_doc(module: str, factory: str, *args: Any) -> OperationDoc:
    """`doc=` for `add_route` that imports its docs module only when the document is built."""
    return DeferredDoc(module, factory, args)
