#!/usr/bin/env bash
# The README's test command: installs the test dependencies into the test suite's own virtual
# environment and runs the tests.
#
#   bash scripts/test.sh [pytest args...]
#
# The environment is .venv-test beside this repository (MOCK_EPAY_TEST_VENV=DIR picks another one),
# never the .venv that `mock-epay serve` from the README's first command runs from: reinstalling
# the package there under a running server removes the files it serves (templates, static files).
# PYTHON=/path/to/python uses that interpreter's environment as it is instead.
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${MOCK_EPAY_TEST_VENV:-.venv-test}"

make_venv() {
    python3 -m venv "$venv" && return 0
    # Debian and Ubuntu ship venv's pip bootstrap separately (python3-venv).
    rm -rf "$venv"
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
        echo "installing python3-venv..."
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
        python3 -m venv "$venv"
    else
        echo "error: python3 -m venv failed; install python3-venv (apt-get install python3-venv)" >&2
        return 1
    fi
}

if [ -z "${PYTHON:-}" ]; then
    [ -x "$venv/bin/python" ] || make_venv
    PYTHON="$venv/bin/python"
fi
"$PYTHON" -m pip install --quiet --disable-pip-version-check -e ".[test]"

# The widget and dashboard tests drive Debian's Chromium through Playwright.
if ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" = "0" ]; then
        echo "installing Debian's chromium for the browser tests..."
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo apt-get update -qq
        sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
        echo "note: chromium is not installed and cannot be installed without root;" \
             "browser tests will be skipped (apt-get install chromium)" >&2
    fi
fi

exec "$PYTHON" -m pytest "$@"
