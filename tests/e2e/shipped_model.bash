# Sourced by the e2e scripts that use the shipped model: sets $model (assembling it on first use; exit 77 =
# skipped when the tokenizer data is missing) and defines fail.
model="$root/models/kjv-gemma3-tiny"
if [ ! -f "$model/model.safetensors" ] || [ ! -f "$model/tokenizer.json" ]; then
  python3 "$root/scripts/assemble_model.py" --dir "$model" >/dev/null || {
    echo "skipped: cannot assemble the shipped model (tokenizer data missing? run scripts/fetch_tokenizers.sh)"
    exit 77
  }
fi
fail() { echo "FAIL: $*"; exit 1; }
