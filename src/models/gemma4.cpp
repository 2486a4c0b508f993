// Gemma 4 text decoder (Gemma4ForCausalLM and the text part of Gemma4ForConditionalGeneration), dense and
// mixture-of-experts. Spec: shared/spec/gemma4.md §1–4. What sets it apart from Gemma 3:
//   - per layer type head dims / kv heads (full layers: global_head_dim, optionally num_global_key_value_heads),
//     resolved like transformers' per_layer_config;
//   - proportional RoPE on full layers (zero-frequency tail), default RoPE on sliding layers;
//   - q/k norms x̂·w, weightless v norm, attention scale 1.0, attention_k_eq_v (V = raw K projection);
//   - the trailing num_kv_shared_layers read the K/V of the last earlier layer of their type (own no cache);
//   - per-layer embeddings (PLE), a learned layer_scalar, double-wide MLP on KV-consumer layers;
//   - optional MoE block next to the dense MLP (moe_gemma4.cpp).
#include <algorithm>
#include <cmath>
#include <map>

#include "models/blocks.h"
#include "models/families.h"

namespace glint {
namespace {

// Attention shape of one layer after per-layer overrides.
struct LayerShape {
  int head_dim = 0;
  int kv_heads = 0;
  int intermediate = 0;
};

// transformers builds per_layer_config at construction from global_head_dim / num_global_key_value_heads
// unless the saved config already holds one; a saved per_layer_config is authoritative.
std::vector<LayerShape> resolve_layer_shapes(const ModelConfig& c, const std::vector<std::string>& types) {
  const int layers = int(types.size());
  const int head_dim = c.get<int>("head_dim", 256);
  const int kv_heads = c.get<int>("num_key_value_heads", 4);
  const int intermediate = c.get<int>("intermediate_size", 9216);
  std::vector<LayerShape> shapes(size_t(layers), LayerShape{head_dim, kv_heads, intermediate});
  if (c.has("per_layer_config")) {
    const auto& per_layer = c.text["per_layer_config"];
    auto apply = [&](int index, const nlohmann::json& entry) {
      GLINT_CHECK(index >= 0 && index < layers, c.dir, "/config.json: per_layer_config names layer ", index,
                  " but the model has ", layers, " layers");
      if (entry.is_null()) return;
      GLINT_CHECK(entry.is_object(), c.dir, "/config.json: per_layer_config entry of layer ", index,
                  " is not an object: ", entry.dump());
      for (auto& [key, value] : entry.items()) {
        GLINT_CHECK(value.is_number_integer(), c.dir, "/config.json: per_layer_config[", index, "].", key,
                    " must be an integer, got ", value.dump());
        auto& s = shapes[size_t(index)];
        if (key == "head_dim") s.head_dim = value.get<int>();
        else if (key == "num_key_value_heads") s.kv_heads = value.get<int>();
        else if (key == "intermediate_size") s.intermediate = value.get<int>();
        else fail(c.dir, "/config.json: per_layer_config[", index, "] sets '", key,
                  "', which glint does not support (head_dim, num_key_value_heads, intermediate_size)");
      }
    };
    if (per_layer.is_object()) {
      for (auto& [key, entry] : per_layer.items()) {
        int index = -1;
        try {
          size_t used = 0;
          index = std::stoi(key, &used);
          if (used != key.size()) index = -1;
        } catch (const std::exception&) {
        }
        GLINT_CHECK(index >= 0, c.dir, "/config.json: per_layer_config key '", key, "' is not a layer index");
        apply(index, entry);
      }
    } else if (per_layer.is_array()) {
      for (size_t i = 0; i < per_layer.size(); ++i) apply(int(i), per_layer[i]);
    } else {
      fail(c.dir, "/config.json: per_layer_config must be an object keyed by layer index, got ", per_layer.dump());
    }
    return shapes;
  }
  const int global_head_dim = c.get<int>("global_head_dim", 512);
  const bool k_eq_v = c.get<bool>("attention_k_eq_v", false);
  for (int i = 0; i < layers; ++i) {
    if (types[size_t(i)] != "full_attention") continue;
    shapes[size_t(i)].head_dim = global_head_dim;
    // num_global_key_value_heads only applies together with attention_k_eq_v (as in transformers 5.17).
    if (k_eq_v && c.has("num_global_key_value_heads"))
      shapes[size_t(i)].kv_heads = c.get<int>("num_global_key_value_heads");
  }
  return shapes;
}

// rope_parameters[type], else the Gemma 4 default of that type.
nlohmann::json gemma4_rope_parameters(const ModelConfig& c, const std::string& type) {
  if (c.has("rope_parameters")) {
    const auto& rp = c.text["rope_parameters"];
    GLINT_CHECK(rp.is_object(), c.dir, "/config.json: rope_parameters must be an object");
    if (rp.contains(type) && rp[type].is_object()) return rp[type];
    if (rp.contains("rope_type") || rp.contains("rope_theta")) return rp;
  }
  if (type == "full_attention")
    return {{"rope_type", "proportional"}, {"partial_rotary_factor", 0.25}, {"rope_theta", 1000000.0}};
  return {{"rope_type", "default"}, {"rope_theta", 10000.0}};
}

// Layer i's KV owner: itself, or for the trailing num_kv_shared_layers the last earlier non-shared layer
// of the same type.
std::vector<int> resolve_kv_owners(const ModelConfig& c, const std::vector<std::string>& types, int shared) {
  const int layers = int(types.size()), first_shared = layers - shared;
  std::vector<int> owner(static_cast<size_t>(layers));
  for (int i = 0; i < layers; ++i) {
    owner[size_t(i)] = i;
    if (i < first_shared) continue;
    owner[size_t(i)] = -1;
    for (int j = first_shared - 1; j >= 0; --j)
      if (types[size_t(j)] == types[size_t(i)]) {
        owner[size_t(i)] = j;
        break;
      }
    GLINT_CHECK(owner[size_t(i)] >= 0, c.dir, "/config.json: layer ", i, " (", types[size_t(i)],
                ") shares the KV cache (num_kv_shared_layers ", shared, ") but no earlier layer of type ",
                types[size_t(i)], " before layer ", first_shared, " produces one");
  }
  return owner;
}

// MoE layers: router, fused experts and the three extra norms, kept in LayerWeights::extra under their
// checkpoint names (moe_gemma4.cpp reads them).
void load_gemma4_moe(WeightLoader& loader, const std::string& p, const ModelPlan& plan, int layer, LayerWeights& lw) {
  const MoePlan& m = *plan.layers[size_t(layer)].ffn.moe;
  const int64_t hidden = plan.hidden, experts = m.num_experts, inter = m.expert_intermediate;
  lw.moe.router = loader.matrix(p + "router.proj.weight", {experts, hidden});
  lw.moe.gate_up = loader.matrix(p + "experts.gate_up_proj", {experts, 2 * inter, hidden});
  lw.moe.down = loader.matrix(p + "experts.down_proj", {experts, hidden, inter});
  lw.extra["router.scale"] = loader.vector_f32(p + "router.scale", {hidden});
  lw.extra["router.per_expert_scale"] = loader.vector_f32(p + "router.per_expert_scale", {experts});
  for (const char* norm : {"pre_feedforward_layernorm_2", "post_feedforward_layernorm_1", "post_feedforward_layernorm_2"})
    lw.extra[norm] = loader.vector_f32(p + norm + ".weight", {hidden});
}

// Gemma4ForConditionalGeneration embeds its image / video / audio placeholder ids as <pad> (in both the
// token table and the per-layer table) before media features are scattered in, so a text-only run of the
// multimodal class sees <pad> rows there too. Gemma4ForCausalLM looks the raw ids up.
class Gemma4Transformer : public Transformer {
 public:
  Gemma4Transformer(ModelPlan plan, ModelWeights weights, std::vector<int32_t> placeholders, int32_t pad)
      : Transformer(std::move(plan), std::move(weights)), placeholders_(std::move(placeholders)), pad_(pad) {}
  bool runs_generic_pass() const override { return false; }

 protected:
  void embed(Pass& pass, Tensor& h) override {
    auto is_placeholder = [&](int32_t id) {
      return std::find(placeholders_.begin(), placeholders_.end(), id) != placeholders_.end();
    };
    if (std::none_of(pass.tokens.begin(), pass.tokens.end(), is_placeholder)) return Transformer::embed(pass, h);
    std::vector<int32_t> raw = pass.tokens;
    for (auto& id : pass.tokens)
      if (is_placeholder(id)) id = pad_;
    Transformer::embed(pass, h);
    pass.tokens = std::move(raw);
  }

 private:
  std::vector<int32_t> placeholders_;
  int32_t pad_;
};

// Whether every one of the trailing `shared` layers has an earlier non-shared layer of its type to read.
bool sharing_is_valid(const std::vector<std::string>& types, int shared) {
  const int first_shared = int(types.size()) - shared;
  if (shared < 0 || first_shared <= 0) return false;
  for (int i = first_shared; i < int(types.size()); ++i) {
    bool found = false;
    for (int j = 0; j < first_shared && !found; ++j) found = types[size_t(j)] == types[size_t(i)];
    if (!found) return false;
  }
  return true;
}

}  // namespace

std::unique_ptr<Transformer> build_gemma4(const ModelConfig& c, WeightLoader& loader, const LoadOptions&) {
  ModelPlan plan;
  plan.family = "gemma4";
  plan.architecture = c.architectures.empty() ? "Gemma4ForCausalLM" : c.architectures.front();
  plan.hidden = c.get<int>("hidden_size", 2304);
  plan.vocab = c.get<int>("vocab_size", 262144);
  plan.rms_eps = c.get<float>("rms_norm_eps", 1e-6f);
  plan.final_norm = NormKind::Rms;
  plan.final_softcap = c.get<float>("final_logit_softcapping", 0.0f);
  plan.tied_embeddings = read_tie_embeddings(c, true);

  const int layers = c.get<int>("num_hidden_layers", 30);
  const int heads = c.get<int>("num_attention_heads", 8);
  const int64_t window = c.get<int64_t>("sliding_window", 512);
  const int64_t max_positions = c.get<int64_t>("max_position_embeddings", 131072);
  const auto activation = read_activation(c, "gelu_pytorch_tanh");
  const bool k_eq_v = c.get<bool>("attention_k_eq_v", false);
  GLINT_CHECK(layers > 0 && heads > 0 && plan.hidden > 0 && plan.vocab > 0, c.dir,
              "/config.json: hidden_size, vocab_size, num_hidden_layers and num_attention_heads must be positive");
  GLINT_CHECK(window > 0, c.dir, "/config.json: sliding_window must be positive, got ", window);

  // use_bidirectional_attention: "vision" only changes the masks of image/video soft tokens, so a text
  // prompt attends causally; "all" makes every layer non-causal, which glint's attention cannot express.
  if (c.has("use_bidirectional_attention")) {
    const auto& mode = c.text["use_bidirectional_attention"];
    GLINT_CHECK(mode.is_string() && (mode == "vision" || mode == "all"), c.dir,
                "/config.json: use_bidirectional_attention must be null, \"vision\" or \"all\", got ", mode.dump());
    GLINT_CHECK(mode != "all", c.dir,
                "/config.json: use_bidirectional_attention \"all\" (non-causal attention over the whole input) is "
                "not supported; glint decodes causally");
  }

  // The reference forces the last layer to full attention, whatever layer_types says.
  auto types = read_layer_types(c, layers, 6);
  for (const auto& t : types)
    GLINT_CHECK(t != "chunked_attention", c.dir, "/config.json: Gemma 4 has no chunked_attention layers");
  types.back() = "full_attention";
  const auto shapes = resolve_layer_shapes(c, types);

  int shared = c.get<int>("num_kv_shared_layers", 0);
  // A benchmark model cut to its first layers (load_synthetic_model) may keep a sharing count meant for
  // the full depth; those first layers own their caches in the full model, so sharing is dropped.
  if (loader.is_synthetic() && !sharing_is_valid(types, shared)) shared = 0;
  GLINT_CHECK(shared >= 0 && shared < layers, c.dir, "/config.json: num_kv_shared_layers ", shared,
              " must be at least 0 and less than num_hidden_layers ", layers);
  const auto owners = resolve_kv_owners(c, types, shared);
  const int first_shared = layers - shared;
  const bool double_wide = c.get<bool>("use_double_wide_mlp", false);

  const int ple_width = c.get<int>("hidden_size_per_layer_input", 256);
  GLINT_CHECK(ple_width >= 0, c.dir, "/config.json: hidden_size_per_layer_input must not be negative");
  plan.per_layer_input_width = ple_width;
  plan.per_layer_input_vocab = ple_width > 0 ? c.get<int>("vocab_size_per_layer_input", 262144) : 0;
  GLINT_CHECK(ple_width == 0 || plan.per_layer_input_vocab > 0, c.dir,
              "/config.json: vocab_size_per_layer_input must be positive when per-layer inputs are used");

  std::optional<MoePlan> moe;
  if (c.get<bool>("enable_moe_block", false)) {
    MoePlan m;
    m.router = MoePlan::Router::SoftmaxTopKRenormalised;
    GLINT_CHECK(c.has("num_experts") && c.has("top_k_experts") && c.has("moe_intermediate_size"), c.dir,
                "/config.json: enable_moe_block needs num_experts, top_k_experts and moe_intermediate_size");
    m.num_experts = c.get<int>("num_experts");
    m.top_k = c.get<int>("top_k_experts");
    m.expert_intermediate = c.get<int>("moe_intermediate_size");
    GLINT_CHECK(m.num_experts > 0 && m.expert_intermediate > 0, c.dir,
                "/config.json: num_experts and moe_intermediate_size must be positive");
    GLINT_CHECK(m.top_k >= 1 && m.top_k <= m.num_experts, c.dir, "/config.json: top_k_experts ", m.top_k,
                " must be between 1 and num_experts ", m.num_experts);
    moe = m;
  }

  // One RoPE table per (layer type, head dim): full layers rotate with their own (global) head dim.
  std::map<std::pair<std::string, int>, int> rope_index;
  auto rope_for = [&](const std::string& type, int head_dim) {
    auto key = std::make_pair(type, head_dim);
    auto it = rope_index.find(key);
    if (it != rope_index.end()) return it->second;
    plan.ropes.push_back(ops::make_rope_table(gemma4_rope_parameters(c, type), head_dim, max_positions,
                                              ops::RopeStyle::RotateHalf));
    return rope_index[key] = int(plan.ropes.size()) - 1;
  };

  for (int i = 0; i < layers; ++i) {
    const auto& s = shapes[size_t(i)];
    const bool sliding = types[size_t(i)] == "sliding_attention";
    GLINT_CHECK(s.head_dim > 0 && s.head_dim % 2 == 0, c.dir, "/config.json: layer ", i, " head_dim ", s.head_dim,
                " must be positive and even (RoPE rotates pairs)");
    GLINT_CHECK(s.kv_heads > 0 && heads % s.kv_heads == 0, c.dir, "/config.json: layer ", i,
                ": num_attention_heads ", heads, " is not a multiple of its ", s.kv_heads, " key/value heads");
    LayerPlan l;
    auto& a = l.attention;
    a.mask = sliding ? MaskKind::Sliding : MaskKind::Causal;
    a.window = sliding ? window : 0;
    a.n_heads = heads;
    a.n_kv_heads = s.kv_heads;
    a.head_dim = s.head_dim;
    a.scale = 1.0f;
    a.q_norm = a.k_norm = NormKind::Rms;
    a.v_norm = true;
    a.rope = rope_for(types[size_t(i)], s.head_dim);
    a.k_eq_v = k_eq_v && !sliding;
    a.bias = c.get<bool>("attention_bias", false);
    a.kv_owner = owners[size_t(i)];
    if (a.kv_owner != i) {
      const auto& producer = shapes[size_t(a.kv_owner)];
      GLINT_CHECK(producer.head_dim == s.head_dim && producer.kv_heads == s.kv_heads, c.dir, "/config.json: layer ",
                  i, " reads the K/V of layer ", a.kv_owner, " but their head_dim / key-value heads differ (",
                  s.head_dim, "/", s.kv_heads, " vs ", producer.head_dim, "/", producer.kv_heads, ")");
    }
    l.ffn.intermediate = s.intermediate * (double_wide && i >= first_shared && shared > 0 ? 2 : 1);
    l.ffn.activation = activation;
    l.ffn.moe = moe;
    GLINT_CHECK(l.ffn.intermediate > 0, c.dir, "/config.json: layer ", i, " intermediate_size must be positive");
    l.norm = NormKind::Rms;
    l.sandwich_norms = true;
    l.per_layer_input = ple_width > 0;
    l.layer_scalar = true;
    plan.layers.push_back(l);
  }

  ModelWeights w;
  const int64_t hidden = plan.hidden;
  w.embed = loader.matrix("embed_tokens.weight", {plan.vocab, hidden});
  plan.embed_scale = round_to_dtype(std::sqrt(float(hidden)), w.embed.dtype());
  w.final_norm = loader.vector_f32("norm.weight", {hidden});
  w.lm_head = plan.tied_embeddings ? w.embed : loader.lm_head({plan.vocab, hidden});
  if (ple_width > 0) {
    const int64_t total = int64_t(layers) * ple_width;
    w.ple_embed = loader.matrix("embed_tokens_per_layer.weight", {plan.per_layer_input_vocab, total});
    w.ple_model_projection = loader.matrix("per_layer_model_projection.weight", {total, hidden});
    w.ple_projection_norm = loader.vector_f32("per_layer_projection_norm.weight", {ple_width});
  }
  w.layers.resize(size_t(layers));
  for (int i = 0; i < layers; ++i) {
    const std::string p = "layers." + std::to_string(i) + ".";
    const auto& l = plan.layers[size_t(i)];
    auto& lw = w.layers[size_t(i)];
    lw.input_norm = loader.vector_f32(p + "input_layernorm.weight", {hidden});
    lw.post_attention_norm = loader.vector_f32(p + "post_attention_layernorm.weight", {hidden});
    lw.pre_ffn_norm = loader.vector_f32(p + "pre_feedforward_layernorm.weight", {hidden});
    lw.post_ffn_norm = loader.vector_f32(p + "post_feedforward_layernorm.weight", {hidden});
    load_attention(loader, p + "self_attn.", plan, i, lw.attention);
    load_mlp(loader, p + "mlp.", plan.hidden, l.ffn.intermediate, lw.mlp);
    lw.layer_scalar = loader.vector_f32(p + "layer_scalar", {1});
    if (ple_width > 0) {
      lw.ple_gate = loader.matrix(p + "per_layer_input_gate.weight", {ple_width, hidden});
      lw.ple_projection = loader.matrix(p + "per_layer_projection.weight", {hidden, ple_width});
      lw.ple_post_norm = loader.vector_f32(p + "post_per_layer_input_norm.weight", {hidden});
    }
    if (l.ffn.moe) load_gemma4_moe(loader, p, plan, i, lw);
  }
  std::vector<int32_t> placeholders;
  if (c.model_type == "gemma4") {  // the multimodal class (its config wraps the text config)
    for (const auto& [key, fallback] : {std::pair<const char*, int32_t>{"image_token_id", 258880},
                                        {"video_token_id", 258884}, {"audio_token_id", 258881}}) {
      const auto& value = c.raw.contains(key) ? c.raw[key] : nlohmann::json(fallback);
      if (value.is_number_integer()) placeholders.push_back(value.get<int32_t>());
    }
  }
  const int32_t pad = c.pad_token_id().value_or(0);
  return std::make_unique<Gemma4Transformer>(std::move(plan), std::move(w), std::move(placeholders), pad);
}

}  // namespace glint
