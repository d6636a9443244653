"""Token+cards/auth with the merchant's postLink down, on one server, round after round.

Every callback is refused (a loopback port nothing listens on), so each one stays pending for
its retry window (five attempts within about 37-75 s with the default backoff) and the server
keeps all of them: this shows what a dead merchant costs under load, and that it levels off once
the window is full (the oldest pending callbacks fail as fast as new ones come). It prints
req/s, p50 / p99 / max latency, the server's CPU per request and its RSS for each round.

    python bench/postlink_down.py [--rounds 20] [--round-seconds 5] [--connections 50] [--store URL]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from loads import Options, measured, wrk_args
from procs import free_port, mock_server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--round-seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--store", default="", help="a --store URL for the server (default: memory)")
    args = parser.parse_args(argv)
    store_args = ["--store", args.store] if args.store else []
    with tempfile.TemporaryDirectory(prefix="mock-epay-postlink-down-") as tmp:
        log_dir = Path(tmp)
        opts = Options(duration=args.round_seconds, connections=args.connections, threads=args.threads,
                       server_args=[], quiet_runs=False, soak=0, log_dir=log_dir)
        down = f"http://127.0.0.1:{free_port()}/down"
        port = free_port()
        print(f"token+cards/auth, postLink {down} (nothing listens), wrk {args.connections} connections, "
              f"{args.rounds} rounds of {args.round_seconds} s, store {args.store or 'memory'}")
        print(f"{'round':>5}{'at s':>7}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}"
              f"{'CPU us':>9}{'RSS MB':>9}{'errors':>8}")
        offset = 0
        with mock_server(port, log_dir / "server.log", store_args) as server:
            for number in range(args.rounds):
                load = measured(server, "pay.lua", opts, wrk_args(offset, args.threads, down))
                offset += load.token_ok + 2 * args.connections  # the invoices it used, and a margin
                print(f"{number:>5}{(number + 1) * args.round_seconds:>7}{load.rps:>9,.0f}{load.p50_ms:>9.1f}"
                      f"{load.p99_ms:>9.1f}{load.max_ms:>9.1f}{load.cpu_us_per_request:>9.0f}"
                      f"{server.rss_mb():>9.0f}{load.errors:>8}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
