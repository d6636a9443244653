"""Where the shipped data lives: `scenarios/` and `static/`.

In a wheel they are package data under `mock_epay/_data/`; in a source checkout
(or an editable install) they are the top-level folders of the repository.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent.parent  # mock_epay/


def data_dir(name: str) -> Path:
    """The directory of shipped data called `name` ("scenarios" or "static")."""
    packaged = _PACKAGE_DIR / "_data" / name
    if packaged.is_dir():
        return packaged
    return _PACKAGE_DIR.parent / name
