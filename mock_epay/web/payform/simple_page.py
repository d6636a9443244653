"""What the invoice-link and Homebank-app pages share: rendering a template in the payment page's frame."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from mock_epay.web.client import public_base
from mock_epay.web.pages import render_template


def format_amount(amount: float, currency: str) -> str:
    return f"{amount:,.2f}".replace(",", "\u202f") + f" {currency}"


def render_page(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    """`template` (extending payform_base.html) with the page frame's context filled in."""
    base = public_base(request) + "/payform/"
    html = render_template(template, page_url=base, static_url=base + "static/", short=False,
                           config_json="{}", **context)
    return web.Response(text=html, status=status, content_type="text/html")
