// The decode GEMV for BF16 weights on Hopper: weight tiles stream into shared memory through the bulk-copy engine
// (cp.async.bulk with an mbarrier per stage), several stages in flight per block, in a grid of two blocks per SM
// that walks all tiles. Internal to Linear (matmul_cuda.cu).
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "ops/activation.h"

namespace glint::ops::cuda::detail {

// y [rows, features] (float) = x · Wᵀ, or with `gated` out [rows, features] (BF16) = act(x·Gᵀ) ⊙ (x·Uᵀ) for
// W = [G; U] of 2·features rows. x, w: BF16, 16-byte aligned, in % 8 == 0, rows 1..8. Returns false, launching
// nothing, when one row (gate and up row when gated) does not fit a stage.
bool gemv_stream(const void* x, int64_t rows, const void* w, int64_t features, int64_t in, float* y, void* gated_out,
                 Activation act, bool gated, int sm_count, cudaStream_t stream);

}  // namespace glint::ops::cuda::detail
