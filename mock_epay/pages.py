"""Rendering the jinja2 templates in `mock_epay/templates/` (payment page, 3-D Secure, dashboard).

jinja2 is imported on the first render rather than at start-up, which keeps the
server's time to first healthy answer short.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"


@functools.cache
def _environment() -> Any:
    import jinja2

    return jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATE_DIR), autoescape=True)


def render_template(name: str, **context: Any) -> str:
    """The named template rendered with `context` (HTML-escaped by default)."""
    return _environment().get_template(name).render(**context)
