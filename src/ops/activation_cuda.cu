#include <algorithm>

#include "core/cuda_runtime.h"
#include "ops/cuda_common.cuh"
#include "ops/cuda_ops.h"

namespace glint::ops::cuda {
namespace {

template <typename T>
__global__ void gated_kernel(const float* gate_up, int64_t rows, int64_t width, Activation act, T* out) {
  const int64_t n = rows * width;
  for (int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; idx < n; idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = idx / width, i = idx % width;
    const float g = gate_up[r * 2 * width + i], u = gate_up[r * 2 * width + width + i];
    out[idx] = from_float<T>(gated(act, g, u));
  }
}

// IEEE division (as the CPU's x / cap), so that the device sampler sees the CPU's processed logits bit for bit.
__global__ void softcap_kernel(float* x, int64_t n, float cap) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    x[i] = cap * tanhf(__fdiv_rn(x[i], cap));
}

unsigned grid_for(int64_t n) { return unsigned(std::min<int64_t>((n + 255) / 256, 65536)); }

}  // namespace

void gated_activation(const float* gate_up, int64_t rows, int64_t width, Activation act, void* out, DType dtype,
                      cudaStream_t stream) {
  if (rows * width == 0) return;
  if (dtype == DType::BF16)
    gated_kernel<<<grid_for(rows * width), 256, 0, stream>>>(gate_up, rows, width, act, static_cast<bf16*>(out));
  else
    gated_kernel<<<grid_for(rows * width), 256, 0, stream>>>(gate_up, rows, width, act, static_cast<float*>(out));
  GLINT_CUDA_LAUNCHED();
}

void softcap(float* x, int64_t n, float cap, cudaStream_t stream) {
  if (n == 0) return;
  softcap_kernel<<<grid_for(n), 256, 0, stream>>>(x, n, cap);
  GLINT_CUDA_LAUNCHED();
}

}  // namespace glint::ops::cuda
