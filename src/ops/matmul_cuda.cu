#include "ops/matmul_cuda.h"

#include <type_traits>

#include "ops/cuda_common.cuh"
#include "ops/cuda_ops.h"

namespace glint::ops::cuda {
namespace {

constexpr int kWarpsPerBlock = 8;

// Weights are read once per call: keep them out of L1.
__device__ __forceinline__ uint4 load_streaming(const void* p) {
  uint4 v;
  asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
               : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
               : "l"(p));
  return v;
}

__device__ __forceinline__ float dot16(uint4 a, uint4 b, bf16) {
  const __nv_bfloat162* x = reinterpret_cast<const __nv_bfloat162*>(&a);
  const __nv_bfloat162* y = reinterpret_cast<const __nv_bfloat162*>(&b);
  float s = 0;
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const float2 fx = __bfloat1622float2(x[i]), fy = __bfloat1622float2(y[i]);
    s = fmaf(fx.x, fy.x, s);
    s = fmaf(fx.y, fy.y, s);
  }
  return s;
}

__device__ __forceinline__ float dot16(uint4 a, uint4 b, float) {
  const float* x = reinterpret_cast<const float*>(&a);
  const float* y = reinterpret_cast<const float*>(&b);
  return x[0] * y[0] + x[1] * y[1] + x[2] * y[2] + x[3] * y[3];
}

// GEMV for decode: `kSplit` warps per output feature (per gate/up pair when kGated), each over its own range of the
// row in 16-byte chunks, so that narrow matrices still spread over every SM; their sums meet in shared memory and
// are added in a fixed order. The R input rows share every weight load. Weights are constant, so each lane loads
// its first chunks before the kernel waits for the one that produced x.
template <typename T, int R, bool kGated, int kSplit>
__global__ void __launch_bounds__(kWarpsPerBlock * 32)
    gemv_kernel(const T* __restrict__ x, const T* __restrict__ w, int64_t features, int64_t in, float* __restrict__ y,
                T* __restrict__ gated_out, Activation act) {
  constexpr int kVec = 16 / sizeof(T);
  constexpr int kUnroll = kGated ? 4 : 8;  // 16-byte weight loads in flight per lane
  constexpr int kOutputs = kGated ? 2 : 1;
  constexpr int kFeaturesPerBlock = kWarpsPerBlock / kSplit;
  __shared__ float partial[kSplit > 1 ? kWarpsPerBlock * R * kOutputs : 1];
  let_successor_start();
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int part = warp % kSplit;
  const int64_t feature = int64_t(blockIdx.x) * kFeaturesPerBlock + warp / kSplit;
  const bool valid = feature < features;  // no early return: the block meets at barriers
  const int64_t chunks = in / kVec;
  const int64_t begin = chunks * part / kSplit, end = chunks * (part + 1) / kSplit;
  const uint4* w0 = reinterpret_cast<const uint4*>(w + (valid ? feature : 0) * in);
  const uint4* w1 = kGated ? reinterpret_cast<const uint4*>(w + ((valid ? feature : 0) + features) * in) : nullptr;

  float acc0[R], acc1[R];
#pragma unroll
  for (int r = 0; r < R; ++r) acc0[r] = acc1[r] = 0.0f;
  uint4 a[kUnroll], b[kUnroll];
  auto load = [&](int64_t c) {
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int64_t cu = c + u * 32;
      if (valid && cu < end) {
        a[u] = load_streaming(w0 + cu);
        if constexpr (kGated) b[u] = load_streaming(w1 + cu);
      }
    }
  };
  int64_t c = begin + lane;
  load(c);
  wait_for_predecessor();
  const uint4* xv = reinterpret_cast<const uint4*>(x);
  if (valid) {
    while (c < end) {
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        const int64_t cu = c + u * 32;
        if (cu < end) {
#pragma unroll
          for (int r = 0; r < R; ++r) {
            const uint4 xu = xv[r * chunks + cu];
            acc0[r] += dot16(a[u], xu, T{});
            if constexpr (kGated) acc1[r] += dot16(b[u], xu, T{});
          }
        }
      }
      c += kUnroll * 32;
      load(c);
    }
  }
#pragma unroll
  for (int r = 0; r < R; ++r) {
    acc0[r] = warp_sum(acc0[r]);
    if constexpr (kGated) acc1[r] = warp_sum(acc1[r]);
  }
  auto store = [&](int r, float g, float u) {
    if constexpr (kGated)
      gated_out[r * features + feature] = from_float<T>(gated(act, g, u));
    else
      y[r * features + feature] = g;
  };
  if constexpr (kSplit == 1) {
    if (valid && lane == 0) {
#pragma unroll
      for (int r = 0; r < R; ++r) store(r, acc0[r], acc1[r]);
    }
  } else {
    if (lane == 0) {
#pragma unroll
      for (int r = 0; r < R; ++r) {
        partial[(warp * R + r) * kOutputs] = acc0[r];
        if constexpr (kGated) partial[(warp * R + r) * kOutputs + 1] = acc1[r];
      }
    }
    __syncthreads();
    if (valid && part == 0 && lane < R) {
      float g = 0.0f, u = 0.0f;
#pragma unroll
      for (int p = 0; p < kSplit; ++p) {
        g += partial[((warp + p) * R + lane) * kOutputs];
        if constexpr (kGated) u += partial[((warp + p) * R + lane) * kOutputs + 1];
      }
      store(lane, g, u);
    }
  }
}

// Whether gemv_kernel's grid at one warp a feature covers the GPU many times over (the LM head): such matrices
// neither split nor stream.
bool fills_gpu_many_times(int64_t features, int sm_count) {
  return int64_t(blocks_for(features, kWarpsPerBlock)) >= 16 * int64_t(sm_count);
}

// Warps per output feature. Measured on an H200 at the Gemma 3 1B/4B decode shapes (glint_cuda_bench --split N):
// a warp does best with about 100-160 chunks of its row (64 for narrow matrices, whose grids are small anyway),
// so long rows split up to 8 ways; grids that already fill the GPU many times over (the LM head) never split.
int gemv_split(int64_t features, int64_t chunks, int sm_count) {
  if (fills_gpu_many_times(features, sm_count)) return 1;
  const int64_t min_chunks = features <= 2048 ? 64 : 100;
  int split = 1;
  while (split < kWarpsPerBlock && chunks / (2 * split) >= min_chunks) split *= 2;
  return split;
}

// GEMV for several BF16 input rows (2 .. 8) on tensor cores. gemv_kernel spends about 2 · R instructions per weight
// element with R rows (each row's x loaded and widened again), which makes 8 rows 2.2–2.6× slower than one; here a
// warp takes 8 output features (gate/up pairs when kGated) over its part of the row, in MMAs m16n8k16 with A = the
// input rows (rows 8..15 zero) and B = Wᵀ. Lane 4g + c loads 16 bytes (8 k) of weight row g and of input row g at
// chunk 4·step + c. A dot product may add its terms in any order, so the chunk's first two k pairs fill the
// fragment slots of pairs c and c + 4 of one MMA and its last two those of a second one: weights stream in whole
// 16-byte loads, as in gemv_kernel, and x is read once per weight load instead of R times. Split parts add in a
// fixed order.
template <bool kGated, int kSplit>
__global__ void __launch_bounds__(kWarpsPerBlock * 32, kGated ? 3 : 4)
    gemv_mma_kernel(const bf16* __restrict__ x, int rows, const bf16* __restrict__ w, int64_t features, int64_t in,
                    float* __restrict__ y, bf16* __restrict__ gated_out, Activation act) {
  constexpr int kUnroll = kGated ? 4 : 8;  // steps of 16-byte weight loads in flight per lane
  constexpr int kOutputs = kGated ? 2 : 1;
  constexpr int kTilesPerBlock = kWarpsPerBlock / kSplit;
  __shared__ float partial[kSplit > 1 ? kWarpsPerBlock * 32 * 2 * kOutputs : 1];
  let_successor_start();
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int g = lane >> 2, c = lane & 3;
  const int part = warp % kSplit;
  const int64_t tile = int64_t(blockIdx.x) * kTilesPerBlock + warp / kSplit;
  const int64_t feature = tile * 8 + g;  // the weight row this lane loads
  const bool valid = feature < features;
  const int64_t chunks = in / 8, steps = (chunks + 3) / 4;
  const int64_t begin = steps * part / kSplit, end = steps * (part + 1) / kSplit;
  const uint4* w0 = reinterpret_cast<const uint4*>(w + (valid ? feature : 0) * in);
  const uint4* w1 = kGated ? reinterpret_cast<const uint4*>(w + ((valid ? feature : 0) + features) * in) : nullptr;

  // Chunks past the row (or of rows past `features`) count as zeros: a garbage B or x would reach the sums. Two
  // batches of steps alternate: the next one's loads are in flight while the MMAs take this one.
  constexpr int kBatch = kUnroll / 2;
  uint4 a0[kBatch], b0[kBatch], a1[kBatch], b1[kBatch];
  auto load = [&](uint4 (&wa)[kBatch], uint4 (&wb)[kBatch], int64_t step) {
#pragma unroll
    for (int u = 0; u < kBatch; ++u) {
      const int64_t chunk = (step + u) * 4 + c;
      const bool in_range = valid && step + u < end && chunk < chunks;
      wa[u] = in_range ? load_streaming(w0 + chunk) : make_uint4(0, 0, 0, 0);
      if constexpr (kGated) wb[u] = in_range ? load_streaming(w1 + chunk) : make_uint4(0, 0, 0, 0);
    }
  };
  // Two independent sums (by chunk half): MMAs into one accumulator wait for each other, which made long rows (the
  // LM head) slower than the scalar kernel. Four sums took too many registers (80 / 114: fewer blocks an SM).
  float acc[2][4] = {}, acc_up[2][4] = {};
  const uint4* xg = reinterpret_cast<const uint4*>(x + int64_t(g < rows ? g : 0) * in);
  auto consume = [&](const uint4 (&wa)[kBatch], const uint4 (&wb)[kBatch], int64_t step) {
#pragma unroll
    for (int u = 0; u < kBatch; ++u) {
      if (step + u < end) {  // the same for the whole warp, as MMAs need
        const int64_t chunk = (step + u) * 4 + c;
        const uint4 xv = g < rows && chunk < chunks ? xg[chunk] : make_uint4(0, 0, 0, 0);
        const uint32_t x_lo[4] = {xv.x, 0u, xv.y, 0u}, x_hi[4] = {xv.z, 0u, xv.w, 0u};
        mma_bf16_16816(acc[0], x_lo, wa[u].x, wa[u].y);
        mma_bf16_16816(acc[1], x_hi, wa[u].z, wa[u].w);
        if constexpr (kGated) {
          mma_bf16_16816(acc_up[0], x_lo, wb[u].x, wb[u].y);
          mma_bf16_16816(acc_up[1], x_hi, wb[u].z, wb[u].w);
        }
      }
    }
  };
  int64_t step = begin;
  load(a0, b0, step);
  load(a1, b1, step + kBatch);
  wait_for_predecessor();
  while (step < end) {
    consume(a0, b0, step);
    load(a0, b0, step + 2 * kBatch);
    step += kBatch;
    if (step >= end) break;
    consume(a1, b1, step);
    load(a1, b1, step + 2 * kBatch);
    step += kBatch;
  }
  // total[j] is input row g's sum for feature tile · 8 + 2c + j (entries 2 and 3 belong to the zero rows).
  float total[2], total_up[2];
#pragma unroll
  for (int j = 0; j < 2; ++j) {
    total[j] = acc[0][j] + acc[1][j];
    total_up[j] = acc_up[0][j] + acc_up[1][j];
  }
  auto store = [&](const float* gate, const float* up) {
    if (g >= rows) return;
#pragma unroll
    for (int j = 0; j < 2; ++j) {
      const int64_t f = tile * 8 + 2 * c + j;
      if (f >= features) continue;
      if constexpr (kGated)
        gated_out[g * features + f] = from_float<bf16>(gated(act, gate[j], up[j]));
      else
        y[g * features + f] = gate[j];
    }
  };
  if constexpr (kSplit == 1) {
    store(total, total_up);
  } else {
    float* mine = partial + (warp * 32 + lane) * 2 * kOutputs;
    mine[0] = total[0];
    mine[1] = total[1];
    if constexpr (kGated) {
      mine[2] = total_up[0];
      mine[3] = total_up[1];
    }
    __syncthreads();
    if (part == 0) {
      float gate[2] = {0, 0}, up[2] = {0, 0};
#pragma unroll
      for (int p = 0; p < kSplit; ++p) {
        const float* theirs = partial + ((warp + p) * 32 + lane) * 2 * kOutputs;
        gate[0] += theirs[0];
        gate[1] += theirs[1];
        if constexpr (kGated) {
          up[0] += theirs[2];
          up[1] += theirs[3];
        }
      }
      store(gate, up);
    }
  }
}

// Warps per 8-feature tile of gemv_mma_kernel: as many as leave each warp at least 4 steps (2 KiB of weights), up
// to the block's 8, fewer when the grid would fill the GPU 16 times over anyway (the LM head). Measured on an H200
// at 8 rows: 16 warps a tile (512-thread blocks) made every Gemma 3 shape slower (4B qkv 8.4 → 13.4 µs, down
// 24.8 → 29.9).
int gemv_mma_split(int64_t features, int64_t steps, int sm_count) {
  const int64_t tiles = (features + 7) / 8;
  int split = 1;
  while (split < kWarpsPerBlock && steps / (2 * split) >= 4) split *= 2;
  while (split > 1 && tiles * split / kWarpsPerBlock > 16 * int64_t(sm_count)) split /= 2;
  return split;
}

// The arguments of one GEMV launch.
template <typename T>
struct GemvCall {
  const T* x = nullptr;
  int64_t rows = 0;
  const T* w = nullptr;
  int64_t features = 0, in = 0;
  float* y = nullptr;
  T* gated_out = nullptr;
  Activation act = Activation::GeluTanh;
};

template <typename T, bool kGated, int kSplit, int R>
void launch_gemv_kernel(const GemvCall<T>& call, cudaStream_t stream) {
  const dim3 grid(blocks_for(call.features, kWarpsPerBlock / kSplit)), block(kWarpsPerBlock * 32);
  launch_chained(gemv_kernel<T, R, kGated, kSplit>, grid, block, 0, stream, call.x, call.w, call.features, call.in,
                 call.y, call.gated_out, call.act);
}

// Calls launch(std::integral_constant<int, R>{}) for a row count R of 1 .. kMaxGemvRows: the GEMV kernels take
// their row count as a template parameter.
template <typename Launch>
void with_rows(int64_t rows, Launch&& launch) {
  switch (rows) {
    case 1: return launch(std::integral_constant<int, 1>{});
    case 2: return launch(std::integral_constant<int, 2>{});
    case 3: return launch(std::integral_constant<int, 3>{});
    case 4: return launch(std::integral_constant<int, 4>{});
    case 5: return launch(std::integral_constant<int, 5>{});
    case 6: return launch(std::integral_constant<int, 6>{});
    case 7: return launch(std::integral_constant<int, 7>{});
    case 8: return launch(std::integral_constant<int, 8>{});
  }
  fail("GEMV: ", rows, " rows (at most ", kMaxGemvRows, ")");
}

template <typename T, bool kGated, int kSplit>
void launch_gemv_rows(const GemvCall<T>& call, cudaStream_t stream) {
  with_rows(call.rows, [&](auto r) { launch_gemv_kernel<T, kGated, kSplit, decltype(r)::value>(call, stream); });
}

// Streaming GEMV for one to three rows (kStreamGemvRows): a grid of resident blocks only (one wave), each over a
// contiguous range of features. A feature's row is cut into parts of at most 32 · stream_slots chunks, so that a part
// is one 16-byte load (a gate and an up load when kGated) per lane and slot; warp w of a block takes the block's parts
// w, w + 8, w + 16, ... in memory order, and while it adds up one part the loads of the next are in flight. gemv_kernel
// instead gives each block a fixed feature group: its grid runs in waves, and each warp's loads end with its part, so
// the medium matrices of decode (one to five waves of short rows) pay the load latency once per wave. On an H200 (µs, 1
// row): 1B qkv 2.75 → 2.16, down 7.55 → 6.39, gate/up 11.0 → 10.0; 4B o 5.14 → 4.03, qkv 8.23 → 7.35; at 2 rows 8–25%
// faster too. The LM head (a 32k-block scalar grid) lost, 137 → 171 µs for 1B, so it keeps gemv_kernel. Part sums meet
// in shared memory and are added in a fixed order, as in gemv_kernel.
template <bool kGated>
constexpr int stream_slots() { return kGated ? 2 : 4; }  // loads per lane and part (two parts in flight)

template <typename T, int R, bool kGated>
__global__ void __launch_bounds__(kWarpsPerBlock * 32)
    gemv_stream_kernel(const T* __restrict__ x, const T* __restrict__ w, int64_t features, int64_t in, int parts,
                       int part_chunks, float* __restrict__ y, T* __restrict__ gated_out, Activation act) {
  constexpr int kVec = 16 / sizeof(T);
  constexpr int kSlots = stream_slots<kGated>();
  constexpr int kOutputs = kGated ? 2 : 1;
  extern __shared__ float part_sums[];  // [block parts][R][kOutputs]
  let_successor_start();
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int64_t first_feature = features * blockIdx.x / gridDim.x;
  const int block_features = int(features * (blockIdx.x + 1) / gridDim.x - first_feature);
  const int block_parts = block_features * parts;
  const int chunks = int(in / kVec);
  const uint4* wv = reinterpret_cast<const uint4*>(w) + first_feature * chunks;
  const uint4* xv = reinterpret_cast<const uint4*>(x);

  // Part i of the block: chunks [begin, end) of the row of feature first_feature + i / parts.
  struct Part {
    int64_t offset;  // of the row's chunk 0 from wv
    int begin, end;
  };
  auto part_of = [&](int i) {
    const int f = i / parts, p = i - f * parts;
    const int begin = p * part_chunks;
    return Part{int64_t(f) * chunks, begin, min(begin + part_chunks, chunks)};
  };
  auto load = [&](uint4 (&a)[kSlots], uint4 (&b)[kSlots], int i) {
    if (i >= block_parts) return;
    const Part part = part_of(i);
#pragma unroll
    for (int s = 0; s < kSlots; ++s) {
      const int c = part.begin + lane + 32 * s;
      if (c < part.end) {
        a[s] = load_streaming(wv + part.offset + c);
        if constexpr (kGated) b[s] = load_streaming(wv + features * chunks + part.offset + c);
      }
    }
  };
  auto consume = [&](const uint4 (&a)[kSlots], const uint4 (&b)[kSlots], int i) {
    const Part part = part_of(i);
    float acc0[R], acc1[R];
#pragma unroll
    for (int r = 0; r < R; ++r) acc0[r] = acc1[r] = 0.0f;
#pragma unroll
    for (int s = 0; s < kSlots; ++s) {
      const int c = part.begin + lane + 32 * s;
      if (c < part.end) {
#pragma unroll
        for (int r = 0; r < R; ++r) {
          const uint4 xc = xv[r * chunks + c];
          acc0[r] += dot16(a[s], xc, T{});
          if constexpr (kGated) acc1[r] += dot16(b[s], xc, T{});
        }
      }
    }
#pragma unroll
    for (int r = 0; r < R; ++r) {
      acc0[r] = warp_sum(acc0[r]);
      if constexpr (kGated) acc1[r] = warp_sum(acc1[r]);
      if (lane == 0) {
        part_sums[(i * R + r) * kOutputs] = acc0[r];
        if constexpr (kGated) part_sums[(i * R + r) * kOutputs + 1] = acc1[r];
      }
    }
  };

  uint4 a0[kSlots], b0[kSlots], a1[kSlots], b1[kSlots];
  int i = warp;
  load(a0, b0, i);
  load(a1, b1, i + kWarpsPerBlock);
  wait_for_predecessor();
  for (; i < block_parts; i += 2 * kWarpsPerBlock) {
    consume(a0, b0, i);
    load(a0, b0, i + 2 * kWarpsPerBlock);
    if (i + kWarpsPerBlock >= block_parts) break;
    consume(a1, b1, i + kWarpsPerBlock);
    load(a1, b1, i + 3 * kWarpsPerBlock);
  }
  __syncthreads();
  for (int j = threadIdx.x; j < block_features * R; j += blockDim.x) {
    const int f = j / R, r = j - f * R;
    float g = 0.0f, u = 0.0f;
    for (int p = 0; p < parts; ++p) {
      g += part_sums[((f * parts + p) * R + r) * kOutputs];
      if constexpr (kGated) u += part_sums[((f * parts + p) * R + r) * kOutputs + 1];
    }
    const int64_t feature = first_feature + f;
    if constexpr (kGated)
      gated_out[r * features + feature] = from_float<T>(gated(act, g, u));
    else
      y[r * features + feature] = g;
  }
}

// Part sums of a block stay under 48 KiB (no opt-in needed): a matrix with many features a block gets more blocks.
constexpr int64_t kStreamSharedFloats = 12 * 1024;

// `blocks_per_sm` caps the grid below the occupancy limit (0: no cap), which leaves room on each SM for the next
// kernel of a PDL chain to become resident and issue its weight loads while this one ends.
template <typename T, bool kGated, int R>
void launch_gemv_stream(const GemvCall<T>& call, int sm_count, int blocks_per_sm_cap, cudaStream_t stream) {
  constexpr int kOutputs = kGated ? 2 : 1;
  auto kernel = gemv_stream_kernel<T, R, kGated>;
  static const int blocks_per_sm = [&] {
    int n = 0;
    GLINT_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&n, kernel, kWarpsPerBlock * 32,
                                                                   kStreamSharedFloats * sizeof(float)));
    return std::max(n, 1);
  }();
  const int64_t chunks = call.in / (16 / int64_t(sizeof(T)));
  const int64_t most = 32 * stream_slots<kGated>();  // chunks a part may have
  const int64_t parts = std::max<int64_t>(1, (chunks + most - 1) / most);
  const int64_t part_chunks = (chunks + parts - 1) / parts;
  const int64_t max_block_features = std::max<int64_t>(1, kStreamSharedFloats / (parts * R * kOutputs));
  const int per_sm = blocks_per_sm_cap > 0 ? std::min(blocks_per_sm, blocks_per_sm_cap) : blocks_per_sm;
  int64_t grid = std::min<int64_t>(int64_t(per_sm) * sm_count, call.features);
  grid = std::max(grid, (call.features + max_block_features - 1) / max_block_features);
  const int64_t block_features = (call.features + grid - 1) / grid;
  const size_t shared = size_t(block_features * parts * R * kOutputs) * sizeof(float);
  launch_chained(kernel, dim3(unsigned(grid)), dim3(kWarpsPerBlock * 32), shared, stream, call.x, call.w,
                 call.features, call.in, int(parts), int(part_chunks), call.y, call.gated_out, call.act);
}

template <typename T, bool kGated>
void launch_gemv_stream_rows(const GemvCall<T>& call, int sm_count, int blocks_per_sm_cap, cudaStream_t stream) {
  with_rows(call.rows, [&](auto r) {
    launch_gemv_stream<T, kGated, decltype(r)::value>(call, sm_count, blocks_per_sm_cap, stream);
  });
}

// F32 weights (small test models) take one warp per feature.
template <bool kGated>
void launch_gemv(const GemvCall<float>& call, int, bool, cudaStream_t stream) {
  launch_gemv_rows<float, kGated, 1>(call, stream);
}

template <bool kGated, int kSplit>
void launch_gemv_mma(const GemvCall<bf16>& call, cudaStream_t stream) {
  const dim3 grid(blocks_for((call.features + 7) / 8, kWarpsPerBlock / kSplit)), block(kWarpsPerBlock * 32);
  launch_chained(gemv_mma_kernel<kGated, kSplit>, grid, block, 0, stream, call.x, int(call.rows), call.w,
                 call.features, call.in, call.y, call.gated_out, call.act);
}

template <bool kGated, int kSplit>
void launch_gemv_split(const GemvCall<bf16>& call, bool tensor_cores, cudaStream_t stream) {
  if (tensor_cores)
    launch_gemv_mma<kGated, kSplit>(call, stream);
  else
    launch_gemv_rows<bf16, kGated, kSplit>(call, stream);
}

template <bool kGated>
void launch_gemv(const GemvCall<bf16>& call, int split, bool tensor_cores, cudaStream_t stream) {
  switch (split) {
    case 1: return launch_gemv_split<kGated, 1>(call, tensor_cores, stream);
    case 2: return launch_gemv_split<kGated, 2>(call, tensor_cores, stream);
    case 4: return launch_gemv_split<kGated, 4>(call, tensor_cores, stream);
    case 8: return launch_gemv_split<kGated, 8>(call, tensor_cores, stream);
  }
  fail("GEMV: split ", split, " (1, 2, 4 or 8)");
}

bool gemv_fits(int64_t rows, int64_t in, DType dtype, const void* x, const void* w) {
  const int64_t vec = dtype == DType::BF16 ? 8 : 4;
  return rows >= 1 && rows <= kMaxGemvRows && in % vec == 0 && reinterpret_cast<uintptr_t>(x) % 16 == 0 &&
         reinterpret_cast<uintptr_t>(w) % 16 == 0;
}

cudaDataType_t blas_type(DType dtype) {
  switch (dtype) {
    case DType::BF16: return CUDA_R_16BF;
    case DType::F32: return CUDA_R_32F;
    default: fail("CUDA linear: unsupported dtype ", dtype_name(dtype));
  }
}

}  // namespace

struct Linear::Plan {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  cublasLtMatmulAlgo_t algo{};
  ~Plan() {
    if (a) cublasLtMatrixLayoutDestroy(a);
    if (b) cublasLtMatrixLayoutDestroy(b);
    if (c) cublasLtMatrixLayoutDestroy(c);
    if (op) cublasLtMatmulDescDestroy(op);
  }
};

Linear::Linear(const glint::cuda::Context& context) : context_(context) {
  const char* choice = std::getenv("GLINT_CUDA_GEMV");
  if (choice != nullptr && std::strcmp(choice, "scalar") == 0) stream_few_rows_ = false;
  if (const char* rows = std::getenv("GLINT_CUDA_GEMV_STREAM_LONG")) stream_long_rows_ = std::atoi(rows);
  if (const char* blocks = std::getenv("GLINT_CUDA_GEMV_BLOCKS"))
    stream_blocks_per_sm_ = std::max(0, std::atoi(blocks));
}

Linear::~Linear() {
  for (auto& [_, plan] : plans_) delete plan;
}

void Linear::run_blas(const void* x, int64_t rows, const void* w, int64_t out_features, int64_t in_features,
                      DType dtype, float* y, cudaStream_t stream) {
  // Column-major view: C [out, rows] = op(A)ᵀ B with A = W as [in, out] (ld in) transposed, B = x as [in, rows].
  auto key = std::make_tuple(rows, out_features, in_features, int(dtype));
  Plan*& plan = plans_[key];
  if (!plan) {
    auto fresh = std::make_unique<Plan>();
    const cudaDataType_t type = blas_type(dtype);
    GLINT_CUBLAS_CHECK(cublasLtMatmulDescCreate(&fresh->op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    const cublasOperation_t transpose = CUBLAS_OP_T, keep = CUBLAS_OP_N;
    GLINT_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(fresh->op, CUBLASLT_MATMUL_DESC_TRANSA, &transpose,
                                                      sizeof(transpose)));
    GLINT_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(fresh->op, CUBLASLT_MATMUL_DESC_TRANSB, &keep, sizeof(keep)));
    GLINT_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&fresh->a, type, uint64_t(in_features), uint64_t(out_features),
                                                  in_features));
    GLINT_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&fresh->b, type, uint64_t(in_features), uint64_t(rows), in_features));
    GLINT_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&fresh->c, CUDA_R_32F, uint64_t(out_features), uint64_t(rows),
                                                  out_features));
    cublasLtMatmulPreference_t preference = nullptr;
    GLINT_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&preference));
    const size_t workspace = context_.blas_workspace_bytes();
    GLINT_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(preference, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                            &workspace, sizeof(workspace)));
    cublasLtMatmulHeuristicResult_t result{};
    int found = 0;
    const cublasStatus_t status = cublasLtMatmulAlgoGetHeuristic(context_.blas(), fresh->op, fresh->a, fresh->b,
                                                                 fresh->c, fresh->c, preference, 1, &result, &found);
    cublasLtMatmulPreferenceDestroy(preference);
    GLINT_CHECK(status == CUBLAS_STATUS_SUCCESS && found > 0, "cuBLASLt has no algorithm for a ", rows, "x",
                in_features, " by ", out_features, "x", in_features, " ", dtype_name(dtype), " product");
    fresh->algo = result.algo;
    plan = fresh.release();
  }
  const float alpha = 1.0f, beta = 0.0f;
  GLINT_CUBLAS_CHECK(cublasLtMatmul(context_.blas(), plan->op, &alpha, w, plan->a, x, plan->b, &beta, y, plan->c, y,
                                    plan->c, &plan->algo, context_.blas_workspace(), context_.blas_workspace_bytes(),
                                    stream));
}

GemvKernel Linear::gemv_kernel_for(int64_t rows, int64_t features, int64_t in_features, DType dtype) const {
  switch (gemv_kernel_) {
    case GemvKernel::Scalar:
    case GemvKernel::Streaming: return gemv_kernel_;
    case GemvKernel::TensorCores: return dtype == DType::BF16 ? GemvKernel::TensorCores : GemvKernel::Scalar;
    case GemvKernel::ByRows: break;
  }
  // Matrices whose scalar grid covers the GPU many times over (the LM head) never stream: with one contiguous range
  // per resident block the H200 read the 1B LM head at 83% of copy instead of 103%.
  const bool long_bf16_row = dtype == DType::BF16 && in_features >= kLongGemvRow;
  const int64_t stream_rows = long_bf16_row ? std::max(kStreamGemvRows, stream_long_rows_) : kStreamGemvRows;
  if (stream_few_rows_ && rows <= stream_rows &&
      !fills_gpu_many_times(features, context_.properties().multiProcessorCount))
    return GemvKernel::Streaming;
  return dtype == DType::BF16 && rows >= kTensorCoreGemvRows ? GemvKernel::TensorCores : GemvKernel::Scalar;
}

int Linear::gemv_split_for(int64_t features, int64_t in_features, DType dtype, bool tensor_cores) const {
  if (gemv_split_ > 0) return gemv_split_;
  const int64_t chunks = in_features / (dtype == DType::BF16 ? 8 : 4);
  const int sms = context_.properties().multiProcessorCount;
  return tensor_cores ? gemv_mma_split(features, (chunks + 3) / 4, sms) : gemv_split(features, chunks, sms);
}

void Linear::launch(const void* x, int64_t rows, const void* w, int64_t features, int64_t in_features, DType dtype,
                    float* y, void* gated_out, Activation act, bool gated, cudaStream_t stream) {
  const GemvKernel kernel = gemv_kernel_for(rows, features, in_features, dtype);
  const bool tensor_cores = kernel == GemvKernel::TensorCores;
  const int sms = context_.properties().multiProcessorCount;
  auto run_typed = [&](auto type_tag) {
    using T = decltype(type_tag);
    GemvCall<T> call;
    call.x = static_cast<const T*>(x);
    call.rows = rows;
    call.w = static_cast<const T*>(w);
    call.features = features;
    call.in = in_features;
    call.y = y;
    call.gated_out = static_cast<T*>(gated_out);
    call.act = act;
    if (kernel == GemvKernel::Streaming) {
      if (gated)
        launch_gemv_stream_rows<T, true>(call, sms, stream_blocks_per_sm_, stream);
      else
        launch_gemv_stream_rows<T, false>(call, sms, stream_blocks_per_sm_, stream);
      return;
    }
    const int split = gemv_split_for(features, in_features, dtype, tensor_cores);
    if (gated)
      launch_gemv<true>(call, split, tensor_cores, stream);
    else
      launch_gemv<false>(call, split, tensor_cores, stream);
  };
  if (dtype == DType::BF16)
    run_typed(bf16{});
  else
    run_typed(float{});
}

void Linear::run(const void* x, int64_t rows, const void* w, int64_t out_features, int64_t in_features, DType dtype,
                 float* y, cudaStream_t stream) {
  if (rows == 0 || out_features == 0) return;  // an empty grid would be a launch error
  if (!force_blas_ && gemv_fits(rows, in_features, dtype, x, w)) {
    launch(x, rows, w, out_features, in_features, dtype, y, nullptr, Activation::GeluTanh, false, stream);
    return;
  }
  run_blas(x, rows, w, out_features, in_features, dtype, y, stream);
}

void Linear::run_gated(const void* x, int64_t rows, const void* w, int64_t width, int64_t in_features, Activation act,
                       DType dtype, void* out, float* scratch, cudaStream_t stream) {
  if (rows == 0 || width == 0) return;
  if (!force_blas_ && gemv_fits(rows, in_features, dtype, x, w)) {
    launch(x, rows, w, width, in_features, dtype, nullptr, out, act, true, stream);
    return;
  }
  run_blas(x, rows, w, 2 * width, in_features, dtype, scratch, stream);
  gated_activation(scratch, rows, width, act, out, dtype, stream);
}

}  // namespace glint::ops::cuda
