#!/usr/bin/env bash
# Installs what glint needs on a fresh Debian 12 machine and fetches tokenizer test data.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
packages=(build-essential cmake ninja-build ccache pkg-config
  nlohmann-json3-dev libpcre2-dev libgtest-dev libgmock-dev libbenchmark-dev libcli11-dev
  bible-kjv bible-kjv-text)
# Tools that may come from elsewhere on the machine (a Node.js or Python install outside apt): only
# installed from Debian when the command is missing, so a newer copy is not fought over.
command -v python3 >/dev/null || packages+=(python3)
command -v npm >/dev/null || packages+=(nodejs npm)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "installing: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
bash "$here/scripts/fetch_tokenizers.sh"
