"""PostgreSQL for the bench: a throwaway cluster for `--store postgresql`, a schema per run, its CPU.

`--store postgresql` (no URL) starts Debian's PostgreSQL (`initdb`, `pg_ctl`) in a temporary
directory, as the `postgres` user when the bench runs as root, listening on 127.0.0.1 and a
socket in that directory only, with fsync off as the tests' cluster (tests/pg_cluster.py) runs
(a throwaway sandbox; with fsync on, the disk's flush latency decides every figure), and stops
it at the end. `--store postgresql://...` uses that server. Either way every measured run gets
its own new schema (dropped at the end), because the mock refuses a second payment for the
same invoice suffix and each run starts its invoices from zero.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from procs import HOST, free_port, tree_cpu_seconds

_schemas = itertools.count(1)


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError as exc:
        raise SystemExit("--store postgresql needs psycopg: pip install -e '.[postgres]'") from exc
    return psycopg


def _bin_dir() -> Path | None:
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).resolve().parent
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(candidate) / "initdb").exists():
            return Path(candidate)
    return None


def _as_owner(argv: list[str]) -> list[str]:
    return argv if os.geteuid() != 0 else ["runuser", "-u", "postgres", "--", *argv]


@contextlib.contextmanager
def throwaway_cluster() -> Iterator[str]:
    """A URL to a database of a new local cluster, stopped and deleted on exit."""
    bin_dir = _bin_dir()
    if bin_dir is None:
        raise SystemExit("--store postgresql: initdb / pg_ctl not found (Debian: apt-get install postgresql)")
    root = Path(tempfile.mkdtemp(prefix="mock-epay-bench-pg-"))
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        os.chown(root, owner.pw_uid, owner.pw_gid)
    data, port = root / "data", free_port()
    run: dict[str, Any] = {"check": True, "capture_output": True, "timeout": 120}
    try:
        subprocess.run(_as_owner([str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres",
                                  "--auth=trust", "-E", "UTF8", "--no-sync"]), **run)
        options = f"-c listen_addresses={HOST} -p {port} -k {root} -c max_connections=200 -c fsync=off"
        subprocess.run(_as_owner([str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options,
                                  "-l", str(root / "log"), "-w", "-t", "60", "start"]), **run)
        url = f"postgresql://postgres@{HOST}:{port}/postgres"
        with _psycopg().connect(url, autocommit=True) as conn:
            conn.execute("CREATE DATABASE mock_epay_bench")
        yield url.rsplit("/", 1)[0] + "/mock_epay_bench"
    finally:
        with contextlib.suppress(Exception):
            subprocess.run(_as_owner([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w",
                                      "stop"]), capture_output=True, timeout=60)
        shutil.rmtree(root, ignore_errors=True)


class Postgres:
    """One PostgreSQL server the bench's runs share: fresh schemas, and its CPU from /proc."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.schemas: list[str] = []
        self.postmaster = self._find_postmaster()

    def _find_postmaster(self) -> int | None:
        """The postmaster's pid: the parent of our backend, when the server runs on this machine."""
        with _psycopg().connect(self.url, autocommit=True) as conn:
            backend = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
            try:
                stat = Path(f"/proc/{backend}/stat").read_text()
            except OSError:
                return None  # another machine or container: no CPU figure
        return int(stat.rpartition(")")[2].split()[1])

    def fresh_url(self) -> str:
        """A URL whose connections work in a new, empty schema."""
        schema = f"bench{os.getpid()}_{next(_schemas)}"
        with _psycopg().connect(self.url, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
        self.schemas.append(schema)
        separator = "&" if "?" in self.url else "?"
        return f"{self.url}{separator}options=-csearch_path%3D{schema}"

    def cpu_seconds(self) -> float:
        """CPU of every PostgreSQL process (backends, writers, exited backends the postmaster reaped)."""
        return tree_cpu_seconds(self.postmaster) if self.postmaster else 0.0

    def drop_schemas(self) -> None:
        with contextlib.suppress(Exception), _psycopg().connect(self.url, autocommit=True) as conn:
            for schema in self.schemas:
                conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@contextlib.contextmanager
def postgres_for(store: str) -> Iterator[Postgres]:
    """`postgresql` alone: a throwaway cluster; a `postgresql://` URL: that server."""
    with contextlib.ExitStack() as stack:
        url = store if "://" in store else stack.enter_context(throwaway_cluster())
        server = Postgres(url)
        try:
            yield server
        finally:
            server.drop_schemas()


def is_postgres(store: str) -> bool:
    return store == "postgresql" or store.startswith(("postgresql://", "postgres://"))
