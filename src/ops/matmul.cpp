// Argument checks, threading and run-time kernel choice for matmul; the portable kernel lives here too.
#include "ops/matmul.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/cpu_features.h"
#include "core/thread_pool.h"
#include "ops/matmul_kernels.h"

namespace glint::ops {
namespace {

using detail::MatmulKernels;
using detail::WeightType;
using detail::WeightView;

// The tile matrix-vector kernel keeps each group of 4 weight rows in L1 and streams x past it; it matches or beats
// packing weight panels (gemm) while x stays cache-resident and m is moderate. Measured on one Zen 4 core with BF16
// weights (bench BM_MatmulPath): 104 vs 95 GFLOP/s at m = 128, k = 1152; even at m = 256 (k = 1152), m = 128
// (k = 6912) and m = 512. Above the limit the gemm, whose cache use does not grow with x, is the safer choice.
bool prefer_matvec(int64_t m, int64_t k) { return m < 256 && m * k <= (int64_t(1) << 20); }
// GLINT_BF16_DOT leaves decode (memory-bound, nothing to gain) in float32.
constexpr int64_t kExactDecodeRows = 8;
// Work below this many multiply-adds per thread is not worth waking the pool for.
constexpr int64_t kMinFmaPerChunk = 1 << 16;

WeightType weight_type(DType t) {
  switch (t) {
    case DType::F32: return WeightType::F32;
    case DType::BF16: return WeightType::BF16;
    case DType::F16: return WeightType::F16;
    default: fail("matmul: unsupported weight dtype ", dtype_name(t), " (supported: F32, BF16, F16)");
  }
}

// ---- portable kernel: converts each weight row to float32 once, then eight partial sums per dot product ----

void convert_row(WeightView w, int64_t j, int64_t k, float* out) {
  switch (w.type) {
    case WeightType::F32: std::memcpy(out, static_cast<const float*>(w.data) + j * w.row_stride, size_t(k) * 4); break;
    case WeightType::BF16: {
      const uint16_t* row = static_cast<const uint16_t*>(w.data) + j * w.row_stride;
      for (int64_t i = 0; i < k; ++i) out[i] = bf16_to_f32(row[i]);
      break;
    }
    case WeightType::F16: {
      const uint16_t* row = static_cast<const uint16_t*>(w.data) + j * w.row_stride;
      for (int64_t i = 0; i < k; ++i) out[i] = f16_to_f32(row[i]);
      break;
    }
  }
}

float portable_dot(const float* a, const float* b, int64_t k) {
  float partial[8] = {};
  int64_t i = 0;
  for (; i + 8 <= k; i += 8)
    for (int l = 0; l < 8; ++l) partial[l] += a[i + l] * b[i + l];
  for (int l = 0; i < k; ++i, ++l) partial[l] += a[i] * b[i];
  return ((partial[0] + partial[1]) + (partial[2] + partial[3])) + ((partial[4] + partial[5]) + (partial[6] + partial[7]));
}

void portable_block(const float* x, int64_t m, int64_t k, WeightView w, int64_t n0, int64_t n1, float* y, int64_t ldy,
                    bool accumulate) {
  thread_local std::vector<float> row;
  row.resize(size_t(k));
  for (int64_t j = n0; j < n1; ++j) {
    convert_row(w, j, k, row.data());
    for (int64_t i = 0; i < m; ++i) {
      float s = portable_dot(x + i * k, row.data(), k);
      float& out = y[i * ldy + j];
      out = accumulate ? out + s : s;
    }
  }
}

// Activations rounded to bf16, rows zero-padded to an even length (VDPBF16PS takes k in pairs).
struct Bf16Rows {
  std::vector<uint16_t> values;
  int64_t stride = 0;
};

Bf16Rows round_rows_to_bf16(const MatmulKernels& kernels, const float* x, int64_t m, int64_t k) {
  Bf16Rows rows;
  rows.stride = (k + 1) / 2 * 2;
  rows.values.assign(size_t(m * rows.stride), 0);
  parallel_for(m, 16, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) kernels.round_to_bf16(x + r * k, k, rows.values.data() + r * rows.stride);
  });
  return rows;
}

// 64-byte aligned per-thread buffer for packed weight panels.
float* gemm_scratch(int64_t floats) {
  thread_local std::vector<float> buffer;
  if (buffer.size() < size_t(floats + 16)) buffer.resize(size_t(floats + 16));
  auto address = reinterpret_cast<uintptr_t>(buffer.data());
  return reinterpret_cast<float*>((address + 63) & ~uintptr_t(63));
}

const MatmulKernels* simd_kernels() {
  switch (active_isa()) {
    case Isa::Avx512: return &detail::avx512_matmul_kernels;
    case Isa::Avx2: return &detail::avx2_matmul_kernels;
    case Isa::Portable: break;
  }
  return nullptr;
}

}  // namespace

void matmul_raw(const float* x, int64_t m, int64_t k, const void* w, DType w_dtype, int64_t w_row_stride,
                int64_t n, float* y, bool accumulate) {
  GLINT_CHECK(m >= 0 && k >= 0 && n >= 0, "matmul: negative size m=", m, " k=", k, " n=", n);
  const WeightView weights{w, weight_type(w_dtype), w_row_stride};
  if (m == 0 || n == 0) return;
  GLINT_CHECK(x && y, "matmul: null input or output pointer");
  if (k == 0) {  // empty sum
    if (!accumulate) std::fill(y, y + m * n, 0.0f);
    return;
  }
  GLINT_CHECK(w, "matmul: null weight pointer");
  GLINT_CHECK(w_row_stride >= k, "matmul: weight row stride ", w_row_stride, " is shorter than k=", k);

  const MatmulKernels* kernels = simd_kernels();
  const int64_t fma_per_column = m * k;
  const int64_t min_columns = std::max<int64_t>(1, kMinFmaPerChunk / fma_per_column);
  if (!kernels) {
    parallel_for(n, min_columns, [&](int64_t n0, int64_t n1) { portable_block(x, m, k, weights, n0, n1, y, n, accumulate); });
  } else if (m > kExactDecodeRows && weights.type == WeightType::BF16 && kernels->gemm_bf16_dot && bf16_dot_enabled()) {
    const Bf16Rows x_bf16 = round_rows_to_bf16(*kernels, x, m, k);
    const int64_t panel = kernels->panel_columns;
    const int64_t panels = (n + panel - 1) / panel;
    parallel_for(panels, std::max<int64_t>(1, min_columns / panel), [&](int64_t p0, int64_t p1) {
      float* scratch = gemm_scratch(kernels->scratch_floats);
      kernels->gemm_bf16_dot(x_bf16.values.data(), x_bf16.stride, m, k, weights, p0 * panel, std::min(n, p1 * panel),
                             y, n, accumulate, scratch);
    });
  } else if (prefer_matvec(m, k)) {
    parallel_for(n, std::max<int64_t>(8, min_columns),
                 [&](int64_t n0, int64_t n1) { kernels->matvec(x, m, k, weights, n0, n1, y, n, accumulate); });
  } else {
    const int64_t panel = kernels->panel_columns;
    const int64_t panels = (n + panel - 1) / panel;
    parallel_for(panels, std::max<int64_t>(1, min_columns / panel), [&](int64_t p0, int64_t p1) {
      float* scratch = gemm_scratch(kernels->scratch_floats);
      kernels->gemm(x, m, k, weights, p0 * panel, std::min(n, p1 * panel), y, n, accumulate, scratch);
    });
  }
}

void matmul(const Tensor& x, const Tensor& w, Tensor& y, bool accumulate) {
  GLINT_CHECK(w.dims() == 2, "matmul: weight must be 2-D, got ", w.shape_string());
  GLINT_CHECK(x.device() == Device::CPU && w.device() == Device::CPU && y.device() == Device::CPU,
              "matmul: CPU kernel called with a device tensor");
  const int64_t k = w.size(1), n = w.size(0);
  GLINT_CHECK(x.dims() >= 1 && x.cols() == k, "matmul: input ", x.shape_string(), " does not match weight ",
              w.shape_string());
  GLINT_CHECK(y.dims() >= 1 && y.cols() == n && y.rows() == x.rows(), "matmul: output ", y.shape_string(),
              " does not match ", x.shape_string(), " x ", w.shape_string(), "^T");
  GLINT_CHECK(x.raw() != y.raw(), "matmul: output must not alias the input");
  matmul_raw(x.f32(), x.rows(), k, w.raw(), w.dtype(), k, n, y.f32(), accumulate);
}

}  // namespace glint::ops
