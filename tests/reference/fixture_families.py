"""Per-family fixture builders (Gemma 3, Gemma 4, Gemma 3n, Llama 4) used by make_fixtures.py."""
import json
import os
import shutil
import traceback

import torch
import transformers

import fixture_common as fc

VOCAB = 512
HIDDEN = 64
S, F = "sliding_attention", "full_attention"


def _finish(model, out_dir, name, seed, notes, impl, model_class, dtype="float32", tolerance=None,
            max_shard_size=None, extra=None):
    """Goldens + save; returns the golden tensors so derived fixtures can reuse them."""
    tensors, stats = fc.standard_goldens(model, VOCAB, seed, notes)
    fc.save_model(model, out_dir, max_shard_size=max_shard_size)
    meta = {"attn_implementation": impl, "logit_stats": stats}
    meta.update(extra or {})
    fc.write_goldens(out_dir, name, model_class, dtype, tolerance or {"logits_abs": 1e-3}, seed, notes, tensors,
                     meta)
    return tensors


def _prepare(cls_name, config, seed, notes, input_major_3d=False):
    torch.manual_seed(seed)
    cls = getattr(transformers, cls_name)
    model, impl = fc.build_model(cls, config, notes)
    randomised, kept = fc.randomize_weights(model, seed, input_major_3d=input_major_3d)
    if randomised:
        notes.append("randomised persistent buffers: " + ", ".join(sorted(set(randomised))[:12])
                     + (" ..." if len(set(randomised)) > 12 else ""))
    if kept:
        notes.append("kept computed buffers: " + ", ".join(sorted({k.split(".")[-1] for k in kept})))
    return model, impl


# ----------------------------------------------------------------------------------------------- Gemma 3
def _gemma3_text_config(notes, **overrides):
    base = dict(vocab_size=VOCAB, hidden_size=HIDDEN, intermediate_size=64, num_hidden_layers=6,
                num_attention_heads=4, num_key_value_heads=2, head_dim=32, query_pre_attn_scalar=24,
                layer_types=[S, S, F, S, S, F], sliding_window=8, final_logit_softcapping=30.0,
                max_position_embeddings=256, rope_theta=1_000_000.0, rope_local_base_freq=10_000.0,
                rope_scaling={"rope_type": "linear", "factor": 4.0},
                pad_token_id=0, eos_token_id=1, bos_token_id=2, tie_word_embeddings=True)
    base.update(overrides)
    base = {k: v for k, v in base.items() if v is not _DROP}
    config = fc.make_config(transformers.Gemma3TextConfig, notes, **base)
    rope = getattr(config, "rope_parameters", None)
    wanted_full = base.get("rope_scaling")
    ok = isinstance(rope, dict) and F in rope and S in rope
    if ok and wanted_full:
        ok = rope[F].get("rope_type") == "linear" and float(rope[F].get("factor", 0)) == wanted_full["factor"]
    if ok:
        ok = float(rope[S].get("rope_theta", 0)) == base.get("rope_local_base_freq", 10000.0) \
            and float(rope[F].get("rope_theta", 0)) == base.get("rope_theta", 1e6)
    if not ok:
        notes.append(f"legacy rope keys gave rope_parameters={rope}; rebuilt with explicit rope_parameters")
        full = {"rope_type": "default", "rope_theta": base.get("rope_theta", 1e6)}
        if wanted_full:
            full.update(wanted_full)
        explicit = {k: v for k, v in base.items() if k not in ("rope_theta", "rope_local_base_freq", "rope_scaling")}
        explicit["rope_parameters"] = {S: {"rope_type": "default", "rope_theta": base.get("rope_local_base_freq",
                                                                                              10000.0)},
                                       F: full}
        config = fc.make_config(transformers.Gemma3TextConfig, notes, **explicit)
    notes.append(f"layer_types={config.layer_types} rope_parameters={getattr(config, 'rope_parameters', None)}")
    return config


_DROP = object()


def gemma3_gqa(out, name, seed=1001, max_shard_size=None):
    notes = []
    config = _gemma3_text_config(notes)
    model, impl = _prepare("Gemma3ForCausalLM", config, seed, notes)
    return _finish(model, os.path.join(out, name), name, seed, notes, impl, "Gemma3ForCausalLM",
                   max_shard_size=max_shard_size)


def gemma3_sharded(out, name):
    gemma3_gqa(out, name, seed=1004, max_shard_size="300KB")
    files = sorted(os.listdir(os.path.join(out, name)))
    shards = [f for f in files if f.startswith("model-") and f.endswith(".safetensors")]
    print(f"    shards: {shards}")
    if len(shards) < 2 or "model.safetensors.index.json" not in files:
        raise RuntimeError(f"expected >=2 shards + index, got {files}")


def gemma3_mqa(out, name, seed=1002):
    notes = []
    config = _gemma3_text_config(notes, num_key_value_heads=1, final_logit_softcapping=_DROP,
                                 attn_logit_softcapping=20.0, layer_types=_DROP, sliding_window_pattern=3,
                                 sliding_window=16, rope_scaling=_DROP)
    if config.final_logit_softcapping is not None:
        raise RuntimeError("final_logit_softcapping should be None")
    model, impl = _prepare("Gemma3ForCausalLM", config, seed, notes)
    notes.append("attn_logit_softcapping=20 is stored but ignored by the reference attention")
    return _finish(model, os.path.join(out, name), name, seed, notes, impl, "Gemma3ForCausalLM")


def gemma3_bf16(out, name, seed=1003):
    notes = []
    config = _gemma3_text_config(notes)
    model, impl = _prepare("Gemma3ForCausalLM", config, seed, notes)
    model = model.to(torch.bfloat16)  # the checkpoint's weights are these bf16 values
    out_dir = os.path.join(out, name)
    gen = torch.Generator().manual_seed(seed + 1)
    input_ids = fc.random_ids(gen, VOCAB, fc.T_TOKENS)
    prompt = fc.random_ids(gen, VOCAB, fc.P_PROMPT)
    logits_bf16 = fc.full_logits(model, input_ids)
    fc.save_model(model, out_dir)
    model = model.float()  # same bf16 values, upcast: the float32 reference
    logits_f32 = fc.full_logits(model, input_ids)
    greedy, greedy_nocache = fc.greedy_pair(model, prompt, notes)
    stats = fc.logit_stats(logits_f32)
    notes.append(f"max |logits(bf16 compute) - logits_f32| = {float((logits_bf16 - logits_f32).abs().max()):.4f}")
    print(f"    {notes[-1]}; greedy {greedy.tolist()}")
    tensors = {"input_ids": input_ids, "logits": logits_bf16, "logits_f32": logits_f32, "greedy_prompt": prompt,
               "greedy_ids": greedy, "greedy_ids_nocache": greedy_nocache}
    fc.write_goldens(out_dir, name, "Gemma3ForCausalLM", "bfloat16 weights; logits in bf16 compute, logits_f32 "
                     "and greedy in float32 compute", {"logits_f32_abs": 1e-3, "logits_bf16_abs": 0.5}, seed, notes,
                     tensors, {"attn_implementation": impl, "logit_stats": stats})


def gemma3_multimodal(out, name, seed=1005):
    notes = []
    text = _gemma3_text_config(notes, num_hidden_layers=4, layer_types=[S, F, S, F])
    vision = transformers.SiglipVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                             num_attention_heads=2, image_size=28, patch_size=14,
                                             vision_use_head=False)
    config = transformers.Gemma3Config(text_config=text, vision_config=vision, mm_tokens_per_image=4)
    model, impl = _prepare("Gemma3ForConditionalGeneration", config, seed, notes)
    notes.append("text-only goldens (no image tokens); image_token_id stays the class default, outside the vocab")
    out_dir = os.path.join(out, name)
    _finish(model, out_dir, name, seed, notes, impl, "Gemma3ForConditionalGeneration")
    try:
        _write_gemma3_legacy(out, out_dir, name + "_legacy")
    except Exception:
        traceback.print_exc()


def _load_saved_state(model_dir):
    from safetensors.torch import load_file
    state = {}
    for f in sorted(os.listdir(model_dir)):
        if f.endswith(".safetensors") and f != "golden.safetensors":
            state.update(load_file(os.path.join(model_dir, f)))
    return state


def _write_gemma3_legacy(out, src_dir, legacy_name):
    """Same weights renamed to the hub layout of published Gemma 3 multimodal checkpoints."""
    from safetensors.torch import save_file
    renames = [("model.language_model.", "language_model.model."),
               ("model.vision_tower.", "vision_tower.vision_model."),
               ("model.multi_modal_projector.", "multi_modal_projector."),
               ("lm_head.", "language_model.lm_head.")]
    state = _load_saved_state(src_dir)
    legacy = {}
    for key, value in state.items():
        new_key = key
        for old, new in renames:
            if key.startswith(old):
                new_key = new + key[len(old):]
                break
        legacy[new_key] = value
    dst = os.path.join(out, legacy_name)
    os.makedirs(dst, exist_ok=True)
    save_file(legacy, os.path.join(dst, "model.safetensors"), metadata={"format": "pt"})
    for f in ("config.json", "generation_config.json", "golden.safetensors"):
        if os.path.exists(os.path.join(src_dir, f)):
            shutil.copy(os.path.join(src_dir, f), dst)
    with open(os.path.join(src_dir, "golden.json")) as f:
        meta = json.load(f)
    meta["fixture"] = legacy_name
    meta["notes"] = ("keys renamed from the 5.17 layout to the hub layout (language_model.model.*, "
                     "vision_tower.vision_model.*, multi_modal_projector.*); same goldens | " + meta["notes"])
    meta["saved_keys_sample"] = sorted(legacy)[:6]
    with open(os.path.join(dst, "golden.json"), "w") as f:
        json.dump(meta, f, indent=2, sort_keys=True)
    print(f"    {legacy_name}: {len(legacy)} tensors, e.g. {sorted(legacy)[:3]}")


def gemma3_classifier(out, name, seed=1006):
    notes = []
    config = _gemma3_text_config(notes, num_hidden_layers=4, layer_types=[S, F, S, F])
    config.num_labels = 3
    cls_name = "Gemma3TextForSequenceClassification"
    if not hasattr(transformers, cls_name):
        cls_name = "Gemma3ForSequenceClassification"
        notes.append("Gemma3TextForSequenceClassification missing; used Gemma3ForSequenceClassification")
    model, impl = _prepare(cls_name, config, seed, notes)
    gen = torch.Generator().manual_seed(seed + 1)
    ids = torch.stack([fc.random_ids(gen, VOCAB, fc.T_TOKENS), fc.random_ids(gen, VOCAB, fc.T_TOKENS)])
    mask = torch.ones_like(ids)
    valid = fc.T_TOKENS - 13
    ids[1, valid:] = 0
    mask[1, valid:] = 0
    with torch.no_grad():
        scores = model(input_ids=ids, attention_mask=mask).logits.float()
    print(f"    scores {scores.tolist()}")
    out_dir = os.path.join(out, name)
    fc.save_model(model, out_dir)
    notes.append(f"row 1 has {valid} real tokens then pad id 0; the score is taken at the last non-pad token")
    fc.write_goldens(out_dir, name, cls_name, "float32", {"scores_abs": 1e-3}, seed, notes,
                     {"cls_input_ids": ids, "cls_attention_mask": mask, "scores": scores},
                     {"attn_implementation": impl})


# ----------------------------------------------------------------------------------------------- Gemma 4
def _gemma4_config(notes, **overrides):
    base = dict(vocab_size=VOCAB, hidden_size=HIDDEN, intermediate_size=64, num_hidden_layers=6,
                num_attention_heads=4, num_key_value_heads=2, head_dim=16, global_head_dim=32,
                layer_types=[S, F, S, S, S, F], sliding_window=8, final_logit_softcapping=30.0,
                max_position_embeddings=256, pad_token_id=0, eos_token_id=1, bos_token_id=2,
                tie_word_embeddings=True)
    base.update(overrides)
    config = fc.make_config(transformers.Gemma4TextConfig, notes, **base)
    notes.append(f"layer_types={config.layer_types} rope_parameters={getattr(config, 'rope_parameters', None)}")
    per_layer = getattr(config, "per_layer_config", None)
    if per_layer is not None:
        notes.append(f"per_layer_config={per_layer}")
    return config


def gemma4_dense(out, name, seed=2001):
    notes = []
    config = _gemma4_config(notes, hidden_size_per_layer_input=8, vocab_size_per_layer_input=VOCAB,
                            num_kv_shared_layers=3, use_double_wide_mlp=True)
    notes.append("kv sharing: first_shared=3, consumers 3,4 (sliding, producer 2) and 5 (full, producer 1); "
                 "full layers keep 2 kv heads: num_global_key_value_heads only applies with attention_k_eq_v")
    model, impl = _prepare("Gemma4ForCausalLM", config, seed, notes)
    _finish(model, os.path.join(out, name), name, seed, notes, impl, "Gemma4ForCausalLM")


def gemma4_moe(out, name, seed=2002):
    notes = []
    config = _gemma4_config(notes, layer_types=[S, S, F, S, S, F], enable_moe_block=True, num_experts=4,
                            top_k_experts=2, moe_intermediate_size=32, attention_k_eq_v=True,
                            num_global_key_value_heads=1, hidden_size_per_layer_input=0, num_kv_shared_layers=0)
    model, impl = _prepare("Gemma4ForCausalLM", config, seed, notes)
    _finish(model, os.path.join(out, name), name, seed, notes, impl, "Gemma4ForCausalLM",
            tolerance={"logits_abs": 2e-3})


# ----------------------------------------------------------------------------------------------- Gemma 3n
GEMMA3N_TYPES = [S, S, F, S, S, F]
GEMMA3N_SPARSITY = [0.95, 0.95, 0.0, 0.0, 0.0, 0.0]
GEMMA3N_WIDTHS = [96, 96, 96, 96, 96, 96]
MATFORMER_WIDTHS = [96, 96, 64, 96, 48, 96]   # per ORIGINAL layer (the skipped layer keeps its width)
MATFORMER_SKIP = [1]                            # not a KV producer (2, 3) nor consumer (4, 5)


def _gemma3n_config(types, sparsity, widths, shared, notes):
    return fc.make_config(
        transformers.Gemma3nTextConfig, notes,
        vocab_size=VOCAB, vocab_size_per_layer_input=VOCAB, hidden_size=HIDDEN, hidden_size_per_layer_input=8,
        intermediate_size=list(widths), num_hidden_layers=len(types), num_attention_heads=4, num_key_value_heads=2,
        head_dim=16, layer_types=list(types), sliding_window=8, final_logit_softcapping=30.0, altup_num_inputs=4,
        laurel_rank=4, num_kv_shared_layers=shared, activation_sparsity_pattern=list(sparsity),
        max_position_embeddings=256, pad_token_id=0, eos_token_id=1, bos_token_id=2, tie_word_embeddings=True)


def gemma3n(out, name, seed=3001):
    notes = []
    config = _gemma3n_config(GEMMA3N_TYPES, GEMMA3N_SPARSITY, GEMMA3N_WIDTHS, shared=2, notes=notes)
    notes.append(f"layer_types={config.layer_types} intermediate_size={config.intermediate_size} "
                 f"sparsity={config.activation_sparsity_pattern}; kv sharing: first_shared=4, consumer 4 (sliding, "
                 "producer 3), consumer 5 (full, producer 2)")
    model, impl = _prepare("Gemma3nForCausalLM", config, seed, notes)
    _finish(model, os.path.join(out, name), name, seed, notes, impl, "Gemma3nForCausalLM",
            tolerance={"logits_abs": 2e-3})
    try:
        _gemma3n_matformer(out, model, seed)
    except Exception:
        traceback.print_exc()


def _gemma3n_matformer(out, full_model, seed):
    name = "gemma3n_matformer"
    notes = []
    keep = [i for i in range(len(GEMMA3N_TYPES)) if i not in MATFORMER_SKIP]
    types = [GEMMA3N_TYPES[i] for i in keep]
    sparsity = [GEMMA3N_SPARSITY[i] for i in keep]
    widths = [MATFORMER_WIDTHS[i] for i in keep]
    config = _gemma3n_config(types, sparsity, widths, shared=2, notes=notes)
    state = full_model.state_dict()
    per_layer = 8
    sliced = {}
    for key, value in state.items():
        parts = key.split(".")
        if "layers" in parts:
            at = parts.index("layers")
            old = int(parts[at + 1])
            if old in MATFORMER_SKIP:
                continue
            new = keep.index(old)
            parts[at + 1] = str(new)
            width = MATFORMER_WIDTHS[old]
            if key.endswith("mlp.gate_proj.weight") or key.endswith("mlp.up_proj.weight"):
                value = value[:width, :]
            elif key.endswith("mlp.down_proj.weight"):
                value = value[:, :width]
            sliced[".".join(parts)] = value.clone()
        elif key.endswith("embed_tokens_per_layer.weight"):      # [V, L*P]
            cols = torch.cat([torch.arange(i * per_layer, (i + 1) * per_layer) for i in keep])
            sliced[key] = value[:, cols].clone()
        elif key.endswith("per_layer_model_projection.weight"):  # [L*P, H]
            rows = torch.cat([torch.arange(i * per_layer, (i + 1) * per_layer) for i in keep])
            sliced[key] = value[rows, :].clone()
        else:
            sliced[key] = value.clone()
    torch.manual_seed(seed)
    model, impl = fc.build_model(transformers.Gemma3nForCausalLM, config, notes)
    missing, unexpected = model.load_state_dict(sliced, strict=False)
    # Only computed buffers may be missing (non-persistent ones are not in state_dict anyway).
    bad_missing = [k for k in missing if not fc.COMPUTED_BUFFER.search(k)]
    if bad_missing or unexpected:
        raise RuntimeError(f"sliced state mismatch: missing {bad_missing[:8]} unexpected {list(unexpected)[:8]}")
    model.eval()
    notes.append(f"sliced from gemma3n: skip_layers {MATFORMER_SKIP}, ffn widths {widths} (first k rows of "
                 "gate/up, first k columns of down), PLE table columns / projection rows of the skipped layer dropped")
    out_dir = os.path.join(out, name)
    _finish(model, out_dir, name, seed, notes, impl, "Gemma3nForCausalLM", tolerance={"logits_abs": 2e-3})
    with open(os.path.join(out_dir, "slice.json"), "w") as f:
        json.dump({"ffn_widths": MATFORMER_WIDTHS, "skip_layers": MATFORMER_SKIP, "source_fixture": "gemma3n"}, f,
                  indent=2)


# ----------------------------------------------------------------------------------------------- Llama 4
def _llama4_text_config(notes):
    rope = {"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0,
            "high_freq_factor": 4.0, "original_max_position_embeddings": 16}
    base = dict(vocab_size=VOCAB, hidden_size=HIDDEN, intermediate_size=32, intermediate_size_mlp=64,
                num_hidden_layers=6, num_attention_heads=4, num_key_value_heads=2, head_dim=16,
                num_local_experts=4, num_experts_per_tok=1, interleave_moe_layer_step=2, attention_chunk_size=8,
                no_rope_layer_interval=3, attn_temperature_tuning=True, floor_scale=4, attn_scale=0.1,
                use_qk_norm=True, max_position_embeddings=256, tie_word_embeddings=False, bos_token_id=1,
                eos_token_id=2, pad_token_id=0)
    config = fc.make_config(transformers.Llama4TextConfig, notes, rope_parameters=rope, **base)
    got = getattr(config, "rope_parameters", None) or {}
    if got.get("rope_type") != "llama3":
        notes.append(f"rope_parameters kwarg gave {got}; retried with legacy rope_scaling/rope_theta")
        legacy = {k: v for k, v in rope.items() if k != "rope_theta"}
        config = fc.make_config(transformers.Llama4TextConfig, notes, rope_scaling=legacy,
                                rope_theta=rope["rope_theta"], **base)
    notes.append(f"layer_types={getattr(config, 'layer_types', None)} moe_layers={getattr(config, 'moe_layers', None)} "
                 f"no_rope_layers={getattr(config, 'no_rope_layers', None)} "
                 f"rope_parameters={getattr(config, 'rope_parameters', None)}")
    return config


def llama4(out, name, seed=4001):
    notes = []
    config = _llama4_text_config(notes)
    model, impl = _prepare("Llama4ForCausalLM", config, seed, notes, input_major_3d=True)
    tensors = _finish(model, os.path.join(out, name), name, seed, notes, impl, "Llama4ForCausalLM",
                      tolerance={"logits_abs": 2e-3})
    try:
        _llama4_multimodal_layout(out, model, config, tensors, seed)
    except Exception:
        traceback.print_exc()


def _llama4_multimodal_layout(out, text_model, text_config, tensors, seed):
    name = "llama4_multimodal_layout"
    out_dir = os.path.join(out, name)
    notes = []
    try:
        vision = transformers.Llama4VisionConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                                 intermediate_size=128, image_size=28, patch_size=14,
                                                 vision_output_dim=64, projector_input_dim=64,
                                                 projector_output_dim=64, pixel_shuffle_ratio=0.5)
        config = transformers.Llama4Config(text_config=text_config.to_dict(), vision_config=vision.to_dict())
        torch.manual_seed(seed)
        model, impl = fc.build_model(transformers.Llama4ForConditionalGeneration, config, notes)
        fc.randomize_weights(model, seed, input_major_3d=True)
        target = model.language_model
        missing, unexpected = target.load_state_dict(text_model.state_dict(), strict=False)
        if [k for k in missing if not fc.COMPUTED_BUFFER.search(k)] or unexpected:
            raise RuntimeError(f"text weights did not map: missing {missing[:6]} unexpected {unexpected[:6]}")
        logits = fc.full_logits(model, tensors["input_ids"])
        diff = float((logits - tensors["logits"]).abs().max())
        notes.append(f"Llama4ForConditionalGeneration (tiny vision) with the llama4 text weights; max |logits - "
                     f"llama4 logits| = {diff:.2e}")
        print("    " + notes[-1])
        if diff > 1e-3:
            raise RuntimeError(f"multimodal wrapper logits differ from text model by {diff}")
        fc.save_model(model, out_dir)
        model_class = "Llama4ForConditionalGeneration"
    except Exception:
        print("    multimodal class path failed, writing a key-renamed copy instead:")
        traceback.print_exc()
        notes.append("Llama4ForConditionalGeneration could not be built ("
                     + traceback.format_exc().strip().splitlines()[-1] + "); wrote llama4 weights with keys "
                     "prefixed 'language_model.' and the text config")
        from safetensors.torch import save_file
        shutil.rmtree(out_dir, ignore_errors=True)
        os.makedirs(out_dir)
        state = _load_saved_state(os.path.join(out, "llama4"))
        save_file({"language_model." + k: v for k, v in state.items()}, os.path.join(out_dir, "model.safetensors"),
                  metadata={"format": "pt"})
        shutil.copy(os.path.join(out, "llama4", "config.json"), out_dir)
        impl, model_class = "eager", "Llama4ForCausalLM (renamed keys)"
    state = _load_saved_state(out_dir)
    notes.append("saved key sample: " + ", ".join(sorted(state)[:4]))
    print("    " + notes[-1])
    fc.write_goldens(out_dir, name, model_class, "float32", {"logits_abs": 2e-3}, seed, notes, tensors,
                     {"attn_implementation": impl})
