#!/usr/bin/env bash
# glint run / glint chat with the shipped model and the real Gemma 3 tokenizer + chat template.
# Called by CTest as: bash chat_cli.sh GLINT_BINARY SOURCE_DIR
set -euo pipefail
glint="$1"
root="$2"
source "$root/tests/e2e/shipped_model.bash"

# run with the chat template: the prompt is rendered (<bos><start_of_turn>user ...), text streams out.
out="$("$glint" run --model "$model" -n 6 --verbose "Who made the heaven?" 2>"$model/../.chat_err" || true)"
err="$(cat "$model/../.chat_err")"; rm -f "$model/../.chat_err"
[ -n "$out" ] || fail "run printed nothing"
grep -q "generated [1-6] tokens" <<<"$err" || fail "run --verbose did not report tokens/s: $err"
prompt_tokens="$(sed -E 's/.*prompt ([0-9]+) tokens.*/\1/' <<<"$err")"
raw_tokens="$("$glint" tokenize --model "$model" --jsonl <(echo '"Who made the heaven?"') | python3 -c 'import json,sys; print(len(json.loads(sys.stdin.read())))')"
[ "$prompt_tokens" -gt "$raw_tokens" ] || fail "chat template not applied ($prompt_tokens vs raw $raw_tokens tokens)"

# chat: two turns piped in; the second turn reuses the cache, so only its new tokens are fed.
log="$(printf 'In the beginning\nAnd the earth\n' | "$glint" chat --model "$model" -n 4 --verbose 2>&1 >/dev/null)"
turns="$(grep -c "generated" <<<"$log")"
[ "$turns" = 2 ] || fail "chat answered $turns turns: $log"
first="$(grep -m1 -oE 'prompt [0-9]+' <<<"$log" | awk '{print $2}')"
second="$(grep -oE 'prompt [0-9]+' <<<"$log" | sed -n 2p | awk '{print $2}')"
[ "$second" -lt "$((first + 4))" ] || fail "second turn re-fed the history ($second tokens after $first)"

# --raw with --system is a usage error with a clear message, not a crash.
if msg="$("$glint" run --model "$model" --raw --system "x" "y" 2>&1)"; then fail "--raw --system accepted"; fi
grep -q "system" <<<"$msg" || fail "unclear error: $msg"
echo ok
