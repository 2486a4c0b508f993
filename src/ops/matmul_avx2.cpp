// AVX2 + FMA + F16C matmul kernels: the same two shapes as the AVX-512 file with 8-float registers, sized for
// the 16 vector registers.
#include <immintrin.h>

#include <cstring>

#include "ops/matmul_kernels.h"

namespace glint::ops::detail {
namespace {

alignas(64) const int32_t kMaskSource[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
// Lanes [0, remaining) set, for remaining in 0..8.
inline __m256i tail_mask(int64_t remaining) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kMaskSource + 8 - remaining));
}

inline float horizontal_sum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

constexpr int64_t element_bytes(WeightType t) { return t == WeightType::F32 ? 4 : 2; }

// 8 weights as float32; bf16 → f32 is a 16-bit left shift, f16 uses F16C.
template <WeightType T>
inline __m256 load_weights(const void* row, int64_t i) {
  if constexpr (T == WeightType::F32) {
    return _mm256_loadu_ps(static_cast<const float*>(row) + i);
  } else {
    __m128i half = _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(row) + i));
    if constexpr (T == WeightType::BF16)
      return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(half), 16));
    else
      return _mm256_cvtph_ps(half);
  }
}

// The last count < 8 weights, zero-padded (AVX2 has no masked 16-bit loads).
template <WeightType T>
inline __m256 load_weights_partial(const void* row, int64_t i, int64_t count) {
  alignas(32) unsigned char buffer[32] = {};
  constexpr int64_t elem = element_bytes(T);
  std::memcpy(buffer, static_cast<const char*>(row) + i * elem, size_t(count * elem));
  return load_weights<T>(buffer, 0);
}

template <WeightType T>
inline const void* weight_row(WeightView w, int64_t j) {
  return static_cast<const char*>(w.data) + j * w.row_stride * element_bytes(T);
}

// ---- decode: ROWS input rows against COLS weight rows, dot products along k ----

template <WeightType T, int ROWS, int COLS>
void dot_tile(const float* x, int64_t k, WeightView w, int64_t j0, float* y, int64_t ldy, bool accumulate) {
  const void* rows[COLS];
#pragma GCC unroll 8
  for (int c = 0; c < COLS; ++c) rows[c] = weight_row<T>(w, j0 + c);
  __m256 acc[ROWS][COLS];
#pragma GCC unroll 8
  for (int r = 0; r < ROWS; ++r)
#pragma GCC unroll 8
    for (int c = 0; c < COLS; ++c) acc[r][c] = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= k; i += 8) {
    __m256 wv[COLS];
#pragma GCC unroll 8
    for (int c = 0; c < COLS; ++c) wv[c] = load_weights<T>(rows[c], i);
#pragma GCC unroll 8
    for (int r = 0; r < ROWS; ++r) {
      __m256 xv = _mm256_loadu_ps(x + r * k + i);
#pragma GCC unroll 8
      for (int c = 0; c < COLS; ++c) acc[r][c] = _mm256_fmadd_ps(xv, wv[c], acc[r][c]);
    }
  }
  if (i < k) {
    const __m256i m = tail_mask(k - i);
    __m256 wv[COLS];
#pragma GCC unroll 8
    for (int c = 0; c < COLS; ++c) wv[c] = load_weights_partial<T>(rows[c], i, k - i);
#pragma GCC unroll 8
    for (int r = 0; r < ROWS; ++r) {
      __m256 xv = _mm256_maskload_ps(x + r * k + i, m);
#pragma GCC unroll 8
      for (int c = 0; c < COLS; ++c) acc[r][c] = _mm256_fmadd_ps(xv, wv[c], acc[r][c]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < ROWS; ++r)
#pragma GCC unroll 8
    for (int c = 0; c < COLS; ++c) {
      float s = horizontal_sum(acc[r][c]);
      float* out = y + r * ldy + j0 + c;
      *out = accumulate ? *out + s : s;
    }
}

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
  if (m == 1) {
    dot_rows<T, 1, 4>(x, k, w, n0, n1, y, ldy, accumulate);
    return;
  }
  // For every group of weight rows run all input rows, so weights stream from memory once.
  constexpr int kCols = 4;
  auto run_group = [&](int64_t j_begin, int64_t j_end) {
    int64_t r = 0;
    for (; r + 2 <= m; r += 2) dot_rows<T, 2, kCols>(x + r * k, k, w, j_begin, j_end, y + r * ldy, ldy, accumulate);
    if (r < m) dot_rows<T, 1, kCols>(x + r * k, k, w, j_begin, j_end, y + r * ldy, ldy, accumulate);
  };
  int64_t j = n0;
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

constexpr int64_t kPanel = 16;   // output columns per tile: two registers
constexpr int kTileRows = 6;     // 12 accumulators + 2 panel vectors + 1 broadcast of the 16 registers
constexpr int64_t kDepth = 256;  // k per packed panel: 16 KiB of float32

template <WeightType T>
void pack_panel(WeightView w, int64_t j0, int64_t cols, int64_t k0, int64_t depth, float* packed) {
  alignas(32) float chunk[8];
  for (int64_t c = 0; c < cols; ++c) {
    const void* row = weight_row<T>(w, j0 + c);
    int64_t kk = 0;
    for (; kk + 8 <= depth; kk += 8) {
      _mm256_store_ps(chunk, load_weights<T>(row, k0 + kk));
      for (int t = 0; t < 8; ++t) packed[(kk + t) * kPanel + c] = chunk[t];
    }
    if (kk < depth) {
      _mm256_store_ps(chunk, load_weights_partial<T>(row, k0 + kk, depth - kk));
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
  const __m256i m0 = tail_mask(cols >= 8 ? 8 : cols);
  const __m256i m1 = tail_mask(cols >= 16 ? 8 : cols > 8 ? cols - 8 : 0);
  __m256 c0[ROWS], c1[ROWS];
#pragma GCC unroll 8
  for (int r = 0; r < ROWS; ++r) {
    c0[r] = load_output ? _mm256_maskload_ps(y + r * ldy, m0) : _mm256_setzero_ps();
    c1[r] = load_output ? _mm256_maskload_ps(y + r * ldy + 8, m1) : _mm256_setzero_ps();
  }
  for (int64_t kk = 0; kk < depth; ++kk) {
    const __m256 b0 = _mm256_load_ps(packed + kk * kPanel), b1 = _mm256_load_ps(packed + kk * kPanel + 8);
#pragma GCC unroll 8
    for (int r = 0; r < ROWS; ++r) {
      const __m256 a = _mm256_broadcast_ss(x + r * ldx + kk);
      c0[r] = _mm256_fmadd_ps(a, b0, c0[r]);
      c1[r] = _mm256_fmadd_ps(a, b1, c1[r]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < ROWS; ++r) {
    _mm256_maskstore_ps(y + r * ldy, m0, c0[r]);
    _mm256_maskstore_ps(y + r * ldy + 8, m1, c1[r]);
  }
}

using GemmTileFn = void (*)(const float*, int64_t, const float*, int64_t, float*, int64_t, int64_t, bool);
constexpr GemmTileFn kGemmTiles[kTileRows + 1] = {nullptr,      gemm_tile<1>, gemm_tile<2>, gemm_tile<3>,
                                                  gemm_tile<4>, gemm_tile<5>, gemm_tile<6>};

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

const MatmulKernels avx2_matmul_kernels = {matvec, gemm, kPanel, kPanel * kDepth};

}  // namespace glint::ops::detail
