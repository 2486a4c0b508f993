// Per-instruction-set kernels behind matmul.h. Internal to src/ops.
// The ISA files define only these tables and file-local functions (see vec_kernels.h for why).
#pragma once
#include <cstdint>

namespace glint::ops::detail {

enum class WeightType : int { F32, BF16, F16 };

// Weight rows [out, in] row-major with row_stride elements between rows.
struct WeightView {
  const void* data;
  WeightType type;
  int64_t row_stride;
};

struct MatmulKernels {
  // y[i, j] (+)= Σ_k x[i, k]·w[j, k] for i < m and n0 ≤ j < n1. x is [m, k] contiguous, y has row stride ldy.
  // Few rows (decode): reads each weight row once from memory, converting in registers.
  void (*matvec)(const float* x, int64_t m, int64_t k, WeightView w, int64_t n0, int64_t n1, float* y, int64_t ldy,
                 bool accumulate);
  // Many rows (prefill): converts tiles of w to float32 once into scratch and reuses them for all m rows.
  // scratch holds scratch_floats floats, 64-byte aligned, private to the calling thread.
  void (*gemm)(const float* x, int64_t m, int64_t k, WeightView w, int64_t n0, int64_t n1, float* y, int64_t ldy,
               bool accumulate, float* scratch);
  int64_t panel_columns;   // gemm works on groups of this many output columns: split n at multiples of it
  int64_t scratch_floats;  // size of gemm's scratch
};

extern const MatmulKernels avx2_matmul_kernels;
extern const MatmulKernels avx512_matmul_kernels;

}  // namespace glint::ops::detail
