#!/usr/bin/env python3
"""Writes reference encode/decode results of the Hugging Face `tokenizers` library for glint's C++ tokenizer tests.

Usage: python3 tests/reference/make_tokenizer_goldens.py --tokenizers DIR --out OUTDIR
  DIR holds <name>/tokenizer.json for each tokenizer (gemma3, llama3_1).
Writes, for each tokenizer NAME found:
  OUTDIR/NAME/encode.jsonl  one line per corpus string:
      {"text", "ids", "ids_no_special", "decoded", "decoded_skip"}
  OUTDIR/NAME/decode.jsonl  one line per seeded random id sequence (random vocab ids, specials, byte tokens that
      form broken UTF-8): {"ids", "decoded", "decoded_skip", "stream", "stream_skip"}; "stream*" hold the
      per-id outputs of tokenizers.decoders.DecodeStream (null where it returned nothing), or are absent.
  OUTDIR/NAME/meta.json     vocab size, bos, id<->token samples.
Only the `tokenizers` library (0.23.x) and the standard library are used. Each tokenizer is handled in its own
try/except so one failure does not lose the other's goldens.
"""
import argparse
import json
import os
import random
import sys
import time
import traceback

MAX_TEXT_CHARS = 6000  # keeps the whole output well under 2 MB
CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tokenizer_corpus.jsonl")
TOKENIZER_NAMES = ["gemma3", "llama3_1"]
RANDOM_DECODE_SEQUENCES = 200


def load_corpus():
    texts = []
    with open(CORPUS, "r", encoding="utf-8", newline="\n") as f:
        for line_number, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line:
                continue
            text = json.loads(line)
            if not isinstance(text, str):
                raise ValueError(f"{CORPUS}:{line_number}: expected a JSON string")
            texts.append(text[:MAX_TEXT_CHARS])
    return texts


def dump(obj):
    return json.dumps(obj, ensure_ascii=True)


def write_encodes(tok, texts, path):
    with open(path, "w", encoding="utf-8", newline="\n") as out:
        for text in texts:
            try:
                ids = tok.encode(text, add_special_tokens=True).ids
                ids_no_special = tok.encode(text, add_special_tokens=False).ids
                record = {
                    "text": text,
                    "ids": ids,
                    "ids_no_special": ids_no_special,
                    "decoded": tok.decode(ids, skip_special_tokens=False),
                    "decoded_skip": tok.decode(ids, skip_special_tokens=True),
                }
            except Exception as e:  # keep going; the C++ test skips lines with "error"
                record = {"text": text, "error": repr(e)}
            out.write(dump(record) + "\n")


def byte_token_ids(tok):
    """Ids of single-byte tokens: <0xXX> (byte fallback) or the ByteLevel alphabet chars."""
    ids = {}
    for b in range(256):
        i = tok.token_to_id(f"<0x{b:02X}>")
        if i is not None:
            ids[b] = i
    if len(ids) == 256:
        return ids
    # GPT-2 style byte -> unicode char table.
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    chars = {}
    n = 0
    for b in range(256):
        if b in printable:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + n)
            n += 1
    ids = {}
    for b, c in chars.items():
        i = tok.token_to_id(c)
        if i is not None:
            ids[b] = i
    return ids


def random_sequences(tok, rng):
    vocab_size = tok.get_vocab_size(with_added_tokens=True)
    byte_ids = byte_token_ids(tok)
    added = tok.get_added_tokens_decoder()
    special_ids = sorted(i for i, t in added.items() if t.special)
    nonspecial_added = sorted(i for i, t in added.items() if not t.special)
    samples = ["héllo wörld", "日本語", "😀👍🏽", "👨‍👩‍👧", "Привет", "नमस्ते", "a\u0301", "\u00ff\u0100"]
    sequences = []
    for n in range(RANDOM_DECODE_SEQUENCES):
        kind = n % 6
        length = rng.randint(1, 24)
        seq = []
        if kind == 0:  # plain random vocab ids
            seq = [rng.randrange(vocab_size) for _ in range(length)]
        elif kind == 1 and byte_ids:  # random bytes -> mostly broken UTF-8
            seq = [byte_ids[b] for b in (rng.randrange(256) for _ in range(length)) if b in byte_ids]
        elif kind == 2 and byte_ids:  # valid UTF-8 split into byte tokens, sometimes truncated or mixed with words
            raw = rng.choice(samples).encode("utf-8")
            if rng.random() < 0.5:
                raw = raw[: rng.randint(1, len(raw))]
            if rng.random() < 0.3:
                raw = raw[rng.randint(0, len(raw) - 1):]
            seq = [byte_ids[b] for b in raw if b in byte_ids]
            if rng.random() < 0.5:
                seq.insert(rng.randint(0, len(seq)), rng.randrange(vocab_size))
        elif kind == 3:  # text tokens with specials sprinkled in
            for _ in range(length):
                r = rng.random()
                if r < 0.25 and special_ids:
                    seq.append(rng.choice(special_ids))
                elif r < 0.35 and nonspecial_added:
                    seq.append(rng.choice(nonspecial_added))
                else:
                    seq.append(rng.randrange(vocab_size))
        elif kind == 4:  # re-encoded sample text, to check decode(encode(x)) style sequences with bytes spliced in
            text = " ".join(rng.choice(samples) for _ in range(rng.randint(1, 4)))
            seq = tok.encode(text, add_special_tokens=rng.random() < 0.5).ids
            if byte_ids and rng.random() < 0.7:
                for _ in range(rng.randint(1, 3)):
                    seq.insert(rng.randint(0, len(seq)), byte_ids[rng.randrange(128, 256)])
        else:  # leading spaces / metaspace-like tokens, low ids
            seq = [rng.randrange(min(vocab_size, 2000)) for _ in range(length)]
        if not seq:
            seq = [rng.randrange(vocab_size)]
        sequences.append(seq)
    return sequences


def stream_outputs(tok, ids, skip_special_tokens):
    from tokenizers.decoders import DecodeStream

    stream = DecodeStream(skip_special_tokens=skip_special_tokens)
    return [stream.step(tok, i) for i in ids]


def write_decodes(tok, rng, path):
    with open(path, "w", encoding="utf-8", newline="\n") as out:
        for ids in random_sequences(tok, rng):
            record = {"ids": ids}
            try:
                record["decoded"] = tok.decode(ids, skip_special_tokens=False)
                record["decoded_skip"] = tok.decode(ids, skip_special_tokens=True)
            except Exception as e:
                record["error"] = repr(e)
            try:
                record["stream"] = stream_outputs(tok, ids, False)
                record["stream_skip"] = stream_outputs(tok, ids, True)
            except Exception as e:
                record.pop("stream", None)
                record["stream_error"] = repr(e)
            out.write(dump(record) + "\n")


def write_meta(tok, rng, path):
    vocab_size = tok.get_vocab_size(with_added_tokens=True)
    ids = sorted(set([0, 1, 2, 3, vocab_size - 1] + [rng.randrange(vocab_size) for _ in range(300)]))
    meta = {
        "vocab_size": vocab_size,
        "vocab_size_no_added": tok.get_vocab_size(with_added_tokens=False),
        "id_to_token": {str(i): tok.id_to_token(i) for i in ids},
        "special_ids": sorted(i for i, t in tok.get_added_tokens_decoder().items() if t.special),
    }
    try:
        import tokenizers

        meta["tokenizers_version"] = tokenizers.__version__
    except Exception:
        pass
    with open(path, "w", encoding="utf-8") as out:
        out.write(json.dumps(meta, ensure_ascii=True, indent=0) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokenizers", required=True, help="folder with gemma3/ and llama3_1/ tokenizer.json")
    parser.add_argument("--out", required=True, help="output folder")
    args = parser.parse_args()

    from tokenizers import Tokenizer

    texts = load_corpus()
    failures = 0
    for name in TOKENIZER_NAMES:
        started = time.time()
        try:
            tokenizer_path = os.path.join(args.tokenizers, name, "tokenizer.json")
            if not os.path.isfile(tokenizer_path):
                print(f"{name}: missing {tokenizer_path}, skipped", file=sys.stderr)
                failures += 1
                continue
            tok = Tokenizer.from_file(tokenizer_path)
            out_dir = os.path.join(args.out, name)
            os.makedirs(out_dir, exist_ok=True)
            rng = random.Random(20260102)
            write_encodes(tok, texts, os.path.join(out_dir, "encode.jsonl"))
            write_decodes(tok, rng, os.path.join(out_dir, "decode.jsonl"))
            write_meta(tok, rng, os.path.join(out_dir, "meta.json"))
            print(f"{name}: {len(texts)} texts in {time.time() - started:.1f}s -> {out_dir}")
        except Exception:
            failures += 1
            print(f"{name}: FAILED", file=sys.stderr)
            traceback.print_exc()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
