#!/usr/bin/env bash
# CI without Docker: install mock-epay, start it in the background on 127.0.0.1, wait (bounded)
# for its health check, run your test command against it, then stop it.
#
#   MOCK_EPAY_PIP_SPEC='mock-epay @ git+https://github.com/<owner>/mock-epay@<ref>' \
#       bash examples/ci-recipe.sh pytest
#
# MOCK_EPAY_PIP_SPEC  what pip installs. mock-epay is not on PyPI yet: use a git URL (fill in
#                     <owner> and <ref>), a wheel file or a path to a clone (see docs/pytest.md).
#                     Empty: use the `mock-epay` already on PATH.
# MOCK_EPAY_PORT      the port (default 8080). The command gets MOCK_EPAY_URL (MockEpay.connect()).
set -euo pipefail

port="${MOCK_EPAY_PORT:-8080}"
if [ -n "${MOCK_EPAY_PIP_SPEC:-}" ]; then
    python -m pip install --quiet --disable-pip-version-check "$MOCK_EPAY_PIP_SPEC"
fi

mock-epay serve --host 127.0.0.1 --port "$port" --quiet &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true' EXIT

healthy() {
    python -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)" \
        "http://127.0.0.1:$port/_mock/health" 2>/dev/null
}
for _ in $(seq 1 100); do                      # at most ~10 s
    healthy && break
    kill -0 "$server" 2>/dev/null || { echo "mock-epay exited before it was healthy" >&2; exit 1; }
    sleep 0.1
done
healthy || { echo "mock-epay was not healthy within 10 s" >&2; exit 1; }

export MOCK_EPAY_URL="http://127.0.0.1:$port"
"$@"
