// Attention on the GPU against the device KV cache: prefill (flash attention; tensor cores for BF16) and the plain
// one-warp-per-query kernel that serves F32 prefill, head dims the tensor-core kernel does not cover, and
// GLINT_CUDA_SIMPLE_ATTENTION=1 (to bisect a wrong result on a device). Decode is in attention_decode_cuda.cu.
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
namespace attn_detail {

MaskParams mask_params(const AttentionShape& s, int64_t capacity) {
  MaskParams m;
  m.kind = s.mask;
  m.window = s.window;
  m.capacity = capacity;
  return m;
}

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

namespace {

constexpr int kSimpleWarps = 4;

// Lane l holds elements l, l + 32, … of the query and the accumulator.
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

}  // namespace

void launch_simple(const SimpleArgs& a, DType dtype, cudaStream_t stream) {
  const dim3 grid(unsigned((a.queries + kSimpleWarps - 1) / kSimpleWarps), unsigned(a.n_heads));
  if (dtype == DType::BF16)
    simple_attention_kernel<bf16><<<grid, kSimpleWarps * 32, 0, stream>>>(a);
  else
    simple_attention_kernel<float><<<grid, kSimpleWarps * 32, 0, stream>>>(a);
  GLINT_CUDA_LAUNCHED();
}

bool simple_path_requested() {
  const char* value = std::getenv("GLINT_CUDA_SIMPLE_ATTENTION");
  return value != nullptr && std::strcmp(value, "1") == 0;
}

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

}  // namespace attn_detail

using attn_detail::aligned16;
using attn_detail::check_shape;
using attn_detail::launch_simple;
using attn_detail::mask_params;
using attn_detail::simple_args;
using attn_detail::simple_path_requested;
using attn_detail::SimpleArgs;

namespace {

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

}  // namespace glint::ops::cuda
