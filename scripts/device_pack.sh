#!/usr/bin/env bash
# Packs the CUDA binaries for the GPU machine (run here, from the repo root, after building build-cuda): strips
# glint, glint_tests and glint_cuda_bench into one gzip'd tar under .devcarry/pack (gitignored), small enough for
# the device tool's 64 MiB limit. On the GPU machine, scripts/device_cuda.sh unpacks it into .devcarry/bin.
#   bash scripts/device_pack.sh [build-dir]        then carry [".devcarry/pack"]
set -euo pipefail
build="${1:-build-cuda}"
mkdir -p .devcarry/bin .devcarry/pack
for binary in glint glint_tests glint_cuda_bench; do strip -o ".devcarry/bin/$binary" "$build/$binary"; done
tar -C .devcarry/bin -cf - glint glint_tests glint_cuda_bench | gzip -6 > .devcarry/pack/bin.tar.gz
ls -l .devcarry/pack/bin.tar.gz
