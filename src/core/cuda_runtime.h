// CUDA-only helpers shared by the backend: error checks, owned device buffers, the per-device context
// (stream, cuBLASLt handle and workspace). Included only by *.cu and *_cuda.cpp files.
#pragma once
#include <cublasLt.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <utility>

#include "core/error.h"

#define GLINT_CUDA_CHECK(call)                                                                      \
  do {                                                                                              \
    cudaError_t glint_status_ = (call);                                                             \
    if (glint_status_ != cudaSuccess)                                                               \
      ::glint::fail("CUDA error ", cudaGetErrorName(glint_status_), " (", cudaGetErrorString(glint_status_), \
                    ") in ", #call, " at ", __FILE__, ":", __LINE__);                               \
  } while (0)

// After a kernel launch: reports a bad configuration at once (execution errors surface at the next sync).
#define GLINT_CUDA_LAUNCHED() GLINT_CUDA_CHECK(cudaGetLastError())

#define GLINT_CUBLAS_CHECK(call)                                                                \
  do {                                                                                          \
    cublasStatus_t glint_status_ = (call);                                                      \
    if (glint_status_ != CUBLAS_STATUS_SUCCESS)                                                 \
      ::glint::fail("cuBLAS error ", int(glint_status_), " in ", #call, " at ", __FILE__, ":", __LINE__); \
  } while (0)

namespace glint::cuda {

// An owned device allocation (cudaMalloc), movable.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t bytes);
  ~DeviceBuffer();
  DeviceBuffer(DeviceBuffer&& other) noexcept : data_(std::exchange(other.data_, nullptr)), bytes_(other.bytes_) {}
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  void* get() const { return data_; }
  template <typename T>
  T* as() const { return static_cast<T*>(data_); }
  size_t bytes() const { return bytes_; }

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
};

// One device's stream and cuBLASLt state. Every launch of a model goes to this stream, so work is ordered
// without host synchronisation; the host waits only where it reads results.
class Context {
 public:
  explicit Context(int device);
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  int device() const { return device_; }
  cudaStream_t stream() const { return stream_; }
  cublasLtHandle_t blas() const { return blas_; }
  void* blas_workspace() const { return workspace_.get(); }
  size_t blas_workspace_bytes() const { return workspace_.bytes(); }
  const cudaDeviceProp& properties() const { return properties_; }
  void synchronize() const;

 private:
  int device_;
  cudaStream_t stream_ = nullptr;
  cublasLtHandle_t blas_ = nullptr;
  DeviceBuffer workspace_;
  cudaDeviceProp properties_{};
};

}  // namespace glint::cuda
