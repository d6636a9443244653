"""The domain core stays free of the web: gateway/ never imports aiohttp, jinja2, web/ or wire/,
directly or through the modules it imports, and route modules never import each other."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import mock_epay
from mock_epay.app import ROUTE_MODULES

PACKAGE = Path(mock_epay.__file__).parent
FORBIDDEN = ("aiohttp", "jinja2", "mock_epay.web", "mock_epay.wire")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def path_of(module: str) -> Path | None:
    base = PACKAGE.parent.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def runtime_imports(path: Path) -> set[str]:
    """Modules `path` imports when it runs (imports under `if TYPE_CHECKING:` are for types only)."""
    found: set[str] = set()

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.If) and _is_type_checking(node):
                visit(node.orelse)
                continue
            for child in ast.walk(node):
                if isinstance(child, ast.Import):
                    found.update(alias.name for alias in child.names)
                elif isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                    found.add(child.module)
                    found.update(f"{child.module}.{alias.name}" for alias in child.names)

    visit(ast.parse(path.read_text(encoding="utf-8")).body)
    return found


def forbidden(name: str) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in FORBIDDEN)


def reachable_from(start: list[str]) -> dict[str, str]:
    """Every mock_epay module reached at run time from `start`, with the module that imported it."""
    seen: dict[str, str] = {name: "" for name in start}
    queue = list(start)
    while queue:
        current = queue.pop()
        path = path_of(current)
        if path is None:
            continue
        for name in runtime_imports(path):
            if name not in seen and (name.startswith("mock_epay") or forbidden(name)):
                seen[name] = current
                queue.append(name)
    return seen


def gateway_modules() -> list[str]:
    return sorted(module_name(p) for p in (PACKAGE / "gateway").glob("*.py"))


def test_no_gateway_module_imports_the_web_directly():
    offenders = {
        module: sorted(name for name in runtime_imports(path_of(module)) if forbidden(name))
        for module in gateway_modules()
    }
    assert {m: names for m, names in offenders.items() if names} == {}


def test_nothing_the_gateway_imports_pulls_the_web_in():
    reached = reachable_from(gateway_modules())
    assert {name: by for name, by in reached.items() if forbidden(name)} == {}


def test_importing_every_gateway_module_loads_no_aiohttp_or_jinja2():
    imports = "; ".join(f"import {name}" for name in gateway_modules())
    check = ("import sys; " + imports + "; "
             "print(sorted(m for m in sys.modules if m.split('.')[0] in ('aiohttp', 'jinja2') "
             "or m.startswith(('mock_epay.web', 'mock_epay.wire'))))")
    result = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_route_modules_do_not_import_each_other():
    route_modules = [module.__name__ for module in ROUTE_MODULES]  # each registers its own routes
    offenders = {
        module: sorted(name for name in runtime_imports(path_of(module))
                       if name != module and any(name.startswith(r) for r in route_modules))
        for module in route_modules
    }
    assert {m: names for m, names in offenders.items() if names} == {}


def test_the_boundary_check_sees_a_forbidden_import(tmp_path):
    # The checker itself: a module that imports aiohttp under TYPE_CHECKING passes, at run time fails.
    sample = tmp_path / "sample.py"
    sample.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import jinja2\n"
                      "from mock_epay.web.errors import error_response\n", encoding="utf-8")
    assert sorted(filter(forbidden, runtime_imports(sample))) == [
        "mock_epay.web.errors", "mock_epay.web.errors.error_response"]
