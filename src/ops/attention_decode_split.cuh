// The building blocks of flash decoding that the decode kernels of attention_decode_cuda.cu share (included only by
// it): the launch constants, the kernels' arguments, a row's splits, the shared-memory layout, staging a split's
// K/V rows, attending one split and merging the splits' partial results.
#pragma once
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <cstring>

#include "ops/attention_common.cuh"
#include "ops/cuda_common.cuh"

namespace glint::ops::cuda::decode_detail {

using attn_detail::cp_async_16;
using attn_detail::cp_async_commit;
using attn_detail::cp_async_wait;
using attn_detail::kMaxHeadDim;
using attn_detail::kNegInf;
using attn_detail::lowest_visible_key;
using attn_detail::MaskParams;
using attn_detail::score_of;

constexpr int kSplitKeys = 32;  // keys per split (short serial loops: decode is latency-bound)
// 16 warps: every key of a split is loaded in one round trip, in the scores (two keys a warp) and in the weighted
// sum of V (two keys a thread for BF16 up to head_dim 256). With 4 warps each took four dependent round trips,
// 13 µs a layer on an H200.
constexpr int kDecodeThreads = 512;
constexpr int kDecodeWarps = kDecodeThreads / 32;
constexpr int kMaxDecodeGroup = 16;  // query heads per kv head a decode block holds
constexpr int kCombineThreads = 128;
constexpr int kCombineChunk = 1024;  // splits the combine kernel merges per pass (32k keys)

// One 16-byte load widened to floats: 4 floats or 8 bf16 (p is 16-byte aligned).
__device__ __forceinline__ void load_chunk(const float* p, float (&x)[4]) {
  const float4 v = *reinterpret_cast<const float4*>(p);
  x[0] = v.x, x[1] = v.y, x[2] = v.z, x[3] = v.w;
}
__device__ __forceinline__ void load_chunk(const bf16* p, float (&x)[8]) {
  const uint4 v = *reinterpret_cast<const uint4*>(p);
  const uint32_t words[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    __nv_bfloat162 pair;
    memcpy(&pair, &words[i], sizeof(pair));
    const float2 f = __bfloat1622float2(pair);
    x[2 * i] = f.x, x[2 * i + 1] = f.y;
  }
}

// Split s of a (kv head, batch row) is keys lowest + s·kSplitKeys … (at most kSplitKeys) of the row; block
// (x, kv head, row) takes splits x, x + gridDim.x, … that hold keys, for all `group` query heads of the kv head, so
// each K/V row is read once. Unnormalised outputs O, maxima m and sums l of the splits go to the workspace.
struct DecodeArgs {
  const void* q = nullptr;  // [batch, n_heads, head_dim]; unused by the fused kernel
  const void* k = nullptr;
  const void* v = nullptr;
  const int32_t* positions = nullptr;
  const int32_t* slots = nullptr;
  float* partial_out = nullptr;  // [batch, n_heads, splits, head_dim]
  float* partial_ml = nullptr;   // [batch, n_heads, splits, 2]: max, sum
  int n_heads = 0, n_kv_heads = 0, head_dim = 0, group = 1, splits = 1;
  float scale = 1.0f, softcap = 0.0f;
  MaskParams mask;
};

// Splits of a row at q_pos that hold keys (every one of them holds at least one).
__device__ __forceinline__ int active_splits(const MaskParams& mask, int64_t q_pos, int splits) {
  return min(splits, int((q_pos - lowest_visible_key(mask, q_pos)) / kSplitKeys + 1));
}

// The keys a row at pos sees (lowest ..= pos) in splits of kSplitKeys: split s holds count(s) keys from start(s).
struct RowSplits {
  int64_t lowest, pos;
  __device__ int64_t start(int split) const { return lowest + int64_t(split) * kSplitKeys; }
  __device__ int count(int split) const {
    const int64_t first = start(split);
    return int((first + kSplitKeys < pos + 1 ? first + kSplitKeys : pos + 1) - first);
  }
};

// A decode block's dynamic shared memory: the split's K and V rows [2][kSplitKeys][d] (cache dtype,
// 16 / elems_per_chunk bytes an element), then floats: the queries [group][d], scores [group][kSplitKeys], per-thread
// sums of the weighted V [kDecodeThreads][elems_per_chunk], and (fused) the new K and V rows [d] each.
__host__ __device__ inline size_t decode_kv_stage_bytes(int head_dim, int elems_per_chunk) {
  return size_t(2) * kSplitKeys * size_t(head_dim) * size_t(16 / elems_per_chunk);
}
inline size_t decode_smem_bytes(int group, int head_dim, int elems_per_chunk, bool fused) {
  return decode_kv_stage_bytes(head_dim, elems_per_chunk) +
         sizeof(float) * (size_t(group) * head_dim + size_t(group) * kSplitKeys +
                          size_t(kDecodeThreads) * elems_per_chunk + (fused ? 2 * size_t(head_dim) : 0));
}

// One split for the block's `group` queries (q_s, floats): keys start .. start + count − 1 of the (kv head, row),
// staged in kv_s (stage_split).
//   1. scores: a warp per key, each lane a 16-byte chunk (two for F32 at head dim > 128), dot products with the
//      queries reduced over the warp;
//   2. softmax of the split per head (a warp per head): max m, weights exp(s − m), sum l;
//   3. O = Σ weights · V: a thread per (16-byte chunk, key subset), up to kHeads heads at once in registers;
//      the key subsets are added in a fixed order (deterministic).
// emit(head, i, o) takes element i of a head's unnormalised O; head_max / head_sum keep m and l until the next call.
// Where element i of a query head goes in q_s: in planes of four entries per 16-byte chunk of K (chunk c, entry e
// at plane e / 4, position 4·c + e % 4), so that the score phase reads a lane's chunk as float4s whose addresses
// run on across the warp. With the plain layout the lanes read 32 bytes apart: 8-way bank conflicts on every read
// (ncu: 82% of the kernel's shared wavefronts were excess).
__device__ __forceinline__ int q_index(int i, int d, int elems) {
  const int c = i / elems, e = i % elems;
  return (e / 4) * (d / elems) * 4 + 4 * c + e % 4;
}

// Which rows of a split stage_split copies: before the PDL wait, every row but the newest (key pos: no kernel of
// the step writes the others); after it, the newest (the preparation just wrote it); for later splits, all.
enum class StageRows { Older, Newest, All };

// Rows j < count of the split starting at key `start` into kv_s (K rows, then V rows, kSplitKeys apart) with
// 16-byte asynchronous copies, committed as one group (cp_async_wait<0>() and a barrier before they are read).
template <typename T>
__device__ __forceinline__ void stage_split(const DecodeArgs& a, int kv_head, int64_t slot, int64_t start, int count,
                                            int64_t pos, StageRows rows, T* kv_s) {
  constexpr int kElems = 16 / sizeof(T);
  const int d = a.head_dim, n_chunks = d / kElems;
  auto copy = [&](int cache, int j, int c) {
    const int64_t row = (slot * a.mask.capacity + (start + j) % a.mask.capacity) * a.n_kv_heads + kv_head;
    const T* src = static_cast<const T*>(cache == 0 ? a.k : a.v) + row * d + c * kElems;
    cp_async_16(kv_s + (cache * kSplitKeys + j) * d + c * kElems, src, true);
  };
  if (rows == StageRows::Newest) {
    const int64_t j = pos - start;
    if (j >= 0 && j < count)
      for (int t = threadIdx.x; t < 2 * n_chunks; t += kDecodeThreads) copy(t / n_chunks, int(j), t % n_chunks);
  } else {
    const int per_cache = count * n_chunks;
    for (int t = threadIdx.x; t < 2 * per_cache; t += kDecodeThreads) {
      const int cache = t / per_cache, j = t % per_cache / n_chunks;
      if (rows == StageRows::Older && start + j == pos) continue;
      copy(cache, j, t % n_chunks);
    }
  }
  cp_async_commit();
}

template <typename T, int kHeads, typename Emit>
__device__ __forceinline__ void attend_split(const DecodeArgs& a, int count, const T* kv_s, const float* q_s,
                                             float* p_s, float* part_s, float* head_max, float* head_sum,
                                             Emit&& emit) {
  constexpr int kElems = 16 / sizeof(T);  // elements per 16-byte chunk
  const int d = a.head_dim, group = a.group, n_chunks = d / kElems;
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const T* k = kv_s;                         // staged rows: key j at k + j·d
  const T* v = kv_s + kSplitKeys * d;
  auto row_offset = [&](int j) { return int64_t(j) * d; };

  // 1. Scores: each warp takes two keys at a time, both loaded before either is used (decode is latency-bound).
  for (int j0 = warp; j0 < count; j0 += 2 * kDecodeWarps) {
    const int j1 = j0 + kDecodeWarps < count ? j0 + kDecodeWarps : j0;
    const T* keys[2] = {k + row_offset(j0), k + row_offset(j1)};
    float kf[2][2][kElems];
#pragma unroll
    for (int u = 0; u < 2; ++u)
#pragma unroll
      for (int c2 = 0; c2 < 2; ++c2) {
        const int c = lane + 32 * c2;
        if (c < n_chunks) {
          load_chunk(keys[u] + c * kElems, kf[u][c2]);
        } else {
#pragma unroll
          for (int e = 0; e < kElems; ++e) kf[u][c2][e] = 0.0f;
        }
      }
    for (int hh = 0; hh < group; ++hh) {
      float dot[2] = {0.0f, 0.0f};
#pragma unroll
      for (int u = 0; u < 2; ++u)
#pragma unroll
        for (int c2 = 0; c2 < 2; ++c2) {
          const int c = lane + 32 * c2;
          if (c < n_chunks) {
#pragma unroll
            for (int plane = 0; plane < kElems / 4; ++plane) {
              const float4 q4 = *reinterpret_cast<const float4*>(q_s + hh * d + plane * n_chunks * 4 + 4 * c);
              const float* kp = kf[u][c2] + 4 * plane;
              dot[u] += kp[0] * q4.x;
              dot[u] += kp[1] * q4.y;
              dot[u] += kp[2] * q4.z;
              dot[u] += kp[3] * q4.w;
            }
          }
        }
      dot[0] = warp_sum(dot[0]);
      dot[1] = warp_sum(dot[1]);
      if (lane == 0) {
        p_s[hh * kSplitKeys + j0] = score_of(dot[0], a.scale, a.softcap);
        if (j1 != j0) p_s[hh * kSplitKeys + j1] = score_of(dot[1], a.scale, a.softcap);
      }
    }
  }
  __syncthreads();

  // 2. Softmax within the split.
  for (int hh = warp; hh < group; hh += kDecodeWarps) {
    float* scores = p_s + hh * kSplitKeys;
    float m = kNegInf;
    for (int j = lane; j < count; j += 32) m = fmaxf(m, scores[j]);
    m = warp_max(m);  // finite: count ≥ 1 and scores are finite
    float sum = 0.0f;
    for (int j = lane; j < count; j += 32) {
      const float w = expf(scores[j] - m);
      scores[j] = w;
      sum += w;
    }
    sum = warp_sum(sum);
    if (lane == 0) head_max[hh] = m, head_sum[hh] = sum;
  }
  __syncthreads();

  // 3. Weighted sum of V.
  const int key_groups = kDecodeThreads / n_chunks;
  const int chunk = tid % n_chunks, key_group = tid / n_chunks;
  const bool active = key_group < key_groups;
  for (int h0 = 0; h0 < group; h0 += kHeads) {
    float acc[kHeads][kElems];
#pragma unroll
    for (int hh = 0; hh < kHeads; ++hh)
#pragma unroll
      for (int e = 0; e < kElems; ++e) acc[hh][e] = 0.0f;
    if (active) {
      // Two value rows in flight per step; keys are added in the same order as before (j, then j + key_groups).
      for (int j = key_group; j < count; j += 2 * key_groups) {
        const int j1 = j + key_groups;
        float vf[2][kElems];
        load_chunk(v + row_offset(j) + chunk * kElems, vf[0]);
        if (j1 < count) load_chunk(v + row_offset(j1) + chunk * kElems, vf[1]);
#pragma unroll
        for (int u = 0; u < 2; ++u) {
          if (u == 1 && j1 >= count) break;
#pragma unroll
          for (int hh = 0; hh < kHeads; ++hh) {
            if (h0 + hh >= group) break;
            const float w = p_s[(h0 + hh) * kSplitKeys + (u == 0 ? j : j1)];
#pragma unroll
            for (int e = 0; e < kElems; ++e) acc[hh][e] += w * vf[u][e];
          }
        }
      }
    }
#pragma unroll
    for (int hh = 0; hh < kHeads; ++hh) {
      if (h0 + hh >= group) break;  // uniform over the block, so the barriers below are safe
      if (active) {
#pragma unroll
        for (int e = 0; e < kElems; ++e) part_s[tid * kElems + e] = acc[hh][e];
      }
      __syncthreads();
      // Element i of the row is chunk i / kElems, entry i % kElems: key group kg left it at part_s[kg·d + i].
      for (int i = tid; i < d; i += kDecodeThreads) {
        float total = 0.0f;
        for (int kg = 0; kg < key_groups; ++kg) total += part_s[kg * d + i];
        emit(h0 + hh, i, total);
      }
      __syncthreads();
    }
  }
}

// Merges splits 0 .. active − 1 of `heads` heads: out = Σ_s O_s · e^(m_s − M) / Σ_s l_s · e^(m_s − M), the splits
// added in order (deterministic). Split s of head h is entry first + h·splits + s of the partial arrays, its output
// out[h·d .. h·d + d). The partials are read through L2 (__ldcg): other blocks of the same launch may have written
// them. Shared memory: weights [heads][chunk] (the splits merged per pass; a multiple of 32), acc [heads·d] (the sums
// between passes), head_max and inv_total [heads]. Each element keeps its thread over the passes.
template <typename T, int kThreads>
__device__ __forceinline__ void merge_splits(const float* partial_out, const float* partial_ml, int64_t first,
                                             int heads, int splits, int active, int d, T* out, float* weights,
                                             int chunk, float* acc, float* head_max, float* inv_total) {
  constexpr int kWarps = kThreads / 32;
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  auto ml_of = [&](int h, int s) { return partial_ml + 2 * (first + int64_t(h) * splits + s); };
  for (int h = warp; h < heads; h += kWarps) {
    float m = kNegInf;
    for (int s = lane; s < active; s += 32) m = fmaxf(m, __ldcg(ml_of(h, s)));
    m = warp_max(m);
    float total = 0.0f;
    for (int s = lane; s < active; s += 32) {
      const float w = expf(__ldcg(ml_of(h, s)) - m);
      if (s < chunk) weights[h * chunk + s] = w;
      total += w * __ldcg(ml_of(h, s) + 1);
    }
    total = warp_sum(total);
    if (lane == 0) head_max[h] = m, inv_total[h] = 1.0f / total;  // every split holds a key: total ≥ 1
  }
  for (int c0 = 0; c0 < active; c0 += chunk) {
    if (c0 > 0) {
      __syncthreads();  // every thread is done with the previous pass's weights
      for (int h = warp; h < heads; h += kWarps)
        for (int s = c0 + lane; s < active && s < c0 + chunk; s += 32)
          weights[h * chunk + s - c0] = expf(__ldcg(ml_of(h, s)) - head_max[h]);
    }
    __syncthreads();
    const int n = min(chunk, active - c0);
    const bool last_pass = c0 + chunk >= active;
    for (int idx = tid; idx < heads * d; idx += kThreads) {
      const int h = idx / d;
      const float* w = weights + h * chunk;
      const float* src = partial_out + (first + int64_t(h) * splits + c0) * d + (idx - h * d);
      float sum = c0 == 0 ? 0.0f : acc[idx];
#pragma unroll 4
      for (int s = 0; s < n; ++s) sum += w[s] * __ldcg(src + int64_t(s) * d);
      if (last_pass) out[idx] = from_float<T>(sum * inv_total[h]);
      else acc[idx] = sum;
    }
  }
}

}  // namespace glint::ops::cuda::decode_detail
