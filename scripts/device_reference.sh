#!/usr/bin/env bash
# Runs once on the GPU machine from the repo root (needs $OUT): builds the transformers reference fixtures,
# the tokenizer goldens (when that script exists) and trains + exports the KJV model with its reference numbers.
# Steps are independent: each runs under `timeout`, a failing one never stops the others (no `set -e`).
# Fixtures and tokenizer goldens are CPU work and run in the background while training uses the GPU.
# Results (at most 8 files, each well under 16 MiB):
#   $OUT/fixtures.tar.gz  $OUT/tokenizer_goldens.tar.gz  $OUT/device_reference.log (all step logs)
#   $OUT/kjv/{compact.safetensors,config.json,generation_config.json,reference.json,train.log}
set -u
OUT="${OUT:-$PWD/device_out}"
TRAIN_SECONDS="${TRAIN_SECONDS:-165}"
mkdir -p "$OUT/kjv"
work="$(mktemp -d)"
logs="$work/logs"
mkdir -p "$logs" "$work/fixtures" "$work/tokenizer_goldens"
started=$(date +%s)
stamp() { echo "[$(( $(date +%s) - started ))s] $*"; }

# Versions are recorded by each step (fixtures_summary.json, golden.json, reference.json); no extra import here.
stamp "start: $(nvidia-smi -L 2>&1 | head -n 2 | tr '\n' ' ') cores $(nproc)"

# (a) + (b): CPU steps, in the background.
(
  stamp "fixtures: start"
  OMP_NUM_THREADS=6 timeout 90 python3 tests/reference/make_fixtures.py --out "$work/fixtures" \
    > "$logs/fixtures.log" 2>&1
  echo "rc=$?" >> "$logs/fixtures.log"
  tar czf "$OUT/fixtures.tar.gz" -C "$work" fixtures 2>> "$logs/fixtures.log"
  # The return trip drops files over 16 MiB: shed the two derived layout copies before losing everything.
  if [ "$(stat -c %s "$OUT/fixtures.tar.gz")" -gt 16000000 ]; then
    echo "fixtures.tar.gz too large ($(stat -c %s "$OUT/fixtures.tar.gz") bytes): dropping layout copies" \
      >> "$logs/fixtures.log"
    tar czf "$OUT/fixtures.tar.gz" -C "$work" --exclude fixtures/gemma3_multimodal_legacy \
      --exclude fixtures/llama4_multimodal_layout fixtures 2>> "$logs/fixtures.log"
  fi
  echo "fixtures.tar.gz: $(stat -c %s "$OUT/fixtures.tar.gz") bytes" >> "$logs/fixtures.log"
  stamp "fixtures: done ($(tail -n 1 "$logs/fixtures.log"))"
  if [ -f tests/reference/make_tokenizer_goldens.py ]; then
    stamp "tokenizer goldens: start"
    timeout 40 python3 tests/reference/make_tokenizer_goldens.py --tokenizers .devcarry/tokenizers \
      --out "$work/tokenizer_goldens" > "$logs/tokenizer_goldens.log" 2>&1
    echo "rc=$?" >> "$logs/tokenizer_goldens.log"
    tar czf "$OUT/tokenizer_goldens.tar.gz" -C "$work" tokenizer_goldens 2>> "$logs/tokenizer_goldens.log"
    stamp "tokenizer goldens: done ($(tail -n 1 "$logs/tokenizer_goldens.log"))"
  else
    echo "tests/reference/make_tokenizer_goldens.py not present: skipped" > "$logs/tokenizer_goldens.log"
  fi
) > "$logs/cpu_steps.log" 2>&1 &
cpu_pid=$!

# (c): training + export + references on the GPU.
stamp "train: start (budget ${TRAIN_SECONDS}s)"
timeout 235 python3 models/kjv-gemma3-tiny/train.py --corpus .devcarry/kjv.txt --heldout .devcarry/kjv_heldout.txt \
  --english .devcarry/english.txt --tokenizer .devcarry/tokenizers/gemma3/tokenizer.json --out "$OUT/kjv" \
  --seconds "$TRAIN_SECONDS" > "$logs/train_step.log" 2>&1
echo "rc=$?" >> "$logs/train_step.log"
stamp "train: done ($(tail -n 1 "$logs/train_step.log"))"

wait "$cpu_pid"
stamp "all steps finished"

{
  echo "===== summary"
  echo "fixtures:"
  python3 - "$work/fixtures/fixtures_summary.json" <<'EOF' 2>&1
import json, sys
try:
    for name, status in json.load(open(sys.argv[1]))["results"].items():
        print(f"  {name}: {status}")
except Exception as exc:
    print("  no fixtures summary:", exc)
EOF
  ls -la "$OUT" "$OUT/kjv" 2>&1
  echo "kjv:"
  python3 - "$OUT/kjv/reference.json" <<'EOF' 2>&1
import json, sys
try:
    ref = json.load(open(sys.argv[1]))
    print("  training:", ref.get("training"))
    for dtype in ("float32", "bfloat16"):
        for key, value in ref.get(dtype, {}).get("perplexity", {}).items():
            print(f"  {dtype} ppl {key}: {value['ppl']:.4f} ({value['scored_tokens']} tokens)")
        for prompt, value in ref.get(dtype, {}).get("prompts", {}).items():
            print(f"  {dtype} {prompt!r} -> {value['greedy_text']!r}")
except Exception as exc:
    print("  no reference.json:", exc)
EOF
} > "$logs/summary.log"

# One log file on the way back (the return trip allows only 8 files).
for f in cpu_steps fixtures tokenizer_goldens train_step summary; do
  echo "===== $f.log"
  cat "$logs/$f.log" 2>/dev/null
done > "$OUT/device_reference.log"
cat "$logs/cpu_steps.log" "$logs/summary.log"
tail -n 30 "$logs/fixtures.log" 2>/dev/null
tail -n 20 "$logs/train_step.log" 2>/dev/null
rm -rf "$work"
stamp "wrote $(ls "$OUT" "$OUT/kjv" | tr '\n' ' ')"
