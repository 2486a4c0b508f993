#!/usr/bin/env bash
# The CUDA backend's one-shot run on the GPU machine, from the repo root (needs $OUT): GPU tests, then the model
# benchmarks of issue #4. The binaries come built here: scripts/device_pack.sh packs them into
# .devcarry/pack/bin.tar.gz (carry [".devcarry/pack"]), which this script unpacks into .devcarry/bin; or point
# GLINT_DEVICE_BUILD at a build directory. Every step runs under `timeout` and never stops the others.
# Logs: $OUT/gpu_tests.log, $OUT/bench_*.log, $OUT/profile_*.log.
set -u
OUT="${OUT:-$PWD/device_out}"
mkdir -p "$OUT"
export GLINT_SOURCE_DIR="$PWD"
export LD_LIBRARY_PATH="/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
if [ -z "${GLINT_DEVICE_BUILD:-}" ] && [ -f .devcarry/pack/bin.tar.gz ]; then
  mkdir -p .devcarry/bin && tar -C .devcarry/bin -xzf .devcarry/pack/bin.tar.gz
  GLINT_DEVICE_BUILD=.devcarry/bin
fi
bin="${GLINT_DEVICE_BUILD:-build-cuda}"
started=$(date +%s)
stamp() { echo "[$(( $(date +%s) - started ))s] $*"; }

stamp "$(nvidia-smi --query-gpu=name,memory.total,clocks.sm,clocks.mem --format=csv,noheader 2>&1 | head -n 1)"
if ! "$bin/glint_tests" --gtest_list_tests > /dev/null 2>&1; then
  stamp "carried binaries do not run here: $("$bin/glint_tests" --gtest_list_tests 2>&1 | head -n 3)"
  exit 1
fi

filter="${GPU_TEST_FILTER:-*Cuda*:*cuda*:*Gpu*:*DeviceSampler*}"
stamp "GPU tests ($filter)"
timeout "${TEST_SECONDS:-240}" "$bin/glint_tests" --gtest_filter="$filter" > "$OUT/gpu_tests.log" 2>&1
stamp "GPU tests rc=$?"
grep -E "^\[  (FAILED|PASSED|SKIPPED) |tests ran" "$OUT/gpu_tests.log" | head -n 40
grep -B2 -A8 "Failure" "$OUT/gpu_tests.log" | head -n 60

# The CLI on the GPU: greedy and sampled generation from a fixture must equal the CPU's, token for token.
fixture=tests/reference/fixtures/gemma3_sharded
for flags in "" "--temperature 1.5 --top-k 40 --top-p 0.95 --seed 3"; do
  cpu_ids="$("$bin/glint" generate --model "$fixture" --prompt-ids "2 17 33 4 90 12" -n 24 --ids-only $flags 2>&1)"
  gpu_ids="$("$bin/glint" generate --model "$fixture" --prompt-ids "2 17 33 4 90 12" -n 24 --ids-only $flags \
    --device cuda --verbose 2>&1)"
  if [ "$(tail -n 1 <<<"$gpu_ids")" = "$(tail -n 1 <<<"$cpu_ids")" ]; then stamp "CLI generate on cuda == cpu ($flags)"
  else stamp "CLI generate MISMATCH ($flags): cpu [$cpu_ids] gpu [$gpu_ids]"; fi
done

for model in ${BENCH_MODELS:-gemma3-1b gemma3-4b}; do
  stamp "bench $model"
  timeout "${BENCH_SECONDS:-150}" "$bin/glint" bench --synthetic "configs/synthetic/$model.json" --device cuda \
    --prefill 512,2048 --context 128,4096 --batch 8,32,64 --steps "${BENCH_STEPS:-64}" > "$OUT/bench_$model.log" 2>&1
  stamp "bench $model rc=$?"
  tail -n 14 "$OUT/bench_$model.log"
done
stamp "done"

# GLINT_CUDA_PROFILE=1: where a pass's device time goes (eager passes, one op kind per line), batch 1.
if [ -n "${PROFILE_MODELS:-}" ]; then
  for model in $PROFILE_MODELS; do
    stamp "profile $model"
    GLINT_CUDA_PROFILE=1 timeout 120 "$bin/glint" bench --synthetic "configs/synthetic/$model.json" --device cuda \
      --prefill 2048 --context 128 --batch 1 --steps 64 > "$OUT/profile_$model.log" 2>&1
    grep -A 30 "GLINT_CUDA_PROFILE" "$OUT/profile_$model.log" | head -n 30
  done
fi
