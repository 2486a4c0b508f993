// Attention on the GPU, reading K/V in place from the device KV cache.
//
// Cache layout (one array for K and one for V per layer): [slots, capacity, n_kv_heads, head_dim] of the cache
// dtype (F32 or BF16). Sequence `slot` keeps the K/V of its position p in row p % capacity: full-attention layers
// have capacity >= the longest context, windowed layers a ring (capacity >= window - 1 + the longest chunk).
// Queries and outputs: [tokens, n_heads, head_dim] of the same dtype as the cache.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"
#include "ops/attention.h"

namespace glint::ops::cuda {

struct QkvLayout;  // ops/cuda_ops.h

struct AttentionShape {
  int n_heads = 0;
  int n_kv_heads = 0;
  int head_dim = 0;
  float scale = 1.0f;
  float softcap = 0.0f;  // 0: none; else scores = softcap · tanh(scores / softcap) after scaling
  MaskKind mask = MaskKind::Causal;
  int64_t window = 0;  // Sliding: keys in (p − window, p]; Chunked: keys in [⌊p / window⌋·window, p]
  DType dtype = DType::BF16;  // of queries, cache and output: F32 or BF16
};

struct CacheView {
  const void* k = nullptr;
  const void* v = nullptr;
  int64_t capacity = 0;  // rows per slot
};

// Prefill: `tokens` queries of the sequence in `slot`, at positions first_position .. first_position+tokens-1,
// whose K/V rows are already in the cache. Flash-attention style (tiles of queries against tiles of keys, online
// softmax, tensor cores for BF16).
void attention_prefill(const AttentionShape& shape, const void* q, int64_t tokens, int64_t first_position,
                       const CacheView& cache, int slot, void* out, cudaStream_t stream);

// Decode: one query per sequence; row b belongs to slot slots[b] at position positions[b] (device arrays).
// Keys are split over blocks (flash decoding) and the partial results combined. The launch shape depends only on
// (shape, batch, cache.capacity), never on the positions, so the launch can be captured in a CUDA graph and
// replayed as the positions advance. `workspace` holds decode_workspace_bytes(...) bytes.
// The kernels read positions, slots and the cache rows before each row's position while kernels before them on the
// stream may still run (programmatic dependent launch chains them): those must be in place before the chain starts
// (a host upload, an earlier decode step). The newest row, q and qkv may come from the kernels just before.
size_t decode_workspace_bytes(const AttentionShape& shape, int batch, int64_t capacity);
void attention_decode(const AttentionShape& shape, const void* q, int batch, const int32_t* slots,
                      const int32_t* positions, const CacheView& cache, void* out, void* workspace,
                      cudaStream_t stream);

// Decode fused with its input preparation in one launch: what qkv_rope_cache_write (write_kv) followed by
// attention_decode computes, from the projected rows qkv [batch, (n_heads + 2·n_kv_heads)·head_dim] (float), without
// the queries going through memory: the new K/V rows go to the cache (k_cache / v_cache, `capacity` rows per slot),
// the attention to `out`. The operations and their order are the separate path's, so the results are too (up to how
// the compiler contracts multiply-adds). The batch rows must use distinct slots; `layout` must describe the heads of
// `shape`, and head_dim must be a multiple of 32. `workspace` holds decode_workspace_bytes(...) bytes; `counters`
// holds decode_counter_count(shape, batch) unsigned ints, zero before the first call and left at zero by every call
// (a launch merges its splits through them, so launches sharing the array must run one after another, as on one
// stream). As for attention_decode, the launch shape depends only on (shape, batch, capacity).
size_t decode_counter_count(const AttentionShape& shape, int batch);
void attention_decode_fused(const AttentionShape& shape, const QkvLayout& layout, const float* qkv,
                            const float* q_norm_weight, const float* k_norm_weight, int batch,
                            const int32_t* slots, const int32_t* positions, void* k_cache, void* v_cache,
                            int64_t capacity, void* out, void* workspace, unsigned* counters, cudaStream_t stream);

}  // namespace glint::ops::cuda
