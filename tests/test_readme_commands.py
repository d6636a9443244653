"""The README's first screen, run as a new user runs it: the server command, then the test command.

The two commands must not break each other: the test command installs into its own virtual
environment, so a server started by the first command keeps serving its demo shop and dashboard
(an earlier test command reinstalled the package into the server's `.venv` under it, and the
running server answered 500 `TemplateNotFound`). The slow test runs both commands, as the README
spells them, in a copy of this repository: the first one's install, its server on a free port,
the second one with a one-file pytest selection, then the server's pages again.

The README's five-minute demo paragraph is read here too (the browser tests type what it says and
compare what it promises), and the install lines of the docs are checked: mock-epay is not on PyPI,
so no page may say `pip install mock-epay`, and the wheel and git-URL lines of docs/pytest.md run.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.test_cli import free_port

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
COPY_IGNORE = shutil.ignore_patterns(".git", ".venv*", "venv", "__pycache__", ".pytest_cache", ".ruff_cache",
                                     "test-artifacts", "*.egg-info", "build", "dist", "results", ".cache")
INSTALL_TIMEOUT = 900


def first_screen_commands() -> list[str]:
    """The commands of the README's first shell block, without their trailing comments."""
    block = re.search(r"```sh\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert block, "the README has no ```sh block"
    lines = [line.split("#", 1)[0].strip() for line in block.group(1).splitlines()]
    return [line for line in lines if line]


def server_command() -> tuple[str, list[str]]:
    """The first command split into its install steps (a shell line) and the server it starts."""
    steps = [step.strip() for step in first_screen_commands()[0].split("&&")]
    return " && ".join(steps[:-1]), shlex.split(steps[-1])


@dataclass(frozen=True)
class ReadmeDemo:
    """What the README's five-minute demo tells the reader to type and promises they will see."""

    amount: str
    card: str
    expiry: str
    cvc: str
    button: str  # the payment page's button, exactly as the page shows it
    shop_gets: str
    status_line: str


def readme_demo() -> ReadmeDemo:
    """The README's demo paragraph, read into its inputs and promised results (the browser tests walk it)."""
    text = README.read_text(encoding="utf-8")
    start = text.index("**Five-minute demo")
    paragraph = re.sub(r" *\n *", " ", text[start:text.index("\n\n", start)])  # keep other spaces as typed
    patterns = {"amount": r"amount \*\*(\d+)\*\*", "card": r"card \*\*([\d ]+)\*\*",
                "expiry": r"expiry \*\*(\d\d/\d\d)\*\*", "cvc": r"CVC \*\*(\d+)\*\*",
                "button": r"then \*\*(Pay [^*]+)\*\*", "shop_gets": r"The shop gets `([^`]+)`",
                "status_line": r"the status line reads `([^`]+)`"}
    found = {name: re.search(pattern, paragraph) for name, pattern in patterns.items()}
    missing = [name for name, match in found.items() if match is None]
    assert not missing, f"the README's demo paragraph no longer says its {missing}: {paragraph}"
    return ReadmeDemo(**{name: match.group(1) for name, match in found.items() if match})


def test_the_readme_demo_says_what_to_type_and_what_the_page_shows():
    demo = readme_demo()
    assert demo.amount == "4840" and demo.card.replace(" ", "") == "4405639704015096"
    # One amount format everywhere: the page's "4 840.00 KZT" (a narrow no-break space groups thousands).
    assert demo.button == "Pay 4\u202f840.00 KZT"
    assert demo.status_line.startswith("REJECT (reasonCode 484")


def test_the_first_screen_has_the_server_command_then_the_test_command():
    commands = first_screen_commands()
    assert len(commands) == 2, commands
    install, serve = server_command()
    assert install == "python3 -m venv .venv && .venv/bin/pip install ."
    assert serve == [".venv/bin/mock-epay", "serve"]
    assert commands[1] == "bash scripts/test.sh"


def test_the_test_commands_environment_is_not_the_servers_and_git_ignores_it():
    script = (ROOT / "scripts" / "test.sh").read_text(encoding="utf-8")
    default = re.search(r'venv="\$\{MOCK_EPAY_TEST_VENV:-([^}]+)\}"', script)
    assert default, "scripts/test.sh names no default environment"
    assert default.group(1) == ".venv-test"
    assert ".venv-test/" in (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()


def status_of(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def wait_until_up(base: str, process: subprocess.Popen, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            if status_of(base + "/_mock/health") == 200:
                return
        except OSError:
            pass
        assert process.poll() is None, process.communicate()[0]
        assert time.monotonic() < deadline, "the README's server did not come up"
        time.sleep(0.05)


def user_env(home: Path) -> dict[str, str]:
    """A shell environment like a new user's: no virtualenv active, no test-env override."""
    env = {k: v for k, v in os.environ.items()
           if k not in {"VIRTUAL_ENV", "PYTHON", "MOCK_EPAY_TEST_VENV", "PYTHONPATH", "MOCK_EPAY_PORT"}}
    venv_bin = str(Path(os.environ["VIRTUAL_ENV"]) / "bin") if "VIRTUAL_ENV" in os.environ else None
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p != venv_bin)
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PIP_NO_COMPILE"] = "1"  # byte-compiling (Faker alone is thousands of modules) is most of the time
    env.setdefault("HOME", str(home))
    return env


@pytest.mark.slow
def test_running_the_test_command_leaves_the_readme_server_serving(tmp_path):
    checkout = tmp_path / "mock-epay"
    shutil.copytree(ROOT, checkout, ignore=COPY_IGNORE)
    env = user_env(tmp_path)
    install, serve = server_command()
    installed = subprocess.run(["bash", "-c", install], cwd=checkout, env=env, capture_output=True,
                               text=True, timeout=INSTALL_TIMEOUT)
    assert installed.returncode == 0, installed.stdout[-3000:] + installed.stderr[-3000:]

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([*serve, "--port", str(port), "--quiet"], cwd=checkout, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_until_up(base, server)
        assert status_of(base + "/_mock/demo") == 200 and status_of(base + "/_mock/ui/") == 200

        test_command = [*shlex.split(first_screen_commands()[1]), "-q", "-p", "no:cacheprovider",
                        "tests/test_lzstring.py"]
        tested = subprocess.run(test_command, cwd=checkout, env=env, capture_output=True, text=True,
                                timeout=INSTALL_TIMEOUT)
        assert tested.returncode == 0, tested.stdout[-3000:] + tested.stderr[-3000:]
        assert re.search(r"\d+ passed", tested.stdout), tested.stdout[-3000:]
        assert (checkout / ".venv-test" / "bin" / "python").exists()

        assert server.poll() is None, "the README's server died while the tests ran"
        assert status_of(base + "/_mock/demo") == 200
        assert status_of(base + "/_mock/ui/") == 200
    finally:
        server.terminate()
        server.communicate(timeout=20)


def documented_commands(path: Path) -> list[str]:
    """The commands of a page's ```bash blocks, comments dropped."""
    lines = []
    for block in re.findall(r"```(?:bash|sh)\n(.*?)```", path.read_text(encoding="utf-8"), re.S):
        lines += [line.split("#", 1)[0].strip() for line in block.splitlines()]
    return [line for line in lines if line]


def test_no_page_tells_users_to_install_from_pypi_where_nothing_is_published():
    pages = [README, *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "examples").rglob("*.*"))]
    offending = [f"{page.relative_to(ROOT)}: {line.strip()}" for page in pages
                 for line in page.read_text(encoding="utf-8").splitlines()
                 if re.search(r"pip install (?:-U )?mock-epay(?![\w.-]| @)", line)
                 and "finds nothing" not in line]
    assert offending == []


@pytest.mark.slow
def test_the_wheel_and_git_url_installs_in_the_pytest_guide_work(tmp_path):
    commands = [c for c in documented_commands(ROOT / "docs" / "pytest.md") if c.startswith("pip ")]
    starts = ("pip wheel", "pip install dist/", "pip install \"mock-epay @ git+")
    wheel, from_wheel, from_git = (next(c for c in commands if c.startswith(p)) for p in starts)
    source = tmp_path / "mock-epay"
    shutil.copytree(ROOT, source, ignore=COPY_IGNORE)
    venv = tmp_path / "venv"
    subprocess.run(["python3", "-m", "venv", str(venv)], check=True, timeout=120)
    env = {**user_env(tmp_path), "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}"}

    def run(command: str) -> None:
        done = subprocess.run(["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=INSTALL_TIMEOUT)
        assert done.returncode == 0, command + "\n" + done.stdout[-2000:] + done.stderr[-2000:]

    run(wheel.replace("/path/to/mock-epay", str(source)))
    run(from_wheel)
    # The git URL form, against a local repository standing in for https://github.com/<owner>/mock-epay
    # (the venv's bundled pip 23 refuses `git+file:///` URLs, which current pip accepts).
    run("python -m pip install --quiet --upgrade pip")
    subprocess.run(["git", "init", "-q"], cwd=source, check=True)
    subprocess.run(["git", "add", "-A"], cwd=source, check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "copy"], cwd=source,
                   check=True)
    run(from_git.replace("https://github.com/<owner>/mock-epay", f"file://{source}")
        .replace("pip install", "pip install --no-deps --force-reinstall"))
    probe = subprocess.run([str(venv / "bin" / "python"), "-c",
                            "import importlib.metadata as m, mock_epay.testing; "
                            "print([e.value for e in m.entry_points(group='pytest11')])"],
                           cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert "mock_epay.pytest_plugin" in probe.stdout, probe.stderr
