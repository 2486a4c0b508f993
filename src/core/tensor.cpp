#include "core/tensor.h"

#include <cstdlib>
#include <cstring>
#include <new>

namespace glint {
namespace {

struct HostBuffer : Storage {
  void* ptr = nullptr;
  explicit HostBuffer(size_t bytes) {
    // 64-byte alignment keeps AVX-512 loads on one cache line.
    size_t rounded = (bytes + 63) / 64 * 64;
    ptr = std::aligned_alloc(64, rounded ? rounded : 64);
    if (!ptr) throw std::bad_alloc();
    std::memset(ptr, 0, rounded ? rounded : 64);
  }
  ~HostBuffer() override { std::free(ptr); }
};

void check_shape(std::span<const int64_t> shape) {
  GLINT_CHECK(shape.size() <= size_t(Tensor::kMaxDims), "tensor has ", shape.size(), " dimensions (max ",
              Tensor::kMaxDims, ")");
  for (int64_t s : shape) GLINT_CHECK(s >= 0, "negative tensor dimension ", s);
}

}  // namespace

Tensor Tensor::empty(std::initializer_list<int64_t> shape, DType dtype) {
  return empty(std::span<const int64_t>(shape.begin(), shape.size()), dtype);
}

Tensor Tensor::empty(std::span<const int64_t> shape, DType dtype) {
  check_shape(shape);
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  auto buffer = std::make_shared<HostBuffer>(size_t(n) * dtype_size(dtype));
  return view(buffer->ptr, shape, dtype, buffer);
}

Tensor Tensor::view(void* data, std::span<const int64_t> shape, DType dtype, std::shared_ptr<Storage> owner,
                    Device device) {
  check_shape(shape);
  Tensor t;
  t.data_ = data;
  t.dims_ = int(shape.size());
  for (size_t i = 0; i < shape.size(); ++i) t.shape_[i] = shape[i];
  t.dtype_ = dtype;
  t.device_ = device;
  t.owner_ = std::move(owner);
  return t;
}

int64_t Tensor::numel() const {
  int64_t n = 1;
  for (int i = 0; i < dims_; ++i) n *= shape_[size_t(i)];
  return n;
}

std::string Tensor::shape_string() const {
  std::string s = "[";
  for (int i = 0; i < dims_; ++i) s += (i ? ", " : "") + std::to_string(shape_[size_t(i)]);
  return s + "]";
}

float* Tensor::f32() const {
  GLINT_CHECK(dtype_ == DType::F32, "expected an F32 tensor, got ", dtype_name(dtype_));
  return static_cast<float*>(data_);
}

Tensor Tensor::reshape(std::initializer_list<int64_t> shape) const {
  return reshape(std::span<const int64_t>(shape.begin(), shape.size()));
}

Tensor Tensor::reshape(std::span<const int64_t> shape) const {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  GLINT_CHECK(n == numel(), "cannot reshape ", shape_string(), " to ", shape.size(), " dims with ", n, " elements");
  return view(data_, shape, dtype_, owner_, device_);
}

Tensor Tensor::slice_rows(int64_t begin, int64_t end) const {
  GLINT_CHECK(dims_ >= 1 && begin >= 0 && begin <= end && end <= shape_[0], "bad row slice [", begin, ", ", end,
              ") of ", shape_string());
  int64_t row_elems = numel() / (shape_[0] ? shape_[0] : 1);
  std::vector<int64_t> s = shape();
  s[0] = end - begin;
  char* base = static_cast<char*>(data_) + size_t(begin * row_elems) * dtype_size(dtype_);
  return view(base, s, dtype_, owner_, device_);
}

Tensor Tensor::to_f32() const {
  GLINT_CHECK(device_ == Device::CPU, "to_f32 needs a host tensor");
  auto s = shape();
  Tensor out = empty(s, DType::F32);
  float* dst = out.data<float>();
  const int64_t n = numel();
  switch (dtype_) {
    case DType::F32: std::memcpy(dst, data_, size_t(n) * 4); break;
    case DType::BF16:
      for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(static_cast<const uint16_t*>(data_)[i]);
      break;
    case DType::F16:
      for (int64_t i = 0; i < n; ++i) dst[i] = f16_to_f32(static_cast<const uint16_t*>(data_)[i]);
      break;
    case DType::F64:
      for (int64_t i = 0; i < n; ++i) dst[i] = float(static_cast<const double*>(data_)[i]);
      break;
    default: fail("cannot convert a ", dtype_name(dtype_), " tensor to F32");
  }
  return out;
}

Tensor Tensor::clone() const {
  GLINT_CHECK(device_ == Device::CPU, "clone needs a host tensor");
  auto s = shape();
  Tensor out = empty(s, dtype_);
  std::memcpy(out.raw(), data_, nbytes());
  return out;
}

}  // namespace glint
