#!/usr/bin/env bash
# --device on the CLI: bad names and a missing GPU are clear errors; with a GPU, glint run on cuda gives the same
# greedy text as on the CPU. Called by CTest as: bash device_cli.sh GLINT_BINARY SOURCE_DIR
set -euo pipefail
glint="$1"
root="$2"
source "$root/tests/e2e/shipped_model.bash"

if msg="$("$glint" run --model "$model" --raw --device tpu "x" 2>&1)"; then fail "--device tpu accepted"; fi
grep -q "unknown device 'tpu'" <<<"$msg" || fail "unclear error for a bad device: $msg"

cpu="$("$glint" run --model "$model" --raw -n 8 "In the beginning God")"
if gpu="$("$glint" run --model "$model" --raw -n 8 --device cuda "In the beginning God" 2>"$root/.device_err")"; then
  rm -f "$root/.device_err"
  [ "$gpu" = "$cpu" ] || fail "cuda and cpu disagree: '$gpu' vs '$cpu'"
  echo ok "(GPU present: cuda == cpu)"
  exit 0
fi
err="$(cat "$root/.device_err")"; rm -f "$root/.device_err"
grep -qE "no CUDA GPU is available|built without CUDA" <<<"$err" || fail "unclear error without a GPU: $err"
echo "ok (skipped: no GPU; the missing GPU is reported clearly)"
