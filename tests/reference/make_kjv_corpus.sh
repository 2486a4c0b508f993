#!/usr/bin/env bash
# Writes the KJV training corpus (one verse per line, reference prefix stripped) from the Debian `bible` program
# (packages bible-kjv, bible-kjv-text), plus the held-out book and a non-Bible English text for perplexity.
# Outputs (gitignored, carried to the GPU machine): .devcarry/kjv.txt (train: every book except Philemon),
# .devcarry/kjv_heldout.txt (Philemon), .devcarry/english.txt (GPL-3 licence text).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="$root/.devcarry"
mkdir -p "$out"
all="$(mktemp)"
trap 'rm -f "$all"' EXIT
# One range covers the whole Bible; `bible -f` prints "Ge1:1 In the beginning ..." one verse per line.
bible -f "Genesis 1:1-Revelation 22:21" > "$all"
# Book prefixes may start with a digit (1Sam, 2Cor); Philemon is "Phmn".
ref='^[0-9]?[A-Za-z]+[0-9]+:[0-9]+ '
grep -Ev '^Phmn[0-9]' "$all" | sed -E "s/$ref//" > "$out/kjv.txt"
grep -E '^Phmn[0-9]' "$all" | sed -E "s/$ref//" > "$out/kjv_heldout.txt"
cp /usr/share/common-licenses/GPL-3 "$out/english.txt"
n_all=$(wc -l < "$all"); n_train=$(wc -l < "$out/kjv.txt"); n_held=$(wc -l < "$out/kjv_heldout.txt")
[ "$n_all" -gt 31000 ] || { echo "expected ~31102 verses, got $n_all" >&2; exit 1; }
[ "$n_held" -eq 25 ] || { echo "expected 25 Philemon verses, got $n_held" >&2; exit 1; }
if grep -Eq "$ref" "$out/kjv.txt"; then echo "reference prefix left in corpus" >&2; exit 1; fi
echo "kjv.txt: $n_train verses; kjv_heldout.txt (Philemon): $n_held verses; english.txt: $(wc -l < "$out/english.txt") lines"
