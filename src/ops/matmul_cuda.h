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

namespace glint::ops::cuda {

constexpr int64_t kMaxGemvRows = 8;
// From this many rows a BF16 GEMV runs on tensor cores (gemv_mma_kernel). Fewer rows keep the kernels whose warps
// each take one feature (scalar or streaming) and so spread narrow matrices over more of the GPU: on an H200 the
// scalar one was up to 30% faster at 2 rows (gemma3 down, gate/up), the tensor-core kernel up to 1.8× faster at 8
// (docs/PERFORMANCE.md).
constexpr int64_t kTensorCoreGemvRows = 4;

// Up to this many rows a GEMV streams (gemv_stream_kernel) unless its matrix has very many features. Measured on an
// H200 (docs/PERFORMANCE.md): at 3 rows a Gemma 3 layer's four GEMVs took 27.3 µs streamed against 28.4 scalar and
// 33.5 on tensor cores (1B), 67.7 against 73.9 and 74.1 (4B).
constexpr int64_t kStreamGemvRows = 3;

// Rows of at least kLongGemvRow inputs (a down projection) stream up to kStreamLongGemvRows rows instead of taking the
// tensor cores: at 4 rows the H200 took 8.5 µs against 13.5 for gemma3-1b's down (6912 inputs), 23.3 against 25.6 for
// 4B's (10240), while the shorter rows were faster on tensor cores. GLINT_CUDA_GEMV_STREAM_LONG=N sets the rows.
constexpr int64_t kLongGemvRow = 4096;
constexpr int64_t kStreamLongGemvRows = 4;

// Which GEMV kernel products of up to kMaxGemvRows rows take (tests and benchmarks compare them). ByRows: tensor
// cores from kTensorCoreGemvRows BF16 rows; up to kStreamGemvRows rows stream unless the matrix has very many
// features (the LM head), GLINT_CUDA_GEMV=scalar turning that off for comparisons; the rest take the scalar kernel.
// TensorCores applies to BF16 only (F32 products take the scalar kernel).
enum class GemvKernel { ByRows, Scalar, Streaming, TensorCores };

class Linear {
 public:
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

  // Forces cuBLASLt for every size (benchmarks compare the paths).
  void set_force_blas(bool force) { force_blas_ = force; }
  // Warps per output feature (per 8-feature tile on tensor cores) in the GEMV: 1, 2, 4 or 8; 0 picks by shape and SM
  // count. Tests cover each.
  void set_gemv_split(int split) { gemv_split_ = split; }
  void set_gemv_kernel(GemvKernel kernel) { gemv_kernel_ = kernel; }
  // Blocks an SM of the streaming GEMV's grid, at most (0: as many as fit). Fewer leave room for the next kernel of
  // a PDL chain to start loading its weights early. GLINT_CUDA_GEMV_BLOCKS=N sets it (for comparisons).
  void set_stream_blocks_per_sm(int blocks) { stream_blocks_per_sm_ = blocks; }

 private:
  struct Plan;
  void run_blas(const void* x, int64_t rows, const void* w, int64_t out_features, int64_t in_features, DType dtype,
                float* y, cudaStream_t stream);
  GemvKernel gemv_kernel_for(int64_t rows, int64_t features, int64_t in_features, DType dtype) const;
  int gemv_split_for(int64_t features, int64_t in_features, DType dtype, bool tensor_cores) const;
  void launch(const void* x, int64_t rows, const void* w, int64_t features, int64_t in_features, DType dtype,
              float* y, void* gated_out, Activation act, bool gated, cudaStream_t stream);
  const glint::cuda::Context& context_;
  std::map<std::tuple<int64_t, int64_t, int64_t, int>, Plan*> plans_;
  bool force_blas_ = false;
  int gemv_split_ = 0;
  GemvKernel gemv_kernel_ = GemvKernel::ByRows;
  bool stream_few_rows_ = true;
  int stream_blocks_per_sm_ = 0;
  int64_t stream_long_rows_ = kStreamLongGemvRows;
};

}  // namespace glint::ops::cuda

namespace glint::ops::cuda {
// Ceilings for benchmarks, measured on the context's device: device-to-device copy bandwidth (bytes read plus
// bytes written per second, large buffers) and the cuBLASLt BF16 matrix-product rate (FLOP/s) for m×k by k×n on
// random data. Each is the median of repeated timed runs after warm-up.
double measure_copy_bandwidth(const glint::cuda::Context& context);
double measure_blas_flops(const glint::cuda::Context& context, int64_t m, int64_t k, int64_t n);
}  // namespace glint::ops::cuda
