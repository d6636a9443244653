"""The ceiling: a bare aiohttp app answering constant JSON, to which every bench figure is compared.

Same aiohttp, one process, `web.run_app`, access log off, bound to 127.0.0.1.
Run: `python bench/bare_app.py --port 8099`. Any GET or POST path answers `{"status": "ok"}`.
"""

from __future__ import annotations

import argparse

from aiohttp import web

BODY = {"status": "ok", "version": "bare"}


async def constant(request: web.Request) -> web.Response:
    return web.json_response(BODY)


def make_app() -> web.Application:
    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", constant)
    app.router.add_route("POST", "/{tail:.*}", constant)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8099)
    args = parser.parse_args()
    web.run_app(make_app(), host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
