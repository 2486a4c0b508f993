#!/usr/bin/env bash
# Configures and builds glint (Release, Ninja) into build/. Extra arguments go to cmake.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
jobs="${GLINT_BUILD_JOBS:-$(nproc)}"
cmake -S "$here" -B "$here/build" -G Ninja -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
ninja -C "$here/build" -j "$jobs"
