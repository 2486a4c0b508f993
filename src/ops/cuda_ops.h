// Launchers of the CUDA kernels the GPU decoder composes (one op per *_cuda.cu file beside its CPU version).
// Every pointer is device memory; every launch goes to `stream` and is checked. `dtype` names the element type
// of activations that feed matrix products (F32 or BF16); the residual stream and norm weights are F32.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "core/dtype.h"
#include "ops/activation.h"
#include "ops/rms_norm.h"
#include "ops/rope.h"

namespace glint::ops::cuda {

// out[t, :] = table[tokens[t], :] · scale (float), for `tokens` rows of width d. table has `dtype`.
void embedding(const void* table, DType dtype, const int32_t* tokens, int64_t count, int64_t d, float scale,
               float* out, cudaStream_t stream);

// out (dtype) = norm(x) per row of width d; weight may be null for None / RmsNoWeight.
void rms_norm(const float* x, int64_t rows, int64_t d, const float* weight, NormKind kind, float eps, void* out,
              DType dtype, cudaStream_t stream);

// The widest row the norm kernels take (a block holds the row in registers); rows must also be a multiple of 4.
constexpr int64_t kMaxNormWidth = 16384;

// The residual step between blocks, in one pass over the rows:
//   h += post_kind(block; post_weight)      (post_kind None: h += block)
//   out = next_kind(h; next_weight)         (skipped when out is null)
void residual_norm(float* h, const float* block, int64_t rows, int64_t d, const float* post_weight, NormKind post_kind,
                   const float* next_weight, NormKind next_kind, float eps, void* out, DType dtype, cudaStream_t stream);

// Per-layer attention input preparation, fused: splits the projected rows qkv [tokens, (H + 2·KVH)·D] (float; K and
// V present when write_kv), applies the q/k norms (over D) and RoPE at positions[t], and writes q (dtype) to
// q_out [tokens, H, D] and K/V (dtype) to the cache row positions[t] % capacity of slot slots[t]
// (cache layout [slots, capacity, KVH, D]). V gets a weightless RMS norm when v_norm.
struct QkvLayout {
  int n_heads = 0, n_kv_heads = 0, head_dim = 0;
  NormKind q_norm = NormKind::None, k_norm = NormKind::None;
  bool v_norm = false;
  float eps = 1e-6f;
  // RoPE (inv_freq null: none): device float [D/2], style, attention factor.
  const float* inv_freq = nullptr;
  RopeStyle rope_style = RopeStyle::RotateHalf;
  float rope_factor = 1.0f;
};
void qkv_rope_cache_write(const QkvLayout& layout, const float* qkv, int64_t tokens, const int32_t* positions,
                          const int32_t* slots, const float* q_norm_weight, const float* k_norm_weight, bool write_kv,
                          void* q_out, void* k_cache, void* v_cache, int64_t capacity, DType dtype,
                          cudaStream_t stream);

// out[t, i] (dtype) = act(gate_up[t, i]) · gate_up[t, width + i] for rows of 2·width floats.
void gated_activation(const float* gate_up, int64_t rows, int64_t width, Activation act, void* out, DType dtype,
                      cudaStream_t stream);

// x = cap · tanh(x / cap), n floats.
void softcap(float* x, int64_t n, float cap, cudaStream_t stream);

// out[r, :] = x[rows[r], :] for r < count (float rows of width d); rows is a device array.
void gather_rows(const float* x, const int32_t* rows, int64_t count, int64_t d, float* out, cudaStream_t stream);

}  // namespace glint::ops::cuda
