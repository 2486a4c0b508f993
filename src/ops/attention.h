// Scaled dot-product attention of new queries against cached keys/values, masked by absolute positions.
#pragma once
#include <cstdint>

#include "core/tensor.h"

namespace glint::ops {

enum class MaskKind : uint8_t {
  Causal,   // k ≤ q
  Sliding,  // q − window < k ≤ q   (window keys including self)
  Chunked,  // k ≤ q and k, q in the same window-aligned chunk
};

// Keys and values in any row order (a ring buffer is fine): row i holds position positions[i].
struct KeyValueView {
  const float* k = nullptr;  // [n, n_kv_heads, head_dim]
  const float* v = nullptr;  // [n, n_kv_heads, head_dim]
  const int64_t* positions = nullptr;
  int64_t n = 0;
};

struct AttentionParams {
  int n_heads = 0;
  int n_kv_heads = 0;
  int head_dim = 0;
  float scale = 1.0f;
  float softcap = 0.0f;  // 0: none; else scores = softcap · tanh(scores / softcap)
  MaskKind mask = MaskKind::Causal;
  int64_t window = 0;  // sliding window W or chunk size C
};

bool mask_allows(MaskKind mask, int64_t window, int64_t q_pos, int64_t k_pos);

// out[t, h, :] = softmax(q[t, h]·Kᵀ·scale + mask) · V, query head h reading kv head h / (n_heads / n_kv_heads).
// q, out: [tokens, n_heads, head_dim] F32. A query with no visible key gets zeros.
void attention(const float* q, const int64_t* q_positions, int64_t tokens, const KeyValueView& kv,
               const AttentionParams& params, float* out);

}  // namespace glint::ops
