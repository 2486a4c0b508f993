// Rotary position embeddings: frequency tables (default, linear, llama3, proportional, yarn) and application.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace glint::ops {

enum class RopeStyle : uint8_t {
  RotateHalf,   // pairs (j, j + D/2): Gemma
  Interleaved,  // pairs (2j, 2j+1): Llama 4 (complex multiplication)
};

struct RopeTable {
  RopeStyle style = RopeStyle::RotateHalf;
  std::vector<float> inv_freq;  // head_dim / 2 entries (zeros leave a pair unrotated)
  float attention_factor = 1.0f;
  std::string describe() const;
};

// Builds the table from a rope_parameters entry ({"rope_type": ..., "rope_theta": ..., "factor": ...}).
// `head_dim` is the head dim of the layers that use it; `max_position_embeddings` feeds llama3/yarn defaults.
RopeTable make_rope_table(const nlohmann::json& params, int head_dim, int64_t max_position_embeddings,
                          RopeStyle style);

// Rotates x [T, n_heads, head_dim] in place; position of row t is positions[t].
void apply_rope(Tensor& x, const RopeTable& table, const int64_t* positions);
void apply_rope_rows(float* x, int64_t tokens, int64_t heads, int64_t head_dim, const RopeTable& table,
                     const int64_t* positions);

}  // namespace glint::ops
