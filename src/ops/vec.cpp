// Run-time choice of the vector kernels, and the portable versions.
#include "ops/vec.h"

#include <cmath>
#include <limits>

#include "core/cpu_features.h"
#include "core/error.h"
#include "ops/vec_kernels.h"

namespace glint::vec {
namespace detail {
namespace {

// Eight partial sums: faster than one chain and closer to the exact sum for long vectors.
constexpr int kLanes = 8;

template <typename Term>
float lane_sum(int64_t n, Term term) {
  float partial[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int l = 0; l < kLanes; ++l) partial[l] += term(i + l);
  for (int l = 0; i < n; ++i, ++l) partial[l] += term(i);
  float total = 0;
  for (float p : partial) total += p;
  return total;
}

float dot(const float* a, const float* b, int64_t n) {
  return lane_sum(n, [&](int64_t i) { return a[i] * b[i]; });
}
float sum(const float* x, int64_t n) {
  return lane_sum(n, [&](int64_t i) { return x[i]; });
}
float sum_squares(const float* x, int64_t n) {
  return lane_sum(n, [&](int64_t i) { return x[i] * x[i]; });
}
float max(const float* x, int64_t n) {
  float best = -std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < n; ++i) best = x[i] > best ? x[i] : best;
  return best;
}
void axpy(float a, const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}
void scale(float* y, float a, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] *= a;
}
void scale_add(float* y, float y_scale, const float* x, float x_scale, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = y_scale * y[i] + x_scale * x[i];
}
void add(const float* a, const float* b, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}
void mul(const float* a, const float* b, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] * b[i];
}
float exp_sum(const float* x, float shift, float* out, int64_t n) {
  return lane_sum(n, [&](int64_t i) {
    float d = x[i] - shift;
    // Matches the SIMD kernels: results below FLT_MIN are flushed to 0.
    float e = d < -87.33f ? 0.0f : std::exp(d);
    out[i] = e;
    return e;
  });
}

}  // namespace

const VecKernels portable_kernels = {dot, sum, sum_squares, max, axpy, scale, scale_add, add, mul, exp_sum};

}  // namespace detail

namespace {
const detail::VecKernels& kernels() {
  switch (active_isa()) {
    case Isa::Avx512: return detail::avx512_kernels;
    case Isa::Avx2: return detail::avx2_kernels;
    case Isa::Portable: break;
  }
  return detail::portable_kernels;
}
}  // namespace

float dot(const float* a, const float* b, int64_t n) { return kernels().dot(a, b, n); }
float sum(const float* x, int64_t n) { return kernels().sum(x, n); }
float sum_squares(const float* x, int64_t n) { return kernels().sum_squares(x, n); }
float max(const float* x, int64_t n) { return kernels().max(x, n); }
void axpy(float a, const float* x, float* y, int64_t n) { kernels().axpy(a, x, y, n); }
void scale(float* y, float a, int64_t n) { kernels().scale(y, a, n); }
void scale_add(float* y, float y_scale, const float* x, float x_scale, int64_t n) {
  kernels().scale_add(y, y_scale, x, x_scale, n);
}
void add(const float* a, const float* b, float* out, int64_t n) { kernels().add(a, b, out, n); }
void mul(const float* a, const float* b, float* out, int64_t n) { kernels().mul(a, b, out, n); }
float exp_sum(const float* x, float shift, float* out, int64_t n) { return kernels().exp_sum(x, shift, out, n); }

void softmax(float* x, int64_t n) {
  GLINT_CHECK(n > 0, "softmax of an empty vector");
  const detail::VecKernels& k = kernels();
  float total = k.exp_sum(x, k.max(x, n), x, n);
  k.scale(x, 1.0f / total, n);
}

}  // namespace glint::vec
