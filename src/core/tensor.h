// A dense row-major tensor: shape, element type, where its bytes live, and who keeps them alive.
#pragma once
#include <array>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"

namespace glint {

enum class Device : uint8_t { CPU, CUDA };

// Owner of a block of memory (heap buffer, memory-mapped file, device allocation).
struct Storage {
  virtual ~Storage() = default;
};

class Tensor {
 public:
  static constexpr int kMaxDims = 4;

  Tensor() = default;
  // Allocates zero-initialised host memory.
  static Tensor empty(std::initializer_list<int64_t> shape, DType dtype = DType::F32);
  static Tensor empty(std::span<const int64_t> shape, DType dtype = DType::F32);
  // Wraps memory that `owner` keeps alive (may be null for memory that outlives the tensor).
  static Tensor view(void* data, std::span<const int64_t> shape, DType dtype,
                     std::shared_ptr<Storage> owner, Device device = Device::CPU);

  bool defined() const { return data_ != nullptr; }
  DType dtype() const { return dtype_; }
  Device device() const { return device_; }
  int dims() const { return dims_; }
  int64_t size(int d) const { return shape_.at(size_t(d < 0 ? d + dims_ : d)); }
  std::vector<int64_t> shape() const { return {shape_.begin(), shape_.begin() + dims_}; }
  std::string shape_string() const;
  int64_t numel() const;
  size_t nbytes() const { return size_t(numel()) * dtype_size(dtype_); }
  // Rows = product of all but the last dimension.
  int64_t rows() const { return dims_ == 0 ? 1 : numel() / shape_[dims_ - 1]; }
  int64_t cols() const { return dims_ == 0 ? 1 : shape_[dims_ - 1]; }

  void* raw() const { return data_; }
  template <typename T>
  T* data() const { return static_cast<T*>(data_); }
  float* f32() const;  // checks the dtype

  // Same bytes, new shape (numel must match).
  Tensor reshape(std::initializer_list<int64_t> shape) const;
  Tensor reshape(std::span<const int64_t> shape) const;
  // Rows [begin, end) of the first dimension, sharing memory.
  Tensor slice_rows(int64_t begin, int64_t end) const;
  // Deep copy into host memory as float32 (from F32/F16/BF16).
  Tensor to_f32() const;
  Tensor clone() const;
  const std::shared_ptr<Storage>& owner() const { return owner_; }

 private:
  void* data_ = nullptr;
  std::array<int64_t, kMaxDims> shape_{};
  int dims_ = 0;
  DType dtype_ = DType::F32;
  Device device_ = Device::CPU;
  std::shared_ptr<Storage> owner_;
};

}  // namespace glint
