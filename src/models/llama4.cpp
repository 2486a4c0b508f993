// Llama 4 text decoder (Llama4ForCausalLM and the text part of Llama4ForConditionalGeneration).
// Spec: shared/spec/llama4.md §1–4, §8. Layer roles come from three config lists:
//   no_rope_layers[i] (1 = RoPE layer: interleaved RoPE then weightless L2 q/k norm; 0 = NoPE layer: query
//   temperature tuning), layer_types[i] (chunked_attention / full_attention: the mask), moe_layers (routed
//   experts + shared expert, else a dense MLP of width intermediate_size_mlp).
#include <algorithm>
#include <cmath>

#include "core/thread_pool.h"
#include "models/families.h"

namespace glint {
namespace {

// Per layer: does it rotate (1) or not (0). transformers indexes config.no_rope_layers[i], so a longer list
// is accepted (only the first num_hidden_layers entries matter) and a shorter one is an error.
std::vector<bool> read_rope_layers(const ModelConfig& c, int layers) {
  std::vector<bool> rope(static_cast<size_t>(layers), false);
  if (c.has("no_rope_layers") && !c.text["no_rope_layers"].empty()) {
    const auto list = c.get<std::vector<int>>("no_rope_layers");
    GLINT_CHECK(int(list.size()) >= layers, c.dir, "/config.json: no_rope_layers has ", list.size(),
                " entries but num_hidden_layers is ", layers);
    for (int i = 0; i < layers; ++i) {
      GLINT_CHECK(list[size_t(i)] == 0 || list[size_t(i)] == 1, c.dir, "/config.json: no_rope_layers[", i,
                  "] is ", list[size_t(i)], " (expected 1 for a RoPE layer or 0 for a NoPE layer)");
      rope[size_t(i)] = list[size_t(i)] == 1;
    }
    return rope;
  }
  const int interval = c.get<int>("no_rope_layer_interval", 4);
  GLINT_CHECK(interval > 0, c.dir, "/config.json: no_rope_layer_interval must be positive, got ", interval);
  for (int i = 0; i < layers; ++i) rope[size_t(i)] = (i + 1) % interval != 0;
  return rope;
}

// Per layer: mixture of experts or dense. moe_layers entries past the last layer never match a layer in
// the reference, so they are ignored (this also keeps a truncated benchmark config valid).
std::vector<bool> read_moe_layers(const ModelConfig& c, int layers) {
  std::vector<bool> moe(static_cast<size_t>(layers), false);
  if (c.has("moe_layers")) {
    for (int index : c.get<std::vector<int>>("moe_layers")) {
      GLINT_CHECK(index >= 0, c.dir, "/config.json: moe_layers holds a negative layer index ", index);
      if (index < layers) moe[size_t(index)] = true;
    }
    return moe;
  }
  const int step = c.get<int>("interleave_moe_layer_step", 1);
  GLINT_CHECK(step > 0, c.dir, "/config.json: interleave_moe_layer_step must be positive, got ", step);
  for (int i = step - 1; i < layers; i += step) moe[size_t(i)] = true;
  return moe;
}

// Mask kind per layer: layer_types when given, else chunked on RoPE layers and global on NoPE layers.
std::vector<std::string> read_llama4_layer_types(const ModelConfig& c, const std::vector<bool>& rope) {
  const int layers = int(rope.size());
  std::vector<std::string> types;
  if (c.has("layer_types")) {
    types = read_layer_types(c, layers, 0);
    for (int i = 0; i < layers; ++i)
      GLINT_CHECK(types[size_t(i)] != "sliding_attention", c.dir, "/config.json: layer_types[", i,
                  "] is sliding_attention, which Llama 4 does not have (chunked_attention or full_attention)");
    return types;
  }
  for (int i = 0; i < layers; ++i) types.push_back(rope[size_t(i)] ? "chunked_attention" : "full_attention");
  return types;
}

// [experts, rows, cols] → [experts, cols, rows] on elements of type T, in cache-sized tiles.
template <typename T>
void transpose_tiles(const T* src, T* dst, int64_t experts, int64_t rows, int64_t cols) {
  constexpr int64_t kTile = 64;
  const int64_t row_tiles = (rows + kTile - 1) / kTile;
  parallel_for(experts * row_tiles, 1, [&](int64_t begin, int64_t end) {
    for (int64_t job = begin; job < end; ++job) {
      const int64_t e = job / row_tiles, r0 = (job % row_tiles) * kTile, r1 = std::min(rows, r0 + kTile);
      const T* s = src + e * rows * cols;
      T* d = dst + e * rows * cols;
      for (int64_t c0 = 0; c0 < cols; c0 += kTile) {
        const int64_t c1 = std::min(cols, c0 + kTile);
        for (int64_t r = r0; r < r1; ++r)
          for (int64_t c = c0; c < c1; ++c) d[c * rows + r] = s[r * cols + c];
      }
    }
  });
}

// The checkpoint stores routed experts input-major ([E, in, out], used as x · W); run_experts reads
// [E, out, in]. One transpose per tensor at load, keeping the stored dtype.
Tensor transpose_experts(const Tensor& stored) {
  if (!stored.defined()) return stored;  // the loader already recorded the problem
  const int64_t experts = stored.size(0), rows = stored.size(1), cols = stored.size(2);
  Tensor out = Tensor::empty({experts, cols, rows}, stored.dtype());
  if (dtype_size(stored.dtype()) == 4)
    transpose_tiles(stored.data<uint32_t>(), out.data<uint32_t>(), experts, rows, cols);
  else if (dtype_size(stored.dtype()) == 2)
    transpose_tiles(stored.data<uint16_t>(), out.data<uint16_t>(), experts, rows, cols);
  else
    fail("llama4 experts: unsupported weight dtype ", dtype_name(stored.dtype()));
  return out;
}

}  // namespace

std::unique_ptr<Transformer> build_llama4(const ModelConfig& c, WeightLoader& loader, const LoadOptions&) {
  ModelPlan plan;
  plan.family = "llama4";
  plan.architecture = c.architectures.empty() ? "Llama4ForCausalLM" : c.architectures.front();
  plan.hidden = c.get<int>("hidden_size");
  plan.vocab = c.get<int>("vocab_size", 202048);
  plan.rms_eps = c.get<float>("rms_norm_eps", 1e-5f);
  plan.final_norm = NormKind::Rms;
  plan.tied_embeddings = read_tie_embeddings(c, false);

  const int layers = c.get<int>("num_hidden_layers");
  const int heads = c.get<int>("num_attention_heads");
  const int kv_heads = c.get<int>("num_key_value_heads", heads);
  GLINT_CHECK(layers > 0 && heads > 0 && kv_heads > 0 && plan.hidden > 0, c.dir,
              "/config.json: hidden_size, num_hidden_layers, num_attention_heads and num_key_value_heads must be "
              "positive");
  GLINT_CHECK(heads % kv_heads == 0, c.dir, "/config.json: num_attention_heads ", heads,
              " is not a multiple of num_key_value_heads ", kv_heads);
  const int head_dim = c.get<int>("head_dim", plan.hidden / heads);
  GLINT_CHECK(head_dim > 0 && head_dim % 2 == 0, c.dir, "/config.json: head_dim ", head_dim,
              " must be positive and even (RoPE rotates pairs)");
  const int expert_intermediate = c.get<int>("intermediate_size", 8192);
  const int dense_intermediate = c.get<int>("intermediate_size_mlp", 16384);
  const int experts = c.get<int>("num_local_experts", 16);
  const int top_k = c.get<int>("num_experts_per_tok", 1);
  const bool qk_norm = c.get<bool>("use_qk_norm", true);
  const bool temperature_tuning = c.get<bool>("attn_temperature_tuning", true);
  const float floor_scale = c.get<float>("floor_scale", 8192.0f);
  const float attn_scale = c.get<float>("attn_scale", 0.1f);
  const int64_t max_positions = c.get<int64_t>("max_position_embeddings", 131072);
  const auto activation = read_activation(c, "silu");

  const auto rope_layers = read_rope_layers(c, layers);
  const auto moe_layers = read_moe_layers(c, layers);
  const auto types = read_llama4_layer_types(c, rope_layers);
  const bool any_chunked = std::count(types.begin(), types.end(), "chunked_attention") > 0;
  const bool any_moe = std::count(moe_layers.begin(), moe_layers.end(), true) > 0;
  const bool any_nope = std::count(rope_layers.begin(), rope_layers.end(), false) > 0;
  const int64_t chunk = any_chunked ? c.get<int64_t>("attention_chunk_size", 8192) : 0;
  GLINT_CHECK(!any_chunked || chunk > 0, c.dir, "/config.json: attention_chunk_size must be positive, got ", chunk);
  GLINT_CHECK(!(temperature_tuning && any_nope) || floor_scale > 0, c.dir,
              "/config.json: floor_scale must be positive for attention temperature tuning, got ", floor_scale);
  if (any_moe) {
    GLINT_CHECK(experts > 0 && expert_intermediate > 0, c.dir,
                "/config.json: num_local_experts and intermediate_size must be positive for MoE layers");
    GLINT_CHECK(top_k >= 1 && top_k <= experts, c.dir, "/config.json: num_experts_per_tok ", top_k,
                " must be between 1 and num_local_experts ", experts);
  }
  GLINT_CHECK(any_moe || dense_intermediate > 0, c.dir, "/config.json: intermediate_size_mlp must be positive");

  // One table for every RoPE layer: complex rotation of adjacent pairs (default or llama3 frequencies).
  plan.ropes.push_back(ops::make_rope_table(rope_parameters_for(c, "full_attention"), head_dim, max_positions,
                                            ops::RopeStyle::Interleaved));

  for (int i = 0; i < layers; ++i) {
    LayerPlan l;
    const bool rope = rope_layers[size_t(i)];
    const bool chunked = types[size_t(i)] == "chunked_attention";
    auto& a = l.attention;
    a.mask = chunked ? MaskKind::Chunked : MaskKind::Causal;
    a.window = chunked ? chunk : 0;
    a.n_heads = heads;
    a.n_kv_heads = kv_heads;
    a.head_dim = head_dim;
    a.scale = 1.0f / std::sqrt(float(head_dim));
    a.rope = rope ? 0 : -1;
    if (rope && qk_norm) a.q_norm = a.k_norm = NormKind::RmsNoWeight;
    a.qk_norm_after_rope = true;
    a.temperature_tuning = !rope && temperature_tuning;
    a.temperature_floor_scale = floor_scale;
    a.temperature_attn_scale = attn_scale;
    a.bias = c.get<bool>("attention_bias", false);
    a.kv_owner = i;
    l.ffn.activation = activation;
    if (moe_layers[size_t(i)]) {
      MoePlan moe;
      moe.router = MoePlan::Router::SigmoidTopKScalesInput;
      moe.num_experts = experts;
      moe.top_k = top_k;
      moe.expert_intermediate = expert_intermediate;
      moe.shared_expert_intermediate = expert_intermediate;  // the shared expert has the experts' width
      l.ffn.moe = moe;
    } else {
      l.ffn.intermediate = dense_intermediate;
    }
    l.norm = NormKind::Rms;
    plan.layers.push_back(l);
  }

  ModelWeights w;
  w.embed = loader.matrix("embed_tokens.weight", {plan.vocab, plan.hidden});
  w.final_norm = loader.vector_f32("norm.weight", {plan.hidden});
  w.lm_head = plan.tied_embeddings ? w.embed : loader.lm_head({plan.vocab, plan.hidden});
  w.layers.resize(size_t(layers));
  const int64_t hidden = plan.hidden, inter = expert_intermediate;
  for (int i = 0; i < layers; ++i) {
    const std::string p = "layers." + std::to_string(i) + ".";
    auto& lw = w.layers[size_t(i)];
    lw.input_norm = loader.vector_f32(p + "input_layernorm.weight", {plan.hidden});
    // Llama's post_attention_layernorm normalises the feed-forward input (there are no sandwich norms).
    lw.pre_ffn_norm = loader.vector_f32(p + "post_attention_layernorm.weight", {plan.hidden});
    load_attention(loader, p + "self_attn.", plan, i, lw.attention);
    const std::string f = p + "feed_forward.";
    if (!moe_layers[size_t(i)]) {
      load_mlp(loader, f, plan.hidden, dense_intermediate, lw.mlp);
      continue;
    }
    lw.moe.router = loader.matrix(f + "router.weight", {experts, hidden});
    Tensor gate_up = loader.matrix(f + "experts.gate_up_proj", {experts, hidden, 2 * inter});
    Tensor down = loader.matrix(f + "experts.down_proj", {experts, inter, hidden});
    if (loader.is_synthetic()) {
      // Made-up weights: any element order is as good as another, so skip the transpose (and its memory).
      lw.moe.gate_up = gate_up.reshape({experts, 2 * inter, hidden});
      lw.moe.down = down.reshape({experts, hidden, inter});
    } else {
      lw.moe.gate_up = transpose_experts(gate_up);
      lw.moe.down = transpose_experts(down);
    }
    load_mlp(loader, f + "shared_expert.", plan.hidden, expert_intermediate, lw.moe.shared);
  }
  return std::make_unique<Transformer>(std::move(plan), std::move(w));
}

}  // namespace glint
