#!/usr/bin/env bash
# The id-level CLI forms that outside checks call, on the committed Gemma 3 fixtures.
# Called by CTest as: bash model_cli.sh GLINT_BINARY SOURCE_DIR
set -euo pipefail
glint="$1"
root="$2"
fixtures="$root/tests/reference/fixtures"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# logits --out writes float32 [T, V] for every position as .npy.
"$glint" logits --model "$fixtures/gemma3_gqa" --prompt-ids 2,5,7 --out "$tmp/l.npy"
python3 - "$tmp/l.npy" <<'PY' || fail "logits .npy header/size"
import ast, struct, sys
raw = open(sys.argv[1], "rb").read()
assert raw[:6] == b"\x93NUMPY", "magic"
n = struct.unpack("<H", raw[8:10])[0]
header = ast.literal_eval(raw[10:10 + n].decode())
assert header["descr"] == "<f4" and header["shape"] == (3, 512), header
assert len(raw) == 10 + n + 3 * 512 * 4
PY

# generate --ids-only prints the greedy ids space-separated, matching the reference's greedy continuation.
expected="$(python3 - "$fixtures/gemma3_gqa/golden.safetensors" <<'PY'
import json, struct, sys
raw = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
h = json.loads(raw[8:8 + n])
def ids(name):
    b, e = h[name]["data_offsets"]
    data = raw[8 + n + b: 8 + n + e]
    return list(struct.unpack("<%dq" % (len(data) // 8), data))
print(",".join(map(str, ids("greedy_prompt"))) + "|" + " ".join(map(str, ids("greedy_ids")[:6])))
PY
)"
prompt="${expected%%|*}"; want="${expected##*|}"
got="$("$glint" generate --model "$fixtures/gemma3_gqa" --prompt-ids "$prompt" -n 6 --temperature 0 --ids-only --ignore-eos)"
[ "$got" = "$want" ] || fail "generate: got '$got', want '$want'"

# classify prints one score per label.
scores="$("$glint" classify --model "$fixtures/gemma3_classifier" --prompt-ids 2,5,7)"
[ "$(echo "$scores" | wc -w)" = 3 ] || fail "classify printed '$scores'"

# info names the architecture, parameter count, layer types, dtype and memory.
info="$("$glint" info --model "$fixtures/gemma3_gqa")"
for word in Gemma3ForCausalLM parameters sliding full F32 "memory needed"; do
  grep -q "$word" <<<"$info" || fail "info lacks '$word'"
done

# Errors are clear and exit non-zero, never a crash.
mkdir -p "$tmp/broken"
cp "$fixtures/gemma3_gqa/config.json" "$tmp/broken/"
head -c 1000 "$fixtures/gemma3_gqa/model.safetensors" > "$tmp/broken/model.safetensors"
if msg="$("$glint" generate --model "$tmp/broken" --prompt-ids 2,3 -n 1 2>&1)"; then fail "truncated checkpoint accepted"; fi
grep -q "model.safetensors" <<<"$msg" || fail "error does not name the file: $msg"
if msg="$("$glint" info --model "$tmp/nowhere" 2>&1)"; then fail "missing dir accepted"; fi
grep -q "does not exist" <<<"$msg" || fail "unclear error: $msg"
for cmd in logits generate classify info run chat bench perplexity; do
  "$glint" "$cmd" --help >/dev/null || fail "$cmd --help"
done
echo ok
