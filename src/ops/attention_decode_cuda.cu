// Decode attention on the GPU (one query per sequence) by flash decoding: the visible keys of each (kv head, batch
// row) are split over blocks and the partial results merged. attention_decode takes queries and cache rows that
// qkv_rope_cache_write prepared and runs two kernels (splits, then the merge); attention_decode_fused does the
// preparation, the splits and the merge in one launch.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstring>
#include <map>
#include <mutex>

#include "core/cuda_runtime.h"
#include "core/error.h"
#include "ops/attention_common.cuh"
#include "ops/attention_cuda.h"
#include "ops/cuda_common.cuh"
#include "ops/cuda_ops.h"

namespace glint::ops::cuda {
namespace {

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

__host__ __device__ __forceinline__ bool takes_weight(NormKind kind) {
  return kind == NormKind::Rms || kind == NormKind::RmsPlusOne;
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
size_t decode_smem_bytes(int group, int head_dim, int elems_per_chunk, bool fused) {
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

// kMinBlocks 2 caps the registers so that two blocks share an SM: faster with several rows (4B at batch 8–64: +6–12%)
// but slower for one (spills on the staging path: 7.7 → 8.5 µs at 128 keys), so the launch picks by batch.
template <typename T, int kHeads, int kMinBlocks>
__global__ void __launch_bounds__(kDecodeThreads, kMinBlocks) decode_split_kernel(const DecodeArgs a) {
  extern __shared__ __align__(16) float decode_smem[];
  __shared__ float head_max[kMaxDecodeGroup], head_sum[kMaxDecodeGroup];
  const int d = a.head_dim, group = a.group;
  T* kv_s = reinterpret_cast<T*>(decode_smem);  // [2][kSplitKeys][d]: the split's K and V rows
  float* q_s = decode_smem + decode_kv_stage_bytes(d, 16 / int(sizeof(T))) / sizeof(float);  // [group][d]
  float* p_s = q_s + group * d;              // [group][kSplitKeys]: scores, then weights
  float* part_s = p_s + group * kSplitKeys;  // [kDecodeThreads][16 / sizeof(T)]: per-thread sums of phase 3

  let_successor_start();
  const int kv_head = blockIdx.y, b = blockIdx.z, tid = threadIdx.x;
  // Positions and slots come from the host before the step, and no kernel of the step writes the cache rows before
  // pos: the block's first split of them is on its way while the kernels before this one still run.
  const int64_t pos = a.positions[b], slot = a.slots[b];
  const int64_t lowest = lowest_visible_key(a.mask, pos);
  if (lowest + int64_t(blockIdx.x) * kSplitKeys > pos) return;  // no split of this block holds a visible key
  const RowSplits row_splits{lowest, pos};
  const int first = blockIdx.x;
  stage_split<T>(a, kv_head, slot, row_splits.start(first), row_splits.count(first), pos, StageRows::Older, kv_s);
  wait_for_predecessor();
  stage_split<T>(a, kv_head, slot, row_splits.start(first), row_splits.count(first), pos, StageRows::Newest, kv_s);
  const int first_head = kv_head * group;
  const T* q = static_cast<const T*>(a.q) + (int64_t(b) * a.n_heads + first_head) * d;  // the group's heads
  for (int i = tid; i < group * d; i += kDecodeThreads)
    q_s[i / d * d + q_index(i % d, d, 16 / int(sizeof(T)))] = to_float(q[i]);

  // Splits past the row's last key hold nothing and are skipped (the combine reads only the splits that hold keys).
  for (int split = first; split < a.splits && row_splits.start(split) <= pos; split += gridDim.x) {
    const int64_t start = row_splits.start(split);
    const int count = row_splits.count(split);
    if (split != first) stage_split<T>(a, kv_head, slot, start, count, pos, StageRows::All, kv_s);
    cp_async_wait<0>();
    __syncthreads();  // the staged rows (and, the first time, the queries) are in
    // Index of (b, head first_head + hh, split) in the partial arrays.
    auto partial_index = [&](int hh) { return (int64_t(b) * a.n_heads + first_head + hh) * a.splits + split; };
    attend_split<T, kHeads>(a, count, kv_s, q_s, p_s, part_s, head_max, head_sum,
                            [&](int hh, int i, float o) { a.partial_out[partial_index(hh) * d + i] = o; });
    if (tid < group) {
      a.partial_ml[2 * partial_index(tid)] = head_max[tid];
      a.partial_ml[2 * partial_index(tid) + 1] = head_sum[tid];
    }
    __syncthreads();  // the next split reuses p_s, part_s, head_max and head_sum
  }
}

// Merges the splits of one (head, batch row) that hold keys; the splits past the row's position were never written
// and are not read.
template <typename T>
__global__ void __launch_bounds__(kCombineThreads)
    decode_combine_kernel(const float* partial_out, const float* partial_ml, const int32_t* positions,
                          MaskParams mask, int splits, int n_heads, int head_dim, T* out) {
  __shared__ float weights[kCombineChunk], acc[kMaxHeadDim], head_max, inv_total;
  let_successor_start();
  wait_for_predecessor();
  const int64_t row_head = int64_t(blockIdx.y) * n_heads + blockIdx.x;
  const int active = active_splits(mask, positions[blockIdx.y], splits);
  merge_splits<T, kCombineThreads>(partial_out, partial_ml, row_head * splits, 1, splits, active, head_dim,
                                   out + row_head * head_dim, weights, kCombineChunk, acc, &head_max, &inv_total);
}

// ---------------------------------------------------------------------------------------------------------------
// The fused kernel. Each working block first prepares, from the projected row qkv[b], the `group` queries of its kv
// head as qkv_kernel (rope_cuda.cu) does (norm, RoPE, rounding to T) into shared memory. The block whose splits
// include the row's last one (the one holding key pos) also prepares the new K and V rows and writes them to the
// cache before its splits, fenced GPU-wide (the block stages the row again through L2 with cp.async), no other block
// reads row pos, and the key the row held before (pos − capacity) is visible to no query at pos, so the write races
// with no read. When the
// row has one split its block writes the output itself; otherwise every working block writes partials and counts
// itself in counters[b · n_kv_heads + kv_head], and the last to arrive merges the splits and puts the counter back
// to 0.
struct FusedDecodeArgs {
  DecodeArgs attn;
  QkvLayout layout;
  const float* qkv = nullptr;  // [batch, (n_heads + 2·n_kv_heads)·head_dim]
  const float* q_norm_weight = nullptr;
  const float* k_norm_weight = nullptr;
  void* k_cache = nullptr;  // attn.k and attn.v, written at the new rows
  void* v_cache = nullptr;
  void* out = nullptr;
  unsigned* counters = nullptr;
};

// Two blocks an SM where the registers allow it without more than a few spills (as the split kernel for up to two
// heads a kv head): the grid is one wave of resident blocks, most of them with no key to read at short contexts.
template <typename T, int kHeads>
__global__ void __launch_bounds__(kDecodeThreads, kHeads <= 2 ? 2 : 1) fused_decode_kernel(const FusedDecodeArgs f) {
  constexpr int kElems = 16 / sizeof(T);
  constexpr int kPerLane = kMaxHeadDim / 32;
  extern __shared__ __align__(16) float decode_smem[];
  __shared__ float head_max[kMaxDecodeGroup], head_sum[kMaxDecodeGroup];
  __shared__ bool merges;
  const DecodeArgs& a = f.attn;
  const QkvLayout& L = f.layout;
  const int d = a.head_dim, group = a.group, half = d / 2, per_lane = d / 32;
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  T* kv_s = reinterpret_cast<T*>(decode_smem);      // [2][kSplitKeys][d]: the split's K and V rows
  float* q_s = decode_smem + decode_kv_stage_bytes(d, kElems) / sizeof(float);  // [group][d]
  float* p_s = q_s + group * d;                     // [group][kSplitKeys]
  float* part_s = p_s + group * kSplitKeys;         // [kDecodeThreads][kElems]
  float* new_k = part_s + kDecodeThreads * kElems;  // [d]
  float* new_v = new_k + d;                         // [d]
  // The preparation's constants borrow part_s, which attend_split first uses after them.
  float* q_weight_s = part_s;           // [d]
  float* k_weight_s = q_weight_s + d;   // [d]
  float* inv_freq_s = k_weight_s + d;   // [d / 2]
  float* rope_cos = inv_freq_s + half;  // [d / 2]: cos · rope_factor at pos
  float* rope_sin = rope_cos + half;    // [d / 2]
  const bool rope = L.inv_freq != nullptr;

  let_successor_start();
  // Before the predecessor has finished, only what no kernel of the chain writes: norm weights, RoPE frequencies,
  // positions and slots (from the host), and the cache rows before pos of the block's first split (as in the split
  // kernel).
  for (int i = tid; i < d; i += kDecodeThreads) {
    if (takes_weight(L.q_norm)) q_weight_s[i] = f.q_norm_weight[i];
    if (takes_weight(L.k_norm)) k_weight_s[i] = f.k_norm_weight[i];
    if (rope && i < half) inv_freq_s[i] = L.inv_freq[i];
  }
  const int kv_head = blockIdx.y, b = blockIdx.z;
  const int64_t pos = a.positions[b], slot = a.slots[b];
  const int64_t lowest = lowest_visible_key(a.mask, pos);
  const int active = active_splits(a.mask, pos, a.splits);
  if (int(blockIdx.x) >= active) return;  // holds no key: no part in the merge either (see `working` below)
  const RowSplits row_splits{lowest, pos};
  const int first = blockIdx.x;
  stage_split<T>(a, kv_head, slot, row_splits.start(first), row_splits.count(first), pos, StageRows::Older, kv_s);
  wait_for_predecessor();
  const bool writes_row = (active - 1) % int(gridDim.x) == int(blockIdx.x);
  const int first_head = kv_head * group;
  __syncthreads();  // the constants are in shared memory

  if (rope) {
    for (int k = tid; k < half; k += kDecodeThreads) {
      float s, c;
      sincosf(float(pos) * inv_freq_s[k], &s, &c);
      rope_cos[k] = c * L.rope_factor;
      rope_sin[k] = s * L.rope_factor;
    }
  }
  // Vector `vec` of the preparation: query head first_head + vec for vec < group, then the new key and value rows. A
  // warp per vector, lane l holding elements l + 32·e: the element of thread 32·e + l in qkv_kernel, so that the sums
  // of squares below add in its order (over the lanes per 32 elements, then over those sums).
  const int vectors = group + (writes_row ? 2 : 0);
  const float* qkv_row = f.qkv + int64_t(b) * (L.n_heads + 2 * L.n_kv_heads) * d;
  auto vector_row = [&](int vec) { return vec < group ? q_s + vec * d : vec == group ? new_k : new_v; };
  for (int vec = warp; vec < vectors; vec += kDecodeWarps) {
    const bool is_q = vec < group, is_k = vec == group;
    const int column = is_q ? first_head + vec : is_k ? L.n_heads + kv_head : L.n_heads + L.n_kv_heads + kv_head;
    const float* src = qkv_row + int64_t(column) * d;
    float x[kPerLane];
#pragma unroll
    for (int e = 0; e < kPerLane; ++e) x[e] = e < per_lane ? src[lane + 32 * e] : 0.0f;
    const NormKind kind = is_q ? L.q_norm : is_k ? L.k_norm : L.v_norm ? NormKind::RmsNoWeight : NormKind::None;
    if (kind != NormKind::None) {
      float sums = 0.0f;  // lane e: the sum of squares of elements 32·e ..< 32·e + 32
#pragma unroll
      for (int e = 0; e < kPerLane; ++e) {
        if (e >= per_lane) break;
        const float square = x[e] * x[e];
        const float sum = warp_sum(square);
        if (lane == e) sums = sum;
      }
      const float inv = rsqrtf(warp_sum(sums) / float(d) + L.eps);
      const float* w = is_q ? q_weight_s : k_weight_s;
#pragma unroll
      for (int e = 0; e < kPerLane; ++e) {
        if (e >= per_lane) break;
        const int i = lane + 32 * e;
        x[e] *= inv;
        if (kind == NormKind::Rms) x[e] *= w[i];
        else if (kind == NormKind::RmsPlusOne) x[e] *= 1.0f + w[i];
      }
    }
    float* row = vector_row(vec);
#pragma unroll
    for (int e = 0; e < kPerLane; ++e)
      if (e < per_lane) row[lane + 32 * e] = x[e];
  }
  __syncthreads();  // the normed vectors and the RoPE table are complete

  for (int vec = warp; vec < vectors; vec += kDecodeWarps) {
    float* head = vector_row(vec);
    const bool rotates = rope && vec <= group;
    float x[kPerLane];
#pragma unroll
    for (int e = 0; e < kPerLane; ++e) {
      if (e >= per_lane) break;
      const int i = lane + 32 * e;
      x[e] = head[i];
      if (!rotates) continue;
      if (L.rope_style == RopeStyle::RotateHalf) {
        const int k = i < half ? i : i - half;
        const float c = rope_cos[k], s = rope_sin[k];
        x[e] = i < half ? head[i] * c - head[i + half] * s : head[i] * c + head[i - half] * s;
      } else {
        const int k = i / 2;
        const float c = rope_cos[k], s = rope_sin[k];
        const float even = head[2 * k], odd = head[2 * k + 1];
        x[e] = (i % 2 == 0) ? even * c - odd * s : even * s + odd * c;
      }
    }
    __syncwarp();  // every lane has read its partners before any is overwritten
    T* cache = static_cast<T*>(vec == group ? f.k_cache : f.v_cache);
    const int64_t cache_row = ((slot * a.mask.capacity + pos % a.mask.capacity) * a.n_kv_heads + kv_head) * d;
#pragma unroll
    for (int e = 0; e < kPerLane; ++e) {
      if (e >= per_lane) break;
      const int i = lane + 32 * e;
      const T rounded = from_float<T>(x[e]);
      if (vec < group) head[q_index(i, d, 16 / int(sizeof(T)))] = to_float(rounded);  // as the separate path
      else cache[cache_row + i] = rounded;
    }
  }
  if (writes_row) __threadfence();  // the new rows reach L2, where stage_split reads them
  __syncthreads();  // the queries, and the new cache row for this block's own reads

  const bool single_split = active == 1;
  // The output of head first_head + hh (not held in registers through the splits: that costs spills).
  auto output = [&](int hh) { return static_cast<T*>(f.out) + (int64_t(b) * a.n_heads + first_head + hh) * d; };
  // The newest row (written just above, by this block when it holds key pos) completes the first split.
  stage_split<T>(a, kv_head, slot, row_splits.start(first), row_splits.count(first), pos, StageRows::Newest, kv_s);
  for (int split = first; split < a.splits && row_splits.start(split) <= pos; split += gridDim.x) {
    const int64_t start = row_splits.start(split);
    const int count = row_splits.count(split);
    if (split != first) stage_split<T>(a, kv_head, slot, start, count, pos, StageRows::All, kv_s);
    cp_async_wait<0>();
    __syncthreads();
    auto partial_index = [&](int hh) { return (int64_t(b) * a.n_heads + first_head + hh) * a.splits + split; };
    attend_split<T, kHeads>(a, count, kv_s, q_s, p_s, part_s, head_max, head_sum,
                            [&](int hh, int i, float o) {
                              // One split: the merge would give o · (1 / l), so that is written at once.
                              if (single_split) output(hh)[i] = from_float<T>(o * (1.0f / head_sum[hh]));
                              else a.partial_out[partial_index(hh) * d + i] = o;
                            });
    if (!single_split && tid < group) {
      a.partial_ml[2 * partial_index(tid)] = head_max[tid];
      a.partial_ml[2 * partial_index(tid) + 1] = head_sum[tid];
    }
    __syncthreads();
  }
  if (single_split) return;  // no block of this (kv head, row) touches the counter

  // Blocks 0 .. working − 1 hold keys; each knows `working` from pos, so the last arrival is known exactly.
  // The arrival as cooperative groups' grid sync does it: the barrier, then one thread's fence (cumulative over the
  // block's writes) before the count.
  const int working = min(active_splits(a.mask, pos, a.splits), int(gridDim.x));
  __syncthreads();
  if (tid == 0) {
    unsigned* counter = f.counters + int64_t(b) * a.n_kv_heads + kv_head;
    __threadfence();  // this block's partials are visible GPU-wide before the counter says it has arrived
    merges = atomicAdd(counter, 1u) + 1 == unsigned(working);
    if (merges) {
      atomicExch(counter, 0u);  // all have arrived: the next launch (or graph replay) starts from 0
      __threadfence();          // and the partials they wrote are seen from here on
    }
  }
  __syncthreads();
  if (!merges) return;
  // The queries and the V sums are done with: q_s holds the running sums, part_s the weights.
  const int chunk = kDecodeThreads * kElems / group / 32 * 32;
  merge_splits<T, kDecodeThreads>(a.partial_out, a.partial_ml, (int64_t(b) * a.n_heads + first_head) * a.splits,
                                  group, a.splits, active_splits(a.mask, pos, a.splits), d, output(0), part_s, chunk,
                                  q_s, head_max, head_sum);
}

// ---------------------------------------------------------------------------------------------------------------
// Host side.

int64_t decode_splits(const AttentionShape& s, int64_t capacity) {
  const int64_t max_visible = s.mask == MaskKind::Causal ? capacity : std::min(capacity, s.window);
  return (max_visible + kSplitKeys - 1) / kSplitKeys;
}

// SMs of the current device (cached per device).
int sm_count() {
  static int counts[64] = {};
  int device = 0;
  GLINT_CUDA_CHECK(cudaGetDevice(&device));
  int& count = counts[device & 63];
  if (count == 0) GLINT_CUDA_CHECK(cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, device));
  return count;
}

// Lets `kernel` take `shared` bytes of dynamic shared memory (past the default 48 KiB: the staged K/V rows).
void allow_shared(const void* kernel, size_t shared) {
  static std::mutex mutex;
  static std::map<const void*, size_t> allowed;
  std::lock_guard<std::mutex> lock(mutex);
  size_t& bytes = allowed[kernel];
  if (shared <= bytes || shared <= 48 * 1024) return;
  GLINT_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(shared)));
  bytes = shared;
}

// Blocks of `kernel` (kDecodeThreads threads, `shared` bytes) resident on one SM, asked once per kernel and size.
int resident_blocks(const void* kernel, size_t shared) {
  static std::mutex mutex;
  static std::map<std::pair<const void*, size_t>, int> known;
  std::lock_guard<std::mutex> lock(mutex);
  int& blocks = known[{kernel, shared}];
  if (blocks == 0) {
    GLINT_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&blocks, kernel, kDecodeThreads, shared));
    GLINT_CHECK(blocks > 0, "attention_decode: no block fits an SM with ", shared, " bytes of shared memory");
  }
  return blocks;
}

// As many blocks per (kv head, row) as fit on the GPU at once (at least 4), each looping over its splits. The
// launch cannot depend on the position, so at short contexts most blocks hold no key and leave at once; a grid
// larger than one wave made the blocks with keys of later kv heads wait for those empty ones to drain (the fused
// kernel, one block an SM, lost ~2 µs a layer to four waves), and one block per split of the capacity made empty
// blocks cost more than the attention (5 µs a layer at capacity 8192).
template <typename Kernel>
dim3 decode_grid(const DecodeArgs& a, int batch, Kernel kernel, size_t shared) {
  const int64_t resident = int64_t(resident_blocks(reinterpret_cast<const void*>(kernel), shared)) * sm_count();
  const int64_t rows = int64_t(a.n_kv_heads) * batch;
  const int64_t per_row = std::max<int64_t>(4, (resident + rows - 1) / rows);
  return dim3(unsigned(std::min<int64_t>(a.splits, per_row)), unsigned(a.n_kv_heads), unsigned(batch));
}

// The checks and arguments both decode entry points share.
DecodeArgs decode_args(const AttentionShape& shape, int batch, const int32_t* slots, const int32_t* positions,
                       const CacheView& cache, void* workspace, const char* op) {
  const int group = shape.n_heads / shape.n_kv_heads;
  GLINT_CHECK(group <= kMaxDecodeGroup, op, ": ", group, " query heads per kv head (at most ", kMaxDecodeGroup,
              " are supported)");
  const int64_t splits = decode_splits(shape, cache.capacity);
  GLINT_CHECK(splits <= INT_MAX, op, ": capacity ", cache.capacity, " needs ", splits, " splits, too many");
  GLINT_CHECK(workspace != nullptr, op, ": workspace is null (decode_workspace_bytes)");
  DecodeArgs a;
  a.k = cache.k;
  a.v = cache.v;
  a.positions = positions;
  a.slots = slots;
  a.partial_out = static_cast<float*>(workspace);
  a.partial_ml = a.partial_out + size_t(batch) * shape.n_heads * size_t(splits) * shape.head_dim;
  a.n_heads = shape.n_heads;
  a.n_kv_heads = shape.n_kv_heads;
  a.head_dim = shape.head_dim;
  a.group = group;
  a.splits = int(splits);
  a.scale = shape.scale;
  a.softcap = shape.softcap;
  a.mask = attn_detail::mask_params(shape, cache.capacity);
  return a;
}

// The kernel instance for the group size: up to kHeads heads' sums of V in registers at a time.
template <template <typename, int> class Kernel, typename T>
auto by_group(int group) {
  return group == 1   ? Kernel<T, 1>::function
         : group == 2 ? Kernel<T, 2>::function
         : group <= 4 ? Kernel<T, 4>::function
                      : Kernel<T, 8>::function;
}
template <typename T, int kHeads>
struct SplitKernel {
  static constexpr auto function = decode_split_kernel<T, kHeads, 1>;
};
template <typename T, int kHeads>
struct SplitKernelTwoPerSm {
  static constexpr auto function = decode_split_kernel<T, kHeads, kHeads <= 2 ? 2 : 1>;
};
template <typename T, int kHeads>
struct FusedKernel {
  static constexpr auto function = fused_decode_kernel<T, kHeads>;
};

template <typename T>
void launch_decode(const DecodeArgs& a, int batch, void* out, cudaStream_t stream) {
  const auto kernel = batch >= 2 ? by_group<SplitKernelTwoPerSm, T>(a.group) : by_group<SplitKernel, T>(a.group);
  const size_t shared = decode_smem_bytes(a.group, a.head_dim, 16 / sizeof(T), false);
  allow_shared(reinterpret_cast<const void*>(kernel), shared);
  launch_chained(kernel, decode_grid(a, batch, kernel, shared), kDecodeThreads, shared, stream, a);
  launch_chained(decode_combine_kernel<T>, dim3(unsigned(a.n_heads), unsigned(batch)), kCombineThreads, 0, stream,
                 a.partial_out, a.partial_ml, a.positions, a.mask, a.splits, a.n_heads, a.head_dim,
                 static_cast<T*>(out));
}

template <typename T>
void launch_fused_decode(const FusedDecodeArgs& f, int batch, cudaStream_t stream) {
  const DecodeArgs& a = f.attn;
  const auto kernel = by_group<FusedKernel, T>(a.group);
  const size_t shared = decode_smem_bytes(a.group, a.head_dim, 16 / sizeof(T), true);
  allow_shared(reinterpret_cast<const void*>(kernel), shared);
  launch_chained(kernel, decode_grid(a, batch, kernel, shared), kDecodeThreads, shared, stream, f);
}

}  // namespace

size_t decode_workspace_bytes(const AttentionShape& shape, int batch, int64_t capacity) {
  const int64_t splits = decode_splits(shape, capacity);
  return sizeof(float) * size_t(batch) * size_t(shape.n_heads) * size_t(splits) * size_t(shape.head_dim + 2);
}

size_t decode_counter_count(const AttentionShape& shape, int batch) {
  return size_t(std::max(batch, 0)) * size_t(std::max(shape.n_kv_heads, 0));
}

void attention_decode(const AttentionShape& shape, const void* q, int batch, const int32_t* slots,
                      const int32_t* positions, const CacheView& cache, void* out, void* workspace,
                      cudaStream_t stream) {
  attn_detail::check_shape(shape, cache, "attention_decode");
  GLINT_CHECK(batch >= 0 && batch <= 65535, "attention_decode: batch ", batch, " is out of range (0..65535)");
  if (batch == 0) return;
  GLINT_CHECK(q != nullptr && out != nullptr && attn_detail::aligned16(q) && attn_detail::aligned16(out),
              "attention_decode: q and out must be non-null and 16-byte aligned");
  GLINT_CHECK(slots != nullptr && positions != nullptr, "attention_decode: slots and positions are null");

  if (attn_detail::simple_path_requested()) {
    attn_detail::SimpleArgs a = attn_detail::simple_args(shape, cache, q, out, batch);
    a.positions = positions;
    a.slots = slots;
    attn_detail::launch_simple(a, shape.dtype, stream);
    return;
  }
  DecodeArgs a = decode_args(shape, batch, slots, positions, cache, workspace, "attention_decode");
  a.q = q;
  if (shape.dtype == DType::BF16)
    launch_decode<bf16>(a, batch, out, stream);
  else
    launch_decode<float>(a, batch, out, stream);
}

void attention_decode_fused(const AttentionShape& shape, const QkvLayout& layout, const float* qkv,
                            const float* q_norm_weight, const float* k_norm_weight, int batch,
                            const int32_t* slots, const int32_t* positions, void* k_cache, void* v_cache,
                            int64_t capacity, void* out, void* workspace, unsigned* counters, cudaStream_t stream) {
  const char* op = "attention_decode_fused";
  const CacheView cache{k_cache, v_cache, capacity};
  attn_detail::check_shape(shape, cache, op);
  GLINT_CHECK(layout.n_heads == shape.n_heads && layout.n_kv_heads == shape.n_kv_heads &&
                  layout.head_dim == shape.head_dim,
              op, ": the qkv layout (", layout.n_heads, " heads, ", layout.n_kv_heads, " kv heads, head_dim ",
              layout.head_dim, ") differs from the attention shape (", shape.n_heads, ", ", shape.n_kv_heads, ", ",
              shape.head_dim, ")");
  GLINT_CHECK(shape.head_dim % 32 == 0, op, ": head_dim ", shape.head_dim,
              " is not supported (a multiple of 32, at most ", kMaxHeadDim,
              "); use qkv_rope_cache_write and attention_decode");
  GLINT_CHECK(batch >= 0 && batch <= 65535, op, ": batch ", batch, " is out of range (0..65535)");
  if (batch == 0) return;
  GLINT_CHECK(qkv != nullptr && out != nullptr && attn_detail::aligned16(out), op,
              ": qkv and out must be non-null, out 16-byte aligned");
  GLINT_CHECK(slots != nullptr && positions != nullptr, op, ": slots and positions are null");
  GLINT_CHECK(!takes_weight(layout.q_norm) || q_norm_weight != nullptr, op, ": q norm weight missing");
  GLINT_CHECK(!takes_weight(layout.k_norm) || k_norm_weight != nullptr, op, ": k norm weight missing");
  GLINT_CHECK(workspace != nullptr, op, ": workspace is null (decode_workspace_bytes)");

  if (attn_detail::simple_path_requested()) {
    // The separate preparation, its queries in the workspace (decode_workspace_bytes covers batch · n_heads ·
    // head_dim floats), then the simple kernel, which needs no workspace.
    qkv_rope_cache_write(layout, qkv, batch, positions, slots, q_norm_weight, k_norm_weight, true, workspace,
                         k_cache, v_cache, capacity, shape.dtype, stream);
    attention_decode(shape, workspace, batch, slots, positions, cache, out, nullptr, stream);
    return;
  }
  GLINT_CHECK(counters != nullptr, op, ": counters are null (decode_counter_count entries, zeroed once)");
  FusedDecodeArgs f;
  f.attn = decode_args(shape, batch, slots, positions, cache, workspace, op);
  f.layout = layout;
  f.qkv = qkv;
  f.q_norm_weight = q_norm_weight;
  f.k_norm_weight = k_norm_weight;
  f.k_cache = k_cache;
  f.v_cache = v_cache;
  f.out = out;
  f.counters = counters;
  if (shape.dtype == DType::BF16)
    launch_fused_decode<bf16>(f, batch, stream);
  else
    launch_fused_decode<float>(f, batch, stream);
}

}  // namespace glint::ops::cuda
