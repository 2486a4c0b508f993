"""Builds tiny random-weight transformers models and their goldens for glint's reference tests.

Usage (GPU machine, CPU float32): python3 tests/reference/make_fixtures.py --out DIR [--only NAME ...]
Every fixture runs in its own try/except; a failing one prints its traceback and the others still run.
See tests/reference/README.md for the contract of each fixture.
"""
import argparse
import json
import os
import shutil
import sys
import time
import traceback

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixture_common as fc  # noqa: E402
import fixture_families as fam  # noqa: E402

FIXTURES = [
    ("gemma3_gqa", fam.gemma3_gqa),
    ("gemma3_mqa", fam.gemma3_mqa),
    ("gemma3_bf16", fam.gemma3_bf16),
    ("gemma3_sharded", fam.gemma3_sharded),
    ("gemma3_multimodal", fam.gemma3_multimodal),   # also writes gemma3_multimodal_legacy
    ("gemma3_classifier", fam.gemma3_classifier),
    ("gemma4_dense", fam.gemma4_dense),
    ("gemma4_moe", fam.gemma4_moe),
    ("gemma3n", fam.gemma3n),                       # also writes gemma3n_matformer
    ("llama4", fam.llama4),                         # also writes llama4_multimodal_layout
]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--only", nargs="*", default=None)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(max(1, min(8, os.cpu_count() or 1)))
    torch.use_deterministic_algorithms(True, warn_only=True)
    print("versions:", fc.versions(), flush=True)
    results = {}
    for name, builder in FIXTURES:
        if args.only and name not in args.only:
            continue
        start = time.time()
        print(f"== {name}", flush=True)
        try:
            builder(args.out, name)
            results[name] = "ok"
        except Exception:
            traceback.print_exc()
            sys.stdout.flush()
            results[name] = "FAILED: " + traceback.format_exc().strip().splitlines()[-1]
        print(f"   {name}: {results[name]} ({time.time() - start:.1f} s)", flush=True)
    print("== summary", flush=True)
    total = 0
    for entry in sorted(os.listdir(args.out)):
        path = os.path.join(args.out, entry)
        if os.path.isdir(path):
            size = fc.dir_size(path)
            total += size
            complete = os.path.exists(os.path.join(path, "golden.safetensors"))
            print(f"   {entry:28s} {size / 1e6:6.2f} MB {'golden ok' if complete else 'NO GOLDEN'}")
    print(f"   total {total / 1e6:.2f} MB")
    with open(os.path.join(args.out, "fixtures_summary.json"), "w") as f:
        json.dump({"results": results, "versions": fc.versions()}, f, indent=2)


if __name__ == "__main__":
    main()
