#include "ops/gemv_stream_cuda.h"

#include <algorithm>

#include "ops/cuda_common.cuh"

namespace glint::ops::cuda::detail {
namespace {

constexpr int kWarps = 8;
constexpr int kMaxRowsPerTile = 8;
constexpr int64_t kTargetTileBytes = 16 * 1024;
constexpr int64_t kStagesBytes = 96 * 1024;  // per block; two blocks share an SM's 228 KiB
constexpr int kMaxStages = 8;

__device__ __forceinline__ uint32_t shared_address(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}
__device__ __forceinline__ void barrier_init(uint64_t* bar) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], 1;" ::"r"(shared_address(bar)) : "memory");
}
__device__ __forceinline__ void barrier_expect_bytes(uint64_t* bar, uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(shared_address(bar)), "r"(bytes)
               : "memory");
}
__device__ __forceinline__ void barrier_wait(uint64_t* bar, uint32_t parity) {
  asm volatile(
      "{\n"
      ".reg .pred done;\n"
      "WAIT_%=:\n"
      "mbarrier.try_wait.parity.shared::cta.b64 done, [%0], %1;\n"
      "@!done bra WAIT_%=;\n"
      "}\n" ::"r"(shared_address(bar)),
      "r"(parity)
      : "memory");
}
// Global → shared, completing `bytes` on the barrier.
__device__ __forceinline__ void bulk_copy(void* dst, const void* src, uint32_t bytes, uint64_t* bar) {
  asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];" ::"r"(
                   shared_address(dst)),
               "l"(src), "r"(bytes), "r"(shared_address(bar))
               : "memory");
}

__device__ __forceinline__ float dot8(uint4 a, uint4 b) {
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

struct StreamArgs {
  const bf16* x;
  const bf16* w;
  int64_t features, in;
  float* y;
  bf16* gated_out;
  Activation act;
  int tile_rows;  // features per tile (1, 2, 4 or 8)
  int stages;
  int64_t tiles;
};

// Block b takes tiles b, b + grid, ...; a tile is tile_rows consecutive features (their gate rows, then their up
// rows when gated), copied whole into one stage. The copies of the first `stages` tiles are issued before the wait
// for the previous kernel: weights never change. Within a tile, 8 / tile_rows warps share a row, each over its own
// range of 16-byte chunks; their sums are added in a fixed order.
template <int R, bool kGated>
__global__ void __launch_bounds__(kWarps * 32) gemv_stream_kernel(const StreamArgs a) {
  extern __shared__ __align__(128) unsigned char stage_memory[];
  __shared__ uint64_t full[kMaxStages];
  __shared__ float partial[2][kWarps][R][kGated ? 2 : 1];
  constexpr int kOutputs = kGated ? 2 : 1;
  let_successor_start();
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int64_t row_bytes = a.in * 2;
  const int64_t stage_bytes = int64_t(a.tile_rows) * kOutputs * row_bytes;
  const int64_t my_tiles = a.tiles > blockIdx.x ? (a.tiles - blockIdx.x + gridDim.x - 1) / gridDim.x : 0;

  auto issue = [&](int64_t k) {  // tile k of this block into stage k % stages (one thread)
    const int64_t tile = blockIdx.x + k * gridDim.x;
    const int64_t first = tile * a.tile_rows;
    const int64_t rows = a.features - first < a.tile_rows ? a.features - first : int64_t(a.tile_rows);
    const uint32_t bytes = uint32_t(rows * row_bytes);
    const int stage = int(k % a.stages);
    unsigned char* dst = stage_memory + stage * stage_bytes;
    barrier_expect_bytes(&full[stage], bytes * kOutputs);
    bulk_copy(dst, a.w + first * a.in, bytes, &full[stage]);
    if constexpr (kGated) bulk_copy(dst + a.tile_rows * row_bytes, a.w + (first + a.features) * a.in, bytes, &full[stage]);
  };
  if (tid == 0) {
    for (int s = 0; s < a.stages; ++s) barrier_init(&full[s]);
    asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
    for (int64_t k = 0; k < a.stages && k < my_tiles; ++k) issue(k);
  }
  __syncthreads();
  wait_for_predecessor();

  const int warps_per_row = kWarps / a.tile_rows;
  const int row_in_tile = warp / warps_per_row, part = warp % warps_per_row;
  const int64_t chunks = a.in / 8;
  const int64_t begin = chunks * part / warps_per_row, end = chunks * (part + 1) / warps_per_row;
  const uint4* xv = reinterpret_cast<const uint4*>(a.x);

  for (int64_t k = 0; k < my_tiles; ++k) {
    const int stage = int(k % a.stages);
    barrier_wait(&full[stage], uint32_t((k / a.stages) & 1));
    const int64_t feature = (blockIdx.x + k * gridDim.x) * a.tile_rows + row_in_tile;
    const uint4* wg = reinterpret_cast<const uint4*>(stage_memory + stage * stage_bytes + row_in_tile * row_bytes);
    const uint4* wu = reinterpret_cast<const uint4*>(stage_memory + stage * stage_bytes +
                                                     (a.tile_rows + row_in_tile) * row_bytes);
    float acc0[R], acc1[R];
#pragma unroll
    for (int r = 0; r < R; ++r) acc0[r] = acc1[r] = 0.0f;
    if (feature < a.features) {
      for (int64_t c = begin + lane; c < end; c += 32) {
        const uint4 g = wg[c];
        uint4 u{};
        if constexpr (kGated) u = wu[c];
#pragma unroll
        for (int r = 0; r < R; ++r) {
          const uint4 xr = __ldg(xv + r * chunks + c);
          acc0[r] += dot8(g, xr);
          if constexpr (kGated) acc1[r] += dot8(u, xr);
        }
      }
    }
    const int buffer = int(k & 1);
#pragma unroll
    for (int r = 0; r < R; ++r) {
      const float s0 = warp_sum(acc0[r]);
      const float s1 = kGated ? warp_sum(acc1[r]) : 0.0f;
      if (lane == 0) {
        partial[buffer][warp][r][0] = s0;
        if constexpr (kGated) partial[buffer][warp][r][kOutputs - 1] = s1;
      }
    }
    __syncthreads();  // partial sums are in, and every warp is done with this stage
    if (tid == 0 && k + a.stages < my_tiles) issue(k + a.stages);
    if (tid < a.tile_rows * R) {
      const int row = tid / R, r = tid % R;
      const int64_t f = (blockIdx.x + k * gridDim.x) * a.tile_rows + row;
      if (f < a.features) {
        float g = 0.0f, u = 0.0f;
        for (int p = 0; p < warps_per_row; ++p) {
          g += partial[buffer][row * warps_per_row + p][r][0];
          if constexpr (kGated) u += partial[buffer][row * warps_per_row + p][r][kOutputs - 1];
        }
        if constexpr (kGated)
          a.gated_out[r * a.features + f] = __float2bfloat16_rn(gated(a.act, g, u));
        else
          a.y[r * a.features + f] = g;
      }
    }
  }
}

template <int R, bool kGated>
void launch(const StreamArgs& a, unsigned grid, size_t smem, cudaStream_t stream) {
  static bool configured = false;  // the attribute is per kernel and process; set once
  if (!configured) {
    GLINT_CUDA_CHECK(cudaFuncSetAttribute(gemv_stream_kernel<R, kGated>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                          int(kStagesBytes + 1024)));
    configured = true;
  }
  launch_chained(gemv_stream_kernel<R, kGated>, grid, kWarps * 32, smem, stream, a);
}

template <bool kGated>
void launch_rows(const StreamArgs& a, int64_t rows, unsigned grid, size_t smem, cudaStream_t stream) {
  switch (rows) {
    case 1: return launch<1, kGated>(a, grid, smem, stream);
    case 2: return launch<2, kGated>(a, grid, smem, stream);
    case 3: return launch<3, kGated>(a, grid, smem, stream);
    case 4: return launch<4, kGated>(a, grid, smem, stream);
    case 5: return launch<5, kGated>(a, grid, smem, stream);
    case 6: return launch<6, kGated>(a, grid, smem, stream);
    case 7: return launch<7, kGated>(a, grid, smem, stream);
    case 8: return launch<8, kGated>(a, grid, smem, stream);
  }
  fail("GEMV: ", rows, " rows (1 to 8)");
}

}  // namespace

bool gemv_stream(const void* x, int64_t rows, const void* w, int64_t features, int64_t in, float* y, void* gated_out,
                 Activation act, bool gated, int sm_count, cudaStream_t stream) {
  const int64_t feature_bytes = in * 2 * (gated ? 2 : 1);
  if (feature_bytes * 2 > kStagesBytes || in % 8 != 0 || rows < 1 || rows > 8) return false;
  const int64_t blocks_cap = 2 * int64_t(sm_count);
  // Features per tile: up to the target tile size, fewer while that leaves blocks under four tiles each.
  int tile_rows = 1;
  while (tile_rows < kMaxRowsPerTile && feature_bytes * tile_rows * 2 <= kTargetTileBytes &&
         (features + tile_rows * 2 - 1) / (tile_rows * 2) >= 4 * blocks_cap)
    tile_rows *= 2;
  StreamArgs a;
  a.x = static_cast<const bf16*>(x);
  a.w = static_cast<const bf16*>(w);
  a.features = features;
  a.in = in;
  a.y = y;
  a.gated_out = static_cast<bf16*>(gated_out);
  a.act = act;
  a.tile_rows = tile_rows;
  const int64_t stage_bytes = feature_bytes * tile_rows;
  a.stages = int(std::min<int64_t>(kMaxStages, kStagesBytes / stage_bytes));
  a.tiles = (features + tile_rows - 1) / tile_rows;
  const unsigned grid = unsigned(std::min(a.tiles, blocks_cap));
  const size_t smem = size_t(a.stages) * size_t(stage_bytes);
  if (gated)
    launch_rows<true>(a, rows, grid, smem, stream);
  else
    launch_rows<false>(a, rows, grid, smem, stream);
  return true;
}

}  // namespace glint::ops::cuda::detail
