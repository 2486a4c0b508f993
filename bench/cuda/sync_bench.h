// glint_cuda_bench's "sync" line: the cost of one dependent step between decode phases, as a kernel boundary
// (programmatic dependent launch) and as a grid barrier inside one persistent kernel (sync_bench.cu).
#pragma once
#include <cuda_runtime.h>

namespace glint::bench {
void time_phase_sync(cudaStream_t stream, int sm_count);
}  // namespace glint::bench
