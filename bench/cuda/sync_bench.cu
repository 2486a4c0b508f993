// What one dependent step costs between phases of a decode pass, two ways (glint_cuda_bench "sync"):
//   - a kernel boundary: a chain of kernels launched with programmatic dependent launch in a CUDA graph, as decode
//     runs today (each kernel waits for the one before, then reads what another block of it wrote);
//   - a grid barrier inside one persistent kernel (one block an SM, all resident): the same reads and writes,
//     phases separated by an arrival counter that every block spins on.
// Each step does one dependent round trip through L2, as the small phases of a decode layer do (norms, the
// attention combine). The difference says whether a persistent decode kernel would pay for its complexity.
#include "sync_bench.h"

#include <cstdio>

#include "core/cuda_runtime.h"
#include "graph_timer.h"
#include "ops/cuda_common.cuh"

namespace glint::bench {
namespace {

namespace kc = glint::ops::cuda;

constexpr int kThreads = 256;

// Block b reads the value block b + 1 wrote in the step before and writes its own, one more.
__device__ __forceinline__ void dependent_step(unsigned* values) {
  if (threadIdx.x == 0) {
    const unsigned next = (blockIdx.x + 1) % gridDim.x;
    const unsigned seen = __ldcg(values + next);
    __stcg(values + blockIdx.x, seen + 1);
  }
}

__global__ void __launch_bounds__(kThreads) chained_step_kernel(unsigned* values) {
  kc::let_successor_start();
  kc::wait_for_predecessor();
  dependent_step(values);
}

__device__ __forceinline__ unsigned load_acquire(const unsigned* p) {
  unsigned v;
  asm volatile("ld.acquire.gpu.global.u32 %0, [%1];" : "=r"(v) : "l"(p) : "memory");
  return v;
}

// `steps` steps with a grid barrier after each; `arrivals` is 0 at launch.
__global__ void __launch_bounds__(kThreads) persistent_steps_kernel(unsigned* values, unsigned* arrivals,
                                                                    int steps) {
  for (int step = 0; step < steps; ++step) {
    dependent_step(values);
    __syncthreads();
    if (threadIdx.x == 0) {
      __threadfence();
      atomicAdd(arrivals, 1u);
      const unsigned target = unsigned(step + 1) * gridDim.x;
      while (load_acquire(arrivals) < target) {
      }
    }
    __syncthreads();
  }
}

}  // namespace

void time_phase_sync(cudaStream_t stream, int sm_count) {
  constexpr int kSteps = 64;
  glint::cuda::DeviceBuffer values(size_t(sm_count) * sizeof(unsigned)), arrivals(sizeof(unsigned));
  GLINT_CUDA_CHECK(cudaMemset(values.get(), 0, values.bytes()));
  const dim3 grid{unsigned(sm_count)}, block{unsigned(kThreads)};
  const double chained = time_graph(stream, kSteps, 20, [&](int) {
    kc::launch_chained(chained_step_kernel, grid, block, 0, stream, values.as<unsigned>());
  });
  // The counter's reset is part of each replay (one memset node, well under a step's cost times 64).
  const double persistent = time_graph(stream, 1, 20, [&](int) {
    GLINT_CUDA_CHECK(cudaMemsetAsync(arrivals.get(), 0, sizeof(unsigned), stream));
    persistent_steps_kernel<<<grid, block, 0, stream>>>(values.as<unsigned>(), arrivals.as<unsigned>(), kSteps);
    GLINT_CUDA_LAUNCHED();
  });
  std::printf("phase sync (%d blocks, one dependent L2 round trip a step), us a step: kernel boundary (PDL) %.2f, "
              "grid barrier %.2f\n",
              sm_count, chained, persistent / kSteps);
}

}  // namespace glint::bench
