// Linear layers on the GPU: y = x · Wᵀ with W [out, in] row-major as checkpoints store it.
// Few rows (decode, up to kMaxGemvRows) take a GEMV kernel that streams W once with 16-byte loads; more rows go
// through cuBLASLt. Results are float; inputs are F32 or BF16 (x and W of the same dtype).
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <map>
#include <tuple>

#include "core/cuda_runtime.h"
#include "core/dtype.h"
#include "ops/activation.h"
#include "ops/rms_norm.h"

namespace glint::ops::cuda {

constexpr int64_t kMaxGemvRows = 8;
// Shared memory a GEMV may give its residual prologue (rows · in · (4 + 2) bytes for BF16), without opting in.
constexpr size_t kMaxResidualSmemBytes = 48 * 1024;

// A GEMV input computed by the GEMV itself, the residual step between two sub-blocks (as residual_norm):
//   v = h + post_kind(block; post_weight)     (block null: v = h, and nothing is stored)
//   x = norm_kind(v; norm_weight)             in the weights' dtype
// Every block of the GEMV computes x for itself, so no separate kernel sits between the sub-blocks; the first
// block stores v in h_out, which must not alias h (other blocks are still reading h).
struct ResidualInput {
  const float* h = nullptr;      // [rows, in]
  const float* block = nullptr;  // [rows, in] or null
  const float* post_weight = nullptr;
  NormKind post_kind = NormKind::None;
  const float* norm_weight = nullptr;
  NormKind norm_kind = NormKind::None;
  float eps = 1e-6f;
  float* h_out = nullptr;  // [rows, in]
};

class Linear {
 public:
  // GLINT_CUDA_GEMV_STREAM=0 turns the bulk-copy GEMV off (comparisons).
  explicit Linear(const glint::cuda::Context& context);
  ~Linear();
  Linear(const Linear&) = delete;
  Linear& operator=(const Linear&) = delete;

  // y [rows, out] = x [rows, in] · Wᵀ.
  void run(const void* x, int64_t rows, const void* w, int64_t out_features, int64_t in_features, DType dtype,
           float* y, cudaStream_t stream);
  // out [rows, width] (dtype) = act(x · Gᵀ) ⊙ (x · Uᵀ) with W = [G; U] ([2·width, in]). `scratch` holds
  // rows · 2 · width floats (used above kMaxGemvRows rows, where the product and the activation are two steps).
  void run_gated(const void* x, int64_t rows, const void* w, int64_t width, int64_t in_features, Activation act,
                 DType dtype, void* out, float* scratch, cudaStream_t stream);

  // The same with x computed from a ResidualInput inside the GEMV (decode sizes; see residual_fits).
  bool residual_fits(int64_t rows, int64_t in_features, DType dtype) const;
  void run(const ResidualInput& x, int64_t rows, const void* w, int64_t out_features, int64_t in_features, DType dtype,
           float* y, cudaStream_t stream);
  void run_gated(const ResidualInput& x, int64_t rows, const void* w, int64_t width, int64_t in_features,
                 Activation act, DType dtype, void* out, cudaStream_t stream);

  // Forces cuBLASLt for every size (benchmarks compare the paths).
  void set_force_blas(bool force) { force_blas_ = force; }
  // Warps per output feature in the GEMV (1, 2, 4 or 8; 0 picks by shape and SM count). Tests cover each.
  void set_gemv_split(int split) { gemv_split_ = split; }
  // L2 prefetch per warp and weight row before the GEMV waits for its input, in 16-byte chunks (0: none).
  void set_gemv_prefetch(int64_t chunks) { gemv_prefetch_chunks_ = chunks; }
  // BF16 GEMVs stream weight tiles into shared memory with the bulk-copy engine (default); false: the warp-per-row
  // kernel with the split and prefetch above.
  void set_gemv_streaming(bool streaming) { streaming_ = streaming; }

 private:
  struct Plan;
  void run_blas(const void* x, int64_t rows, const void* w, int64_t out_features, int64_t in_features, DType dtype,
                float* y, cudaStream_t stream);
  int gemv_split_for(int64_t features, int64_t in_features, DType dtype) const;
  void launch(const void* x, const ResidualInput* residual, int64_t rows, const void* w, int64_t features,
              int64_t in_features, DType dtype, float* y, void* gated_out, Activation act, bool gated,
              cudaStream_t stream);
  const glint::cuda::Context& context_;
  std::map<std::tuple<int64_t, int64_t, int64_t, int>, Plan*> plans_;
  bool force_blas_ = false;
  int gemv_split_ = 0;
  int64_t gemv_prefetch_chunks_ = 0;
  bool streaming_ = true;
};

}  // namespace glint::ops::cuda

namespace glint::ops::cuda {
// Ceilings for benchmarks, measured on the context's device: device-to-device copy bandwidth (bytes read plus
// bytes written per second, large buffers) and the cuBLASLt BF16 matrix-product rate (FLOP/s) for m×k by k×n on
// random data. Each is the median of repeated timed runs after warm-up.
double measure_copy_bandwidth(const glint::cuda::Context& context);
double measure_blas_flops(const glint::cuda::Context& context, int64_t m, int64_t k, int64_t n);
}  // namespace glint::ops::cuda
