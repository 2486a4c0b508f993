// Hardware ceilings that benchmarks report their figures against, measured rather than taken from a datasheet.
#include <algorithm>
#include <vector>

#include "ops/cuda_common.cuh"
#include "ops/matmul_cuda.h"

namespace glint::ops::cuda {
namespace {

__global__ void fill_random_bf16(bf16* x, int64_t n, uint32_t seed) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    uint32_t h = uint32_t(i) * 2654435761u ^ seed;
    h ^= h >> 13;
    h *= 0x5bd1e995u;
    h ^= h >> 15;
    x[i] = __float2bfloat16_rn(float(h & 0xffff) / 65536.0f - 0.5f);
  }
}

template <typename Work>
double median_seconds(cudaStream_t stream, int repeats, Work&& work) {
  cudaEvent_t start, stop;
  GLINT_CUDA_CHECK(cudaEventCreate(&start));
  GLINT_CUDA_CHECK(cudaEventCreate(&stop));
  for (int i = 0; i < 3; ++i) work();  // warm-up
  std::vector<float> ms;
  for (int i = 0; i < repeats; ++i) {
    GLINT_CUDA_CHECK(cudaEventRecord(start, stream));
    work();
    GLINT_CUDA_CHECK(cudaEventRecord(stop, stream));
    GLINT_CUDA_CHECK(cudaEventSynchronize(stop));
    float elapsed = 0;
    GLINT_CUDA_CHECK(cudaEventElapsedTime(&elapsed, start, stop));
    ms.push_back(elapsed);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  std::sort(ms.begin(), ms.end());
  return double(ms[ms.size() / 2]) / 1e3;
}

}  // namespace

double measure_copy_bandwidth(const glint::cuda::Context& context) {
  const size_t bytes = size_t(2) << 30;
  glint::cuda::DeviceBuffer a(bytes), b(bytes);
  GLINT_CUDA_CHECK(cudaMemsetAsync(a.get(), 1, bytes, context.stream()));
  const double secs = median_seconds(context.stream(), 10, [&] {
    GLINT_CUDA_CHECK(cudaMemcpyAsync(b.get(), a.get(), bytes, cudaMemcpyDeviceToDevice, context.stream()));
  });
  return 2.0 * double(bytes) / secs;
}

double measure_blas_flops(const glint::cuda::Context& context, int64_t m, int64_t k, int64_t n) {
  glint::cuda::DeviceBuffer x(size_t(m * k) * 2), w(size_t(n * k) * 2), y(size_t(m * n) * 4);
  fill_random_bf16<<<1024, 256, 0, context.stream()>>>(x.as<bf16>(), m * k, 1);
  GLINT_CUDA_LAUNCHED();
  fill_random_bf16<<<1024, 256, 0, context.stream()>>>(w.as<bf16>(), n * k, 2);
  GLINT_CUDA_LAUNCHED();
  Linear linear(context);
  linear.set_force_blas(true);
  const double secs = median_seconds(context.stream(), 10, [&] {
    linear.run(x.get(), m, w.get(), n, k, DType::BF16, y.as<float>(), context.stream());
  });
  return 2.0 * double(m) * double(n) * double(k) / secs;
}

}  // namespace glint::ops::cuda
