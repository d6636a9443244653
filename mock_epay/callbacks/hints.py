"""What the callback dispatcher writes to the log: escaped text and the Docker loopback hint.

* `loggable(text)`: every log line the callback code writes passes merchant-supplied
  text (URLs, invoice ids, error messages) through it, so a postLink with CR/LF cannot
  forge a log line: control characters are shown repr-style (`\\r\\n`), a backslash as `\\\\`.
* `running_in_container()`: true inside Docker / Podman / Kubernetes, where 127.0.0.1 is the
  container, not the developer's machine; `docker_hint(host)` says what to use instead.
"""

from __future__ import annotations

from pathlib import Path

CONTAINER_MARKERS = ("/.dockerenv", "/run/.containerenv")
CGROUP_WORDS = ("docker", "kubepods", "containerd", "libpod", "lxc")


def loggable(text: object) -> str:
    """`text` with backslashes and non-printable characters escaped as in `repr()`."""
    value = str(text)
    if value.isprintable() and "\\" not in value:
        return value
    return "".join(_escape(char) for char in value)


def _escape(char: str) -> str:
    if char == "\\":
        return "\\\\"
    if char.isprintable():
        return char
    return repr(char)[1:-1]


def running_in_container(root: Path = Path("/")) -> bool:
    """True when `/.dockerenv` or `/run/.containerenv` exists, or PID 1's cgroup names a runtime."""
    if any((root / marker.lstrip("/")).exists() for marker in CONTAINER_MARKERS):
        return True
    try:
        cgroup = (root / "proc/1/cgroup").read_text(errors="replace")
    except OSError:
        return False
    return any(word in cgroup for word in CGROUP_WORDS)


def docker_hint(host: str) -> str:
    return (f"{host} is this container, not your machine; reach a shop on the host with "
            "host.docker.internal (docker run --add-host=host.docker.internal:host-gateway) "
            "or, under docker compose, the shop's service name")
