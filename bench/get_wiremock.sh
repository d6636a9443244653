#!/bin/sh
# Fetch WireMock's standalone jar for `python bench/run.py --peer wiremock`, from the npm registry
# package `wiremock` (it ships build/wiremock-standalone-<version>.jar). Nothing is downloaded when
# the bench or the mock runs; this script is the only step that touches the network.
#
#   sh bench/get_wiremock.sh [VERSION]      # default 3.13.2; puts the jar in bench/.cache/
#
# The jar is not committed (bench/.cache/ is in .gitignore). WIREMOCK_JAR=/path/to.jar makes the
# bench use another copy instead.
set -eu
VERSION="${1:-3.13.2}"
HERE="$(cd "$(dirname "$0")" && pwd)"
CACHE="$HERE/.cache"
JAR="$CACHE/wiremock-standalone-$VERSION.jar"
if [ -f "$JAR" ]; then
    echo "$JAR (already there)"
    exit 0
fi
command -v npm >/dev/null || { echo "npm not found: apt-get install npm" >&2; exit 1; }
mkdir -p "$CACHE"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
(cd "$WORK" && npm pack --silent "wiremock@$VERSION" >/dev/null)
tar -xzf "$WORK/wiremock-$VERSION.tgz" -C "$WORK" "package/build/wiremock-standalone-$VERSION.jar"
mv "$WORK/package/build/wiremock-standalone-$VERSION.jar" "$JAR"
echo "$JAR"
