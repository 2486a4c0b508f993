"""Shared helpers for make_fixtures.py: weight randomisation, golden computation, saving.

Runs on the GPU machine (torch + transformers + safetensors); everything here is float32 on CPU unless stated.
"""
import copy
import json
import math
import os
import re
import traceback

import torch

T_TOKENS = 44      # length of the full-forward golden sequence (much longer than windows 8/16 and chunk 8)
P_PROMPT = 12      # greedy prompt length
N_NEW = 24         # greedy continuation length
FIRST_ID = 3       # random ids avoid pad 0 / eos 1 / bos 2 so no special handling can kick in

# Buffers that are computed from the config (not learned) and must keep their built values.
COMPUTED_BUFFER = re.compile(
    r"(inv_freq|embed_scale|position_ids|per_layer_projection_scale|per_layer_input_scale|attention_scaling"
    r"|router_input_scale"
    r"|_mask$|\.scale_factor$)")


def versions():
    import transformers
    return {"transformers": transformers.__version__, "torch": torch.__version__}


def randomize_weights(model, seed, input_major_3d=False):
    """Overwrite every saved float tensor: matrices N(0, 1/fan_in), embeddings N(0, 1), 1-D U(0.5, 1.5).

    Persistent buffers that are learned in the real checkpoints (e.g. Gemma 4 layer_scalar) are randomised too;
    buffers computed from the config are kept. Returns (randomised buffer names, kept buffer names).
    """
    gen = torch.Generator().manual_seed(seed)
    embedding_weights = {f"{name}.weight" for name, module in model.named_modules()
                         if isinstance(module, torch.nn.Embedding)}
    buffer_names = {name for name, _ in model.named_buffers()}
    seen_storage = set()
    randomised_buffers, kept_buffers = [], []
    with torch.no_grad():
        for name, tensor in model.state_dict(keep_vars=True).items():
            if not torch.is_floating_point(tensor):
                continue
            if name in buffer_names and COMPUTED_BUFFER.search(name):
                kept_buffers.append(name)
                continue
            key = tensor.data_ptr()
            if key in seen_storage:  # tied weights: randomise once, through the first (embedding) name
                continue
            seen_storage.add(key)
            shape = tuple(tensor.shape)
            if len(shape) == 0 or len(shape) == 1:
                value = torch.rand(shape, generator=gen) + 0.5
            elif name in embedding_weights or "embed_tokens" in name or "embedding.weight" in name and len(shape) == 2:
                value = torch.randn(shape, generator=gen)
            else:
                if len(shape) == 2:
                    fan_in = shape[1]
                elif len(shape) == 3:
                    fan_in = shape[1] if input_major_3d else shape[2]
                else:
                    fan_in = math.prod(shape[1:])
                value = torch.randn(shape, generator=gen) / math.sqrt(fan_in)
            tensor.data.copy_(value.to(tensor.dtype))
            if name in buffer_names:
                randomised_buffers.append(name)
    return randomised_buffers, kept_buffers


def random_ids(gen, vocab, count):
    return torch.randint(FIRST_ID, vocab, (count,), generator=gen, dtype=torch.long)


@torch.no_grad()
def full_logits(model, input_ids):
    out = model(input_ids=input_ids[None], attention_mask=torch.ones_like(input_ids)[None], use_cache=False)
    return out.logits[0].float()


@torch.no_grad()
def manual_greedy(model, prompt, n_new):
    """Greedy by repeated no-cache full forwards: an independent cross-check of generate()."""
    ids = prompt.clone()
    for _ in range(n_new):
        next_id = full_logits(model, ids)[-1].argmax()
        ids = torch.cat([ids, next_id.view(1)])
    return ids[len(prompt):]


@torch.no_grad()
def hf_greedy(model, prompt, n_new):
    from transformers import GenerationConfig
    try:
        gen_cfg = copy.deepcopy(model.generation_config)
    except Exception:
        gen_cfg = GenerationConfig()
    gen_cfg.eos_token_id = None          # never stop early
    gen_cfg.do_sample = False
    gen_cfg.max_new_tokens = n_new
    gen_cfg.min_new_tokens = n_new
    out = model.generate(input_ids=prompt[None], attention_mask=torch.ones_like(prompt)[None],
                         generation_config=gen_cfg)
    return out[0, len(prompt):].clone()


def logit_stats(logits):
    top2 = logits.topk(2, dim=-1).values
    margin = (top2[:, 0] - top2[:, 1])
    return {"max_abs_logit": float(logits.abs().max()), "min_top1_margin": float(margin.min()),
            "mean_top1_margin": float(margin.mean())}


def save_model(model, out_dir, max_shard_size=None):
    kwargs = {}
    if max_shard_size is not None:
        kwargs["max_shard_size"] = max_shard_size
    try:
        model.save_pretrained(out_dir, safe_serialization=True, **kwargs)
    except TypeError:
        # Newer versions always write safetensors and may not take the keyword.
        model.save_pretrained(out_dir, **kwargs)


def greedy_pair(model, prompt, notes):
    """generate() result, cross-checked against a no-cache greedy loop (recorded in notes on mismatch)."""
    manual = manual_greedy(model, prompt, N_NEW)
    try:
        generated = hf_greedy(model, prompt, N_NEW)
        if generated.shape != manual.shape or not torch.equal(generated, manual):
            notes.append(f"generate() greedy {generated.tolist()} differs from no-cache greedy {manual.tolist()}; "
                         "greedy_ids keeps generate()'s, greedy_ids_nocache the loop's")
        return generated, manual
    except Exception:
        notes.append("generate() failed, greedy_ids from a no-cache argmax loop: "
                     + traceback.format_exc().strip().splitlines()[-1])
        return manual, manual


def write_goldens(out_dir, name, model_class, dtype, tolerance, seed, notes, tensors, extra=None):
    from safetensors.torch import save_file
    os.makedirs(out_dir, exist_ok=True)
    save_file({k: v.contiguous() for k, v in tensors.items()}, os.path.join(out_dir, "golden.safetensors"))
    meta = {"fixture": name, "model_class": model_class, "dtype": dtype, "tolerance": tolerance, "seed": seed,
            "notes": " | ".join(notes)}
    meta.update(versions())
    if extra:
        meta.update(extra)
    with open(os.path.join(out_dir, "golden.json"), "w") as f:
        json.dump(meta, f, indent=2, sort_keys=True)


def standard_goldens(model, vocab, seed, notes):
    """input_ids/logits from one no-cache forward plus greedy prompt/continuation; returns (tensors, stats)."""
    gen = torch.Generator().manual_seed(seed + 1)
    input_ids = random_ids(gen, vocab, T_TOKENS)
    prompt = random_ids(gen, vocab, P_PROMPT)
    logits = full_logits(model, input_ids)
    greedy, greedy_nocache = greedy_pair(model, prompt, notes)
    stats = logit_stats(logits)
    print(f"    max|logit| {stats['max_abs_logit']:.3f}  min top-1 margin {stats['min_top1_margin']:.4f}  "
          f"greedy {greedy.tolist()}", flush=True)
    tensors = {"input_ids": input_ids, "logits": logits, "greedy_prompt": prompt, "greedy_ids": greedy,
               "greedy_ids_nocache": greedy_nocache}
    return tensors, stats


def build_model(cls, config, notes):
    """Instantiate with eager attention where the class allows; returns (model, attn implementation used)."""
    try:
        model = cls._from_config(config, attn_implementation="eager")
    except Exception:
        notes.append("eager attention rejected: " + traceback.format_exc().strip().splitlines()[-1])
        model = cls(config)
    model = model.float().eval()
    impl = getattr(model.config, "_attn_implementation", None)
    return model, impl


def make_config(cls, notes, **kwargs):
    """cls(**kwargs), retrying with int<->float flipped for a field a strict config rejects by type."""
    flipped = set()
    while True:
        try:
            return cls(**kwargs)
        except Exception as exc:
            message = str(exc)
            culprit = next((k for k in sorted(kwargs, key=len, reverse=True)
                            if k in message and k not in flipped and isinstance(kwargs[k], (int, float))
                            and not isinstance(kwargs[k], bool)), None)
            if culprit is None:
                raise
            value = kwargs[culprit]
            kwargs[culprit] = float(value) if isinstance(value, int) else int(value)
            flipped.add(culprit)
            notes.append(f"{cls.__name__} rejected {culprit}={value!r} ({message.splitlines()[0][:120]}); "
                         f"retried with {kwargs[culprit]!r}")


def dir_size(path):
    total = 0
    for root, _, files in os.walk(path):
        total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
    return total
