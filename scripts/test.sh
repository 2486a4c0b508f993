#!/usr/bin/env bash
# The whole test suite from a fresh Debian 12 machine: install, build (tests included), assemble the
# shipped model, run every test through CTest. CUDA tests print "skipped: no GPU" without a GPU.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$here/scripts/setup.sh"
bash "$here/scripts/build.sh"
python3 "$here/scripts/assemble_model.py" --dir "$here/models/kjv-gemma3-tiny" >/dev/null
cd "$here/build"
ctest --output-on-failure -j "$(nproc)" --timeout 600
if ! nvidia-smi -L > /dev/null 2>&1; then
  echo "GPU tests (*Cuda*, DeviceSampler*): skipped: no GPU on this machine; scripts/device_cuda.sh runs them on one"
fi
