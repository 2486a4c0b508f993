#!/usr/bin/env bash
# Decode A/B on the GPU machine: the same synthetic benchmark with each GLINT_CUDA_* switch in COMPARE ("NAME=VALUE
# ..."; the default run first). Needs $OUT and carried binaries (GLINT_DEVICE_BUILD); logs go to $OUT/compare_*.log.
# BASELINE_BUILD=dir instead compares two builds (that one, then GLINT_DEVICE_BUILD, twice in turn): carry the
# earlier pack as .devcarry/pack_prev and unpack it there first (tar -C .devcarry/prev -xzf ...).
set -u
OUT="${OUT:-$PWD/device_out}"
bin="${GLINT_DEVICE_BUILD:-build-cuda}"
if [ -n "${BASELINE_BUILD:-}" ]; then
  for model in ${COMPARE_MODELS:-gemma3-1b gemma3-4b}; do
    for build in "$BASELINE_BUILD" "$bin" "$BASELINE_BUILD" "$bin"; do
      echo "== $model $build"
      timeout 120 "$build/glint" bench --synthetic "configs/synthetic/$model.json" --device cuda --prefill 512 \
        --context 128,4096 --batch 8 --steps "${BENCH_STEPS:-128}" 2>&1 | grep -E "^decode"
    done
  done
  exit 0
fi
for model in ${COMPARE_MODELS:-gemma3-1b gemma3-4b}; do
  for setting in default ${COMPARE:-GLINT_CUDA_PDL=0}; do
    log="$OUT/compare_${model}_${setting//[^A-Za-z0-9_]/_}.log"
    if [ "$setting" = default ]; then env_args=(); else env_args=("$setting"); fi
    env "${env_args[@]}" timeout 120 "$bin/glint" bench --synthetic "configs/synthetic/$model.json" --device cuda \
      --prefill 512 --context 128,4096 --batch 8 --steps "${BENCH_STEPS:-64}" > "$log" 2>&1
    echo "== $model $setting rc=$?"
    grep -E "decode|prefill" "$log" | grep -v "^#" | tail -n 6
  done
done
