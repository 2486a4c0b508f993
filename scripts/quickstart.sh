#!/usr/bin/env bash
# One command from a fresh Debian 12 machine: install what glint needs, build it, assemble the shipped
# model (models/kjv-gemma3-tiny) and let it continue a verse.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$here/scripts/setup.sh"
bash "$here/scripts/build.sh"
python3 "$here/scripts/assemble_model.py" --dir "$here/models/kjv-gemma3-tiny" >/dev/null
"$here/build/glint" run --model "$here/models/kjv-gemma3-tiny" --raw -n 24 --verbose "${1:-In the beginning God}"
