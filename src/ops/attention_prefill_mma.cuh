// The BF16 prefill attention kernel on tensor cores (mma.sync m16n8k16, FlashAttention-2 structure) and its device
// helpers. Included only by attention_cuda.cu.
//
// One block of 4 warps takes 64 query rows of one head; each warp owns 16 rows. Key tiles of kBlockN rows are
// copied from the cache ring into shared memory (cp.async, double-buffered); per tile a warp computes S = Q·Kᵀ in
// registers, applies scale / softcap / mask, updates the running max and sum (online softmax) on the accumulator
// fragments, and reuses P (rounded to bf16) as the A operand of O += P·V. V is read with ldmatrix.trans.
#pragma once
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <cstring>

#include "core/cuda_runtime.h"
#include "ops/attention.h"
#include "ops/attention_common.cuh"
#include "ops/cuda_common.cuh"

namespace glint::ops::cuda::attn_detail {

using cuda::bf16;
using cuda::warp_max;
using cuda::warp_sum;

constexpr float kLog2e = 1.4426950408889634f;

// Four 8×8 b16 matrices; lanes 8i..8i+7 give the row addresses of matrix i.
__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const void* smem) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(shared_address(smem))
               : "memory");
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], const void* smem) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(shared_address(smem))
               : "memory");
}

// Two floats as bf16x2: `low` in the low half (the lower column of a fragment pair).
__device__ __forceinline__ uint32_t pack_bf16x2(float low, float high) {
  const __nv_bfloat162 v = __floats2bfloat162_rn(low, high);
  uint32_t bits;
  memcpy(&bits, &v, sizeof(bits));
  return bits;
}

struct PrefillArgs {
  const bf16* q = nullptr;    // [tokens, n_heads, D]
  const bf16* k = nullptr;    // cache [slots, capacity, n_kv_heads, D]
  const bf16* v = nullptr;
  bf16* out = nullptr;        // [tokens, n_heads, D]
  int64_t tokens = 0;
  int64_t first_position = 0;
  int64_t slot_offset = 0;    // elements: slot · capacity · n_kv_heads · D
  int n_heads = 0;
  int n_kv_heads = 0;
  int group = 1;              // query heads per kv head
  float scale = 1.0f;
  float softcap = 0.0f;
  MaskParams mask;
};

template <int D, int kBlockN>
struct PrefillTile {
  static_assert(D % 16 == 0 && D <= 256 && kBlockN % 16 == 0, "tile shape");
  static constexpr int kBlockM = 64;      // query rows per block: 4 warps × 16
  static constexpr int kThreads = 128;
  static constexpr int kStride = D + 8;   // bf16 per shared row: 16 bytes of padding put the 8 rows an
                                          // ldmatrix reads in 8 different bank groups
  static constexpr int kChunks = D / 8;   // 16-byte chunks per row
  // Q tile, then K and V tiles, each double-buffered.
  static constexpr size_t kSmemBytes = size_t(kBlockM + 4 * kBlockN) * kStride * sizeof(bf16);
};

template <int D, int kBlockN>
__global__ void __launch_bounds__(128) prefill_mma_kernel(const PrefillArgs a) {
  using Tile = PrefillTile<D, kBlockN>;
  constexpr int kBlockM = Tile::kBlockM, kStride = Tile::kStride, kChunks = Tile::kChunks;
  extern __shared__ __align__(16) unsigned char prefill_smem[];
  bf16* q_smem = reinterpret_cast<bf16*>(prefill_smem);  // [kBlockM][kStride]
  bf16* k_smem = q_smem + kBlockM * kStride;              // [2][kBlockN][kStride]
  bf16* v_smem = k_smem + 2 * kBlockN * kStride;          // [2][kBlockN][kStride]

  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int64_t tile = int64_t(gridDim.x) - 1 - blockIdx.x;  // latest (heaviest, under causal masks) tiles first
  const int head = blockIdx.y, kv_head = head / a.group;
  const int64_t row0 = tile * kBlockM;
  const int64_t rows = a.tokens - row0 < kBlockM ? a.tokens - row0 : kBlockM;
  const int64_t q_first = a.first_position + row0, q_last = q_first + rows - 1;
  const int64_t key_begin = lowest_visible_key(a.mask, q_first);
  const int64_t key_end = q_last + 1;
  const int n_key_tiles = int((key_end - key_begin + kBlockN - 1) / kBlockN);

  // Q rows past the last token are zero-filled; their results are never stored.
  for (int c = tid; c < kBlockM * kChunks; c += Tile::kThreads) {
    const int r = c / kChunks, ch = c % kChunks;
    const bool valid = r < rows;
    const bf16* src = valid ? a.q + ((row0 + r) * a.n_heads + head) * D + ch * 8 : a.q;
    cp_async_16(q_smem + r * kStride + ch * 8, src, valid);
  }
  // Key tile t holds positions key_begin + t·kBlockN + r; positions past the last query are zero-filled so that
  // P = 0 never meets garbage (0 · NaN would poison the product).
  auto load_kv = [&](int t, int buffer) {
    const int64_t first_key = key_begin + int64_t(t) * kBlockN;
    bf16* ks = k_smem + buffer * kBlockN * kStride;
    bf16* vs = v_smem + buffer * kBlockN * kStride;
    for (int c = tid; c < kBlockN * kChunks; c += Tile::kThreads) {
      const int r = c / kChunks, ch = c % kChunks;
      const int64_t pos = first_key + r;
      const bool valid = pos < key_end;
      const int64_t offset =
          valid ? a.slot_offset + ((pos % a.mask.capacity) * a.n_kv_heads + kv_head) * int64_t(D) + ch * 8 : 0;
      cp_async_16(ks + r * kStride + ch * 8, a.k + offset, valid);
      cp_async_16(vs + r * kStride + ch * 8, a.v + offset, valid);
    }
  };
  load_kv(0, 0);
  cp_async_commit();

  // Fragment coordinates: this lane holds rows g and g + 8 of the warp's 16, columns 2·t4 and 2·t4 + 1 of each 8.
  const int g = lane / 4, t4 = lane % 4;
  const int ld_matrix = lane / 8, ld_row = lane % 8;  // which 8×8 matrix this lane addresses, and which row of it
  const int64_t warp_q_first = q_first + warp * 16, warp_q_last = warp_q_first + 15;
  const int64_t q_pos[2] = {warp_q_first + g, warp_q_first + g + 8};
  const int64_t lowest[2] = {lowest_visible_key(a.mask, q_pos[0]), lowest_visible_key(a.mask, q_pos[1])};

  float o[D / 8][4];
#pragma unroll
  for (int j = 0; j < D / 8; ++j) o[j][0] = o[j][1] = o[j][2] = o[j][3] = 0.0f;
  float row_max[2] = {kNegInf, kNegInf};
  float row_sum[2] = {0.0f, 0.0f};  // this lane's share; the quad's shares are added at the end

  for (int t = 0; t < n_key_tiles; ++t) {
    if (t + 1 < n_key_tiles) {
      load_kv(t + 1, (t + 1) & 1);  // that buffer was released by the barrier that ended tile t − 1
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();
    const bf16* ks = k_smem + (t & 1) * kBlockN * kStride;
    const bf16* vs = v_smem + (t & 1) * kBlockN * kStride;
    const int64_t first_key = key_begin + int64_t(t) * kBlockN;
    const int64_t last_key = first_key + kBlockN - 1;
    // Does any query of this warp see any key of the tile? (lowest_visible_key is non-decreasing in q_pos.)
    // Warps whose rows all lie past the last token skip every tile.
    const int64_t earliest_seeing = first_key > warp_q_first ? first_key : warp_q_first;
    const int64_t latest_query = warp_q_last < q_last ? warp_q_last : q_last;
    const bool warp_sees_tile =
        earliest_seeing <= latest_query && lowest_visible_key(a.mask, earliest_seeing) <= last_key;
    if (warp_sees_tile) {
      float s[kBlockN / 8][4];
#pragma unroll
      for (int j = 0; j < kBlockN / 8; ++j) s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0.0f;
#pragma unroll
      for (int kd = 0; kd < D / 16; ++kd) {
        uint32_t qa[4];  // rows (+8 for matrices 1, 3), dims (+8 for matrices 2, 3)
        ldmatrix_x4(qa, q_smem + (warp * 16 + ld_row + (ld_matrix & 1) * 8) * kStride + kd * 16 +
                            (ld_matrix >> 1) * 8);
#pragma unroll
        for (int nt = 0; nt < kBlockN / 16; ++nt) {
          uint32_t kb[4];  // keys (+8 for matrices 2, 3), dims (+8 for matrices 1, 3)
          ldmatrix_x4(kb, ks + (nt * 16 + ld_row + (ld_matrix >> 1) * 8) * kStride + kd * 16 + (ld_matrix & 1) * 8);
          mma_bf16_16816(s[2 * nt], qa, kb[0], kb[1]);
          mma_bf16_16816(s[2 * nt + 1], qa, kb[2], kb[3]);
        }
      }

      float tile_max[2] = {kNegInf, kNegInf};
#pragma unroll
      for (int j = 0; j < kBlockN / 8; ++j) {
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int rr = e / 2;  // elements 0, 1: row g; 2, 3: row g + 8
          const int64_t key = first_key + j * 8 + 2 * t4 + (e & 1);
          float x = score_of(s[j][e], a.scale, a.softcap);
          if (key < lowest[rr] || key > q_pos[rr]) x = kNegInf;
          s[j][e] = x;
          tile_max[rr] = fmaxf(tile_max[rr], x);
        }
      }
      float base[2];  // the exponent offset: the running max, or 0 while a row has seen no key
#pragma unroll
      for (int rr = 0; rr < 2; ++rr) {
        tile_max[rr] = fmaxf(tile_max[rr], __shfl_xor_sync(0xffffffffu, tile_max[rr], 1));
        tile_max[rr] = fmaxf(tile_max[rr], __shfl_xor_sync(0xffffffffu, tile_max[rr], 2));
        const float new_max = fmaxf(row_max[rr], tile_max[rr]);
        base[rr] = new_max == kNegInf ? 0.0f : new_max;
        const float correction = exp2f((row_max[rr] - base[rr]) * kLog2e);  // 0 when row_max was −inf
        row_max[rr] = new_max;
        row_sum[rr] *= correction;
#pragma unroll
        for (int j = 0; j < D / 8; ++j) {
          o[j][2 * rr] *= correction;
          o[j][2 * rr + 1] *= correction;
        }
      }
#pragma unroll
      for (int j = 0; j < kBlockN / 8; ++j) {
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const float p = exp2f((s[j][e] - base[e / 2]) * kLog2e);  // masked: exp2(−inf) = 0
          s[j][e] = p;
          row_sum[e / 2] += p;
        }
      }

#pragma unroll
      for (int kk = 0; kk < kBlockN / 16; ++kk) {
        // The C fragments of key columns 16kk..16kk+7 and 16kk+8..16kk+15 are exactly an A fragment.
        const uint32_t pa[4] = {pack_bf16x2(s[2 * kk][0], s[2 * kk][1]), pack_bf16x2(s[2 * kk][2], s[2 * kk][3]),
                                pack_bf16x2(s[2 * kk + 1][0], s[2 * kk + 1][1]),
                                pack_bf16x2(s[2 * kk + 1][2], s[2 * kk + 1][3])};
#pragma unroll
        for (int dt = 0; dt < D / 16; ++dt) {
          uint32_t vb[4];  // transposed: keys (+8 for matrices 1, 3), dims (+8 for matrices 2, 3)
          ldmatrix_x4_trans(vb, vs + (kk * 16 + ld_row + (ld_matrix & 1) * 8) * kStride + dt * 16 +
                                    (ld_matrix >> 1) * 8);
          mma_bf16_16816(o[2 * dt], pa, vb[0], vb[1]);
          mma_bf16_16816(o[2 * dt + 1], pa, vb[2], vb[3]);
        }
      }
    }
    __syncthreads();  // every warp is done with buffer t & 1 before it is refilled
  }

#pragma unroll
  for (int rr = 0; rr < 2; ++rr) {
    row_sum[rr] += __shfl_xor_sync(0xffffffffu, row_sum[rr], 1);
    row_sum[rr] += __shfl_xor_sync(0xffffffffu, row_sum[rr], 2);
  }
#pragma unroll
  for (int rr = 0; rr < 2; ++rr) {
    const int row = warp * 16 + g + rr * 8;
    if (row >= rows) continue;
    const float inv = row_sum[rr] > 0.0f ? 1.0f / row_sum[rr] : 0.0f;  // no visible key: zeros
    bf16* dst = a.out + ((row0 + row) * a.n_heads + head) * D + 2 * t4;
#pragma unroll
    for (int j = 0; j < D / 8; ++j) {
      *reinterpret_cast<__nv_bfloat162*>(dst + j * 8) = __floats2bfloat162_rn(o[j][2 * rr] * inv, o[j][2 * rr + 1] * inv);
    }
  }
}

template <int D>
void launch_prefill_mma(const PrefillArgs& a, cudaStream_t stream) {
  constexpr int kBlockN = D <= 128 ? 64 : 32;  // 32 at D = 256 keeps S + O within the register file
  using Tile = PrefillTile<D, kBlockN>;
  const auto kernel = prefill_mma_kernel<D, kBlockN>;
  if (Tile::kSmemBytes > 48 * 1024)
    GLINT_CUDA_CHECK(
        cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(Tile::kSmemBytes)));
  const dim3 grid(unsigned((a.tokens + Tile::kBlockM - 1) / Tile::kBlockM), unsigned(a.n_heads));
  kernel<<<grid, Tile::kThreads, Tile::kSmemBytes, stream>>>(a);
  GLINT_CUDA_LAUNCHED();
}

}  // namespace glint::ops::cuda::attn_detail
