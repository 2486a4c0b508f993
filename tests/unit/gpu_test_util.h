// Shared by the GPU tests: they skip, visibly, where no CUDA device is present (CI), and move float data to and
// from the device in F32 or BF16.
#pragma once
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "core/device.h"
#include "core/dtype.h"

#define GLINT_REQUIRE_GPU()                                                   \
  do {                                                                        \
    if (::glint::cuda_device_count() == 0) GTEST_SKIP() << "skipped: no GPU"; \
  } while (0)

#ifdef GLINT_HAVE_CUDA
#include "core/cuda_runtime.h"

namespace glint::test {

// Rounds the values to what `dtype` holds, so that host references see exactly what the device sees.
inline void round_in_place(std::vector<float>& values, DType dtype) {
  if (dtype == DType::BF16)
    for (auto& v : values) v = bf16_to_f32(f32_to_bf16(v));
}

inline cuda::DeviceBuffer upload(const std::vector<float>& values, DType dtype) {
  cuda::DeviceBuffer buffer(values.size() * dtype_size(dtype));
  if (dtype == DType::BF16) {
    std::vector<uint16_t> bits(values.size());
    for (size_t i = 0; i < values.size(); ++i) bits[i] = f32_to_bf16(values[i]);
    GLINT_CUDA_CHECK(cudaMemcpy(buffer.get(), bits.data(), bits.size() * 2, cudaMemcpyHostToDevice));
  } else {
    GLINT_CUDA_CHECK(cudaMemcpy(buffer.get(), values.data(), values.size() * 4, cudaMemcpyHostToDevice));
  }
  return buffer;
}

// n elements of `dtype`, every bit set: a NaN in both f32 and bf16, so an unwritten output shows.
inline cuda::DeviceBuffer nan_filled(size_t n, DType dtype) {
  cuda::DeviceBuffer buffer(n * dtype_size(dtype));
  GLINT_CUDA_CHECK(cudaMemset(buffer.get(), 0xFF, buffer.bytes()));
  return buffer;
}

// Waits for the device, then copies n elements back as floats.
inline std::vector<float> download(const cuda::DeviceBuffer& buffer, size_t n, DType dtype) {
  GLINT_CUDA_CHECK(cudaDeviceSynchronize());
  std::vector<float> values(n);
  if (dtype == DType::BF16) {
    std::vector<uint16_t> bits(n);
    GLINT_CUDA_CHECK(cudaMemcpy(bits.data(), buffer.get(), n * 2, cudaMemcpyDeviceToHost));
    for (size_t i = 0; i < n; ++i) values[i] = bf16_to_f32(bits[i]);
  } else {
    GLINT_CUDA_CHECK(cudaMemcpy(values.data(), buffer.get(), n * 4, cudaMemcpyDeviceToHost));
  }
  return values;
}

}  // namespace glint::test
#endif
