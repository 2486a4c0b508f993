#include "core/cuda_runtime.h"

#include <string>

#include "core/device.h"

namespace glint {

bool cuda_built() { return true; }

int cuda_device_count() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // no driver or no device: clear the sticky error and report none
    return 0;
  }
  return count;
}

std::string cuda_device_description(int index) {
  cudaDeviceProp p{};
  GLINT_CUDA_CHECK(cudaGetDeviceProperties(&p, index));
  return std::string(p.name) + " (" + std::to_string(p.totalGlobalMem >> 20) + " MiB, " +
         std::to_string(p.multiProcessorCount) + " SMs, compute " + std::to_string(p.major) + "." +
         std::to_string(p.minor) + ")";
}

namespace cuda {

DeviceBuffer::DeviceBuffer(size_t bytes) : bytes_(bytes) {
  if (bytes == 0) return;
  cudaError_t status = cudaMalloc(&data_, bytes);
  if (status != cudaSuccess) {
    cudaGetLastError();
    size_t free_bytes = 0, total = 0;
    cudaMemGetInfo(&free_bytes, &total);
    fail("out of GPU memory: could not allocate ", bytes >> 20, " MiB (", free_bytes >> 20, " MiB free of ",
         total >> 20, " MiB)");
  }
}

DeviceBuffer::~DeviceBuffer() {
  if (data_) cudaFree(data_);
}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& other) noexcept {
  if (this != &other) {
    if (data_) cudaFree(data_);
    data_ = std::exchange(other.data_, nullptr);
    bytes_ = other.bytes_;
  }
  return *this;
}

Context::Context(int device) : device_(device) {
  require_device(DeviceSpec{Device::CUDA, device});
  GLINT_CUDA_CHECK(cudaSetDevice(device));
  GLINT_CUDA_CHECK(cudaGetDeviceProperties(&properties_, device));
  GLINT_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  GLINT_CUBLAS_CHECK(cublasLtCreate(&blas_));
  workspace_ = DeviceBuffer(size_t(64) << 20);
}

Context::~Context() {
  if (blas_) cublasLtDestroy(blas_);
  if (stream_) cudaStreamDestroy(stream_);
}

void Context::synchronize() const { GLINT_CUDA_CHECK(cudaStreamSynchronize(stream_)); }

}  // namespace cuda
}  // namespace glint
