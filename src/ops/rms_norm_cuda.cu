// RMS norms over rows of the residual stream: one block per row that holds the whole row in registers (a float4 per
// thread and slot, up to kMaxSlots slots), so every load of the row is in flight before the first sum. A loop that
// reads h, adds and stores it back element by element cannot overlap its loads (h and block may alias), which made
// a 2560-wide row cost ~14 µs of dependent round trips; this costs about two.
#include <algorithm>

#include "core/cuda_runtime.h"
#include "ops/cuda_common.cuh"
#include "ops/cuda_ops.h"

namespace glint::ops::cuda {
namespace {

constexpr int kMaxThreads = 1024;
constexpr int kMaxSlots = int(kMaxNormWidth / 4 / kMaxThreads);  // float4 per thread

__device__ __forceinline__ float weighted(float normed, float weight, NormKind kind) {
  switch (kind) {
    case NormKind::Rms: return normed * weight;
    case NormKind::RmsPlusOne: return normed * (1.0f + weight);
    default: return normed;
  }
}
__device__ __forceinline__ float4 weighted(float4 v, float scale, float4 w, NormKind kind) {
  return make_float4(weighted(v.x * scale, w.x, kind), weighted(v.y * scale, w.y, kind),
                     weighted(v.z * scale, w.z, kind), weighted(v.w * scale, w.w, kind));
}
__device__ __forceinline__ float squares(float4 v) { return v.x * v.x + v.y * v.y + v.z * v.z + v.w * v.w; }
__host__ __device__ __forceinline__ bool has_weight(NormKind kind) {
  return kind == NormKind::Rms || kind == NormKind::RmsPlusOne;
}

__device__ __forceinline__ void store4(float* out, float4 v) { *reinterpret_cast<float4*>(out) = v; }
__device__ __forceinline__ void store4(bf16* out, float4 v) {
  __nv_bfloat162* o = reinterpret_cast<__nv_bfloat162*>(out);
  o[0] = __floats2bfloat162_rn(v.x, v.y);
  o[1] = __floats2bfloat162_rn(v.z, v.w);
}

// With block: h = h + post(block) (stored), out = next(h). Without: out = next(h), h untouched.
template <typename T>
__global__ void __launch_bounds__(kMaxThreads)
    norm_rows_kernel(float* h, const float* block, int64_t d, const float* post_weight, NormKind post_kind,
                     const float* next_weight, NormKind next_kind, float eps, T* out) {
  __shared__ float scratch[32];
  let_successor_start();
  const int tid = threadIdx.x, threads = blockDim.x;
  const int64_t n4 = d / 4, row = blockIdx.x;
  auto slot = [&](int s) { return tid + int64_t(s) * threads; };
  auto valid = [&](int s) { return slot(s) < n4; };
  // 1 / rms of the row held in x (every thread its slots), over the block.
  auto inv_rms = [&](const float4 (&x)[kMaxSlots]) {
    float ss = 0.0f;
#pragma unroll
    for (int s = 0; s < kMaxSlots; ++s)
      if (valid(s)) ss += squares(x[s]);
    return rsqrtf(block_sum(ss, scratch) / float(d) + eps);
  };
  // Weights never change: fetch them before waiting for the kernel that wrote the row.
  float4 post_w[kMaxSlots], next_w[kMaxSlots];
#pragma unroll
  for (int s = 0; s < kMaxSlots; ++s) {
    if (!valid(s)) continue;
    if (block && has_weight(post_kind)) post_w[s] = __ldg(reinterpret_cast<const float4*>(post_weight) + slot(s));
    if (out && has_weight(next_kind)) next_w[s] = __ldg(reinterpret_cast<const float4*>(next_weight) + slot(s));
  }
  wait_for_predecessor();
  float4* h4 = reinterpret_cast<float4*>(h + row * d);
  const float4* b4 = block ? reinterpret_cast<const float4*>(block + row * d) : nullptr;
  float4 v[kMaxSlots], b[kMaxSlots];
#pragma unroll
  for (int s = 0; s < kMaxSlots; ++s) {
    if (!valid(s)) continue;
    v[s] = h4[slot(s)];
    if (b4) b[s] = b4[slot(s)];
  }
  if (b4) {
    const float post_inv = post_kind != NormKind::None ? inv_rms(b) : 1.0f;
#pragma unroll
    for (int s = 0; s < kMaxSlots; ++s) {
      if (!valid(s)) continue;
      const float4 p = weighted(b[s], post_inv, post_w[s], post_kind);
      v[s] = make_float4(v[s].x + p.x, v[s].y + p.y, v[s].z + p.z, v[s].w + p.w);
      h4[slot(s)] = v[s];
    }
  }
  if (out == nullptr) return;
  const float inv = next_kind != NormKind::None ? inv_rms(v) : 1.0f;
#pragma unroll
  for (int s = 0; s < kMaxSlots; ++s)
    if (valid(s)) store4(out + row * d + 4 * slot(s), weighted(v[s], inv, next_w[s], next_kind));
}

void launch_norm_rows(float* h, const float* block, int64_t rows, int64_t d, const float* post_weight,
                      NormKind post_kind, const float* next_weight, NormKind next_kind, float eps, void* out,
                      DType dtype, cudaStream_t stream) {
  if (rows == 0) return;
  GLINT_CHECK(d > 0 && d % 4 == 0 && d <= kMaxNormWidth, "CUDA norm: rows of ", d,
              " values are not supported (a multiple of 4, at most ", kMaxNormWidth, ")");
  GLINT_CHECK(!(block && has_weight(post_kind)) || post_weight, "CUDA norm: missing post-norm weight");
  GLINT_CHECK(!(out && has_weight(next_kind)) || next_weight, "CUDA norm: missing norm weight");
  const int64_t n4 = d / 4;
  const int64_t per_thread = (n4 + kMaxThreads - 1) / kMaxThreads;
  const unsigned threads = unsigned(std::max<int64_t>(32, ((n4 + per_thread - 1) / per_thread + 31) / 32 * 32));
  if (dtype == DType::BF16 || out == nullptr)
    launch_chained(norm_rows_kernel<bf16>, unsigned(rows), threads, 0, stream, h, block, d, post_weight, post_kind,
                   next_weight, next_kind, eps, static_cast<bf16*>(out));
  else
    launch_chained(norm_rows_kernel<float>, unsigned(rows), threads, 0, stream, h, block, d, post_weight, post_kind,
                   next_weight, next_kind, eps, static_cast<float*>(out));
}

}  // namespace

void rms_norm(const float* x, int64_t rows, int64_t d, const float* weight, NormKind kind, float eps, void* out,
              DType dtype, cudaStream_t stream) {
  // Without a block the kernel only reads h.
  launch_norm_rows(const_cast<float*>(x), nullptr, rows, d, nullptr, NormKind::None, weight, kind, eps, out, dtype,
                   stream);
}

void residual_norm(float* h, const float* block, int64_t rows, int64_t d, const float* post_weight, NormKind post_kind,
                   const float* next_weight, NormKind next_kind, float eps, void* out, DType dtype,
                   cudaStream_t stream) {
  GLINT_CHECK(block != nullptr, "CUDA residual_norm: block is null");
  launch_norm_rows(h, block, rows, d, post_weight, post_kind, next_weight, next_kind, eps, out, dtype, stream);
}

}  // namespace glint::ops::cuda
