#!/usr/bin/env bash
# The shipped model end to end: text in, text out, and perplexity equal to transformers' (reference.json).
# Called by CTest as: bash kjv_model.sh GLINT_BINARY SOURCE_DIR
set -euo pipefail
glint="$1"
root="$2"
source "$root/tests/e2e/shipped_model.bash"

# Greedy continuation of verse openings reproduces the verse.
out="$("$glint" run --model "$model" --raw -n 8 "In the beginning God")"
echo "In the beginning God -> $out"
[[ "$out" == " created the heaven and the earth."* ]] || fail "Genesis 1:1 not reproduced: '$out'"
out="$("$glint" run --model "$model" --raw -n 5 "The LORD is my shepherd;")"
echo "The LORD is my shepherd; -> $out"
[[ "$out" == " I shall not want."* ]] || fail "Psalm 23:1 not reproduced: '$out'"

# Perplexity equals the transformers reference within 0.5%, and Bible text is far more predictable
# than unrelated English.
heldout="$(mktemp)"; english="$(mktemp)"
trap 'rm -f "$heldout" "$english"' EXIT
bible -f "Philemon 1:1-25" | sed -E 's/^[^ ]+ //' > "$heldout"
cp /usr/share/common-licenses/GPL-3 "$english"
check() {  # file, ctx, stride, reference key
  local line value expected
  line="$("$glint" perplexity --model "$model" --file "$1" --ctx "$2" --stride "$3")"
  echo "$4: $line"
  value="$(echo "$line" | awk '{print $2}')"
  expected="$(python3 -c "import json,sys; print(json.load(open('$model/reference.json'))['float32']['perplexity']['$4']['ppl'])")"
  python3 -c "import sys; v,e=$value,$expected; sys.exit(0 if abs(v-e)/e < 0.005 else 1)" ||
    fail "$4: glint $value vs transformers $expected (more than 0.5% apart)"
  echo "$value"
}
bible_ppl="$(check "$heldout" 128 64 heldout_philemon/ctx128_stride64 | tail -n 1)"
english_ppl="$(check "$english" 256 128 english_gpl3/ctx256_stride128 | tail -n 1)"
python3 -c "import sys; sys.exit(0 if $bible_ppl * 100 < $english_ppl else 1)" ||
  fail "Bible perplexity $bible_ppl is not far below English $english_ppl"
echo "ok"
