#include "ops/rms_norm.h"

#include <cmath>

#include "core/thread_pool.h"

namespace glint::ops {

const char* norm_kind_name(NormKind k) {
  switch (k) {
    case NormKind::None: return "none";
    case NormKind::Rms: return "rms(w)";
    case NormKind::RmsPlusOne: return "rms(1+w)";
    case NormKind::RmsNoWeight: return "rms(no weight)";
  }
  return "?";
}

void rms_norm_rows(const float* x, int64_t rows, int64_t d, const float* weight, NormKind kind, float eps,
                   float* out) {
  if (kind == NormKind::None) {
    if (out != x)
      for (int64_t i = 0; i < rows * d; ++i) out[i] = x[i];
    return;
  }
  GLINT_CHECK(kind == NormKind::RmsNoWeight || weight, "rms_norm: weight required for ", norm_kind_name(kind));
  parallel_for(rows, std::max<int64_t>(1, 4096 / std::max<int64_t>(d, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* xr = x + r * d;
      float* yr = out + r * d;
      double sum = 0;
      for (int64_t i = 0; i < d; ++i) sum += double(xr[i]) * xr[i];
      const float inv = 1.0f / std::sqrt(float(sum / double(d)) + eps);
      switch (kind) {
        case NormKind::Rms:
          for (int64_t i = 0; i < d; ++i) yr[i] = xr[i] * inv * weight[i];
          break;
        case NormKind::RmsPlusOne:
          for (int64_t i = 0; i < d; ++i) yr[i] = xr[i] * inv * (1.0f + weight[i]);
          break;
        default:
          for (int64_t i = 0; i < d; ++i) yr[i] = xr[i] * inv;
      }
    }
  });
}

void rms_norm(const Tensor& x, const Tensor& weight, NormKind kind, float eps, Tensor& out) {
  const int64_t d = x.cols();
  GLINT_CHECK(out.numel() == x.numel(), "rms_norm: output ", out.shape_string(), " vs input ", x.shape_string());
  const float* w = nullptr;
  if (kind == NormKind::Rms || kind == NormKind::RmsPlusOne) {
    GLINT_CHECK(weight.defined() && weight.numel() == d, "rms_norm: weight ", weight.shape_string(),
                " does not match last dimension ", d);
    w = weight.f32();
  }
  rms_norm_rows(x.f32(), x.rows(), d, w, kind, eps, out.f32());
}

}  // namespace glint::ops
