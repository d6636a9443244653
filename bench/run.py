"""The benchmark suite: starts the mock as a user would, loads it with wrk, prints the figures and every bar.

Every throughput figure is also given as a ratio to a bare aiohttp app answering constant
JSON (bench/bare_app.py) measured in the same run, because absolute numbers drift on
shared machines. Nothing here is a test; it only measures and prints. The last table lists
every bar of issue 16 as PASS, MISS or "not run".

    python bench/run.py [--duration 10] [--connections 50] [--threads 2] [--warmup 1]
                        [--server-args "..."] [--no-quiet] [--soak 120] [--peer wiremock|none]
                        [--store sqlite | --store postgresql | --store URL] [--only ...] [--json out.json]

`--store` adds token and token+cards/auth runs on that backend (`sqlite`: a fresh file per run;
`postgresql`: a throwaway local cluster; a URL: that server, a fresh schema per run), reported as
ratios to the memory backend's runs; on PostgreSQL also token+cards/auth with `--workers 2`.

See docs/benchmarks.md for what each figure means.
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import json
import re
import shlex
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from loads import (
    Load,
    Options,
    measure_ceiling,
    measure_pay,
    measure_soak,
    measure_startup,
    measure_token,
    server_supports,
)
from pg import Postgres, is_postgres, postgres_for
from procs import BENCH, ROOT, Receiver
from report import BARS, build_report, machine_info

RESULTS = BENCH / "results"
FIFTY_RULES = BENCH / "fifty_rules.yaml"
GROUPS = ("ceiling", "token", "pay", "quiet", "rules", "startup", "store", "soak", "peer")
Step = tuple[str, str, Callable[[], Any]]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured load (default 10)")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--warmup", type=int, default=1, help="seconds of warm-up before each load (0: none)")
    parser.add_argument("--server-args", default="", help="extra arguments for `mock_epay serve`")
    parser.add_argument("--no-quiet", action="store_true", help="skip the extra --quiet runs")
    parser.add_argument("--soak", type=int, default=120, metavar="SECONDS",
                        help="length of the soak run sampling RSS every 5 s (default 120; 0: none)")
    parser.add_argument("--peer", choices=("wiremock", "none"), default="wiremock",
                        help="also load WireMock with static stubs (default; skipped with a note without it)")
    parser.add_argument("--peer-args", default="", help="extra arguments for WireMock")
    parser.add_argument("--store", default="", metavar="URL",
                        help="also measure on this store: sqlite, postgresql (throwaway cluster) or a URL")
    parser.add_argument("--only", default="", help="comma list of: " + ",".join(GROUPS))
    parser.add_argument("--json", dest="json_out", help="also save results as JSON (under bench/results/)")
    return parser.parse_args(argv)


def wanted_groups(args: argparse.Namespace) -> set[str]:
    wanted = set(args.only.split(",")) if args.only else set(GROUPS)
    unknown = wanted - set(GROUPS)
    if unknown:
        raise SystemExit(f"--only: unknown {', '.join(sorted(unknown))} (choose from {', '.join(GROUPS)})")
    if args.store:
        wanted.add("store")  # asked for by name: runs even when --only does not list it
    else:
        wanted.discard("store")
    if not args.soak:
        wanted.discard("soak")
    if args.peer == "none":
        wanted.discard("peer")
    return wanted | {"ceiling"}


def memory_steps(opts: Options, wanted: set[str], receiver: Receiver, results: dict[str, Any]) -> list[Step]:
    """The memory-store loads as shipped, their --quiet twins and the 50-rule run."""
    steps: list[Step] = [
        ("token", "token", lambda: measure_token(opts, opts.server_args, "token.log")),
        ("pay", "pay", lambda: measure_pay(opts, opts.server_args, "pay.log", receiver)),
    ]
    if opts.quiet_runs:
        quiet = [*opts.server_args, "--quiet"]
        steps += [("quiet", "token_quiet", lambda: measure_token(opts, quiet, "token-quiet.log")),
                  ("quiet", "pay_quiet", lambda: measure_pay(opts, quiet, "pay-quiet.log", receiver))]
    if "rules" in wanted:
        if not FIFTY_RULES.exists() or not server_supports("--scenarios"):
            results["pay_rules_note"] = ("note: 50-rule run skipped: bench/fifty_rules.yaml or "
                                         "`serve --scenarios` not available on this branch")
        else:
            rules = [*opts.server_args, "--scenarios", str(FIFTY_RULES)]
            steps.append(("rules", "pay_rules", lambda: measure_pay(opts, rules, "pay-rules.log", receiver)))
    return steps


def store_steps(opts: Options, receiver: Receiver, postgres: Postgres | None) -> list[Step]:
    """Token and token+cards/auth on --store; on PostgreSQL also token+cards/auth with --workers 2."""

    def on_store(name: str) -> list[str]:
        if postgres is not None:
            url = postgres.fresh_url()
        elif opts.store == "sqlite":
            url = f"sqlite://{opts.log_dir}/{name}.db"
        else:
            url = opts.store
        return [*opts.server_args, "--store", url]

    sides = {"postgres": postgres.cpu_seconds} if postgres is not None and postgres.postmaster else {}
    steps: list[Step] = [
        ("store", "token_store", lambda: measure_token(opts, on_store("token"), "token-store.log")),
        ("store", "pay_store", lambda: measure_pay(opts, on_store("pay"), "pay-store.log", receiver,
                                                   side_cpu=sides)),
    ]
    if postgres is not None:
        steps.append(("store", "pay_store_w2",
                      lambda: measure_pay(opts, on_store("pay2"), "pay-store-w2.log", receiver, workers=2,
                                          side_cpu=sides)))
    return steps


def run_steps(opts: Options, wanted: set[str], peer_args: list[str]) -> dict[str, Any]:
    from peer import measure_wiremock

    results: dict[str, Any] = {}
    with contextlib.ExitStack() as stack:
        receiver = stack.enter_context(Receiver(opts.log_dir))
        postgres = (stack.enter_context(postgres_for(opts.store))
                    if "store" in wanted and is_postgres(opts.store) else None)
        if "store" in wanted and postgres is None:
            results["workers_note"] = "note: the --workers 2 figure needs --store postgresql[://...]"
        memory = memory_steps(opts, wanted, receiver, results)
        # WireMock right after the mock's two loads it is compared with, so the machine is alike.
        steps: list[Step] = [("ceiling", "ceiling", lambda: measure_ceiling(opts)), *memory[:2],
                             ("peer", "peer", lambda: measure_wiremock(opts, receiver, peer_args)),
                             *memory[2:]]
        if "store" in wanted:
            steps += store_steps(opts, receiver, postgres)
        steps.append(("startup", "startup", lambda: measure_startup(opts.server_args, opts.log_dir)))
        steps.append(("soak", "soak", lambda: measure_soak(opts, receiver)))
        # The ceiling again at the end: on a shared machine the higher of the two is used,
        # so a busy moment during the first run cannot flatter the ratios.
        steps.append(("ceiling", "ceiling_end", lambda: measure_ceiling(opts)))
        for group, key, step in steps:
            if group in wanted:
                print(f"# running {key} ...", flush=True)
                results[key] = step()
    first, last = results.pop("ceiling"), results.pop("ceiling_end")
    results["ceiling"] = max(first, last, key=lambda load: load.rps)
    results["ceiling_runs_rps"] = [first.rps, last.rps]
    return results


def compile_bytecode() -> None:
    """Compile the package's bytecode first, as `pip install` does for an installed mock.

    The bench runs the mock from this checkout; without cached bytecode every spawn would compile
    every module again (more so where PYTHONDONTWRITEBYTECODE is set, which stops Python caching it),
    and the start-up and idle-memory figures would describe a mock no user runs.
    """
    compileall.compile_dir(str(ROOT / "mock_epay"), quiet=1)
    print("# bytecode of mock_epay/ compiled (as pip install does)", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = "python bench/run.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    command = re.sub(r"(://[^:/@\s]+):[^@\s]+@", r"\1:***@", command)  # no password of a --store URL
    wanted = wanted_groups(args)
    RESULTS.mkdir(exist_ok=True)
    log_dir = Path(tempfile.mkdtemp(prefix="mock-epay-bench-"))
    opts = Options(args.duration, args.connections, args.threads, shlex.split(args.server_args),
                   not args.no_quiet and "quiet" in wanted, args.soak, log_dir, warmup=args.warmup,
                   store=args.store, peer=args.peer)
    info = machine_info()
    print(f"# mock-epay bench: {command}", flush=True)
    print("# " + ", ".join(f"{k} {v}" for k, v in info.items()), flush=True)
    print(f"# {opts.duration}s per load, {opts.connections} connections, {opts.threads} wrk threads, "
          f"server logs in {log_dir}", flush=True)

    compile_bytecode()
    results = run_steps(opts, wanted, shlex.split(args.peer_args))
    table, bars, notes = build_report(results, opts)
    print()
    print(table)
    for note in notes:
        print(note)
    print()
    print(bars)
    print(f"\nbars are issue 16's (inclusive); throughput as HTTP requests/s over the bare aiohttp ceiling "
          f"of this run; p99 at {opts.connections} connections. command: {command}")
    if args.json_out:
        out = Path(args.json_out)
        if not out.is_absolute() and out.parent == Path("."):
            out = RESULTS / out
        payload = {"command": command, "machine": info, "bars": BARS, "results": _jsonable(results)}
        out.write_text(json.dumps(payload, indent=2))
        print(f"saved {out}")
    return 0


def _jsonable(value: Any) -> Any:
    if isinstance(value, Load):
        data = {k: _jsonable(v) for k, v in value.__dict__.items()}
        data["payments_per_s"] = value.payments_per_s
        return data
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


if __name__ == "__main__":
    sys.exit(main())
