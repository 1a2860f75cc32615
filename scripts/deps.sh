#!/usr/bin/env bash
# Installs what closewise needs on Debian 12, as root, non-interactively.
# Only what is missing is installed. Usage: scripts/deps.sh [build|demo|test]
#   build: what the library and the CLI need to build;
#   demo:  build, plus what `closewise demo` runs (scripts/demo.sh);
#   test:  demo, plus every peer the test suite drives (the default).
set -euo pipefail
mode=${1:-test}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

build_pkgs=(g++ cmake ninja-build git pkg-config
  libboost1.81-dev libboost-url1.81-dev libssl-dev openssl zlib1g-dev
  libcli11-dev libfmt-dev nlohmann-json3-dev libgtest-dev libgmock-dev libbenchmark-dev
  libhiredis-dev)
# redis-server: `closewise demo`'s resume row starts its own and kills a
# `closewise serve --resume redis://...` process mid-stream (docs/resume.md §7.5);
# the Redis session store's tests start their own too (docs/resume.md §8.3).
demo_pkgs=(redis-server)
# iproute2: ss, and ip/tc for the network namespace tests (veth, link down, tbf).
# prometheus: the metrics test scrapes `serve --metrics` with a real one (docs/metrics.md).
# haproxy: the fleet bench and its ctest put it in front of `closewise serve` (bench/fleet).
test_pkgs=(python3 python3-websockets chromium iproute2 procps clang libclang-rt-14-dev
  prometheus haproxy clang-format-14)

case "$mode" in
  build | demo | test) ;;
  *) echo "usage: scripts/deps.sh [build|demo|test]" >&2; exit 2 ;;
esac
pkgs=("${build_pkgs[@]}")
if [ "$mode" = demo ] || [ "$mode" = test ]; then pkgs+=("${demo_pkgs[@]}"); fi
if [ "$mode" = test ]; then pkgs+=("${test_pkgs[@]}"); fi
# Node.js: keep a newer one if the machine has it, else Debian's.
if [ "$mode" = test ] && ! command -v node >/dev/null 2>&1; then pkgs+=(nodejs npm); fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm peers for the interop tests (Node ws, playwright-core driving Debian's chromium).
if [ "$mode" = test ] && [ -f "$here/tests/interop/package-lock.json" ]; then
  lock="$here/tests/interop/package-lock.json"
  stamp="$here/tests/interop/node_modules/.closewise-lock"
  if ! cmp -s "$lock" "$stamp" 2>/dev/null; then
    echo "== installing npm packages (tests/interop)"
    # `a && b` does not stop `set -e` when `a` fails: test it, so a failed
    # install fails here instead of surfacing later as missing peers.
    if ! (cd "$here/tests/interop" && npm ci --no-audit --no-fund --loglevel=error); then
      echo "deps.sh: npm ci failed in tests/interop" >&2
      exit 1
    fi
    cp "$lock" "$stamp"
  fi
fi
