"""The README's module table lists every module of the package with what it owns, kept in step."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _modules_table():
    spec = importlib.util.spec_from_file_location("modules_table", ROOT / "scripts" / "modules_table.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("modules_table", module)
    spec.loader.exec_module(module)
    return module


def test_every_module_says_what_it_owns():
    table = _modules_table()
    missing = [str(path.relative_to(ROOT)) for path in table.module_files() if not table.summary(path)]
    assert missing == [], "give these modules a docstring saying what they own"


def test_the_readme_module_table_is_current():
    table = _modules_table()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert table.embed(readme, table.markdown_table()) == readme, "run: python scripts/modules_table.py"


def test_the_table_names_every_module_once():
    table = _modules_table()
    rows = [line for line in table.markdown_table().splitlines()[2:]]
    assert len(rows) == len(table.module_files()) == len(set(rows))
