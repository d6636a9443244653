"""A minimal aiohttp token endpoint, for scale: what aiohttp itself allows for `POST /oauth2/token`.

It reads the urlencoded form, checks the client id, checks the invoice is digits, makes a token,
keeps it in a dict and answers the token JSON: no journal, no request log, no scenario engine.
`docs/benchmarks.md` quotes its throughput next to the mock's token endpoint:

    python bench/minimal_token.py --port 8097 &
    wrk -t2 -c50 -d5s -s bench/lua/token.lua http://127.0.0.1:8097 -- 0 2

`GET /` answers constant JSON like bench/bare_app.py. Bound to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import uuid
from urllib.parse import parse_qsl

from aiohttp import web

TOKENS: dict[str, tuple[str, float]] = {}
MAX_TOKENS = 20_000


async def token(request: web.Request) -> web.Response:
    form = dict(parse_qsl((await request.read()).decode(), keep_blank_values=True))
    if form.get("client_id") != "test":
        return web.json_response({"code": -1, "message": "invalid client"}, status=401)
    invoice = form.get("invoiceID", "")
    if not invoice.isdigit():
        return web.json_response({"code": -1, "message": "invalid invoiceID"}, status=400)
    access_token = uuid.uuid4().hex.upper()
    TOKENS[access_token] = (invoice, float(form.get("amount", "0")))
    if len(TOKENS) > MAX_TOKENS:
        TOKENS.clear()
    body = {"access_token": access_token, "expires_in": "1200", "refresh_token": "",
            "scope": form.get("scope", ""), "token_type": "Bearer"}
    return web.Response(body=json.dumps(body).encode(), content_type="application/json")


async def constant(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "version": "minimal"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8097)
    args = parser.parse_args()
    app = web.Application()
    app.router.add_post("/oauth2/token", token)
    app.router.add_get("/{tail:.*}", constant)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
