#include "core/cuda_runtime.h"
#include "ops/cuda_common.cuh"
#include "ops/cuda_ops.h"

namespace glint::ops::cuda {
namespace {

constexpr int kThreads = 256;

template <typename T>
__global__ void rms_norm_kernel(const float* x, int64_t d, const float* weight, NormKind kind, float eps, T* out) {
  __shared__ float scratch[32];
  let_successor_start();
  wait_for_predecessor();
  const float* row = x + int64_t(blockIdx.x) * d;
  T* o = out + int64_t(blockIdx.x) * d;
  float inv = 1.0f;
  if (kind != NormKind::None) {
    float ss = 0;
    for (int64_t i = threadIdx.x; i < d; i += blockDim.x) ss = __fmaf_rn(row[i], row[i], ss);
    inv = norm_factor(block_sum(ss, scratch), d, eps);
  }
  for (int64_t i = threadIdx.x; i < d; i += blockDim.x)
    o[i] = from_float<T>(apply_weight(__fmul_rn(row[i], inv), weight, i, kind));
}

template <typename T>
__global__ void residual_norm_kernel(float* h, const float* block, int64_t d, const float* post_weight,
                                     NormKind post_kind, const float* next_weight, NormKind next_kind, float eps,
                                     T* out) {
  __shared__ float scratch[32];
  let_successor_start();
  wait_for_predecessor();
  float* hr = h + int64_t(blockIdx.x) * d;
  const float* br = block + int64_t(blockIdx.x) * d;
  float post_inv = 1.0f;
  if (post_kind != NormKind::None) {
    float ss = 0;
    for (int64_t i = threadIdx.x; i < d; i += blockDim.x) ss = __fmaf_rn(br[i], br[i], ss);
    post_inv = norm_factor(block_sum(ss, scratch), d, eps);
  }
  float ss = 0;
  for (int64_t i = threadIdx.x; i < d; i += blockDim.x) {
    const float v = residual_value(hr[i], br[i], post_inv, post_weight, i, post_kind);
    hr[i] = v;
    ss = __fmaf_rn(v, v, ss);
  }
  if (out == nullptr) return;
  float inv = 1.0f;
  if (next_kind != NormKind::None) inv = norm_factor(block_sum(ss, scratch), d, eps);
  T* o = out + int64_t(blockIdx.x) * d;
  // Each thread reads back only the elements it wrote, so no barrier is needed before this loop.
  for (int64_t i = threadIdx.x; i < d; i += blockDim.x)
    o[i] = from_float<T>(apply_weight(__fmul_rn(hr[i], inv), next_weight, i, next_kind));
}

}  // namespace

void rms_norm(const float* x, int64_t rows, int64_t d, const float* weight, NormKind kind, float eps, void* out,
              DType dtype, cudaStream_t stream) {
  if (rows == 0) return;
  GLINT_CHECK(weight || kind == NormKind::None || kind == NormKind::RmsNoWeight, "CUDA rms_norm: missing weight");
  if (dtype == DType::BF16)
    launch_chained(rms_norm_kernel<bf16>, unsigned(rows), kThreads, 0, stream, x, d, weight, kind, eps, static_cast<bf16*>(out));
  else
    launch_chained(rms_norm_kernel<float>, unsigned(rows), kThreads, 0, stream, x, d, weight, kind, eps,
                   static_cast<float*>(out));
  GLINT_CUDA_LAUNCHED();
}

void residual_norm(float* h, const float* block, int64_t rows, int64_t d, const float* post_weight, NormKind post_kind,
                   const float* next_weight, NormKind next_kind, float eps, void* out, DType dtype,
                   cudaStream_t stream) {
  if (rows == 0) return;
  if (dtype == DType::BF16)
    launch_chained(residual_norm_kernel<bf16>, unsigned(rows), kThreads, 0, stream, h, block, d, post_weight, post_kind,
                   next_weight, next_kind, eps, static_cast<bf16*>(out));
  else
    launch_chained(residual_norm_kernel<float>, unsigned(rows), kThreads, 0, stream, h, block, d, post_weight, post_kind,
                   next_weight, next_kind, eps, static_cast<float*>(out));
  GLINT_CUDA_LAUNCHED();
}

}  // namespace glint::ops::cuda
