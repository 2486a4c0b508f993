// What the attention kernels of attention_cuda.cu (prefill, the simple kernel) and attention_decode_cuda.cu
// (decode) share: 16-byte cp.async copies, the mask on the device, the simple one-warp-per-query kernel's launcher
// and the host-side checks.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "core/dtype.h"
#include "ops/attention.h"
#include "ops/attention_cuda.h"

namespace glint::ops::cuda::attn_detail {

constexpr float kNegInf = -__builtin_huge_valf();
constexpr int kMaxHeadDim = 256;

__device__ __forceinline__ uint32_t shared_address(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// 16-byte global → shared copy; when !valid nothing is read and the 16 bytes are zero-filled.
__device__ __forceinline__ void cp_async_16(void* smem, const void* gmem, bool valid) {
  const int src_bytes = valid ? 16 : 0;
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(shared_address(smem)), "l"(gmem),
               "r"(src_bytes)
               : "memory");
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
template <int kPending>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(kPending) : "memory");
}

// The mask and the cache ring, as a kernel needs them.
struct MaskParams {
  MaskKind kind = MaskKind::Causal;
  int64_t window = 0;
  int64_t capacity = 0;  // ring rows per slot: keys older than q_pos − capacity + 1 are no longer held
};

// A query at q_pos sees exactly the keys lowest_visible_key(q_pos) ..= q_pos (mask_allows, restricted to the ring).
// Non-decreasing in q_pos, so a run of queries sees keys from the first query's lowest to the last query.
__device__ __forceinline__ int64_t lowest_visible_key(const MaskParams& m, int64_t q_pos) {
  int64_t lo = 0;
  if (m.kind == MaskKind::Sliding) lo = q_pos - m.window + 1;
  else if (m.kind == MaskKind::Chunked) lo = (q_pos / m.window) * m.window;
  lo = lo > q_pos - m.capacity + 1 ? lo : q_pos - m.capacity + 1;
  return lo > 0 ? lo : 0;
}

// The score of one query·key dot product: scaled, then softcapped when softcap > 0 (as ops::attention).
__device__ __forceinline__ float score_of(float dot, float scale, float softcap) {
  const float s = dot * scale;
  return softcap > 0.0f ? softcap * tanhf(s / softcap) : s;
}

MaskParams mask_params(const AttentionShape& s, int64_t capacity);

// The simple kernel (attention_cuda.cu): one warp per (query, head), keys one at a time with an online softmax.
// Query i sits at positions[i] in slots[i] when those (device) arrays are given, else at first_position + i in
// `slot`.
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
                       int64_t queries);
void launch_simple(const SimpleArgs& a, DType dtype, cudaStream_t stream);

// GLINT_CUDA_SIMPLE_ATTENTION=1: every entry point uses the simple kernel (to bisect a wrong result on a device).
bool simple_path_requested();

inline bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

// Fails with a message naming `op` unless the shape and the cache are ones the kernels take.
void check_shape(const AttentionShape& s, const CacheView& cache, const char* op);

}  // namespace glint::ops::cuda::attn_detail
