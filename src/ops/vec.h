// Vector primitives over contiguous float32 arrays, for attention, norms and activations.
// Each picks AVX-512 / AVX2 / portable code at run time (see core/cpu_features.h). Summation order differs from a
// sequential loop (several accumulators), so results match a double-precision reference to float32 rounding,
// not bit for bit. Pointers need no alignment; n may be 0.
#pragma once
#include <cstdint>

namespace glint::vec {

// Σ a[i]·b[i]
float dot(const float* a, const float* b, int64_t n);
// Σ x[i]
float sum(const float* x, int64_t n);
// Σ x[i]² (RMSNorm)
float sum_squares(const float* x, int64_t n);
// max x[i]; -infinity when n == 0. NaN elements are skipped (softmax still turns them into NaN).
float max(const float* x, int64_t n);

// y[i] += a·x[i]
void axpy(float a, const float* x, float* y, int64_t n);
// y[i] *= a
void scale(float* y, float a, int64_t n);
// y[i] = y_scale·y[i] + x_scale·x[i]  (rescaling a running attention sum, then adding a value row)
void scale_add(float* y, float y_scale, const float* x, float x_scale, int64_t n);
// out[i] = a[i] + b[i]; out may alias a or b.
void add(const float* a, const float* b, float* out, int64_t n);
// out[i] = a[i] · b[i]; out may alias a or b.
void mul(const float* a, const float* b, float* out, int64_t n);

// out[i] = exp(x[i] - shift), returns Σ out[i]; out may alias x. exp is accurate to ~2 ulp; results below
// FLT_MIN (x - shift < -87.3) are 0, -inf gives 0, NaN stays NaN.
float exp_sum(const float* x, float shift, float* out, int64_t n);
// In-place numerically stable softmax: x[i] = exp(x[i] - max) / Σ. n must be > 0.
void softmax(float* x, int64_t n);

}  // namespace glint::vec
