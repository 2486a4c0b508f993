// Weights of a decoder, loaded by name from a checkpoint. Families name tensors in the Hugging Face
// vocabulary relative to the text model ("layers.0.self_attn.q_proj.weight"); the loader finds the
// prefix the checkpoint uses and reports every missing, misshapen or unexpected tensor at once.
#pragma once
#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "io/safetensors.h"

namespace glint {

struct AttentionWeights {
  Tensor q, k, v, o;
  Tensor q_bias, k_bias, v_bias, o_bias;
  Tensor q_norm, k_norm;
};

struct MlpWeights {
  Tensor gate, up, down;
};

struct MoeWeights {
  Tensor router;            // [E, H]
  Tensor gate_up;           // [E, 2·I, H] fused gate/up rows (or [E, H, 2·I] as stored; see family)
  Tensor down;              // [E, H, I]
  MlpWeights shared;        // always-on shared expert (Llama 4)
};

struct LayerWeights {
  Tensor input_norm, post_attention_norm, pre_ffn_norm, post_ffn_norm;
  AttentionWeights attention;
  MlpWeights mlp;
  MoeWeights moe;
  Tensor ple_gate, ple_projection, ple_post_norm;  // per-layer input injection
  Tensor layer_scalar;
  std::map<std::string, Tensor> extra;  // family-specific pieces (AltUp, LAuReL, router scales, ...)
};

struct ModelWeights {
  Tensor embed;    // [V, H]
  Tensor lm_head;  // [V, H]; same storage as embed when tied
  Tensor final_norm;
  Tensor ple_embed, ple_model_projection, ple_projection_norm;
  Tensor score;  // classification head [num_labels, H]
  std::vector<LayerWeights> layers;
  std::map<std::string, Tensor> extra;
};

class WeightLoader {
 public:
  // Finds the text-model prefix by looking for "<prefix>embed_tokens.weight".
  explicit WeightLoader(const Checkpoint& checkpoint);
  // Synthetic weights for benchmarks at real shapes: every requested tensor is made up (random, in
  // `dtype`) with the shape the family asks for, so no file is read. Every request must give a shape.
  static WeightLoader synthetic(const Checkpoint& empty, DType dtype, uint64_t seed);
  bool is_synthetic() const { return synthetic_; }
  const std::string& prefix() const { return prefix_; }
  const Checkpoint& checkpoint() const { return checkpoint_; }

  bool has(const std::string& name) const;
  // Matrices keep their stored dtype (F32/BF16; F16 is widened to F32). Shape is checked when given.
  Tensor matrix(const std::string& name, std::vector<int64_t> shape = {});
  // Small tensors (norm weights, scales) are converted to F32.
  Tensor vector_f32(const std::string& name, std::vector<int64_t> shape = {});
  Tensor optional_matrix(const std::string& name, std::vector<int64_t> shape = {});
  Tensor optional_vector_f32(const std::string& name, std::vector<int64_t> shape = {});
  // The LM head: lm_head.weight at the checkpoint's top level (or under the legacy language_model.).
  Tensor lm_head(std::vector<int64_t> shape);
  // A tensor named from the checkpoint's top level (heads outside the text model), converted to F32.
  Tensor top_level_f32(const std::string& full_name, std::vector<int64_t> shape = {}) {
    return fetch(full_name, shape, true);
  }
  // Names (relative to the prefix) that may be present and are deliberately unused.
  void ignore(const std::string& name);
  // Throws one error listing every problem seen; tensors outside the text model (vision, audio towers)
  // are not "unexpected".
  void finish() const;
  // Whether a requested tensor was missing, misshapen or of an unusable dtype so far.
  bool has_problems() const { return !problems_.empty(); }

 private:
  Tensor fetch(const std::string& full_name, const std::vector<int64_t>& shape, bool as_f32);
  WeightLoader(const Checkpoint& checkpoint, bool synthetic_tag);
  Tensor make_synthetic(const std::string& name, const std::vector<int64_t>& shape, bool as_f32);
  const Checkpoint& checkpoint_;
  std::string prefix_;
  bool synthetic_ = false;
  DType synthetic_dtype_ = DType::BF16;
  uint64_t synthetic_state_ = 0;
  std::set<std::string> used_;
  std::vector<std::string> problems_;
};

}  // namespace glint
