#!/usr/bin/env bash
# Builds the closewise CLI (Release) and runs `closewise demo`.
# Installs missing Debian packages first (deps.sh demo: the build's, and
# redis-server for the resume row). Extra arguments go to the demo.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$here/scripts/deps.sh" demo
cmake -S "$here" -B "$here/out/release" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCLOSEWISE_BUILD_TESTS=OFF -DCLOSEWISE_BUILD_EXAMPLES=OFF >/dev/null
cmake --build "$here/out/release" -j "$(nproc)" --target closewise_cli
if "$here/out/release/tools/closewise/closewise" demo --help >/dev/null 2>&1; then
  exec "$here/out/release/tools/closewise/closewise" demo "$@"
fi
# Until the demo lands, show the registry it walks through.
exec "$here/out/release/tools/closewise/closewise" codes "$@"
