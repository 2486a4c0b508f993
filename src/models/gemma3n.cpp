// Gemma 3n text decoder (Gemma3nForCausalLM and the text part of Gemma3nForConditionalGeneration).
// Spec: shared/spec/gemma3n.md §1–3, §9. This file turns config.json (+ an optional MatFormer slice) into a
// ModelPlan and loads the weights; gemma3n_decoder.cpp runs the AltUp / LAuReL / PLE forward pass.
//   - per-layer intermediate sizes and activation sparsity (lists in the config);
//   - the trailing num_kv_shared_layers read the K/V of the last earlier layer of their type;
//   - MatFormer (LoadOptions::matformer_slice): narrower FFNs per layer and skipped layers, from the full
//     checkpoint, with KV sharing and the per-layer-embedding blocks re-indexed.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <set>

#include "models/families.h"
#include "models/gemma3n_decoder.h"

namespace glint {
namespace {

// An int (same for every layer) or a list with one entry per layer. A synthetic benchmark model cut to
// its first layers keeps the full list, so longer lists are accepted there and report their length.
template <typename T>
std::vector<T> per_layer_list(const ModelConfig& c, const char* key, int layers, T fallback, bool allow_longer,
                              int* listed_layers = nullptr) {
  std::vector<T> values(size_t(layers), fallback);
  if (listed_layers) *listed_layers = layers;
  if (!c.has(key)) return values;
  const auto& v = c.text[key];
  if (v.is_number()) {
    std::fill(values.begin(), values.end(), c.get<T>(key));
    return values;
  }
  GLINT_CHECK(v.is_array(), c.dir, "/config.json: ", key, " must be a number or a list per layer, got ", v.dump());
  const auto list = c.get<std::vector<T>>(key);
  GLINT_CHECK(list.size() == size_t(layers) || (allow_longer && list.size() > size_t(layers)), c.dir,
              "/config.json: ", key, " has ", list.size(), " entries but num_hidden_layers is ", layers);
  if (listed_layers) *listed_layers = int(list.size());
  return {list.begin(), list.begin() + layers};
}

struct MatformerSlice {
  std::vector<int> ffn_widths;  // per original layer
  std::set<int> skip_layers;    // original indices
};

// slice.json: {"ffn_widths": [one per layer of the checkpoint], "skip_layers": [original layer indices]}.
MatformerSlice read_matformer_slice(const std::string& path, int layers, const std::vector<int>& intermediate) {
  std::ifstream in(path);
  GLINT_CHECK(in.good(), "MatFormer slice ", path, ": cannot open the file");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    fail("MatFormer slice ", path, ": not valid JSON (", e.what(), ")");
  }
  GLINT_CHECK(j.is_object(), "MatFormer slice ", path, ": expected an object with ffn_widths and skip_layers");
  MatformerSlice s;
  GLINT_CHECK(j.contains("ffn_widths") && j["ffn_widths"].is_array(), "MatFormer slice ", path,
              ": ffn_widths (a list with one FFN width per checkpoint layer) is missing");
  for (const auto& v : j["ffn_widths"]) {
    GLINT_CHECK(v.is_number_integer(), "MatFormer slice ", path, ": ffn_widths holds a non-integer ", v.dump());
    s.ffn_widths.push_back(v.get<int>());
  }
  GLINT_CHECK(int(s.ffn_widths.size()) == layers, "MatFormer slice ", path, ": ffn_widths has ", s.ffn_widths.size(),
              " entries but the checkpoint has ", layers, " layers (widths are per original layer)");
  if (j.contains("skip_layers") && !j["skip_layers"].is_null()) {
    GLINT_CHECK(j["skip_layers"].is_array(), "MatFormer slice ", path, ": skip_layers must be a list");
    for (const auto& v : j["skip_layers"]) {
      GLINT_CHECK(v.is_number_integer(), "MatFormer slice ", path, ": skip_layers holds a non-integer ", v.dump());
      const int layer = v.get<int>();
      GLINT_CHECK(layer >= 0 && layer < layers, "MatFormer slice ", path, ": skip_layers names layer ", layer,
                  " but the checkpoint has layers 0..", layers - 1);
      GLINT_CHECK(s.skip_layers.insert(layer).second, "MatFormer slice ", path, ": layer ", layer,
                  " is listed twice in skip_layers");
    }
  }
  GLINT_CHECK(int(s.skip_layers.size()) < layers, "MatFormer slice ", path, ": every layer is skipped");
  for (int i = 0; i < layers; ++i) {
    if (s.skip_layers.count(i)) continue;
    GLINT_CHECK(s.ffn_widths[size_t(i)] > 0 && s.ffn_widths[size_t(i)] <= intermediate[size_t(i)], "MatFormer slice ",
                path, ": layer ", i, " FFN width ", s.ffn_widths[size_t(i)], " must be between 1 and the checkpoint's ",
                intermediate[size_t(i)]);
  }
  return s;
}

// The first `width` columns of a [rows, cols] matrix, copied (a column slice is strided).
Tensor leading_columns(const Tensor& m, int64_t width) {
  if (!m.defined() || width == m.cols()) return m;
  Tensor out = Tensor::empty({m.rows(), width}, m.dtype());
  const size_t elem = dtype_size(m.dtype());
  const auto* src = static_cast<const char*>(m.raw());
  auto* dst = static_cast<char*>(out.raw());
  for (int64_t r = 0; r < m.rows(); ++r)
    std::memcpy(dst + size_t(r * width) * elem, src + size_t(r * m.cols()) * elem, size_t(width) * elem);
  return out;
}

// Row blocks `blocks[k]` (each `block_rows` tall) of m, stacked in order; m itself when nothing is dropped.
Tensor gather_row_blocks(const Tensor& m, const std::vector<int>& blocks, int64_t block_rows) {
  if (!m.defined() || int64_t(blocks.size()) * block_rows == m.rows()) return m;
  Tensor out = Tensor::empty({int64_t(blocks.size()) * block_rows, m.cols()}, m.dtype());
  const size_t block_bytes = size_t(block_rows * m.cols()) * dtype_size(m.dtype());
  for (size_t k = 0; k < blocks.size(); ++k)
    std::memcpy(static_cast<char*>(out.raw()) + k * block_bytes,
                static_cast<const char*>(m.raw()) + size_t(blocks[k]) * block_bytes, block_bytes);
  return out;
}

}  // namespace

std::unique_ptr<Transformer> build_gemma3n(const ModelConfig& c, WeightLoader& loader, const LoadOptions& options) {
  ModelPlan plan;
  plan.family = "gemma3n";
  plan.architecture = c.architectures.empty() ? "Gemma3nForCausalLM" : c.architectures.front();
  plan.hidden = c.get<int>("hidden_size", 2048);
  plan.vocab = c.get<int>("vocab_size", 262400);
  plan.rms_eps = c.get<float>("rms_norm_eps", 1e-6f);
  plan.final_norm = NormKind::Rms;
  plan.final_softcap = c.get<float>("final_logit_softcapping", 30.0f);
  plan.tied_embeddings = read_tie_embeddings(c, true);

  const int checkpoint_layers = c.get<int>("num_hidden_layers", 35);
  const int heads = c.get<int>("num_attention_heads", 8);
  const int kv_heads = c.get<int>("num_key_value_heads", 2);
  const int head_dim = c.get<int>("head_dim", 256);
  const int64_t window = c.get<int64_t>("sliding_window", 512);
  const int64_t max_positions = c.get<int64_t>("max_position_embeddings", 32768);
  const auto activation = read_activation(c, "gelu_pytorch_tanh");
  GLINT_CHECK(checkpoint_layers > 0 && heads > 0 && kv_heads > 0 && plan.hidden > 0 && plan.vocab > 0, c.dir,
              "/config.json: hidden_size, vocab_size, num_hidden_layers, num_attention_heads and "
              "num_key_value_heads must be positive");
  GLINT_CHECK(heads % kv_heads == 0, c.dir, "/config.json: num_attention_heads ", heads,
              " is not a multiple of num_key_value_heads ", kv_heads);
  GLINT_CHECK(head_dim > 0 && head_dim % 2 == 0, c.dir, "/config.json: head_dim ", head_dim,
              " must be positive and even (RoPE rotates pairs)");
  GLINT_CHECK(window > 0, c.dir, "/config.json: sliding_window must be positive, got ", window);

  plan.altup_streams = c.get<int>("altup_num_inputs", 4);
  plan.altup_active = c.get<int>("altup_active_idx", 0);
  plan.altup_correct_scale = c.get<bool>("altup_correct_scale", true);
  plan.laurel_rank = c.get<int>("laurel_rank", 64);
  GLINT_CHECK(plan.altup_streams >= 2, c.dir, "/config.json: altup_num_inputs must be at least 2, got ",
              plan.altup_streams);
  // The reference hard-codes stream 0 in places (PLE goes to streams[1:]); only 0 is consistent.
  GLINT_CHECK(plan.altup_active == 0, c.dir, "/config.json: altup_active_idx ", plan.altup_active,
              " is not supported (only 0, as in every published Gemma 3n)");
  GLINT_CHECK(plan.laurel_rank > 0, c.dir, "/config.json: laurel_rank must be positive, got ", plan.laurel_rank);
  plan.per_layer_input_width = c.get<int>("hidden_size_per_layer_input", 256);
  plan.per_layer_input_vocab = c.get<int>("vocab_size_per_layer_input", 262144);
  GLINT_CHECK(plan.per_layer_input_width > 0 && plan.per_layer_input_vocab > 0, c.dir,
              "/config.json: hidden_size_per_layer_input and vocab_size_per_layer_input must be positive");
  GLINT_CHECK(plan.per_layer_input_vocab <= plan.vocab, c.dir, "/config.json: vocab_size_per_layer_input ",
              plan.per_layer_input_vocab, " exceeds vocab_size ", plan.vocab);

  const bool synthetic = loader.is_synthetic();
  const auto types = read_layer_types(c, checkpoint_layers, 5);
  for (const auto& t : types)
    GLINT_CHECK(t != "chunked_attention", c.dir, "/config.json: Gemma 3n has no chunked_attention layers");
  const auto intermediate = per_layer_list<int>(c, "intermediate_size", checkpoint_layers, 16384, synthetic);
  for (int i = 0; i < checkpoint_layers; ++i)
    GLINT_CHECK(intermediate[size_t(i)] > 0, c.dir, "/config.json: intermediate_size of layer ", i,
                " must be positive");
  // Default pattern as transformers builds it: 0.95 on the first 10 layers when there are more than 10.
  const int sparse_default = checkpoint_layers > 10 ? 10 : 0;
  int listed_layers = checkpoint_layers;
  auto sparsity = per_layer_list<float>(c, "activation_sparsity_pattern", checkpoint_layers, 0.0f, synthetic,
                                        &listed_layers);
  if (!c.has("activation_sparsity_pattern"))
    for (int i = 0; i < sparse_default; ++i) sparsity[size_t(i)] = 0.95f;
  for (int i = 0; i < checkpoint_layers; ++i)
    GLINT_CHECK(sparsity[size_t(i)] >= 0 && sparsity[size_t(i)] < 1, c.dir,
                "/config.json: activation_sparsity_pattern[", i, "] = ", sparsity[size_t(i)],
                " must be in [0, 1)");

  // KV sharing over the checkpoint's layers: consumers are i >= first_shared (when first_shared > 0). A
  // synthetic model cut to its first layers still counts from the full depth its lists describe.
  const int shared = c.get<int>("num_kv_shared_layers", 15);
  GLINT_CHECK(shared >= 0, c.dir, "/config.json: num_kv_shared_layers must not be negative, got ", shared);
  const int first_shared = std::max(listed_layers, checkpoint_layers) - shared;

  // MatFormer: which checkpoint layers run, and how wide each FFN is.
  std::vector<int> kept, widths = intermediate;
  if (!options.matformer_slice.empty()) {
    const MatformerSlice slice = read_matformer_slice(options.matformer_slice, checkpoint_layers, intermediate);
    widths = slice.ffn_widths;
    for (int i = 0; i < checkpoint_layers; ++i)
      if (!slice.skip_layers.count(i)) kept.push_back(i);
  } else {
    for (int i = 0; i < checkpoint_layers; ++i) kept.push_back(i);
  }
  const int layers = int(kept.size());
  if (!options.matformer_slice.empty()) {
    // glint info shows the slice in the header line: which checkpoint layers were dropped.
    std::string skipped;
    for (int i = 0; i < checkpoint_layers; ++i)
      if (std::find(kept.begin(), kept.end(), i) == kept.end())
        skipped += (skipped.empty() ? "" : ",") + std::to_string(i);
    plan.architecture += ", MatFormer slice: " + std::to_string(layers) + " of " + std::to_string(checkpoint_layers) +
                         " layers" + (skipped.empty() ? "" : " (skipped " + skipped + ")");
  }

  // Producer of each kept layer: itself, or for a consumer the last kept non-consumer of its type.
  std::vector<int> owner(static_cast<size_t>(layers));
  for (int k = 0; k < layers; ++k) {
    const int orig = kept[size_t(k)];
    owner[size_t(k)] = k;
    if (first_shared <= 0 || orig < first_shared) continue;
    owner[size_t(k)] = -1;
    for (int j = k - 1; j >= 0; --j)
      if (kept[size_t(j)] < first_shared && types[size_t(kept[size_t(j)])] == types[size_t(orig)]) {
        owner[size_t(k)] = j;
        break;
      }
    GLINT_CHECK(owner[size_t(k)] >= 0, c.dir, "/config.json: layer ", orig, " (", types[size_t(orig)],
                ") shares the KV cache (num_kv_shared_layers ", shared, ") but no ",
                options.matformer_slice.empty() ? "" : "kept ", "layer of that type before layer ", first_shared,
                " produces one");
  }

  // rope 0: sliding layers; rope 1: full layers.
  add_gemma_rope_tables(c, head_dim, max_positions, plan);

  for (int k = 0; k < layers; ++k) {
    const int orig = kept[size_t(k)];
    const bool sliding = types[size_t(orig)] == "sliding_attention";
    LayerPlan l;
    auto& a = l.attention;
    a.mask = sliding ? MaskKind::Sliding : MaskKind::Causal;
    a.window = sliding ? window : 0;
    a.n_heads = heads;
    a.n_kv_heads = kv_heads;
    a.head_dim = head_dim;
    a.scale = 1.0f;  // q/k norms replace 1/√D
    a.q_norm = a.k_norm = NormKind::Rms;
    a.v_norm = true;
    a.rope = sliding ? 0 : 1;
    a.bias = c.get<bool>("attention_bias", false);
    a.kv_owner = owner[size_t(k)];
    l.ffn.intermediate = widths[size_t(orig)];
    l.ffn.activation = activation;
    l.ffn.activation_sparsity = sparsity[size_t(orig)];
    l.norm = NormKind::Rms;
    l.sandwich_norms = true;
    l.per_layer_input = true;
    plan.layers.push_back(l);
  }

  ModelWeights w;
  const int64_t hidden = plan.hidden, width = plan.per_layer_input_width, streams = plan.altup_streams;
  w.embed = loader.matrix("embed_tokens.weight", {plan.vocab, hidden});
  plan.embed_scale = round_to_dtype(std::sqrt(float(hidden)), w.embed.dtype());
  w.final_norm = loader.vector_f32("norm.weight", {hidden});
  w.lm_head = plan.tied_embeddings ? w.embed : loader.lm_head({plan.vocab, hidden});
  // The PLE table stays whole (it is large and memory-mapped); the decoder reads each kept layer's block.
  const int64_t ple_total = int64_t(checkpoint_layers) * width;
  w.ple_embed = loader.matrix("embed_tokens_per_layer.weight", {plan.per_layer_input_vocab, ple_total});
  w.ple_model_projection =
      gather_row_blocks(loader.matrix("per_layer_model_projection.weight", {ple_total, hidden}), kept, width);
  w.ple_projection_norm = loader.vector_f32("per_layer_projection_norm.weight", {width});
  for (int s = 0; s + 1 < streams; ++s) {
    const std::string index = std::to_string(s);
    w.extra[kAltupProjection + index] = loader.matrix(kAltupProjection + index + ".weight", {hidden, hidden});
    w.extra[kAltupUnembedProjection + index] =
        loader.matrix(kAltupUnembedProjection + index + ".weight", {hidden, hidden});
  }

  w.layers.resize(size_t(layers));
  for (int k = 0; k < layers; ++k) {
    const int orig = kept[size_t(k)];
    const std::string p = "layers." + std::to_string(orig) + ".";
    auto& lw = w.layers[size_t(k)];
    lw.input_norm = loader.vector_f32(p + "input_layernorm.weight", {hidden});
    lw.post_attention_norm = loader.vector_f32(p + "post_attention_layernorm.weight", {hidden});
    lw.pre_ffn_norm = loader.vector_f32(p + "pre_feedforward_layernorm.weight", {hidden});
    lw.post_ffn_norm = loader.vector_f32(p + "post_feedforward_layernorm.weight", {hidden});
    load_attention(loader, p + "self_attn.", plan, k, lw.attention);
    // MatFormer keeps the first `width` hidden units: leading rows of gate/up (views), leading columns of down.
    load_mlp(loader, p + "mlp.", plan.hidden, intermediate[size_t(orig)], lw.mlp);
    const int64_t ffn = plan.layers[size_t(k)].ffn.intermediate;
    if (ffn != intermediate[size_t(orig)] && lw.mlp.gate.defined() && lw.mlp.up.defined()) {
      lw.mlp.gate = lw.mlp.gate.slice_rows(0, ffn);
      lw.mlp.up = lw.mlp.up.slice_rows(0, ffn);
      lw.mlp.down = leading_columns(lw.mlp.down, ffn);
    }
    lw.ple_gate = loader.matrix(p + "per_layer_input_gate.weight", {width, hidden});
    lw.ple_projection = loader.matrix(p + "per_layer_projection.weight", {hidden, width});
    lw.ple_post_norm = loader.vector_f32(p + "post_per_layer_input_norm.weight", {hidden});
    // AltUp and LAuReL are small; kept in float32 under their checkpoint names.
    lw.extra["altup.router_norm.weight"] = loader.vector_f32(p + "altup.router_norm.weight", {hidden});
    lw.extra["altup.modality_router.weight"] = loader.vector_f32(p + "altup.modality_router.weight", {streams, hidden});
    lw.extra["altup.prediction_coefs.weight"] =
        loader.vector_f32(p + "altup.prediction_coefs.weight", {streams * streams, streams});
    lw.extra["altup.correction_coefs.weight"] =
        loader.vector_f32(p + "altup.correction_coefs.weight", {streams, streams});
    if (plan.altup_correct_scale)
      lw.extra["altup.correct_output_scale"] = loader.vector_f32(p + "altup.correct_output_scale", {hidden});
    else
      loader.ignore(p + "altup.correct_output_scale");
    lw.extra["laurel.linear_left.weight"] = loader.matrix(p + "laurel.linear_left.weight", {plan.laurel_rank, hidden});
    lw.extra["laurel.linear_right.weight"] =
        loader.matrix(p + "laurel.linear_right.weight", {hidden, plan.laurel_rank});
    lw.extra["laurel.post_laurel_norm.weight"] = loader.vector_f32(p + "laurel.post_laurel_norm.weight", {hidden});
  }
  // Skipped MatFormer layers: every tensor of theirs is deliberately unused.
  if (!synthetic && layers < checkpoint_layers) {
    std::set<int> kept_set(kept.begin(), kept.end());
    for (int i = 0; i < checkpoint_layers; ++i) {
      if (kept_set.count(i)) continue;
      const std::string layer_prefix = loader.prefix() + "layers." + std::to_string(i) + ".";
      for (const auto& name : loader.checkpoint().names())
        if (name.rfind(layer_prefix, 0) == 0) loader.ignore(name.substr(loader.prefix().size()));
    }
  }
  return make_gemma3n_decoder(std::move(plan), std::move(w), kept, checkpoint_layers);
}

}  // namespace glint
