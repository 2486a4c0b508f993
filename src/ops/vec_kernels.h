// Per-instruction-set tables behind vec.h. Internal to src/ops.
// The ISA files define only these tables and file-local functions: an inline function from a shared header, built
// with -mavx512f in one file, could be the copy the linker keeps and then crash an AVX2-only CPU.
#pragma once
#include <cstdint>

namespace glint::vec::detail {

struct VecKernels {
  float (*dot)(const float* a, const float* b, int64_t n);
  float (*sum)(const float* x, int64_t n);
  float (*sum_squares)(const float* x, int64_t n);
  float (*max)(const float* x, int64_t n);
  void (*axpy)(float a, const float* x, float* y, int64_t n);
  void (*scale)(float* y, float a, int64_t n);
  void (*scale_add)(float* y, float y_scale, const float* x, float x_scale, int64_t n);
  void (*add)(const float* a, const float* b, float* out, int64_t n);
  void (*mul)(const float* a, const float* b, float* out, int64_t n);
  float (*exp_sum)(const float* x, float shift, float* out, int64_t n);
};

extern const VecKernels portable_kernels;
extern const VecKernels avx2_kernels;
extern const VecKernels avx512_kernels;

}  // namespace glint::vec::detail
