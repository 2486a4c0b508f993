// Gemma 3 text decoder (Gemma3ForCausalLM, the text part of Gemma3ForConditionalGeneration, and the
// sequence-classification heads). Spec: shared/spec/gemma3.md.
#include <cmath>

#include "models/families.h"

namespace glint {

std::unique_ptr<Transformer> build_gemma3(const ModelConfig& c, WeightLoader& loader, const LoadOptions&) {
  ModelPlan plan;
  plan.family = "gemma3";
  plan.architecture = c.architectures.empty() ? "Gemma3ForCausalLM" : c.architectures.front();
  plan.hidden = c.get<int>("hidden_size");
  plan.vocab = c.get<int>("vocab_size", 262208);
  plan.rms_eps = c.get<float>("rms_norm_eps", 1e-6f);
  plan.final_norm = NormKind::RmsPlusOne;
  plan.tied_embeddings = read_tie_embeddings(c, true);
  // Only the text-only causal LM applies the final softcap; the multimodal model never does.
  if (c.model_type == "gemma3_text") plan.final_softcap = c.get<float>("final_logit_softcapping", 0.0f);

  const int layers = c.get<int>("num_hidden_layers");
  const int heads = c.get<int>("num_attention_heads");
  const int kv_heads = c.get<int>("num_key_value_heads", heads);
  const int head_dim = c.get<int>("head_dim", 256);
  const int intermediate = c.get<int>("intermediate_size");
  const int64_t window = c.get<int64_t>("sliding_window", 4096);
  const float scale = 1.0f / std::sqrt(c.get<float>("query_pre_attn_scalar", 256.0f));
  const int64_t max_positions = c.get<int64_t>("max_position_embeddings", 131072);
  const auto activation = read_activation(c, "gelu_pytorch_tanh");
  GLINT_CHECK(heads % kv_heads == 0, c.dir, "/config.json: num_attention_heads ", heads,
              " is not a multiple of num_key_value_heads ", kv_heads);

  // rope 0: sliding layers; rope 1: full layers.
  add_gemma_rope_tables(c, head_dim, max_positions, plan);

  const auto types = read_layer_types(c, layers, 6);
  for (int i = 0; i < layers; ++i) {
    LayerPlan l;
    const bool sliding = types[size_t(i)] == "sliding_attention";
    l.attention.mask = sliding ? MaskKind::Sliding : MaskKind::Causal;
    l.attention.window = sliding ? window : 0;
    l.attention.n_heads = heads;
    l.attention.n_kv_heads = kv_heads;
    l.attention.head_dim = head_dim;
    l.attention.scale = scale;
    l.attention.q_norm = l.attention.k_norm = NormKind::RmsPlusOne;
    l.attention.rope = sliding ? 0 : 1;
    l.attention.bias = c.get<bool>("attention_bias", false);
    l.attention.kv_owner = i;
    l.ffn.intermediate = intermediate;
    l.ffn.activation = activation;
    l.norm = NormKind::RmsPlusOne;
    l.sandwich_norms = true;
    plan.layers.push_back(l);
  }

  ModelWeights w;
  w.embed = loader.matrix("embed_tokens.weight", {plan.vocab, plan.hidden});
  plan.embed_scale = round_to_dtype(std::sqrt(float(plan.hidden)), w.embed.dtype());
  w.final_norm = loader.vector_f32("norm.weight", {plan.hidden});
  w.lm_head = plan.tied_embeddings ? w.embed : loader.lm_head({plan.vocab, plan.hidden});
  w.layers.resize(size_t(layers));
  for (int i = 0; i < layers; ++i) {
    const std::string p = "layers." + std::to_string(i) + ".";
    auto& lw = w.layers[size_t(i)];
    lw.input_norm = loader.vector_f32(p + "input_layernorm.weight", {plan.hidden});
    lw.post_attention_norm = loader.vector_f32(p + "post_attention_layernorm.weight", {plan.hidden});
    lw.pre_ffn_norm = loader.vector_f32(p + "pre_feedforward_layernorm.weight", {plan.hidden});
    lw.post_ffn_norm = loader.vector_f32(p + "post_feedforward_layernorm.weight", {plan.hidden});
    load_attention(loader, p + "self_attn.", plan, i, lw.attention);
    load_mlp(loader, p + "mlp.", plan.hidden, intermediate, lw.mlp);
  }

  for (const auto& arch : c.architectures) {
    if (arch.find("ForSequenceClassification") == std::string::npos) continue;
    int labels = c.raw.value("num_labels", 0);
    if (!labels && c.raw.contains("id2label")) labels = int(c.raw["id2label"].size());
    if (!labels) labels = 2;
    plan.num_labels = labels;
    const auto& ckpt = loader.checkpoint();
    const std::string name = ckpt.has("score.weight") ? "score.weight" : "model.score.weight";
    GLINT_CHECK(ckpt.has(name), c.dir, ": ", arch, " needs a score.weight classification head");
    w.score = loader.top_level_f32(name, {labels, plan.hidden});
  }
  return std::make_unique<Transformer>(std::move(plan), std::move(w));
}

}  // namespace glint
