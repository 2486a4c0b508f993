#!/usr/bin/env python3
"""Expands the committed compact KJV checkpoint into a full model.safetensors (Python standard library only).

compact.safetensors holds every tensor of the saved Gemma3ForCausalLM except the embedding table, plus
`embed_rows` BF16 [K, H] and `embed_ids` I32 [K]; its metadata names the embedding key and the full vocab size.
The output table has those K rows and zeros everywhere else, under the key save_pretrained wrote. The tokenizer
files are copied from the npm cache ($GLINT_DATA/tokenizers/gemma3 or ~/.cache/glint/tokenizers/gemma3).

Usage: python3 scripts/assemble_model.py [--dir models/kjv-gemma3-tiny]
"""
import argparse
import json
import os
import shutil
import struct
import sys

DTYPE_BYTES = {"BF16": 2, "F16": 2, "F32": 4, "I32": 4, "I64": 8, "F64": 8, "I8": 1, "U8": 1, "BOOL": 1, "I16": 2}


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (header_len,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + header_len])
    data = memoryview(raw)[8 + header_len:]
    meta = header.pop("__metadata__", {}) or {}
    tensors = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        size = DTYPE_BYTES[info["dtype"]]
        count = 1
        for dim in info["shape"]:
            count *= dim
        if end - begin != count * size:
            sys.exit(f"{path}: tensor {name} has {end - begin} bytes, expected {count * size}")
        tensors[name] = (info["dtype"], info["shape"], data[begin:end])
    return tensors, meta


def write_safetensors(path, tensors, meta):
    header, offset = {}, 0
    names = sorted(tensors)
    for name in names:
        dtype, shape, buf = tensors[name]
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + len(buf)]}
        offset += len(buf)
    if meta:
        header["__metadata__"] = meta
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)   # data must start 8-byte aligned
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(encoded)))
        f.write(encoded)
        for name in names:
            f.write(tensors[name][2])
    os.replace(tmp, path)


def expand(compact_path, out_path):
    tensors, meta = read_safetensors(compact_path)
    embed_key = meta.get("embed_key")
    if not embed_key or "vocab_size" not in meta:
        sys.exit(f"{compact_path}: metadata lacks embed_key / vocab_size: {meta}")
    vocab = int(meta["vocab_size"])
    if "embed_rows" not in tensors or "embed_ids" not in tensors:
        sys.exit(f"{compact_path}: missing embed_rows / embed_ids")
    row_dtype, (k_rows, hidden), rows = tensors.pop("embed_rows")
    id_dtype, id_shape, ids_buf = tensors.pop("embed_ids")
    if id_dtype != "I32" or id_shape != [k_rows]:
        sys.exit(f"embed_ids must be I32 [{k_rows}], got {id_dtype} {id_shape}")
    ids = struct.unpack(f"<{k_rows}i", ids_buf)
    row_bytes = hidden * DTYPE_BYTES[row_dtype]
    table = bytearray(vocab * row_bytes)
    seen = set()
    for i, token in enumerate(ids):
        if not 0 <= token < vocab or token in seen:
            sys.exit(f"embed_ids[{i}] = {token} is out of range or repeated")
        seen.add(token)
        table[token * row_bytes:(token + 1) * row_bytes] = rows[i * row_bytes:(i + 1) * row_bytes]
    tensors[embed_key] = (row_dtype, [vocab, hidden], table)
    expected = meta.get("saved_keys")
    if expected is not None and sorted(json.loads(expected)) != sorted(tensors):
        sys.exit(f"assembled keys differ from the saved model's: {sorted(set(json.loads(expected)) ^ set(tensors))}")
    write_safetensors(out_path, tensors, {"format": "pt"})
    print(f"wrote {out_path}: {len(tensors)} tensors, {embed_key} [{vocab}, {hidden}] with {k_rows} non-zero rows")


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", default=os.path.join(root, "models", "kjv-gemma3-tiny"))
    parser.add_argument("--tokenizers", default=None, help="folder holding gemma3/tokenizer.json")
    args = parser.parse_args()
    compact = os.path.join(args.dir, "compact.safetensors")
    if not os.path.exists(compact):
        sys.exit(f"{compact} not found")
    expand(compact, os.path.join(args.dir, "model.safetensors"))
    cache = args.tokenizers or os.path.join(os.environ.get("GLINT_DATA", os.path.expanduser("~/.cache/glint")),
                                            "tokenizers")
    src = os.path.join(cache, "gemma3")
    for name in ("tokenizer.json", "tokenizer_config.json"):
        path = os.path.join(src, name)
        if not os.path.exists(path):
            sys.exit(f"{path} not found: run scripts/fetch_tokenizers.sh first")
        shutil.copy(path, os.path.join(args.dir, name))
    print(f"copied tokenizer.json, tokenizer_config.json from {src}")


if __name__ == "__main__":
    main()
