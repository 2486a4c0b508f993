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
  int64_t scratch_floats;  // size of gemm's scratch (also enough for gemm_bf16_dot)

  // Optional (null where the CPU family lacks it), used only when GLINT_BF16_DOT=1: BF16 weights against
  // activations already rounded to bf16 (x_bf16 rows of ldx elements, zero-padded to an even length), multiplied
  // in pairs by VDPBF16PS. Twice the arithmetic rate, but no longer float32-exact in the activations.
  void (*gemm_bf16_dot)(const uint16_t* x_bf16, int64_t ldx, int64_t m, int64_t k, WeightView w, int64_t n0,
                        int64_t n1, float* y, int64_t ldy, bool accumulate, float* scratch);
  // out[i] = x[i] rounded to bf16 (nearest even).
  void (*round_to_bf16)(const float* x, int64_t n, uint16_t* out);
};

// Defined in matmul_bf16dot_avx512.cpp, referenced by the AVX-512 table.
void avx512_gemm_bf16_dot(const uint16_t* x_bf16, int64_t ldx, int64_t m, int64_t k, WeightView w, int64_t n0,
                          int64_t n1, float* y, int64_t ldy, bool accumulate, float* scratch);
void avx512_round_to_bf16(const float* x, int64_t n, uint16_t* out);

extern const MatmulKernels avx2_matmul_kernels;
extern const MatmulKernels avx512_matmul_kernels;

}  // namespace glint::ops::detail
