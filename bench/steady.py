"""Token+cards/auth at the retention caps: what a sandbox used for long runs at, on each store.

`bench/run.py` measures each store on a fresh server, where no cap is reached yet. A sandbox kept
for weeks sits at its caps (20,000 transactions, 10,000 tokens, the delivery log's size), where
every payment also drops the oldest rows. This fills each server past the transactions' cap with
the same load, then measures it as `run.py` does, and prints each store as a ratio to the memory
store measured in the same run.

    python bench/steady.py [--stores memory,sqlite,postgresql] [--duration 5] [--connections 50]
    python bench/steady.py --postlink-down     # the merchant's postLink refuses every callback

With `--postlink-down` the payments' postLink is a loopback port nothing listens on, so every
callback fails and stays pending for its retry window: the outbox and the delivery log fill with
pending rows, as on a sandbox whose merchant's server is down.

`postgresql` starts a throwaway local cluster (see bench/pg.py), or give `--postgres URL`.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from pathlib import Path

from loads import WARMUP_OFFSET, Load, Options, measured, run_wrk, wrk_args
from pg import postgres_for
from procs import Receiver, free_port, mock_server

CAP = 20_000  # the default max_transactions
FILL_LIMIT_S = 120.0  # the fill stops here even when the cap is not reached (reported)


def fill(port: int, opts: Options, receiver: Receiver, postlink: str) -> tuple[int, float]:
    """Payments made before the measured run (past `CAP` unless `FILL_LIMIT_S` ran out) and seconds."""
    started, paid, offset = time.monotonic(), 0, WARMUP_OFFSET
    while paid <= CAP * 1.1 and time.monotonic() - started < FILL_LIMIT_S:
        load = run_wrk(port, "pay.lua", 5, opts, wrk_args(offset, opts.threads, postlink))
        paid += load.auth_ok
        offset += load.token_ok + 2 * opts.connections  # the invoices it used (one per token), a margin
    receiver.settle(timeout=60, quiet_for=1.0)
    receiver.reset()
    return paid, time.monotonic() - started


def measure_at_caps(opts: Options, store_args: list[str], name: str, receiver: Receiver,
                    postlink: str) -> tuple[Load, int]:
    port = free_port()
    with mock_server(port, opts.log_dir / f"steady-{name}.log", store_args) as server:
        paid, seconds = fill(port, opts, receiver, postlink)
        print(f"  {name}: filled with {paid:,} payments in {seconds:.0f} s", flush=True)
        load = measured(server, "pay.lua", opts, wrk_args(0, opts.threads, postlink))
        receiver.settle(timeout=60, quiet_for=2.0)
        receiver.reset()
    return load, paid


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stores", default="memory,sqlite,postgresql")
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--postgres", default="postgresql",
                        help="a postgresql:// URL instead of a throwaway cluster")
    parser.add_argument("--postlink-down", action="store_true",
                        help="send every callback to a loopback port nothing listens on")
    args = parser.parse_args(argv)
    stores = [s.strip() for s in args.stores.split(",") if s.strip()]
    if stores[:1] != ["memory"]:
        stores.insert(0, "memory")  # the ratios' denominator
    with tempfile.TemporaryDirectory(prefix="mock-epay-steady-") as tmp, contextlib.ExitStack() as stack:
        log_dir = Path(tmp)
        opts = Options(duration=args.duration, connections=args.connections, threads=args.threads,
                       server_args=[], quiet_runs=False, soak=0, log_dir=log_dir)
        receiver = stack.enter_context(Receiver(log_dir))
        postlink = f"http://127.0.0.1:{free_port()}/down" if args.postlink_down else receiver.url
        postgres = stack.enter_context(postgres_for(args.postgres)) if "postgresql" in stores else None
        rows: list[tuple[str, Load, int]] = []
        for name in stores:
            if name == "memory":
                store_args = []
            elif name == "sqlite":
                store_args = ["--store", f"sqlite://{log_dir}/steady.db"]
            elif name == "postgresql" and postgres is not None:
                store_args = ["--store", postgres.fresh_url()]
            else:
                print(f"unknown store {name!r} (memory, sqlite, postgresql)", file=sys.stderr)
                return 2
            load, paid = measure_at_caps(opts, store_args, name, receiver, postlink)
            rows.append((name, load, paid))
    memory_rps = rows[0][1].rps
    down = ", the postLink down" if args.postlink_down else ""
    print(f"\ntoken+cards/auth at the retention caps (filled past {CAP:,} payments{down}), wrk "
          f"{args.connections} connections, {args.duration} s")
    print(f"{'store':<12}{'filled':>10}{'req/s':>10}{'p99 ms':>9}{'errors':>8}{'× memory':>10}")
    for name, load, paid in rows:
        print(f"{name:<12}{paid:>10,}{load.rps:>10,.0f}{load.p99_ms:>9.1f}{load.errors:>8}"
              f"{load.rps / memory_rps:>10.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
