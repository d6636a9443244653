"""A throwaway PostgreSQL cluster for the tests: started once per session, stopped at the end.

With `MOCK_EPAY_PG_URL` set, that server is used as it is. Otherwise Debian's binaries
(`initdb`, `pg_ctl`; on PATH or under /usr/lib/postgresql/*/bin) make a cluster in a temporary
directory, as the `postgres` OS user when the tests run as root (initdb refuses root), listening
on a free loopback port and a socket in that directory only. Without the binaries the PostgreSQL
tests skip with a note, except in CI (`CI=true` or `MOCK_EPAY_REQUIRE_POSTGRES=1`), where they fail.

Each store a test opens gets a fresh schema (`fresh_url()`), so tests never see each other's rows.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

_started: dict[str, str] = {}
_schemas = itertools.count(1)


def postgres_required() -> bool:
    """True in CI, where a missing PostgreSQL is a failure rather than a skip."""
    return os.environ.get("CI", "").lower() == "true" or os.environ.get("MOCK_EPAY_REQUIRE_POSTGRES") == "1"


def _bin_dir() -> Path | None:
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).resolve().parent
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(candidate) / "initdb").exists():
            return Path(candidate)
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_cluster_owner(argv: list[str]) -> list[str]:
    """`argv` run as the `postgres` user when we are root (initdb and postgres refuse root)."""
    if os.geteuid() != 0:
        return argv
    return ["runuser", "-u", "postgres", "--", *argv]


def _start_cluster() -> str:
    bin_dir = _bin_dir()
    if bin_dir is None:
        message = "PostgreSQL binaries (initdb, pg_ctl) not found: install Debian's postgresql"
        if postgres_required():
            pytest.fail(message + " (required here: CI / MOCK_EPAY_REQUIRE_POSTGRES=1)")
        pytest.skip(message)
    root = Path(tempfile.mkdtemp(prefix="mock-epay-pg-"))
    data = root / "data"
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        os.chown(root, owner.pw_uid, owner.pw_gid)
    port = _free_port()
    run = {"check": True, "capture_output": True, "timeout": 120}
    subprocess.run(_as_cluster_owner([str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres",
                                      "--auth=trust", "-E", "UTF8", "--no-sync"]), **run)
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c fsync=off -c max_connections=200"
    subprocess.run(_as_cluster_owner([str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options,
                                      "-l", str(root / "log"), "-w", "-t", "60", "start"]), **run)
    atexit.register(_stop_cluster, bin_dir, data, root)
    url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    _create_database(url, "mock_epay_test")
    return url.rsplit("/", 1)[0] + "/mock_epay_test"


def _stop_cluster(bin_dir: Path, data: Path, root: Path) -> None:
    with contextlib.suppress(Exception):
        subprocess.run(_as_cluster_owner([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate",
                                          "-w", "stop"]), capture_output=True, timeout=60)
    shutil.rmtree(root, ignore_errors=True)


def _create_database(url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")


def cluster_url() -> str:
    """The URL of the session's PostgreSQL database (started on first use)."""
    if "url" not in _started:
        _started["url"] = os.environ.get("MOCK_EPAY_PG_URL") or _start_cluster()
    return _started["url"]


def fresh_url() -> str:
    """A URL whose connections work in a new, empty schema of the session's database."""
    import psycopg

    base = cluster_url()
    schema = f"t{os.getpid()}_{next(_schemas)}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    separator = "&" if "?" in base else "?"
    return f"{base}{separator}options=-csearch_path%3D{schema}"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A URL to the session's throwaway PostgreSQL (skipped without binaries, except in CI)."""
    yield cluster_url()


@pytest.fixture
def pg_store_url(postgres_url: str) -> str:
    """A fresh, empty schema of that database for one test."""
    return fresh_url()
