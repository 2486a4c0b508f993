// A model as data: one entry per decoder layer saying what that layer does. Each family turns its
// config.json into a ModelPlan; one generic decoder (transformer.h) runs any plan.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "ops/activation.h"
#include "ops/attention.h"
#include "ops/rms_norm.h"
#include "ops/rope.h"

namespace glint {

using ops::Activation;
using ops::MaskKind;
using ops::NormKind;

struct AttentionPlan {
  MaskKind mask = MaskKind::Causal;
  int64_t window = 0;  // sliding window W, or chunk size C
  int n_heads = 0;
  int n_kv_heads = 0;
  int head_dim = 0;
  float scale = 1.0f;
  float softcap = 0.0f;
  NormKind q_norm = NormKind::None;  // per head, over head_dim
  NormKind k_norm = NormKind::None;
  bool v_norm = false;               // weightless RMS over head_dim (Gemma 3n / 4)
  bool qk_norm_after_rope = false;   // Llama 4 applies its L2 norm after RoPE
  int rope = -1;                     // index into ModelPlan::ropes; -1: no positional rotation (NoPE)
  bool k_eq_v = false;               // no v_proj: V is the raw K projection (Gemma 4 full layers)
  bool bias = false;                 // q/k/v/o projections have biases
  // Llama 4 NoPE layers: q · (log(1 + floor((pos + 1) / floor_scale)) · attn_scale + 1).
  bool temperature_tuning = false;
  float temperature_floor_scale = 0;
  float temperature_attn_scale = 0;
  int kv_owner = -1;  // layer whose cache holds this layer's K/V (itself unless it shares another's)
};

struct MoePlan {
  enum class Router : uint8_t {
    SoftmaxTopKRenormalised,  // Gemma 4: softmax, top-k, renormalise, per-expert scale
    SigmoidTopKScalesInput,   // Llama 4: top-k of raw logits, sigmoid, scales the expert input
  };
  Router router = Router::SoftmaxTopKRenormalised;
  int num_experts = 0;
  int top_k = 0;
  int expert_intermediate = 0;
  int shared_expert_intermediate = 0;  // Llama 4 shared expert (0: none)
};

struct FeedForwardPlan {
  int intermediate = 0;  // dense gated MLP width (0: none)
  Activation activation = Activation::GeluTanh;
  float activation_sparsity = 0;  // Gemma 3n: keep only gate values above mean + std·Φ⁻¹(sparsity)
  std::optional<MoePlan> moe;
};

struct LayerPlan {
  AttentionPlan attention;
  FeedForwardPlan ffn;
  NormKind norm = NormKind::Rms;  // kind of the block norms of this layer
  bool sandwich_norms = false;    // Gemma: post-attention and post-feed-forward norms
  bool per_layer_input = false;   // Gemma 3n / 4: per-layer embedding injection
  bool layer_scalar = false;      // Gemma 4: output multiplied by a learned scalar
};

struct ModelPlan {
  std::string family;        // "gemma3", "gemma4", "gemma3n", "llama4"
  std::string architecture;  // e.g. Gemma3ForCausalLM
  int hidden = 0;
  int vocab = 0;
  float rms_eps = 1e-6f;
  float embed_scale = 1.0f;  // already rounded to the weight dtype where the reference rounds it
  NormKind final_norm = NormKind::Rms;
  float final_softcap = 0.0f;
  bool tied_embeddings = true;
  std::vector<ops::RopeTable> ropes;
  std::vector<LayerPlan> layers;
  int per_layer_input_width = 0;  // PLE width (0: none)
  int per_layer_input_vocab = 0;
  // Gemma 3n
  int altup_streams = 1;
  int altup_active = 0;
  bool altup_correct_scale = false;
  int laurel_rank = 0;
  // Sequence classification head (num_labels > 0): scores of the last non-pad token.
  int num_labels = 0;

  bool owns_cache(int layer) const { return layers[size_t(layer)].attention.kv_owner == layer; }
  // Human-readable table, one line per layer (glint info).
  std::string describe() const;
};

}  // namespace glint
