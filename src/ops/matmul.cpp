// Portable reference path; the fast kernels replace this (owned by the kernels work).
#include "ops/matmul.h"

#include "core/thread_pool.h"

namespace glint::ops {

namespace {
inline float load_weight(const void* w, DType t, int64_t i) {
  switch (t) {
    case DType::F32: return static_cast<const float*>(w)[i];
    case DType::BF16: return bf16_to_f32(static_cast<const uint16_t*>(w)[i]);
    case DType::F16: return f16_to_f32(static_cast<const uint16_t*>(w)[i]);
    default: fail("matmul: unsupported weight dtype ", dtype_name(t));
  }
}
}  // namespace

void matmul_raw(const float* x, int64_t m, int64_t k, const void* w, DType w_dtype, int64_t w_row_stride,
                int64_t n, float* y, bool accumulate) {
  parallel_for(n, 16, [&](int64_t n0, int64_t n1) {
    for (int64_t j = n0; j < n1; ++j) {
      for (int64_t i = 0; i < m; ++i) {
        float acc = 0;
        for (int64_t kk = 0; kk < k; ++kk) acc += x[i * k + kk] * load_weight(w, w_dtype, j * w_row_stride + kk);
        y[i * n + j] = accumulate ? y[i * n + j] + acc : acc;
      }
    }
  });
}

void matmul(const Tensor& x, const Tensor& w, Tensor& y, bool accumulate) {
  GLINT_CHECK(w.dims() == 2, "matmul: weight must be 2-D, got ", w.shape_string());
  const int64_t k = w.size(1), n = w.size(0);
  GLINT_CHECK(x.cols() == k, "matmul: input ", x.shape_string(), " does not match weight ", w.shape_string());
  GLINT_CHECK(y.cols() == n && y.rows() == x.rows(), "matmul: output ", y.shape_string(), " does not match ",
              x.shape_string(), " x ", w.shape_string(), "^T");
  matmul_raw(x.f32(), x.rows(), k, w.raw(), w.dtype(), k, n, y.f32(), accumulate);
}

}  // namespace glint::ops
