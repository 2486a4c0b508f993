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

// ---- decode: few input rows, weights streamed from memory once (same plan as the AVX-512 file) ----

// y[r·ldy] (+)= x[r]·row for r < ROWS, with UNROLL accumulators per input row to hide FMA latency. Used one weight
// row after another, the matrix is read as one sequential stream for the hardware prefetcher.
template <WeightType T, int ROWS, int UNROLL>
void row_dots(const float* x, int64_t k, const void* row, float* y, int64_t ldy, bool accumulate) {
  __m256 acc[ROWS][UNROLL];
#pragma GCC unroll 4
  for (int r = 0; r < ROWS; ++r)
#pragma GCC unroll 4
    for (int u = 0; u < UNROLL; ++u) acc[r][u] = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 * UNROLL <= k; i += 8 * UNROLL) {
#pragma GCC unroll 4
    for (int u = 0; u < UNROLL; ++u) {
      const __m256 wv = load_weights<T>(row, i + 8 * u);
#pragma GCC unroll 4
      for (int r = 0; r < ROWS; ++r) acc[r][u] = _mm256_fmadd_ps(_mm256_loadu_ps(x + r * k + i + 8 * u), wv, acc[r][u]);
    }
  }
  for (; i + 8 <= k; i += 8) {
    const __m256 wv = load_weights<T>(row, i);
#pragma GCC unroll 4
    for (int r = 0; r < ROWS; ++r) acc[r][0] = _mm256_fmadd_ps(_mm256_loadu_ps(x + r * k + i), wv, acc[r][0]);
  }
  if (i < k) {
    const __m256i m = tail_mask(k - i);
    const __m256 wv = load_weights_partial<T>(row, i, k - i);
#pragma GCC unroll 4
    for (int r = 0; r < ROWS; ++r) acc[r][0] = _mm256_fmadd_ps(_mm256_maskload_ps(x + r * k + i, m), wv, acc[r][0]);
  }
#pragma GCC unroll 4
  for (int r = 0; r < ROWS; ++r) {
#pragma GCC unroll 4
    for (int u = 1; u < UNROLL; ++u) acc[r][0] = _mm256_add_ps(acc[r][0], acc[r][u]);
    const float s = horizontal_sum(acc[r][0]);
    float* out = y + r * ldy;
    *out = accumulate ? *out + s : s;
  }
}

// COLS weight rows × ROWS input rows of dot products; a later group of weight rows (next_rows) is prefetched into
// L2 while this one is consumed (reading rows side by side would otherwise restart the hardware prefetcher on every group).
template <WeightType T, int ROWS, int COLS>
void tile_dots(const float* x, int64_t k, const void* const* rows, const void* const* next_rows, float* y,
               int64_t ldy, bool accumulate) {
  constexpr int64_t kElem = element_bytes(T);
  __m256 acc[ROWS][COLS];
#pragma GCC unroll 4
  for (int r = 0; r < ROWS; ++r)
#pragma GCC unroll 4
    for (int c = 0; c < COLS; ++c) acc[r][c] = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= k; i += 8) {
    if ((i * kElem & 63) == 0) {
#pragma GCC unroll 4
      for (int c = 0; c < COLS; ++c)
        _mm_prefetch(static_cast<const char*>(next_rows[c]) + i * kElem + 64 * 4, _MM_HINT_T1);
    }
    __m256 wv[COLS];
#pragma GCC unroll 4
    for (int c = 0; c < COLS; ++c) wv[c] = load_weights<T>(rows[c], i);
#pragma GCC unroll 4
    for (int r = 0; r < ROWS; ++r) {
      const __m256 xv = _mm256_loadu_ps(x + r * k + i);
#pragma GCC unroll 4
      for (int c = 0; c < COLS; ++c) acc[r][c] = _mm256_fmadd_ps(xv, wv[c], acc[r][c]);
    }
  }
  if (i < k) {
    const __m256i m = tail_mask(k - i);
    __m256 wv[COLS];
#pragma GCC unroll 4
    for (int c = 0; c < COLS; ++c) wv[c] = load_weights_partial<T>(rows[c], i, k - i);
#pragma GCC unroll 4
    for (int r = 0; r < ROWS; ++r) {
      const __m256 xv = _mm256_maskload_ps(x + r * k + i, m);
#pragma GCC unroll 4
      for (int c = 0; c < COLS; ++c) acc[r][c] = _mm256_fmadd_ps(xv, wv[c], acc[r][c]);
    }
  }
#pragma GCC unroll 4
  for (int r = 0; r < ROWS; ++r)
#pragma GCC unroll 4
    for (int c = 0; c < COLS; ++c) {
      const float s = horizontal_sum(acc[r][c]);
      float* out = y + r * ldy + c;
      *out = accumulate ? *out + s : s;
    }
}

template <WeightType T>
void matvec_typed(const float* x, int64_t m, int64_t k, WeightView w, int64_t n0, int64_t n1, float* y, int64_t ldy,
                  bool accumulate) {
  if (m == 1) {  // one sequential stream (measured: as fast as a plain read of the same bytes)
    for (int64_t j = n0; j < n1; ++j) row_dots<T, 1, 4>(x, k, weight_row<T>(w, j), y + j, ldy, accumulate);
    return;
  }
  constexpr int kCols = 4;  // 2×4 accumulators + 4 weights + 1 input of the 16 registers
  constexpr int64_t kAhead = 2 * kCols;  // prefetch distance, as in the AVX-512 file
  int64_t j = n0;
  for (; j + kCols <= n1; j += kCols) {
    const void* rows[kCols];
    const void* next[kCols];
    for (int c = 0; c < kCols; ++c) {
      rows[c] = weight_row<T>(w, j + c);
      next[c] = weight_row<T>(w, j + kAhead + c < n1 ? j + kAhead + c : j + c);
    }
    int64_t r = 0;
    for (; r + 2 <= m; r += 2) tile_dots<T, 2, kCols>(x + r * k, k, rows, next, y + r * ldy + j, ldy, accumulate);
    if (r < m) tile_dots<T, 1, kCols>(x + r * k, k, rows, next, y + r * ldy + j, ldy, accumulate);
  }
  for (; j < n1; ++j) {
    const void* row = weight_row<T>(w, j);
    for (int64_t r = 0; r < m; ++r) row_dots<T, 1, 4>(x + r * k, k, row, y + r * ldy + j, ldy, accumulate);
  }
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
// k per packed panel: long runs of each weight row read from memory, and at most 256 KiB (AVX-512) of float32
// that stays in L2 while every row tile uses it.
constexpr int64_t kPackDepth = 2048;
// k per pass of the register tiles: this slice of the panel (16 KiB / 8 KiB) stays in L1 across all row tiles.
constexpr int64_t kTileDepth = 128;

// Transposes an 8×8 block in registers: in[r] holds row r, out[c] holds column c.
__attribute__((always_inline)) inline void transpose8(const __m256 in[8], __m256 out[8]) {
  __m256 t[8], u[8];
  for (int i = 0; i < 8; i += 2) {  // 32-bit interleave of row pairs, per 128-bit lane
    t[i] = _mm256_unpacklo_ps(in[i], in[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(in[i], in[i + 1]);
  }
  for (int g = 0; g < 8; g += 4) {  // u[g + q] holds columns q and q+4 of rows g..g+3
    u[g + 0] = _mm256_shuffle_ps(t[g], t[g + 2], 0x44);
    u[g + 1] = _mm256_shuffle_ps(t[g], t[g + 2], 0xee);
    u[g + 2] = _mm256_shuffle_ps(t[g + 1], t[g + 3], 0x44);
    u[g + 3] = _mm256_shuffle_ps(t[g + 1], t[g + 3], 0xee);
  }
  for (int q = 0; q < 4; ++q) {
    out[q] = _mm256_permute2f128_ps(u[q], u[4 + q], 0x20);
    out[q + 4] = _mm256_permute2f128_ps(u[q], u[4 + q], 0x31);
  }
}

// packed[kk][c] = w[j0 + c][k0 + kk] as float32, zero for c ≥ cols. Converts and transposes 8×8 blocks.
template <WeightType T>
void pack_panel(WeightView w, int64_t j0, int64_t cols, int64_t k0, int64_t depth, float* packed) {
  for (int64_t half = 0; half < kPanel; half += 8) {
    const void* rows[8];
    int64_t live = cols - half < 0 ? 0 : cols - half < 8 ? cols - half : 8;
    for (int64_t r = 0; r < live; ++r) rows[r] = weight_row<T>(w, j0 + half + r);
    for (int64_t kk = 0; kk < depth; kk += 8) {
      const int64_t width = depth - kk < 8 ? depth - kk : 8;
      __m256 block[8], columns[8];
      for (int64_t r = 0; r < 8; ++r)
        block[r] = r >= live ? _mm256_setzero_ps()
                   : width == 8 ? load_weights<T>(rows[r], k0 + kk)
                                : load_weights_partial<T>(rows[r], k0 + kk, width);
      transpose8(block, columns);
      for (int64_t c = 0; c < width; ++c) _mm256_store_ps(packed + (kk + c) * kPanel + half, columns[c]);
    }
  }
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
    for (int64_t k0 = 0; k0 < k; k0 += kPackDepth) {
      const int64_t depth = k - k0 < kPackDepth ? k - k0 : kPackDepth;
      pack_panel<T>(w, j, cols, k0, depth, packed);
      for (int64_t kt = 0; kt < depth; kt += kTileDepth) {
        const int64_t tile_depth = depth - kt < kTileDepth ? depth - kt : kTileDepth;
        const bool load_output = accumulate || k0 + kt > 0;
        for (int64_t r = 0; r < m; r += kTileRows) {
          const int64_t rows = m - r < kTileRows ? m - r : kTileRows;
          kGemmTiles[rows](x + r * k + k0 + kt, k, packed + kt * kPanel, tile_depth, y + r * ldy + j, ldy, cols,
                           load_output);
        }
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

const MatmulKernels avx2_matmul_kernels = {matvec, gemm, kPanel, kPanel * kPackDepth, nullptr, nullptr};

}  // namespace glint::ops::detail
