#!/bin/bash
# e2e: `glint template` prints the chat prompt byte for byte as transformers renders it (goldens made by
# tests/reference/make_template_goldens.py), with no added newline, and fails clearly on bad input.
# Usage: bash template_cli.sh GLINT_BINARY SOURCE_DIR   (exit 77 = skipped)
set -u
GLINT="$1"
SRC="$2"
GOLDEN="$SRC/tests/reference/template_goldens/chat_templates.json"
if ! command -v python3 >/dev/null 2>&1; then
  echo "skipped: python3 is needed to extract golden cases"
  exit 77
fi
[ -x "$GLINT" ] || { echo "FAIL: no glint binary at $GLINT"; exit 1; }
[ -f "$GOLDEN" ] || { echo "FAIL: missing $GOLDEN"; exit 1; }

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
failures=0

# Writes a model dir (tokenizer_config.json with the template and special tokens), the messages file
# and the expected output for one golden case; prints "error" or "output".
prepare_case() {  # template messages extra agp(True/False) case_dir
  python3 - "$GOLDEN" "$SRC/tests/data/templates" "$@" <<'PY'
import json, os, sys
golden_path, template_dir, template, messages, extra, agp, case_dir = sys.argv[1:]
golden = json.load(open(golden_path, encoding="utf-8"))
case = next(c for c in golden["cases"] if c["template"] == template and c["messages"] == messages
            and c["extra"] == extra and str(c["add_generation_prompt"]) == agp)
os.makedirs(os.path.join(case_dir, "model"), exist_ok=True)
config = dict(golden["special_tokens"][template])
config["chat_template"] = open(os.path.join(template_dir, template + ".jinja"), encoding="utf-8", newline="").read()
json.dump(config, open(os.path.join(case_dir, "model", "tokenizer_config.json"), "w", encoding="utf-8"), ensure_ascii=False)
request = {"messages": golden["message_sets"][messages], **golden["extra_contexts"][extra]}
json.dump(request, open(os.path.join(case_dir, "messages.json"), "w", encoding="utf-8"), ensure_ascii=False)
with open(os.path.join(case_dir, "expected.txt"), "w", encoding="utf-8", newline="") as f:
    f.write(case.get("output", case.get("message", "")))
print("error" if "error" in case else "output")
PY
}

check_case() {  # template messages extra agp
  local dir="$WORK/$1-$2-$3-$4"
  local kind
  kind=$(prepare_case "$1" "$2" "$3" "$4" "$dir") || { echo "FAIL: cannot prepare $dir"; failures=$((failures + 1)); return; }
  local flag=""
  [ "$4" = "True" ] && flag="--add-generation-prompt"
  "$GLINT" template --model "$dir/model" --messages "$dir/messages.json" $flag >"$dir/out.txt" 2>"$dir/err.txt"
  local rc=$?
  if [ "$kind" = "output" ]; then
    if [ $rc -ne 0 ]; then
      echo "FAIL: $1/$2/$3/$4 exited $rc: $(cat "$dir/err.txt")"; failures=$((failures + 1))
    elif ! cmp -s "$dir/out.txt" "$dir/expected.txt"; then
      echo "FAIL: $1/$2/$3/$4 output differs from transformers"; diff "$dir/expected.txt" "$dir/out.txt" | head -20
      failures=$((failures + 1))
    else
      echo "ok: $1/$2/$3/$4 ($(wc -c <"$dir/out.txt") bytes, identical)"
    fi
  else
    if [ $rc -eq 0 ]; then
      echo "FAIL: $1/$2/$3/$4 should have failed"; failures=$((failures + 1))
    elif ! grep -qF "$(cat "$dir/expected.txt")" "$dir/err.txt"; then
      echo "FAIL: $1/$2/$3/$4 error lacks the template's message: $(cat "$dir/err.txt")"; failures=$((failures + 1))
    else
      echo "ok: $1/$2/$3/$4 fails with: $(cat "$dir/err.txt")"
    fi
  fi
}

check_case gemma3 system_user none True
check_case gemma3 list_content none False
check_case gemma3 unicode none True
check_case llama3_1 multi_turn none True
check_case chatml_tools tool_calls tools True
check_case llama3_1_tools tool_calls tools False
check_case gemma_tools_style multi_turn thinking_on_date True
check_case gemma3 bad_role_order none True

# No chat template → clear error and non-zero exit.
mkdir -p "$WORK/empty"
echo '{"bos_token": "<s>"}' >"$WORK/empty/tokenizer_config.json"
echo '[{"role": "user", "content": "hi"}]' >"$WORK/one.json"
if "$GLINT" template --model "$WORK/empty" --messages "$WORK/one.json" >/dev/null 2>"$WORK/err.txt"; then
  echo "FAIL: a directory without a chat template should fail"; failures=$((failures + 1))
elif ! grep -q "no chat template" "$WORK/err.txt"; then
  echo "FAIL: unclear error for a missing template: $(cat "$WORK/err.txt")"; failures=$((failures + 1))
else
  echo "ok: missing template: $(cat "$WORK/err.txt")"
fi

# Malformed messages JSON → clear error.
echo '[{"role": "user", "content": ' >"$WORK/bad.json"
mkdir -p "$WORK/plain" && printf '{{ messages[0].content }}' >"$WORK/plain/chat_template.jinja"
if "$GLINT" template --model "$WORK/plain" --messages "$WORK/bad.json" >/dev/null 2>"$WORK/err.txt"; then
  echo "FAIL: malformed messages should fail"; failures=$((failures + 1))
elif ! grep -q "not valid JSON" "$WORK/err.txt"; then
  echo "FAIL: unclear error for malformed JSON: $(cat "$WORK/err.txt")"; failures=$((failures + 1))
else
  echo "ok: malformed messages: $(cat "$WORK/err.txt")"
fi

# Messages from stdin, and nothing added after the prompt.
out=$(printf '[{"role": "user", "content": "from stdin"}]' | "$GLINT" template --model "$WORK/plain" --messages - | od -An -c | tr -d ' \n')
if [ "$out" != "fromstdin" ]; then
  echo "FAIL: stdin rendering gave '$out'"; failures=$((failures + 1))
else
  echo "ok: stdin messages, no trailing newline"
fi

if [ $failures -ne 0 ]; then
  echo "$failures failure(s)"
  exit 1
fi
echo "all template CLI checks passed"
