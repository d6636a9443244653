"""Where the mock's CPU goes per request: cProfile (CPU-time clock) on an in-process server under wrk.

The server is built exactly as `mock_epay serve` builds it (same CLI parser, settings and
logging set-up, request log written to a file), run in this process, and loaded by wrk
with the bench's Lua scripts. Profiling uses `time.process_time`, so time spent waiting
for the CPU on a busy machine does not count. A first, unprofiled run gives the true CPU
cost per request; the profiled run (slower, by cProfile's overhead) gives the breakdown.

    python bench/profile_hotpath.py [token|pay] [--duration 8] [--server-args "--quiet"] [--top 30]
    python bench/profile_hotpath.py pay --postlink-down   # every callback refused: the retry path
    python bench/profile_hotpath.py pay --server-args "--store sqlite:///tmp/p.db" --sql
                                   # ... and the SQLite store's statements: calls and time per request

`--sql` times every statement the SQLite store runs on its connection during the unprofiled run
(wall time, so a busy machine inflates it; the ranking is what it is for).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import logging
import os
import pstats
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(1, str(BENCH))

from loads import LUA, WARMUP_OFFSET, WRK  # noqa: E402
from procs import HOST, Receiver, free_port  # noqa: E402

from mock_epay.app import create_app  # noqa: E402
from mock_epay.cli import _cli_overrides, build_parser, served_settings  # noqa: E402
from mock_epay.settings import build_settings  # noqa: E402

SCRIPTS = {"token": "token.lua", "pay": "pay.lua"}


class StatementTimer:
    """Stands in for a SQLite store's connection (`attach`): each `execute` / `executemany` timed by
    its SQL while `on`."""

    def __init__(self) -> None:
        self._connection: Any = None
        self.on = False
        self.requests = 0  # HTTP requests of the timed run
        self.times: dict[str, list[float]] = {}  # SQL (first 100 characters) -> [calls, seconds]

    def attach(self, store: Any) -> None:
        """Put this timer between `store` and its SQLite connection."""
        if not hasattr(store, "_db"):
            raise SystemExit("--sql needs a SQLite store: --server-args \"--store sqlite:///path.db\"")
        self._connection, store._db = store._db, self

    def _timed(self, kind: str, sql: str, args: tuple[Any, ...]) -> Any:
        if not self.on:
            return getattr(self._connection, kind)(sql, *args)
        started = time.perf_counter()
        try:
            return getattr(self._connection, kind)(sql, *args)
        finally:
            key = ("many: " if kind == "executemany" else "") + " ".join(sql.split())[:100]
            entry = self.times.setdefault(key, [0, 0.0])
            entry[0] += 1
            entry[1] += time.perf_counter() - started

    def execute(self, sql: str, *args: Any) -> Any:
        return self._timed("execute", sql, args)

    def executemany(self, sql: str, *args: Any) -> Any:
        return self._timed("executemany", sql, args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connection, name)

    def report(self, top: int) -> str:
        requests = self.requests or 1
        total = sum(seconds for _, seconds in self.times.values()) or 1e-9
        per_request = total * 1e6 / requests
        lines = [f"SQLite statements, unprofiled run: {per_request:.0f} us per HTTP request in all",
                 "   us/call  calls/req  us/req   share  statement"]
        for sql, (calls, seconds) in sorted(self.times.items(), key=lambda kv: -kv[1][1])[:top]:
            lines.append(f"  {seconds * 1e6 / calls:8.1f}  {calls / requests:9.2f}  "
                         f"{seconds * 1e6 / requests:6.1f}  {100 * seconds / total:5.1f}%  {sql}")
        return "\n".join(lines) + "\n"


async def wrk(port: int, script: str, seconds: float, offset: int, post_link: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        WRK, "-t2", "-c50", f"-d{seconds}s", "-s", str(LUA / script), f"http://{HOST}:{port}",
        "--", str(offset), "2", post_link, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=seconds + 60)
    return out.decode()


def requests_of(wrk_output: str) -> int:
    import json

    line = next(ln for ln in wrk_output.splitlines() if ln.startswith("BENCH_JSON "))
    data = json.loads(line.removeprefix("BENCH_JSON "))
    if data["non2xx"]:
        print(f"!!! {data['non2xx']} non-2xx answers; first: {data['first_error']}")
    return data["requests"]


async def profile(kind: str, duration: float, server_args: list[str], post_link: str,
                  timer: StatementTimer | None = None) -> tuple[int, float, pstats.Stats]:
    """(requests of the profiled run, CPU us per request of the unprofiled run, the profile); with
    `timer`, the SQLite store's statements are timed in the unprofiled run."""
    args = build_parser().parse_args(["serve", *server_args])
    port = free_port()
    settings = served_settings(build_settings({**_cli_overrides(args), "port": port}, os.environ))
    from aiohttp import web

    from mock_epay.web.app_keys import DISPATCHER
    from mock_epay.web.server import KEEPALIVE_SECONDS, GuardedAppRunner

    app = create_app(settings)
    if timer is not None:
        from mock_epay.web.app_keys import STORE

        timer.attach(app[STORE])
    runner = GuardedAppRunner(app, settings.header_timeout, handle_signals=False, access_log=None,
                              handler_cancellation=True, keepalive_timeout=KEEPALIVE_SECONDS)
    await runner.setup()  # as `mock_epay serve` does (web/server.py serve_app): the fast lane, group commit
    await web.TCPSite(runner, HOST, port).start()
    app[DISPATCHER].set_listen_addresses([(HOST, port)])
    script = SCRIPTS[kind]
    try:
        await wrk(port, script, 1, WARMUP_OFFSET, post_link)
        cpu = time.process_time()
        if timer is not None:
            timer.on = True
        plain = requests_of(await wrk(port, script, duration, 0, post_link))
        cpu_us = (time.process_time() - cpu) * 1e6 / plain
        if timer is not None:
            timer.on = False
            timer.requests = plain
        profiler = cProfile.Profile(time.process_time)
        profiler.enable()
        profiled = requests_of(await wrk(port, script, duration, 450_000, post_link))
        await asyncio.sleep(1)  # let queued callbacks go out inside the profile
        profiler.disable()
    finally:
        await runner.cleanup()
    return profiled, cpu_us, pstats.Stats(profiler)


def short(key: tuple[str, int, str]) -> str:
    filename, line, name = key
    for marker in ("/mock_epay/", "/aiohttp/", "/asyncio/", "/logging/", "/json/", "/yarl/", "/multidict/"):
        if marker in filename:
            filename = marker.strip("/") + "/" + filename.split(marker, 1)[1]
            break
    else:
        filename = Path(filename).name
    return f"{filename}:{line} {name}"


def report(stats: pstats.Stats, requests: int, top: int) -> str:
    rows = stats.stats  # type: ignore[attr-defined]
    total = sum(tt for _, _, tt, _, _ in rows.values())
    out = io.StringIO()
    out.write(f"profiled CPU: {total * 1e6 / requests:.0f} us/request (with cProfile overhead)\n\n")
    out.write("self time (tottime), us per request:\n")
    by_self = sorted(rows.items(), key=lambda kv: kv[1][2], reverse=True)[:top]
    for key, (_, calls, tt, _, _) in by_self:
        out.write(f"  {tt * 1e6 / requests:7.1f}  {100 * tt / total:5.1f}%  {calls / requests:5.2f} calls  "
                  f"{short(key)}\n")
    out.write("\nmock_epay functions by cumulative time, us per request:\n")
    ours = [(k, v) for k, v in rows.items() if "/mock_epay/" in k[0]]
    for key, (_, calls, _, ct, _) in sorted(ours, key=lambda kv: kv[1][3], reverse=True)[:top]:
        out.write(f"  {ct * 1e6 / requests:7.1f}  {100 * ct / total:5.1f}%  {calls / requests:5.2f} calls  "
                  f"{short(key)}\n")
    return out.getvalue()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=sorted(SCRIPTS), nargs="?", default="pay")
    parser.add_argument("--duration", type=int, default=8)
    parser.add_argument("--server-args", default="")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--save", help="also dump the raw pstats to this file")
    parser.add_argument("--sql", action="store_true",
                        help="with a SQLite store: time each SQL statement (calls and us per HTTP request)")
    parser.add_argument("--postlink-down", action="store_true",
                        help="send the callbacks to a loopback port nothing listens on")
    args = parser.parse_args()

    log_file = Path(tempfile.mkdtemp(prefix="mock-epay-profile-")) / "server.log"
    log_stream = log_file.open("w")
    sys.stderr = log_stream  # like `serve 2>server.log`: the access log writes to stderr
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=log_stream)
    with Receiver(log_file.parent) as receiver:
        post_link = f"http://{HOST}:{free_port()}/down" if args.postlink_down else receiver.url
        timer = StatementTimer() if args.sql else None
        try:
            requests, cpu_us, stats = asyncio.run(
                profile(args.kind, args.duration, shlex.split(args.server_args), post_link, timer))
        except SystemExit as refused:  # stderr is the server's log by now: say why on the terminal
            print(f"profile_hotpath: {refused}", file=sys.__stderr__)
            return 2
    print(f"# {args.kind}: server CPU {cpu_us:.0f} us per HTTP request (unprofiled run); "
          f"request log in {log_file}")
    print(report(stats, requests, args.top))
    if timer is not None:
        print(timer.report(args.top))
    if args.save:
        stats.dump_stats(args.save)
    return 0


if __name__ == "__main__":
    sys.exit(main())
