// Attention on the GPU against the device KV cache: prefill (flash attention; tensor cores for BF16) and decode
// (flash decoding: keys split over blocks, partials combined). A plain one-warp-per-query kernel serves F32
// prefill, head dims the tensor-core kernel does not cover, and GLINT_CUDA_SIMPLE_ATTENTION=1 (to bisect a wrong
// result on a device).
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "core/cuda_runtime.h"
#include "core/error.h"
#include "ops/attention_cuda.h"
#include "ops/attention_prefill_mma.cuh"

namespace glint::ops::cuda {
namespace {

using attn_detail::kNegInf;
using attn_detail::lowest_visible_key;
using attn_detail::MaskParams;
using attn_detail::score_of;

constexpr int kMaxHeadDim = 256;
constexpr int kSplitKeys = 32;  // keys per decode block (short serial loops: decode is latency-bound)
// 16 warps: every key of a split is loaded in one round trip, in the scores (two keys a warp) and in the weighted
// sum of V (two keys a thread for BF16 up to head_dim 256). With 4 warps each took four dependent round trips,
// 13 µs a layer on an H200.
constexpr int kDecodeThreads = 512;
constexpr int kMaxDecodeGroup = 16;  // query heads per kv head a decode block holds
constexpr int kCombineThreads = 128;

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

MaskParams mask_params(const AttentionShape& s, int64_t capacity) {
  MaskParams m;
  m.kind = s.mask;
  m.window = s.window;
  m.capacity = capacity;
  return m;
}

// ---------------------------------------------------------------------------------------------------------------
// The simple kernel: one warp per (query, head), keys one at a time with an online softmax. Lane l holds elements
// l, l + 32, … of the query and the accumulator. Query i sits at positions[i] in slots[i] when those (device)
// arrays are given, else at first_position + i in `slot`.
struct SimpleArgs {
  const void* q = nullptr;
  const void* k = nullptr;
  const void* v = nullptr;
  void* out = nullptr;
  int64_t queries = 0;
  int64_t first_position = 0;
  int64_t slot = 0;
  const int32_t* positions = nullptr;
  const int32_t* slots = nullptr;
  int n_heads = 0, n_kv_heads = 0, head_dim = 0;
  float scale = 1.0f, softcap = 0.0f;
  MaskParams mask;
};

// The fields the simple kernel's prefill and decode launches share; the caller adds positions or slots.
SimpleArgs simple_args(const AttentionShape& shape, const CacheView& cache, const void* q, void* out,
                       int64_t queries) {
  SimpleArgs a;
  a.q = q;
  a.k = cache.k;
  a.v = cache.v;
  a.out = out;
  a.queries = queries;
  a.n_heads = shape.n_heads;
  a.n_kv_heads = shape.n_kv_heads;
  a.head_dim = shape.head_dim;
  a.scale = shape.scale;
  a.softcap = shape.softcap;
  a.mask = mask_params(shape, cache.capacity);
  return a;
}

constexpr int kSimpleWarps = 4;

template <typename T>
__global__ void __launch_bounds__(kSimpleWarps * 32) simple_attention_kernel(const SimpleArgs a) {
  constexpr int kPerLane = kMaxHeadDim / 32;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t i = int64_t(blockIdx.x) * kSimpleWarps + warp;
  if (i >= a.queries) return;  // whole warps leave; the kernel has no block barrier
  const int head = blockIdx.y, kv_head = head / (a.n_heads / a.n_kv_heads), d = a.head_dim;
  const int64_t q_pos = a.positions ? int64_t(a.positions[i]) : a.first_position + i;
  const int64_t slot = a.slots ? int64_t(a.slots[i]) : a.slot;
  const T* q = static_cast<const T*>(a.q) + (i * a.n_heads + head) * d;
  const T* k = static_cast<const T*>(a.k);
  const T* v = static_cast<const T*>(a.v);

  float qr[kPerLane], acc[kPerLane];
#pragma unroll
  for (int e = 0; e < kPerLane; ++e) {
    const int j = lane + 32 * e;
    qr[e] = j < d ? to_float(q[j]) : 0.0f;
    acc[e] = 0.0f;
  }
  float running_max = kNegInf, sum = 0.0f;
  for (int64_t key = lowest_visible_key(a.mask, q_pos); key <= q_pos; ++key) {
    const int64_t row = ((slot * a.mask.capacity + key % a.mask.capacity) * a.n_kv_heads + kv_head) * d;
    float dot = 0.0f;
#pragma unroll
    for (int e = 0; e < kPerLane; ++e) {
      const int j = lane + 32 * e;
      if (j < d) dot += qr[e] * to_float(k[row + j]);
    }
    const float s = score_of(warp_sum(dot), a.scale, a.softcap);  // finite, so new_max is too
    const float new_max = fmaxf(running_max, s);
    const float correction = expf(running_max - new_max), weight = expf(s - new_max);
    sum = sum * correction + weight;
#pragma unroll
    for (int e = 0; e < kPerLane; ++e) {
      const int j = lane + 32 * e;
      if (j < d) acc[e] = acc[e] * correction + weight * to_float(v[row + j]);
    }
    running_max = new_max;
  }
  const float inv = sum > 0.0f ? 1.0f / sum : 0.0f;  // no visible key: zeros
  T* o = static_cast<T*>(a.out) + (i * a.n_heads + head) * d;
#pragma unroll
  for (int e = 0; e < kPerLane; ++e) {
    const int j = lane + 32 * e;
    if (j < d) o[j] = from_float<T>(acc[e] * inv);
  }
}

void launch_simple(const SimpleArgs& a, DType dtype, cudaStream_t stream) {
  const dim3 grid(unsigned((a.queries + kSimpleWarps - 1) / kSimpleWarps), unsigned(a.n_heads));
  if (dtype == DType::BF16)
    simple_attention_kernel<bf16><<<grid, kSimpleWarps * 32, 0, stream>>>(a);
  else
    simple_attention_kernel<float><<<grid, kSimpleWarps * 32, 0, stream>>>(a);
  GLINT_CUDA_LAUNCHED();
}

// ---------------------------------------------------------------------------------------------------------------
// Flash decoding. Split s of a (kv head, batch row) is keys lowest + s·kSplitKeys … (at most kSplitKeys) of the
// row; block (x, kv head, row) takes splits x, x + gridDim.x, … that hold keys, for all `group` query heads of the
// kv head, so each K/V row is read once:
//   1. scores: a warp per key, each lane a 16-byte chunk (two for F32 at head dim > 128), dot products with the
//      queries (in shared memory) reduced over the warp;
//   2. softmax of the split per head (a warp per head): max m, weights exp(s − m), sum l;
//   3. O = Σ weights · V: a thread per (16-byte chunk, key subset), up to kHeads heads at once in registers;
//      the key subsets are added in a fixed order (deterministic).
// The unnormalised O, m and l go to the workspace; the combine kernel merges the splits.
struct DecodeArgs {
  const void* q = nullptr;
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

size_t decode_smem_bytes(int group, int head_dim, int elems_per_chunk) {
  return sizeof(float) * (size_t(group) * head_dim + size_t(group) * kSplitKeys + kDecodeThreads * elems_per_chunk);
}

template <typename T, int kHeads>
__global__ void __launch_bounds__(kDecodeThreads) decode_split_kernel(const DecodeArgs a) {
  constexpr int kElems = 16 / sizeof(T);  // elements per 16-byte chunk
  constexpr int kWarps = kDecodeThreads / 32;
  extern __shared__ __align__(16) float decode_smem[];
  __shared__ float head_max[kMaxDecodeGroup], head_sum[kMaxDecodeGroup];
  const int d = a.head_dim, group = a.group;
  float* q_s = decode_smem;                       // [group][d]
  float* p_s = q_s + group * d;                   // [group][kSplitKeys]: scores, then weights
  float* part_s = p_s + group * kSplitKeys;       // [kDecodeThreads][kElems]: per-thread sums of phase 3

  let_successor_start();
  wait_for_predecessor();
  const int kv_head = blockIdx.y, b = blockIdx.z;
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int64_t pos = a.positions[b], slot = a.slots[b];
  const int64_t lowest = lowest_visible_key(a.mask, pos);
  if (lowest + int64_t(blockIdx.x) * kSplitKeys > pos) return;  // no split of this block holds a visible key
  const int first_head = kv_head * group;
  const int n_chunks = d / kElems;
  const T* q = static_cast<const T*>(a.q) + (int64_t(b) * a.n_heads + first_head) * d;  // the group's heads
  const T* k = static_cast<const T*>(a.k);
  const T* v = static_cast<const T*>(a.v);
  const int64_t slot_row0 = slot * a.mask.capacity;

  for (int i = tid; i < group * d; i += kDecodeThreads) q_s[i] = to_float(q[i]);
  __syncthreads();

  // Block x takes splits x, x + gridDim.x, …; splits past the row's last key hold nothing and are skipped (the
  // combine reads only the splits that hold keys).
  for (int split = blockIdx.x; split < a.splits && lowest + int64_t(split) * kSplitKeys <= pos;
       split += gridDim.x) {
    const int64_t start = lowest + int64_t(split) * kSplitKeys;
    const int64_t end = start + kSplitKeys < pos + 1 ? start + kSplitKeys : pos + 1;
    // Index of (b, head first_head + hh, split) in the partial arrays.
    auto partial_index = [&](int hh) { return (int64_t(b) * a.n_heads + first_head + hh) * a.splits + split; };
    const int count = int(end - start);
    auto row_offset = [&](int j) {
      return ((slot_row0 + (start + j) % a.mask.capacity) * a.n_kv_heads + kv_head) * int64_t(d);
    };

    // 1. Scores: each warp takes two keys at a time, both loaded before either is used (decode is latency-bound).
    for (int j0 = warp; j0 < count; j0 += 2 * kWarps) {
      const int j1 = j0 + kWarps < count ? j0 + kWarps : j0;
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
              for (int e = 0; e < kElems; ++e) dot[u] += kf[u][c2][e] * q_s[hh * d + c * kElems + e];
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
    for (int hh = warp; hh < group; hh += kWarps) {
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
        float* dst = a.partial_out + partial_index(h0 + hh) * d;
        for (int i = tid; i < d; i += kDecodeThreads) {
          float total = 0.0f;
          for (int kg = 0; kg < key_groups; ++kg) total += part_s[kg * d + i];
          dst[i] = total;
        }
        __syncthreads();
      }
    }
    if (tid < group) {
      a.partial_ml[2 * partial_index(tid)] = head_max[tid];
      a.partial_ml[2 * partial_index(tid) + 1] = head_sum[tid];
    }
    __syncthreads();  // the next split reuses p_s, part_s, head_max and head_sum
  }
}

// Merges the splits of one (head, batch row) that hold keys: out = Σ_s O_s · e^(m_s − M) / Σ_s l_s · e^(m_s − M).
// The splits past the row's position were never written and are not read.
template <typename T>
__global__ void __launch_bounds__(kCombineThreads)
    decode_combine_kernel(const float* partial_out, const float* partial_ml, const int32_t* positions,
                          MaskParams mask, int splits, int n_heads, int head_dim, T* out) {
  extern __shared__ float split_weight[];  // [splits]
  __shared__ float inv_total;
  let_successor_start();
  wait_for_predecessor();
  const int head = blockIdx.x, b = blockIdx.y;
  const int64_t base = (int64_t(b) * n_heads + head) * splits;
  const int64_t pos = positions[b];
  const int active = min(splits, int((pos - lowest_visible_key(mask, pos)) / kSplitKeys + 1));
  if (threadIdx.x < 32) {
    const int lane = threadIdx.x;
    float m = kNegInf;
    for (int s = lane; s < active; s += 32) m = fmaxf(m, partial_ml[2 * (base + s)]);
    m = warp_max(m);
    float total = 0.0f;
    for (int s = lane; s < active; s += 32) {
      const float w = expf(partial_ml[2 * (base + s)] - m);
      split_weight[s] = w;
      total += w * partial_ml[2 * (base + s) + 1];
    }
    total = warp_sum(total);
    if (lane == 0) inv_total = 1.0f / total;  // every active split holds at least one key: total ≥ 1
  }
  __syncthreads();
  for (int i = threadIdx.x; i < head_dim; i += kCombineThreads) {
    float acc = 0.0f;
#pragma unroll 4
    for (int s = 0; s < active; ++s) acc += split_weight[s] * partial_out[(base + s) * head_dim + i];
    out[(int64_t(b) * n_heads + head) * head_dim + i] = from_float<T>(acc * inv_total);
  }
}

// The split weights, padded to whole 16-byte words: the compiler may read the weight loop 4 floats at a time.
size_t combine_smem_bytes(int64_t splits) { return sizeof(float) * size_t((splits + 4) / 4 * 4); }

// SMs of the current device (cached per device).
int sm_count() {
  static int counts[64] = {};
  int device = 0;
  GLINT_CUDA_CHECK(cudaGetDevice(&device));
  int& count = counts[device & 63];
  if (count == 0) GLINT_CUDA_CHECK(cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, device));
  return count;
}

template <typename T>
void launch_decode(const DecodeArgs& a, int batch, void* out, cudaStream_t stream) {
  const size_t smem = decode_smem_bytes(a.group, a.head_dim, 16 / sizeof(T));
  // Enough blocks per (kv head, row) to fill the GPU about four times over, each looping over its splits: at long
  // capacities most splits hold no key yet, and launching one block per split made those empty blocks cost more
  // than the attention (5 µs a layer at capacity 8192, 4 kv heads, batch 1).
  const int64_t per_row = std::max<int64_t>(4, (4 * int64_t(sm_count()) + a.n_kv_heads * batch - 1) /
                                                   (int64_t(a.n_kv_heads) * batch));
  const dim3 grid(unsigned(std::min<int64_t>(a.splits, per_row)), unsigned(a.n_kv_heads), unsigned(batch));
  auto* split_kernel = a.group == 1   ? decode_split_kernel<T, 1>
                      : a.group == 2 ? decode_split_kernel<T, 2>
                      : a.group <= 4 ? decode_split_kernel<T, 4>
                                     : decode_split_kernel<T, 8>;
  launch_chained(split_kernel, grid, kDecodeThreads, smem, stream, a);
  launch_chained(decode_combine_kernel<T>, dim3(unsigned(a.n_heads), unsigned(batch)), kCombineThreads,
                 combine_smem_bytes(a.splits), stream, a.partial_out, a.partial_ml, a.positions, a.mask, a.splits,
                 a.n_heads, a.head_dim, static_cast<T*>(out));
}

// ---------------------------------------------------------------------------------------------------------------
// Host-side checks and dispatch.

bool simple_path_requested() {
  const char* value = std::getenv("GLINT_CUDA_SIMPLE_ATTENTION");
  return value != nullptr && std::strcmp(value, "1") == 0;
}

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

void check_shape(const AttentionShape& s, const CacheView& cache, const char* op) {
  GLINT_CHECK(s.dtype == DType::F32 || s.dtype == DType::BF16, op, ": dtype ", dtype_name(s.dtype),
              " is not supported (F32 or BF16)");
  GLINT_CHECK(s.n_heads > 0 && s.n_kv_heads > 0 && s.n_heads % s.n_kv_heads == 0, op, ": ", s.n_heads,
              " query heads cannot share ", s.n_kv_heads, " kv heads");
  GLINT_CHECK(s.head_dim > 0 && s.head_dim % 8 == 0 && s.head_dim <= kMaxHeadDim, op, ": head_dim ", s.head_dim,
              " is not supported (a multiple of 8, at most ", kMaxHeadDim, ")");
  GLINT_CHECK(s.mask == MaskKind::Causal || s.window > 0, op, ": window/chunk size must be positive, got ",
              s.window);
  GLINT_CHECK(cache.capacity > 0, op, ": cache capacity must be positive, got ", cache.capacity);
  GLINT_CHECK(cache.k != nullptr && cache.v != nullptr, op, ": cache pointers are null");
  GLINT_CHECK(aligned16(cache.k) && aligned16(cache.v), op, ": cache pointers must be 16-byte aligned");
  GLINT_CHECK(s.n_heads <= 65535, op, ": ", s.n_heads, " heads exceed the grid limit");
}

int64_t decode_splits(const AttentionShape& s, int64_t capacity) {
  const int64_t max_visible = s.mask == MaskKind::Causal ? capacity : std::min(capacity, s.window);
  return (max_visible + kSplitKeys - 1) / kSplitKeys;
}

void prefill_tensor_cores(const AttentionShape& s, const attn_detail::PrefillArgs& a, cudaStream_t stream) {
  switch (s.head_dim) {
#define GLINT_PREFILL_CASE(D) \
  case D: attn_detail::launch_prefill_mma<D>(a, stream); return;
    GLINT_PREFILL_CASE(16)
    GLINT_PREFILL_CASE(32)
    GLINT_PREFILL_CASE(48)
    GLINT_PREFILL_CASE(64)
    GLINT_PREFILL_CASE(80)
    GLINT_PREFILL_CASE(96)
    GLINT_PREFILL_CASE(112)
    GLINT_PREFILL_CASE(128)
    GLINT_PREFILL_CASE(144)
    GLINT_PREFILL_CASE(160)
    GLINT_PREFILL_CASE(176)
    GLINT_PREFILL_CASE(192)
    GLINT_PREFILL_CASE(208)
    GLINT_PREFILL_CASE(224)
    GLINT_PREFILL_CASE(240)
    GLINT_PREFILL_CASE(256)
#undef GLINT_PREFILL_CASE
  }
  fail("attention_prefill: no tensor-core kernel for head_dim ", s.head_dim);
}

}  // namespace

void attention_prefill(const AttentionShape& shape, const void* q, int64_t tokens, int64_t first_position,
                       const CacheView& cache, int slot, void* out, cudaStream_t stream) {
  check_shape(shape, cache, "attention_prefill");
  GLINT_CHECK(tokens >= 0 && first_position >= 0 && slot >= 0, "attention_prefill: tokens ", tokens,
              ", first_position ", first_position, " and slot ", slot, " must be non-negative");
  if (tokens == 0) return;
  GLINT_CHECK(q != nullptr && out != nullptr && aligned16(q) && aligned16(out),
              "attention_prefill: q and out must be non-null and 16-byte aligned");
  // Every key a query of this pass sees must still be in the ring (the ring holds the last `capacity` positions).
  const int64_t last = first_position + tokens - 1;
  int64_t oldest_needed = 0;
  if (shape.mask == MaskKind::Sliding) oldest_needed = std::max<int64_t>(0, first_position - shape.window + 1);
  if (shape.mask == MaskKind::Chunked) oldest_needed = first_position / shape.window * shape.window;
  GLINT_CHECK(last - oldest_needed + 1 <= cache.capacity, "attention_prefill: positions ", oldest_needed, "..",
              last, " do not fit in a cache of ", cache.capacity, " rows");
  const int64_t slot_offset = int64_t(slot) * cache.capacity * shape.n_kv_heads * shape.head_dim;

  if (shape.dtype == DType::BF16 && shape.head_dim % 16 == 0 && !simple_path_requested()) {
    attn_detail::PrefillArgs a;
    a.q = static_cast<const bf16*>(q);
    a.k = static_cast<const bf16*>(cache.k);
    a.v = static_cast<const bf16*>(cache.v);
    a.out = static_cast<bf16*>(out);
    a.tokens = tokens;
    a.first_position = first_position;
    a.slot_offset = slot_offset;
    a.n_heads = shape.n_heads;
    a.n_kv_heads = shape.n_kv_heads;
    a.group = shape.n_heads / shape.n_kv_heads;
    a.scale = shape.scale;
    a.softcap = shape.softcap;
    a.mask = mask_params(shape, cache.capacity);
    GLINT_CHECK((tokens + 63) / 64 <= int64_t(INT32_MAX), "attention_prefill: too many tokens");
    prefill_tensor_cores(shape, a, stream);
    return;
  }
  SimpleArgs a = simple_args(shape, cache, q, out, tokens);
  a.first_position = first_position;
  a.slot = slot;
  launch_simple(a, shape.dtype, stream);
}

size_t decode_workspace_bytes(const AttentionShape& shape, int batch, int64_t capacity) {
  const int64_t splits = decode_splits(shape, capacity);
  return sizeof(float) * size_t(batch) * size_t(shape.n_heads) * size_t(splits) * size_t(shape.head_dim + 2);
}

void attention_decode(const AttentionShape& shape, const void* q, int batch, const int32_t* slots,
                      const int32_t* positions, const CacheView& cache, void* out, void* workspace,
                      cudaStream_t stream) {
  check_shape(shape, cache, "attention_decode");
  GLINT_CHECK(batch >= 0 && batch <= 65535, "attention_decode: batch ", batch, " is out of range (0..65535)");
  if (batch == 0) return;
  GLINT_CHECK(q != nullptr && out != nullptr && aligned16(q) && aligned16(out),
              "attention_decode: q and out must be non-null and 16-byte aligned");
  GLINT_CHECK(slots != nullptr && positions != nullptr, "attention_decode: slots and positions are null");

  if (simple_path_requested()) {
    SimpleArgs a = simple_args(shape, cache, q, out, batch);
    a.positions = positions;
    a.slots = slots;
    launch_simple(a, shape.dtype, stream);
    return;
  }

  const int group = shape.n_heads / shape.n_kv_heads;
  GLINT_CHECK(group <= kMaxDecodeGroup, "attention_decode: ", group, " query heads per kv head (at most ",
              kMaxDecodeGroup, " are supported)");
  const int64_t splits = decode_splits(shape, cache.capacity);
  GLINT_CHECK(combine_smem_bytes(splits) <= 48 * 1024 && splits <= 65535, "attention_decode: capacity ",
              cache.capacity, " needs ", splits, " splits, more than the combine kernel holds");
  GLINT_CHECK(workspace != nullptr, "attention_decode: workspace is null (decode_workspace_bytes)");
  DecodeArgs a;
  a.q = q;
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
  a.mask = mask_params(shape, cache.capacity);
  if (shape.dtype == DType::BF16)
    launch_decode<bf16>(a, batch, out, stream);
  else
    launch_decode<float>(a, batch, out, stream);
}

}  // namespace glint::ops::cuda
