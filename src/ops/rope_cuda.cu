// Q/K/V preparation after the fused projection: per-head norms, RoPE and the KV-cache write in one kernel, so the
// projected rows are read once and K/V go straight to their cache rows.
#include "core/cuda_runtime.h"
#include "ops/cuda_common.cuh"
#include "ops/cuda_ops.h"

namespace glint::ops::cuda {
namespace {

// One block per (token, head) over the H query heads, then (when writing K/V) the KVH key and KVH value heads;
// one thread per element of the head.
template <typename T>
__global__ void qkv_kernel(QkvLayout L, const float* qkv, const int32_t* positions, const int32_t* slots,
                           const float* q_norm_weight, const float* k_norm_weight, bool write_kv, T* q_out, T* k_cache,
                           T* v_cache, int64_t capacity) {
  __shared__ float scratch[32];
  extern __shared__ float head[];
  let_successor_start();
  wait_for_predecessor();
  const int64_t t = blockIdx.x;
  const int j = int(blockIdx.y);
  const int i = int(threadIdx.x);
  const int D = L.head_dim;
  const int64_t width = int64_t(write_kv ? L.n_heads + 2 * L.n_kv_heads : L.n_heads) * D;
  float x = qkv[t * width + int64_t(j) * D + i];

  const bool is_q = j < L.n_heads, is_k = !is_q && j < L.n_heads + L.n_kv_heads;
  NormKind kind = is_q ? L.q_norm : is_k ? L.k_norm : (L.v_norm ? NormKind::RmsNoWeight : NormKind::None);
  if (kind != NormKind::None) {
    const float inv = rsqrtf(block_sum(x * x, scratch) / float(D) + L.eps);
    const float* w = is_q ? q_norm_weight : k_norm_weight;
    x *= inv;
    if (kind == NormKind::Rms) x *= w[i];
    else if (kind == NormKind::RmsPlusOne) x *= 1.0f + w[i];
  }
  const int64_t position = positions[t];
  if ((is_q || is_k) && L.inv_freq) {
    head[i] = x;
    __syncthreads();
    const int half = D / 2;
    float c, s;
    if (L.rope_style == RopeStyle::RotateHalf) {
      const int k = i < half ? i : i - half;
      sincosf(float(position) * L.inv_freq[k], &s, &c);
      c *= L.rope_factor;
      s *= L.rope_factor;
      x = i < half ? head[i] * c - head[i + half] * s : head[i] * c + head[i - half] * s;
    } else {
      const int k = i / 2;
      sincosf(float(position) * L.inv_freq[k], &s, &c);
      c *= L.rope_factor;
      s *= L.rope_factor;
      const float a = head[2 * k], b = head[2 * k + 1];
      x = (i % 2 == 0) ? a * c - b * s : a * s + b * c;
    }
  }
  if (is_q) {
    q_out[(t * L.n_heads + j) * D + i] = from_float<T>(x);
    return;
  }
  const int kv_head = is_k ? j - L.n_heads : j - L.n_heads - L.n_kv_heads;
  const int64_t row = int64_t(slots[t]) * capacity + position % capacity;
  T* cache = is_k ? k_cache : v_cache;
  cache[(row * L.n_kv_heads + kv_head) * D + i] = from_float<T>(x);
}

}  // namespace

void qkv_rope_cache_write(const QkvLayout& layout, const float* qkv, int64_t tokens, const int32_t* positions,
                          const int32_t* slots, const float* q_norm_weight, const float* k_norm_weight, bool write_kv,
                          void* q_out, void* k_cache, void* v_cache, int64_t capacity, DType dtype,
                          cudaStream_t stream) {
  if (tokens == 0) return;
  const int D = layout.head_dim;
  GLINT_CHECK(D % 32 == 0 && D <= 1024, "CUDA qkv: head_dim ", D, " must be a multiple of 32 up to 1024");
  GLINT_CHECK((layout.q_norm != NormKind::Rms && layout.q_norm != NormKind::RmsPlusOne) || q_norm_weight,
              "CUDA qkv: q norm weight missing");
  GLINT_CHECK(!write_kv || (layout.k_norm != NormKind::Rms && layout.k_norm != NormKind::RmsPlusOne) || k_norm_weight,
              "CUDA qkv: k norm weight missing");
  const dim3 grid(unsigned(tokens), unsigned(write_kv ? layout.n_heads + 2 * layout.n_kv_heads : layout.n_heads));
  const size_t shared = size_t(D) * sizeof(float);
  if (dtype == DType::BF16)
    launch_chained(qkv_kernel<bf16>, grid, unsigned(D), shared, stream, layout, qkv, positions, slots, q_norm_weight,
                   k_norm_weight, write_kv, static_cast<bf16*>(q_out), static_cast<bf16*>(k_cache),
                   static_cast<bf16*>(v_cache), capacity);
  else
    launch_chained(qkv_kernel<float>, grid, unsigned(D), shared, stream, layout, qkv, positions, slots,
                   q_norm_weight, k_norm_weight, write_kv, static_cast<float*>(q_out),
                   static_cast<float*>(k_cache), static_cast<float*>(v_cache), capacity);
}

}  // namespace glint::ops::cuda
