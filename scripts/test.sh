#!/usr/bin/env bash
# Installs what the test suite needs into the current Python environment and runs it.
# Usage: bash scripts/test.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."

# Use the active virtualenv; otherwise create (once) and use .venv beside this script's repo.
if [ -z "${VIRTUAL_ENV:-}" ] && [ -z "${PYTHON:-}" ]; then
    [ -x .venv/bin/python ] || python3 -m venv .venv
    PYTHON=.venv/bin/python
fi
PYTHON="${PYTHON:-python}"
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
