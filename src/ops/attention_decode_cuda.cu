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
#include "ops/attention_decode_split.cuh"
#include "ops/cuda_common.cuh"
#include "ops/cuda_ops.h"

namespace glint::ops::cuda {
namespace {

using namespace decode_detail;  // the building blocks of one split, and the attn_detail names they use

__host__ __device__ __forceinline__ bool takes_weight(NormKind kind) {
  return kind == NormKind::Rms || kind == NormKind::RmsPlusOne;
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
