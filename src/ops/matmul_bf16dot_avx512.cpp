// Opt-in (GLINT_BF16_DOT=1) prefill GEMM for BF16 weights with AVX512_BF16: activations are rounded to bf16 and
// VDPBF16PS multiplies pairs of k at once, doubling the arithmetic rate of the float32 kernel. Off by default
// because rounding activations breaks float32 parity with the reference.
#include "ops/matmul_avx512_common.h"
#include "ops/matmul_kernels.h"

namespace glint::ops::detail {
namespace {

constexpr int64_t kPanel = 32;         // output columns per tile: two registers of 16 pair-sums
constexpr int kTileRows = 12;          // 24 accumulators
constexpr int64_t kPackPairs = 1024;   // k pairs per packed panel: 128 KiB
constexpr int64_t kTilePairs = 64;     // k pairs per pass of the register tiles: 8 KiB of the panel in L1

// packed[p][c] = the 32-bit word holding w[j0 + c][k0 + 2p] and w[j0 + c][k0 + 2p + 1] (zero beyond depth and for
// c ≥ cols). A bf16 row read as 32-bit words is already in VDPBF16PS pair order, so packing is a 32-bit transpose.
void pack_pairs(WeightView w, int64_t j0, int64_t cols, int64_t k0, int64_t depth, uint32_t* packed) {
  const int64_t pairs = (depth + 1) / 2;
  for (int64_t half = 0; half < kPanel; half += 16) {
    const uint16_t* rows[16];
    const int64_t live = cols - half < 0 ? 0 : cols - half < 16 ? cols - half : 16;
    for (int64_t r = 0; r < live; ++r) rows[r] = static_cast<const uint16_t*>(w.data) + (j0 + half + r) * w.row_stride;
    for (int64_t p = 0; p < pairs; p += 16) {
      const int64_t elements = depth - 2 * p < 32 ? depth - 2 * p : 32;  // bf16 values of each row in this block
      const __mmask32 m = elements == 32 ? __mmask32(0xffffffffu) : __mmask32((1u << elements) - 1);
      __m512 block[16], columns[16];
      for (int64_t r = 0; r < 16; ++r)
        block[r] = r >= live ? _mm512_setzero_ps()
                             : _mm512_castsi512_ps(_mm512_maskz_loadu_epi16(m, rows[r] + k0 + 2 * p));
      transpose16(block, columns);
      const int64_t width = pairs - p < 16 ? pairs - p : 16;
      for (int64_t c = 0; c < width; ++c)
        _mm512_store_si512(packed + (p + c) * kPanel + half, _mm512_castps_si512(columns[c]));
    }
  }
}

template <int ROWS>
void dot_tile(const uint32_t* x_pairs, int64_t ldx_pairs, const uint32_t* packed, int64_t pairs, float* y,
              int64_t ldy, int64_t cols, bool load_output) {
  const __mmask16 m0 = cols >= 16 ? __mmask16(0xffff) : tail_mask(cols);
  const __mmask16 m1 = cols >= 32 ? __mmask16(0xffff) : cols > 16 ? tail_mask(cols - 16) : __mmask16(0);
  __m512 c0[ROWS], c1[ROWS];
#pragma GCC unroll 12
  for (int r = 0; r < ROWS; ++r) {
    c0[r] = load_output ? _mm512_maskz_loadu_ps(m0, y + r * ldy) : _mm512_setzero_ps();
    c1[r] = load_output ? _mm512_maskz_loadu_ps(m1, y + r * ldy + 16) : _mm512_setzero_ps();
  }
  for (int64_t p = 0; p < pairs; ++p) {
    const __m512bh b0 = (__m512bh)_mm512_load_si512(packed + p * kPanel);
    const __m512bh b1 = (__m512bh)_mm512_load_si512(packed + p * kPanel + 16);
#pragma GCC unroll 12
    for (int r = 0; r < ROWS; ++r) {
      const __m512bh a = (__m512bh)_mm512_set1_epi32(int(x_pairs[r * ldx_pairs + p]));
      c0[r] = _mm512_dpbf16_ps(c0[r], a, b0);
      c1[r] = _mm512_dpbf16_ps(c1[r], a, b1);
    }
  }
#pragma GCC unroll 12
  for (int r = 0; r < ROWS; ++r) {
    _mm512_mask_storeu_ps(y + r * ldy, m0, c0[r]);
    _mm512_mask_storeu_ps(y + r * ldy + 16, m1, c1[r]);
  }
}

using DotTileFn = void (*)(const uint32_t*, int64_t, const uint32_t*, int64_t, float*, int64_t, int64_t, bool);
constexpr DotTileFn kDotTiles[kTileRows + 1] = {
    nullptr,     dot_tile<1>, dot_tile<2>, dot_tile<3>,  dot_tile<4>,  dot_tile<5>, dot_tile<6>,
    dot_tile<7>, dot_tile<8>, dot_tile<9>, dot_tile<10>, dot_tile<11>, dot_tile<12>};

}  // namespace

void avx512_gemm_bf16_dot(const uint16_t* x_bf16, int64_t ldx, int64_t m, int64_t k, WeightView w, int64_t n0,
                          int64_t n1, float* y, int64_t ldy, bool accumulate, float* scratch) {
  uint32_t* packed = reinterpret_cast<uint32_t*>(scratch);
  const uint32_t* x_pairs = reinterpret_cast<const uint32_t*>(x_bf16);
  const int64_t ldx_pairs = ldx / 2;
  const int64_t k_pairs = (k + 1) / 2;
  for (int64_t j = n0; j < n1; j += kPanel) {
    const int64_t cols = n1 - j < kPanel ? n1 - j : kPanel;
    for (int64_t p0 = 0; p0 < k_pairs; p0 += kPackPairs) {
      const int64_t pairs = k_pairs - p0 < kPackPairs ? k_pairs - p0 : kPackPairs;
      const int64_t depth = k - 2 * p0 < 2 * kPackPairs ? k - 2 * p0 : 2 * kPackPairs;
      pack_pairs(w, j, cols, 2 * p0, depth, packed);
      for (int64_t pt = 0; pt < pairs; pt += kTilePairs) {
        const int64_t tile_pairs = pairs - pt < kTilePairs ? pairs - pt : kTilePairs;
        const bool load_output = accumulate || p0 + pt > 0;
        for (int64_t r = 0; r < m; r += kTileRows) {
          const int64_t rows = m - r < kTileRows ? m - r : kTileRows;
          kDotTiles[rows](x_pairs + r * ldx_pairs + p0 + pt, ldx_pairs, packed + pt * kPanel, tile_pairs,
                          y + r * ldy + j, ldy, cols, load_output);
        }
      }
    }
  }
}

void avx512_round_to_bf16(const float* x, int64_t n, uint16_t* out) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i), (__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(x + i)));
  if (i < n) {
    const __mmask16 m = tail_mask(n - i);
    _mm256_mask_storeu_epi16(out + i, m, (__m256i)_mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, x + i)));
  }
}

}  // namespace glint::ops::detail
