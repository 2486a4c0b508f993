// AVX-512 matmul kernels: a register-blocked matrix-vector kernel for decode and a packed-panel GEMM for prefill.
// GCC 12's reduce intrinsics start from _mm512_undefined_ps(), which -Wuninitialized misreads.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cstring>

#include "ops/matmul_kernels.h"

namespace glint::ops::detail {
namespace {

inline __mmask16 tail_mask(int64_t remaining) { return __mmask16((1u << remaining) - 1); }

// Loads 16 weights as float32; bf16 → f32 is a 16-bit left shift, f16 uses the hardware converter.
template <WeightType T>
inline __m512 load_weights(const void* row, int64_t i) {
  if constexpr (T == WeightType::F32) {
    return _mm512_loadu_ps(static_cast<const float*>(row) + i);
  } else {
    __m256i half = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(static_cast<const uint16_t*>(row) + i));
    if constexpr (T == WeightType::BF16)
      return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(half), 16));
    else
      return _mm512_cvtph_ps(half);
  }
}

template <WeightType T>
inline __m512 load_weights_masked(const void* row, int64_t i, __mmask16 m) {
  if constexpr (T == WeightType::F32) {
    return _mm512_maskz_loadu_ps(m, static_cast<const float*>(row) + i);
  } else {
    __m256i half = _mm256_maskz_loadu_epi16(m, static_cast<const uint16_t*>(row) + i);
    if constexpr (T == WeightType::BF16)
      return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(half), 16));
    else
      return _mm512_cvtph_ps(half);
  }
}

template <WeightType T>
inline const void* weight_row(WeightView w, int64_t j) {
  constexpr int64_t elem = T == WeightType::F32 ? 4 : 2;
  return static_cast<const char*>(w.data) + j * w.row_stride * elem;
}

// ---- decode: ROWS input rows against COLS weight rows, dot products along k ----

template <WeightType T, int ROWS, int COLS>
void dot_tile(const float* x, int64_t k, WeightView w, int64_t j0, float* y, int64_t ldy, bool accumulate) {
  const void* rows[COLS];
#pragma GCC unroll 8
  for (int c = 0; c < COLS; ++c) rows[c] = weight_row<T>(w, j0 + c);
  __m512 acc[ROWS][COLS];
#pragma GCC unroll 8
  for (int r = 0; r < ROWS; ++r)
#pragma GCC unroll 8
    for (int c = 0; c < COLS; ++c) acc[r][c] = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= k; i += 16) {
    __m512 wv[COLS];
#pragma GCC unroll 8
    for (int c = 0; c < COLS; ++c) wv[c] = load_weights<T>(rows[c], i);
#pragma GCC unroll 8
    for (int r = 0; r < ROWS; ++r) {
      __m512 xv = _mm512_loadu_ps(x + r * k + i);
#pragma GCC unroll 8
      for (int c = 0; c < COLS; ++c) acc[r][c] = _mm512_fmadd_ps(xv, wv[c], acc[r][c]);
    }
  }
  if (i < k) {
    const __mmask16 m = tail_mask(k - i);
    __m512 wv[COLS];
#pragma GCC unroll 8
    for (int c = 0; c < COLS; ++c) wv[c] = load_weights_masked<T>(rows[c], i, m);
#pragma GCC unroll 8
    for (int r = 0; r < ROWS; ++r) {
      __m512 xv = _mm512_maskz_loadu_ps(m, x + r * k + i);
#pragma GCC unroll 8
      for (int c = 0; c < COLS; ++c) acc[r][c] = _mm512_fmadd_ps(xv, wv[c], acc[r][c]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < ROWS; ++r)
#pragma GCC unroll 8
    for (int c = 0; c < COLS; ++c) {
      float s = _mm512_reduce_add_ps(acc[r][c]);
      float* out = y + r * ldy + j0 + c;
      *out = accumulate ? *out + s : s;
    }
}

// Walks weight rows in groups; each group is loaded from memory once and stays in L1 while every group of input
// rows uses it.
template <WeightType T, int ROWS, int COLS>
void dot_rows(const float* x, int64_t k, WeightView w, int64_t n0, int64_t n1, float* y, int64_t ldy,
              bool accumulate) {
  int64_t j = n0;
  for (; j + COLS <= n1; j += COLS) dot_tile<T, ROWS, COLS>(x, k, w, j, y, ldy, accumulate);
  for (; j < n1; ++j) dot_tile<T, ROWS, 1>(x, k, w, j, y, ldy, accumulate);
}

template <WeightType T>
void matvec_typed(const float* x, int64_t m, int64_t k, WeightView w, int64_t n0, int64_t n1, float* y, int64_t ldy,
                  bool accumulate) {
  // One input row: 8 weight rows in flight keeps 8 independent FMA chains; more rows: 4×4 tiles.
  if (m == 1) {
    dot_rows<T, 1, 8>(x, k, w, n0, n1, y, ldy, accumulate);
    return;
  }
  // Interleave: for every group of weight rows run all input-row groups, so weights stream once.
  constexpr int kCols = 4;
  int64_t j = n0;
  auto run_group = [&](int64_t j_begin, int64_t j_end) {
    int64_t r = 0;
    for (; r + 4 <= m; r += 4) dot_rows<T, 4, kCols>(x + r * k, k, w, j_begin, j_end, y + r * ldy, ldy, accumulate);
    switch (m - r) {
      case 3: dot_rows<T, 3, kCols>(x + r * k, k, w, j_begin, j_end, y + r * ldy, ldy, accumulate); break;
      case 2: dot_rows<T, 2, kCols>(x + r * k, k, w, j_begin, j_end, y + r * ldy, ldy, accumulate); break;
      case 1: dot_rows<T, 1, kCols>(x + r * k, k, w, j_begin, j_end, y + r * ldy, ldy, accumulate); break;
      default: break;
    }
  };
  for (; j + kCols <= n1; j += kCols) run_group(j, j + kCols);
  if (j < n1) run_group(j, n1);
}

void matvec(const float* x, int64_t m, int64_t k, WeightView w, int64_t n0, int64_t n1, float* y, int64_t ldy,
            bool accumulate) {
  switch (w.type) {
    case WeightType::F32: return matvec_typed<WeightType::F32>(x, m, k, w, n0, n1, y, ldy, accumulate);
    case WeightType::BF16: return matvec_typed<WeightType::BF16>(x, m, k, w, n0, n1, y, ldy, accumulate);
    case WeightType::F16: return matvec_typed<WeightType::F16>(x, m, k, w, n0, n1, y, ldy, accumulate);
  }
}

// ---- prefill: packed panels of kPanel weight rows, ROWS × kPanel register tiles ----

constexpr int64_t kPanel = 32;    // output columns per tile: two registers
constexpr int kTileRows = 12;     // 24 accumulators + 2 panel vectors + 1 broadcast of the 32 registers
constexpr int64_t kDepth = 256;   // k per packed panel: 32 KiB of float32, stays in L1/L2 for all rows

// packed[kk][c] = w[j0 + c][k0 + kk] as float32, zero for c ≥ cols (so tiles never read garbage).
template <WeightType T>
void pack_panel(WeightView w, int64_t j0, int64_t cols, int64_t k0, int64_t depth, float* packed) {
  alignas(64) float chunk[16];
  for (int64_t c = 0; c < cols; ++c) {
    const void* row = weight_row<T>(w, j0 + c);
    int64_t kk = 0;
    for (; kk + 16 <= depth; kk += 16) {
      _mm512_store_ps(chunk, load_weights<T>(row, k0 + kk));
      for (int t = 0; t < 16; ++t) packed[(kk + t) * kPanel + c] = chunk[t];
    }
    if (kk < depth) {
      _mm512_store_ps(chunk, load_weights_masked<T>(row, k0 + kk, tail_mask(depth - kk)));
      for (int t = 0; kk + t < depth; ++t) packed[(kk + t) * kPanel + c] = chunk[t];
    }
  }
  if (cols < kPanel)
    for (int64_t kk = 0; kk < depth; ++kk)
      std::memset(packed + kk * kPanel + cols, 0, size_t(kPanel - cols) * sizeof(float));
}

template <int ROWS>
void gemm_tile(const float* x, int64_t ldx, const float* packed, int64_t depth, float* y, int64_t ldy, int64_t cols,
               bool load_output) {
  const __mmask16 m0 = cols >= 16 ? __mmask16(0xffff) : tail_mask(cols);
  const __mmask16 m1 = cols >= 32 ? __mmask16(0xffff) : cols > 16 ? tail_mask(cols - 16) : __mmask16(0);
  __m512 c0[ROWS], c1[ROWS];
#pragma GCC unroll 12
  for (int r = 0; r < ROWS; ++r) {
    c0[r] = load_output ? _mm512_maskz_loadu_ps(m0, y + r * ldy) : _mm512_setzero_ps();
    c1[r] = load_output ? _mm512_maskz_loadu_ps(m1, y + r * ldy + 16) : _mm512_setzero_ps();
  }
  for (int64_t kk = 0; kk < depth; ++kk) {
    const __m512 b0 = _mm512_load_ps(packed + kk * kPanel), b1 = _mm512_load_ps(packed + kk * kPanel + 16);
#pragma GCC unroll 12
    for (int r = 0; r < ROWS; ++r) {
      const __m512 a = _mm512_set1_ps(x[r * ldx + kk]);
      c0[r] = _mm512_fmadd_ps(a, b0, c0[r]);
      c1[r] = _mm512_fmadd_ps(a, b1, c1[r]);
    }
  }
#pragma GCC unroll 12
  for (int r = 0; r < ROWS; ++r) {
    _mm512_mask_storeu_ps(y + r * ldy, m0, c0[r]);
    _mm512_mask_storeu_ps(y + r * ldy + 16, m1, c1[r]);
  }
}

using GemmTileFn = void (*)(const float*, int64_t, const float*, int64_t, float*, int64_t, int64_t, bool);
constexpr GemmTileFn kGemmTiles[kTileRows + 1] = {
    nullptr,        gemm_tile<1>, gemm_tile<2>, gemm_tile<3>,  gemm_tile<4>,  gemm_tile<5>, gemm_tile<6>,
    gemm_tile<7>,   gemm_tile<8>, gemm_tile<9>, gemm_tile<10>, gemm_tile<11>, gemm_tile<12>};

template <WeightType T>
void gemm_typed(const float* x, int64_t m, int64_t k, WeightView w, int64_t n0, int64_t n1, float* y, int64_t ldy,
                bool accumulate, float* packed) {
  for (int64_t j = n0; j < n1; j += kPanel) {
    const int64_t cols = n1 - j < kPanel ? n1 - j : kPanel;
    for (int64_t k0 = 0; k0 < k; k0 += kDepth) {
      const int64_t depth = k - k0 < kDepth ? k - k0 : kDepth;
      pack_panel<T>(w, j, cols, k0, depth, packed);
      const bool load_output = accumulate || k0 > 0;
      for (int64_t r = 0; r < m; r += kTileRows) {
        const int64_t rows = m - r < kTileRows ? m - r : kTileRows;
        kGemmTiles[rows](x + r * k + k0, k, packed, depth, y + r * ldy + j, ldy, cols, load_output);
      }
    }
  }
}

void gemm(const float* x, int64_t m, int64_t k, WeightView w, int64_t n0, int64_t n1, float* y, int64_t ldy,
          bool accumulate, float* scratch) {
  switch (w.type) {
    case WeightType::F32: return gemm_typed<WeightType::F32>(x, m, k, w, n0, n1, y, ldy, accumulate, scratch);
    case WeightType::BF16: return gemm_typed<WeightType::BF16>(x, m, k, w, n0, n1, y, ldy, accumulate, scratch);
    case WeightType::F16: return gemm_typed<WeightType::F16>(x, m, k, w, n0, n1, y, ldy, accumulate, scratch);
  }
}

}  // namespace

const MatmulKernels avx512_matmul_kernels = {matvec, gemm, kPanel, kPanel * kDepth};

}  // namespace glint::ops::detail
