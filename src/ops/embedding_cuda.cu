#include "core/cuda_runtime.h"
#include "ops/cuda_common.cuh"
#include "ops/cuda_ops.h"

namespace glint::ops::cuda {
namespace {

template <typename T>
__global__ void embedding_kernel(const T* table, const int32_t* tokens, int64_t d, float scale, float* out) {
  let_successor_start();
  wait_for_predecessor();
  const int64_t t = blockIdx.x;
  const T* row = table + int64_t(tokens[t]) * d;
  for (int64_t i = threadIdx.x; i < d; i += blockDim.x) out[t * d + i] = to_float(row[i]) * scale;
}

__global__ void gather_rows_kernel(const float* x, const int32_t* rows, int64_t d, float* out) {
  let_successor_start();
  wait_for_predecessor();
  const int64_t r = blockIdx.x;
  const float* src = x + int64_t(rows[r]) * d;
  for (int64_t i = threadIdx.x; i < d; i += blockDim.x) out[r * d + i] = src[i];
}

}  // namespace

void embedding(const void* table, DType dtype, const int32_t* tokens, int64_t count, int64_t d, float scale,
               float* out, cudaStream_t stream) {
  if (count == 0) return;
  if (dtype == DType::BF16)
    launch_chained(embedding_kernel<bf16>, unsigned(count), 256, 0, stream, static_cast<const bf16*>(table), tokens,
                   d, scale, out);
  else if (dtype == DType::F32)
    launch_chained(embedding_kernel<float>, unsigned(count), 256, 0, stream, static_cast<const float*>(table),
                   tokens, d, scale, out);
  else
    fail("CUDA embedding: unsupported table dtype ", dtype_name(dtype));
}

void gather_rows(const float* x, const int32_t* rows, int64_t count, int64_t d, float* out, cudaStream_t stream) {
  if (count == 0) return;
  launch_chained(gather_rows_kernel, unsigned(count), 256, 0, stream, x, rows, d, out);
}

}  // namespace glint::ops::cuda
