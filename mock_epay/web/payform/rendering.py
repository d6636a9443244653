"""What every hosted page of the payform shares: its addresses, rendering, the error page and the result step.

The card page (page.py) and the transfer page (transfer_page.py) both end here: `finish`
redirects to backLink / failureBackLink on a full page, or shows the result and posts
`JSON.stringify({success})` to the merchant's page in the widget (isShortForm=true);
`gateway_failure` answers a chaos outcome (a dropped connection, a 5xx page).
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from mock_epay.gateway.errors import bad_request
from mock_epay.gateway.models import Outcome
from mock_epay.gateway.outcomes import PageShape, entry_for
from mock_epay.web.client import drop_connection, public_base
from mock_epay.web.pages import render_template
from mock_epay.web.payform.params import PageError

PREFIXES = ("/payform/", "/redesign-payform/")


def prefix_of(request: web.Request) -> str:
    for prefix in PREFIXES:
        if request.path.startswith(prefix.rstrip("/")):
            return prefix
    return PREFIXES[0]


def page_url(request: web.Request) -> str:
    return public_base(request) + prefix_of(request)


def is_true(value: str | None) -> bool:
    return (value or "").strip().lower() in ("true", "1", "yes")


async def posted_form(request: web.Request) -> dict[str, str]:
    """The posted form's text fields; a malformed body (e.g. multipart without a boundary) is a 400."""
    try:
        posted = await request.post()
    except ValueError as exc:
        raise bad_request(f"malformed form body: {exc}") from exc
    return {k: v for k, v in posted.items() if isinstance(v, str)}


def render(template: str, status: int = 200, **context: Any) -> web.Response:
    html = render_template(template, **context)
    return web.Response(text=html, status=status, content_type="text/html")


def config_json(config: dict[str, Any]) -> str:
    return json.dumps(config, ensure_ascii=False).replace("</", "<\\/")


def format_amount(amount: float, currency: str) -> str:
    text = f"{amount:,.2f}".replace(",", "\u202f")
    return f"{text} {currency}"


def common(request: web.Request, short: bool, config: dict[str, Any] | None = None) -> dict[str, Any]:
    base = page_url(request)
    return {
        "page_url": base,
        "static_url": base + "static/",
        "short": short,
        "config_json": config_json({"short": short, **(config or {})}),
    }


def render_error(request: web.Request, error: PageError, short: bool) -> web.Response:
    return render("payform_error.html", status=error.status, title=error.title, message=error.message,
                  **common(request, short, {"result": None}))


def see_other(target: str) -> web.HTTPSeeOther:
    """A 303 to `target` exactly as the merchant wrote it (aiohttp would normalise
    `myapp://return?x=1` to `myapp://return/?x=1`, which an app's deep-link matcher may miss)."""
    redirect = web.HTTPSeeOther(target)
    redirect.headers["Location"] = target
    return redirect


def finish(request: web.Request, *, success: bool, message: str, short: bool,
           back_link: str | None, failure_back_link: str | None, tx_reference: str = "",
           details: tuple[tuple[str, str], ...] = ()) -> web.Response:
    """After a payment: redirect (full page) or show the result and post {success} (widget).
    `details` are (label, text) lines the result shows under the message (a transfer's fee, cards)."""
    target = back_link if success else (failure_back_link or back_link)
    if not short and target:
        raise see_other(target)
    return render("payform_result.html", success=success, message=message, reference=tx_reference,
                  back_link=target, details=details,
                  **common(request, short, {"result": {"success": success}}))


def gateway_failure(request: web.Request, outcome: Outcome, short: bool) -> web.Response:
    """A chaos outcome on the page: the connection drops, or the bank's page answers an error."""
    entry = entry_for(outcome.kind)
    if entry.page_shape is PageShape.DROPPED:
        drop_connection(request)  # aiohttp then writes nothing
    status = entry.page_status(outcome) if entry.page_status is not None else 502
    error = PageError(f"The payment gateway answered HTTP {status}. Please try again later.",
                      status=status, title="The payment service is unavailable")
    return render_error(request, error, short)


