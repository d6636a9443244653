"""Pages for browsers: the jinja2 templates in `mock_epay/templates/` and the shipped `static/` files.

jinja2 is imported on the first render rather than at start-up, which keeps the
server's time to first healthy answer short.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aiohttp import web

from mock_epay.core.resources import data_dir

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"


@functools.cache
def _environment() -> Any:
    import jinja2

    return jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATE_DIR), autoescape=True)


def render_template(name: str, **context: Any) -> str:
    """The named template rendered with `context` (HTML-escaped by default)."""
    return _environment().get_template(name).render(**context)


def static_file_response(name: str, content_types: Mapping[str, str]) -> web.Response:
    """One of the shipped `static/` files a page may load (`content_types` lists which); else 404."""
    if name not in content_types:
        raise web.HTTPNotFound()
    text = (data_dir("static") / name).read_text(encoding="utf-8")
    return web.Response(text=text, content_type=content_types[name], headers={"Cache-Control": "no-cache"})
