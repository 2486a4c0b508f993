#!/usr/bin/env bash
# End-to-end test of `glint tokenize` / `glint detokenize` on the real Gemma 3 and Llama 3.1 tokenizers.
# Usage: bash tokenize_cli.sh GLINT_BINARY SOURCE_DIR   (exit 77 = skipped)
set -uo pipefail
glint="$1"
source_dir="$2"
data="${GLINT_DATA:-$HOME/.cache/glint}/tokenizers"
if [ ! -f "$data/gemma3/tokenizer.json" ] || [ ! -f "$data/llama3_1/tokenizer.json" ]; then
  echo "skipped: tokenizer data missing (run scripts/fetch_tokenizers.sh)"
  exit 77
fi
corpus="$source_dir/tests/reference/tokenizer_corpus.jsonl"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failures=0
check() {  # description, command...
  local what="$1"; shift
  if "$@"; then echo "ok: $what"; else echo "FAIL: $what"; failures=$((failures + 1)); fi
}

# Known ids.
printf '"Hello world"\n' | "$glint" tokenize --model "$data/llama3_1" --jsonl - > "$work/llama_hello" 2> "$work/err"
check "llama3.1 'Hello world' ids" [ "$(cat "$work/llama_hello")" = "[128000,9906,1917]" ]
printf '"Hello world"\n' | "$glint" tokenize --model "$data/llama3_1" --jsonl - --no-special > "$work/llama_hello_ns"
check "llama3.1 --no-special drops BOS" [ "$(cat "$work/llama_hello_ns")" = "[9906,1917]" ]
printf '"<bos>"\n""\n' | "$glint" tokenize --model "$data/gemma3" --jsonl - --no-special > "$work/gemma_bos"
check "gemma3 '<bos>' is id 2" [ "$(head -n 1 "$work/gemma_bos")" = "[2]" ]
check "gemma3 empty text gives []" [ "$(sed -n 2p "$work/gemma_bos")" = "[]" ]
printf '[2,9259,1902]\n' | "$glint" detokenize --model "$data/gemma3" --jsonl - > "$work/gemma_text"
check "gemma3 detokenize keeps specials" [ "$(cat "$work/gemma_text")" = '"<bos>Hello world"' ]
printf '[2,9259,1902]\n' | "$glint" detokenize --model "$data/gemma3" --jsonl - --skip-special > "$work/gemma_text_skip"
check "gemma3 detokenize --skip-special" [ "$(cat "$work/gemma_text_skip")" = '"Hello world"' ]

# One output line per input line over the whole corpus, and ids survive detokenize -> tokenize (Llama's
# byte-level BPE round-trips any text exactly).
for name in gemma3 llama3_1; do
  "$glint" tokenize --model "$data/$name" --jsonl "$corpus" > "$work/$name.ids" 2> "$work/err"
  check "$name tokenizes the corpus" [ $? -eq 0 ]
  check "$name one line out per line in" [ "$(wc -l < "$work/$name.ids")" -eq "$(wc -l < "$corpus")" ]
done
"$glint" tokenize --model "$data/llama3_1" --jsonl "$corpus" --no-special > "$work/llama.ids"
"$glint" detokenize --model "$data/llama3_1" --jsonl "$work/llama.ids" > "$work/llama.text"
"$glint" tokenize --model "$data/llama3_1" --jsonl "$work/llama.text" --no-special > "$work/llama.ids2"
check "llama3.1 ids -> text -> ids is stable" cmp -s "$work/llama.ids" "$work/llama.ids2"

# Against the reference goldens when they are committed (needs python3 to read them).
goldens="$source_dir/tests/reference/tokenizer_goldens"
if [ -f "$goldens/gemma3/encode.jsonl" ] && command -v python3 > /dev/null; then
  for name in gemma3 llama3_1; do
    python3 -c 'import json,sys
for line in open(sys.argv[1]):
    print(json.dumps(json.loads(line)["text"]))' "$goldens/$name/encode.jsonl" > "$work/$name.golden_text"
    python3 -c 'import json,sys
for line in open(sys.argv[1]):
    print(json.dumps(json.loads(line).get("ids"), separators=(",", ":")))' "$goldens/$name/encode.jsonl" > "$work/$name.golden_ids"
    "$glint" tokenize --model "$data/$name" --jsonl "$work/$name.golden_text" > "$work/$name.cli_ids"
    check "$name CLI ids equal the reference goldens" cmp -s "$work/$name.cli_ids" "$work/$name.golden_ids"
  done
fi

# Errors name the line.
printf '"fine"\n{not json\n' | "$glint" tokenize --model "$data/gemma3" --jsonl - > /dev/null 2> "$work/err"
status=$?
check "bad JSON fails" [ $status -ne 0 ]
check "bad JSON error names line 2" grep -q "line 2" "$work/err"
printf '[1,2]\n[5,999999999]\n' | "$glint" detokenize --model "$data/gemma3" --jsonl - > /dev/null 2> "$work/err"
status=$?
check "out-of-range id fails" [ $status -ne 0 ]
check "out-of-range error names line 2" grep -q "line 2" "$work/err"
printf '[1]\n' | "$glint" detokenize --model "$work/no_such_model" --jsonl - > /dev/null 2> "$work/err"
check "missing tokenizer.json is reported" grep -q "tokenizer.json" "$work/err"

if [ "$failures" -ne 0 ]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "all tokenize CLI checks passed"
