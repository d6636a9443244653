"""The README's module table, built from each module's docstring (`python scripts/modules_table.py`).

Every module of `mock_epay/` says what it owns in the first paragraph of its docstring; this script
collects those lines into one table between the README's `modules-table` markers, and
tests/test_readme_modules.py fails when the README is out of step or a module has no docstring.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "mock_epay"
README = ROOT / "README.md"
TABLE_START = "<!-- modules-table:start -->"
TABLE_END = "<!-- modules-table:end -->"


def module_files() -> list[Path]:
    """Every Python module of the package, packages (their `__init__.py`) first within each folder."""
    files = [p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts]
    return sorted(files, key=lambda p: (p.parent.relative_to(PACKAGE).parts, p.name != "__init__.py", p.name))


def summary(path: Path) -> str:
    """The first paragraph of the module's docstring, on one line ("" when it has none)."""
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
    if not doc:
        return ""
    return " ".join(line.strip() for line in doc.strip().split("\n\n")[0].splitlines())


def display_name(path: Path) -> str:
    relative = path.relative_to(PACKAGE)
    if path.name == "__init__.py":
        return f"`{relative.parent.as_posix()}/`" if relative.parent.parts else "`mock_epay/`"
    return f"`{relative.as_posix()}`"


def markdown_table() -> str:
    rows = ["| Module | Owns |", "|---|---|"]
    for path in module_files():
        owns = summary(path).replace("|", "\\|")
        rows.append(f"| {display_name(path)} | {owns} |")
    return "\n".join(rows) + "\n"


def embed(document: str, table: str) -> str:
    start, end = document.index(TABLE_START) + len(TABLE_START), document.index(TABLE_END)
    return document[:start] + "\n" + table + document[end:]


def main() -> int:
    text = README.read_text(encoding="utf-8")
    updated = embed(text, markdown_table())
    if updated != text:
        README.write_text(updated, encoding="utf-8")
        print(f"{README}: module table updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
