"""Trains the tiny KJV Gemma 3 that ships with glint, exports it, and computes transformers reference numbers.

Runs on the GPU machine (torch + transformers + tokenizers + safetensors). Usage:
  python3 models/kjv-gemma3-tiny/train.py --corpus .devcarry/kjv.txt --heldout .devcarry/kjv_heldout.txt \
      --english .devcarry/english.txt --tokenizer .devcarry/tokenizers/gemma3/tokenizer.json --out DIR --seconds 170
Writes DIR/{compact.safetensors, config.json, generation_config.json, reference.json, train.log}.
See models/kjv-gemma3-tiny/README.md for the compact format and the perplexity definition.
"""
import argparse
import json
import math
import os
import random
import sys
import tempfile
import time
import traceback

import torch
import torch.nn.functional as nnf

FULL_VOCAB = 262144
BOS, EOS, PAD = 2, 1, 0
SEQ = 256                      # training window, <bos> included
PROMPTS = ["In the beginning God", "And God said, Let there be", "The LORD is my shepherd;"]
PPL_SETTINGS = [(128, 64), (256, 128)]


class Log:
    def __init__(self, path):
        self.file = open(path, "a", buffering=1)

    def __call__(self, *parts):
        line = " ".join(str(p) for p in parts)
        print(line, flush=True)
        self.file.write(line + "\n")


def gemma3_config(vocab_size):
    from transformers import Gemma3TextConfig
    sliding, full = "sliding_attention", "full_attention"
    return Gemma3TextConfig(
        vocab_size=vocab_size, hidden_size=128, intermediate_size=512, num_hidden_layers=6,
        num_attention_heads=4, num_key_value_heads=1, head_dim=64, query_pre_attn_scalar=64,
        layer_types=[sliding, sliding, full, sliding, sliding, full], sliding_window=64,
        max_position_embeddings=512, tie_word_embeddings=True, bos_token_id=BOS, eos_token_id=EOS,
        pad_token_id=PAD)


def build(config, attn):
    from transformers import Gemma3ForCausalLM
    try:
        return Gemma3ForCausalLM._from_config(config, attn_implementation=attn)
    except Exception:
        return Gemma3ForCausalLM(config)


def read_lines(path):
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f if line.strip()]


def tokenize_corpus(tok, lines):
    """Token stream of verse + newline, one verse after another, and the stream offset of every verse start."""
    encodings = tok.encode_batch([line + "\n" for line in lines], add_special_tokens=False)
    stream, starts = [], []
    for enc in encodings:
        starts.append(len(stream))
        stream.extend(enc.ids)
    return stream, starts


def lr_at(fraction, step, peak, warmup):
    warm = min(1.0, (step + 1) / warmup)
    return peak * warm * (0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * min(1.0, fraction))))


def train(args, log, stream_compact, starts, k_used, device):
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    config = gemma3_config(k_used)
    model = build(config, "sdpa").to(device).float().train()
    # Verses are packed in a fresh random order for every sample: a window is <bos> followed by random whole
    # verses. With the corpus order, the model learns each verse from the verses before it and cannot
    # continue a verse from its own opening (what a user types); shuffled, it must.
    bounds = starts + [len(stream_compact)]
    verses = [stream_compact[bounds[i]:bounds[i + 1]] for i in range(len(starts))]
    rng = random.Random(args.seed)

    def sample_batch():
        rows = []
        for _ in range(args.batch):
            row = [BOS_COMPACT]
            while len(row) < SEQ:
                row.extend(verses[rng.randrange(len(verses))])
            rows.append(row[:SEQ])
        return torch.tensor(rows, dtype=torch.long, device=device)

    log(f"train: K={k_used} stream={len(stream_compact)} tokens, {len(verses)} verses (shuffled packing), "
        f"params={sum(p.numel() for p in model.parameters())}")
    try:
        optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.95), weight_decay=0.01,
                                      fused=True)
    except Exception:
        optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.95), weight_decay=0.01)
    # The full model's K unused rows are zero, so each contributes exp(0) to the softmax denominator.
    unused_logit = math.log(FULL_VOCAB - k_used)
    start_time = time.time()
    step, recent = 0, []
    while True:
        elapsed = time.time() - start_time
        if elapsed >= args.seconds:
            break
        lr = lr_at(elapsed / args.seconds, step, args.lr, args.warmup)
        for group in optimizer.param_groups:
            group["lr"] = lr
        tokens = sample_batch()                                     # [B, SEQ]
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=(device == "cuda")):
            logits = model(input_ids=tokens[:, :-1], use_cache=False).logits
        logits = logits.float()
        extra = torch.full(logits.shape[:-1] + (1,), unused_logit, device=device)
        loss = nnf.cross_entropy(torch.cat([logits, extra], dim=-1).reshape(-1, k_used + 1),
                                 tokens[:, 1:].reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        step += 1
        if step % args.log_every == 0 or step == 1:
            value = float(loss)
            recent.append(value)
            log(f"step {step} t={elapsed:.1f}s lr={lr:.2e} loss={value:.4f} "
                f"tok/s={step * args.batch * (SEQ - 1) / max(elapsed, 1e-6):.0f}")
    final = sum(recent[-5:]) / max(1, len(recent[-5:]))
    log(f"train done: {step} steps in {time.time() - start_time:.1f}s, final loss (mean of last logs) {final:.4f}")
    return model.eval(), {"steps": step, "final_loss": final, "batch": args.batch, "seq": SEQ,
                          "tokens_seen": step * args.batch * (SEQ - 1), "peak_lr": args.lr}


BOS_COMPACT = None  # compact id of <bos>, set in main


def export(args, log, model, used_ids, out_dir):
    """Full 262144-row bf16 model via save_pretrained, then the compact checkpoint for the return trip."""
    from safetensors.torch import load_file, save_file
    from transformers import GenerationConfig
    config = gemma3_config(FULL_VOCAB)
    full = build(config, "eager").float()
    compact_state = {k: v.detach().float().cpu() for k, v in model.state_dict().items()}
    full_state = full.state_dict()
    ids = torch.tensor(used_ids, dtype=torch.long)
    loaded = {}
    for key, value in full_state.items():
        if key not in compact_state:
            continue
        if key.endswith("embed_tokens.weight") or key == "lm_head.weight":
            table = torch.zeros(FULL_VOCAB, value.shape[1])
            table[ids] = compact_state[key]
            loaded[key] = table
        else:
            loaded[key] = compact_state[key]
    missing, unexpected = full.load_state_dict(loaded, strict=False)
    log(f"export: missing {list(missing)} unexpected {list(unexpected)}")
    full = full.to(torch.bfloat16)
    full.generation_config = GenerationConfig(bos_token_id=BOS, eos_token_id=[EOS, 106], pad_token_id=PAD)
    tmp = tempfile.mkdtemp(prefix="kjv_full_")
    try:
        full.save_pretrained(tmp, safe_serialization=True)
    except TypeError:
        full.save_pretrained(tmp)
    saved = {}
    for f in sorted(os.listdir(tmp)):
        if f.endswith(".safetensors"):
            saved.update(load_file(os.path.join(tmp, f)))
    embed_keys = [k for k in saved if k.endswith("embed_tokens.weight")]
    if len(embed_keys) != 1:
        raise RuntimeError(f"expected one embed_tokens key in the saved model, got {embed_keys}")
    embed_key = embed_keys[0]
    compact = {k: v.contiguous() for k, v in saved.items() if k != embed_key}
    compact["embed_rows"] = saved[embed_key][ids].contiguous()
    compact["embed_ids"] = ids.to(torch.int32)
    nonzero_elsewhere = int(saved[embed_key].abs().sum(dim=1).ne(0).sum()) - int(
        compact["embed_rows"].abs().sum(dim=1).ne(0).sum())
    meta = {"format": "pt", "embed_key": embed_key, "vocab_size": str(FULL_VOCAB),
            "saved_keys": json.dumps(sorted(saved))}
    save_file(compact, os.path.join(out_dir, "compact.safetensors"), metadata=meta)
    for f in ("config.json", "generation_config.json"):
        if os.path.exists(os.path.join(tmp, f)):
            with open(os.path.join(tmp, f)) as src, open(os.path.join(out_dir, f), "w") as dst:
                dst.write(src.read())
    log(f"export: {len(saved)} saved tensors, embed key {embed_key}, compact "
        f"{os.path.getsize(os.path.join(out_dir, 'compact.safetensors')) / 1e6:.2f} MB, "
        f"nonzero rows outside used ids: {nonzero_elsewhere}")
    return tmp, embed_key


@torch.no_grad()
def forward_logits(model, ids, device):
    x = torch.tensor(ids, dtype=torch.long, device=device)[None]
    return model(input_ids=x, use_cache=False).logits[0].float()


@torch.no_grad()
def perplexity(model, ids, ctx, stride, device):
    """Hugging Face sliding-window recipe with an exact token count (see README)."""
    total_nll, scored, prev_end = 0.0, 0, 0
    for begin in range(0, len(ids), stride):
        end = min(begin + ctx, len(ids))
        trg_len = end - prev_end
        window = ids[begin:end]
        logits = forward_logits(model, window, device)
        targets = torch.tensor(window, device=device)
        labels = targets.clone()
        labels[:-trg_len] = -100
        logprobs = torch.log_softmax(logits[:-1], dim=-1)
        tgt = labels[1:]
        mask = tgt != -100
        total_nll += float(-logprobs[mask].gather(1, tgt[mask][:, None]).sum())
        scored += int(mask.sum())
        prev_end = end
        if end == len(ids):
            break
    return {"ppl": math.exp(total_nll / scored), "total_nll": total_nll, "scored_tokens": scored,
            "num_ids": len(ids)}


@torch.no_grad()
def greedy(model, ids, n, device):
    ids = list(ids)
    out = []
    for _ in range(n):
        next_id = int(forward_logits(model, ids, device)[-1].argmax())
        out.append(next_id)
        ids.append(next_id)
    return out


def references(args, log, tok, model_dir, device, result, save):
    from transformers import Gemma3ForCausalLM
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    texts = {"heldout_philemon": open(args.heldout, encoding="utf-8").read(),
             "english_gpl3": open(args.english, encoding="utf-8").read()}
    for dtype_name, dtype in (("float32", torch.float32), ("bfloat16", torch.bfloat16)):
        try:
            model = Gemma3ForCausalLM.from_pretrained(model_dir, attn_implementation="eager")
        except TypeError:
            model = Gemma3ForCausalLM.from_pretrained(model_dir)
        model = model.to(dtype).to(device).eval()
        section = result.setdefault(dtype_name, {"perplexity": {}, "prompts": {}})
        for prompt in PROMPTS:
            try:
                ids = tok.encode(prompt, add_special_tokens=True).ids
                logits = forward_logits(model, ids, device)[-1]
                top = logits.topk(20)
                cont = greedy(model, ids, 20, device)
                section["prompts"][prompt] = {
                    "ids": ids, "greedy_ids": cont, "greedy_text": tok.decode(cont),
                    "top20_ids": top.indices.tolist(), "top20_logits": top.values.tolist()}
                log(f"[{dtype_name}] {prompt!r} -> {tok.decode(cont)!r}")
            except Exception:
                log(traceback.format_exc())
            save()
        for text_name, text in texts.items():
            ids = tok.encode(text, add_special_tokens=True).ids
            for ctx, stride in PPL_SETTINGS:
                try:
                    value = perplexity(model, ids, ctx, stride, device)
                    section["perplexity"][f"{text_name}/ctx{ctx}_stride{stride}"] = value
                    log(f"[{dtype_name}] ppl {text_name} ctx {ctx} stride {stride}: {value['ppl']:.4f} "
                        f"({value['scored_tokens']} tokens)")
                except Exception:
                    log(traceback.format_exc())
                save()
        del model


def main():
    global BOS_COMPACT
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus", default=".devcarry/kjv.txt")
    parser.add_argument("--heldout", default=".devcarry/kjv_heldout.txt")
    parser.add_argument("--english", default=".devcarry/english.txt")
    parser.add_argument("--tokenizer", default=".devcarry/tokenizers/gemma3/tokenizer.json")
    parser.add_argument("--out", required=True)
    parser.add_argument("--seconds", type=float, default=170.0)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--log-every", type=int, default=50)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    log = Log(os.path.join(args.out, "train.log"))
    from tokenizers import Tokenizer
    import transformers
    device = "cuda" if torch.cuda.is_available() else "cpu"
    result = {"versions": {"transformers": transformers.__version__, "torch": torch.__version__,
                           "tokenizers": __import__("tokenizers").__version__},
              "device": torch.cuda.get_device_name(0) if device == "cuda" else "cpu",
              "prompts": PROMPTS, "perplexity_settings": PPL_SETTINGS,
              "perplexity_definition": "ids = encode(file text, add_special_tokens=True); windows begin at 0, S, "
              "2S, ...; end = min(begin+ctx, len); targets = positions >= prev_end (and > begin); stop after the "
              "window reaching len; ppl = exp(total NLL / scored tokens)",
              "greedy": "20 tokens, argmax of no-cache full forwards, eos not stopping"}
    ref_path = os.path.join(args.out, "reference.json")

    def save():
        with open(ref_path, "w") as f:
            json.dump(result, f, indent=1)

    log(f"versions {result['versions']} device {result['device']}")
    tok = Tokenizer.from_file(args.tokenizer)
    lines = read_lines(args.corpus)
    stream, starts = tokenize_corpus(tok, lines)
    prompt_ids = [i for p in PROMPTS for i in tok.encode(p, add_special_tokens=True).ids]
    used_ids = sorted(set(stream) | {PAD, EOS, BOS} | set(prompt_ids))
    remap = {tid: i for i, tid in enumerate(used_ids)}
    BOS_COMPACT = remap[BOS]
    stream_compact = [remap[t] for t in stream]
    result["corpus"] = {"verses": len(lines), "tokens": len(stream), "used_vocab_K": len(used_ids)}
    log(f"corpus: {len(lines)} verses, {len(stream)} tokens, K={len(used_ids)}")
    save()
    model, stats = train(args, log, stream_compact, starts, len(used_ids), device)
    result["training"] = stats
    save()
    model_dir, _ = export(args, log, model, used_ids, args.out)
    del model
    try:
        references(args, log, tok, model_dir, device, result, save)
    except Exception:
        log(traceback.format_exc())
    save()
    log("done")


if __name__ == "__main__":
    try:
        main()
    except Exception:
        traceback.print_exc()
        sys.exit(1)
