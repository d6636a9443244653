"""A loopback merchant for the bench: receives postLink callbacks and measures their delivery latency.

Latency of one callback = time of receipt - the body's `dateTime` (the transaction's
creation time, i.e. when the mock answered the payment). Runs in its own process:
`python bench/receiver.py --port 8098`.

    POST /cb      record one callback (answers 200 "ok")
    GET  /stats   {"count", "distinct_invoices", "p50_ms", "p99_ms", "max_ms", "mean_ms", "unparsed"}
    POST /reset   forget everything recorded so far
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import datetime

from aiohttp import web

LATENCIES = web.AppKey("latencies", list)
UNPARSED = web.AppKey("unparsed", list)
INVOICES = web.AppKey("invoices", set)


def parse_datetime(text: str) -> float:
    """Seconds since the epoch of an RFC 3339 stamp, nanosecond fractions included."""
    stamp, sign, offset = text.rpartition("+") if "+" in text[19:] else text.rpartition("-")
    if "." in stamp:
        head, fraction = stamp.split(".", 1)
        stamp = f"{head}.{fraction[:6]}"
    return datetime.fromisoformat(f"{stamp}{sign}{offset}").timestamp()


async def callback(request: web.Request) -> web.Response:
    received = time.time()
    raw = await request.read()
    try:
        body = json.loads(raw)
        sent = parse_datetime(body["dateTime"])
        request.app[INVOICES].add(body.get("invoiceId"))
    except (ValueError, KeyError, TypeError):
        request.app[UNPARSED].append(1)
        return web.Response(text="ok")
    request.app[LATENCIES].append((received - sent) * 1000)
    return web.Response(text="ok")


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))
    return ordered[index]


async def stats(request: web.Request) -> web.Response:
    values = request.app[LATENCIES]
    return web.json_response({
        "count": len(values),
        "distinct_invoices": len(request.app[INVOICES]),
        "p50_ms": percentile(values, 50),
        "p99_ms": percentile(values, 99),
        "max_ms": max(values, default=0.0),
        "mean_ms": sum(values) / len(values) if values else 0.0,
        "unparsed": len(request.app[UNPARSED]),
    })


async def reset(request: web.Request) -> web.Response:
    request.app[LATENCIES].clear()
    request.app[UNPARSED].clear()
    request.app[INVOICES].clear()
    return web.json_response({"ok": True})


def make_app() -> web.Application:
    app = web.Application()
    app[LATENCIES] = []
    app[UNPARSED] = []
    app[INVOICES] = set()
    app.router.add_post("/cb", callback)
    app.router.add_get("/stats", stats)
    app.router.add_post("/reset", reset)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8098)
    args = parser.parse_args()
    web.run_app(make_app(), host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
