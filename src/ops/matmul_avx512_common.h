// Helpers shared by the AVX-512 matmul files. Include only from *_avx512.cpp files: everything here has internal
// linkage on purpose, so no copy built with AVX-512 can be picked by the linker for baseline code.
#pragma once
// GCC 12's reduce intrinsics start from _mm512_undefined_ps(), which -Wuninitialized misreads.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cstdint>

namespace glint::ops::detail {
namespace {

inline __mmask16 tail_mask(int64_t remaining) { return __mmask16((1u << remaining) - 1); }

// Transposes a 16×16 block in registers: in[r] holds row r, out[c] holds column c.
__attribute__((always_inline)) inline void transpose16(const __m512 in[16], __m512 out[16]) {
  __m512 t[16], u[16];
  for (int i = 0; i < 16; i += 2) {  // 32-bit interleave of row pairs, per 128-bit lane
    t[i] = _mm512_unpacklo_ps(in[i], in[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(in[i], in[i + 1]);
  }
  for (int g = 0; g < 16; g += 4) {  // 64-bit interleave: u[g + q] holds columns q, q+4, q+8, q+12 of rows g..g+3
    const __m512d a = _mm512_castps_pd(t[g]), b = _mm512_castps_pd(t[g + 1]);
    const __m512d c = _mm512_castps_pd(t[g + 2]), d = _mm512_castps_pd(t[g + 3]);
    u[g + 0] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
    u[g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
    u[g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
    u[g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
  }
  for (int q = 0; q < 4; ++q) {  // gather the 128-bit lanes of the four row groups
    const __m512 v_even = _mm512_shuffle_f32x4(u[q], u[4 + q], 0x88), v_odd = _mm512_shuffle_f32x4(u[q], u[4 + q], 0xdd);
    const __m512 w_even = _mm512_shuffle_f32x4(u[8 + q], u[12 + q], 0x88),
                 w_odd = _mm512_shuffle_f32x4(u[8 + q], u[12 + q], 0xdd);
    out[q] = _mm512_shuffle_f32x4(v_even, w_even, 0x88);
    out[q + 8] = _mm512_shuffle_f32x4(v_even, w_even, 0xdd);
    out[q + 4] = _mm512_shuffle_f32x4(v_odd, w_odd, 0x88);
    out[q + 12] = _mm512_shuffle_f32x4(v_odd, w_odd, 0xdd);
  }
}

}  // namespace
}  // namespace glint::ops::detail
