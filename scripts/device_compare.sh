#!/usr/bin/env bash
# Decode A/B on the GPU machine: the same synthetic benchmark with each GLINT_CUDA_* switch in COMPARE ("NAME=VALUE
# ..."; the default run first). Needs $OUT and carried binaries (GLINT_DEVICE_BUILD); logs go to $OUT/compare_*.log.
set -u
OUT="${OUT:-$PWD/device_out}"
bin="${GLINT_DEVICE_BUILD:-build-cuda}"
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
