"""No module of the package is over 500 lines: a module that grows past that holds more than one concern."""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "mock_epay"
MAX_LINES = 500
# Modules allowed past the limit while a split is under way (none now); an entry that is split goes.
ALLOWED_OVER: set[str] = set()


def _line_counts() -> dict[str, int]:
    return {path.relative_to(PACKAGE).as_posix(): len(path.read_text(encoding="utf-8").splitlines())
            for path in PACKAGE.rglob("*.py") if "__pycache__" not in path.parts}


def test_no_module_is_over_500_lines():
    counts = _line_counts()
    too_long = {name: lines for name, lines in counts.items()
                if lines > MAX_LINES and name not in ALLOWED_OVER}
    assert too_long == {}, f"split these by concern (at most {MAX_LINES} lines each): {too_long}"


def test_every_allow_listed_module_is_still_over_the_limit():
    counts = _line_counts()
    stale = sorted(name for name in ALLOWED_OVER if counts.get(name, 0) <= MAX_LINES)
    assert stale == [], f"these are split (or gone): drop them from ALLOWED_OVER: {stale}"
