#include "ops/matmul_cuda.h"

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

// Warps per output feature. Measured on an H200 at the Gemma 3 1B/4B decode shapes (glint_cuda_bench --split N):
// a warp does best with about 100-160 chunks of its row (64 for narrow matrices, whose grids are small anyway),
// so long rows split up to 8 ways; grids that already fill the GPU many times over (the LM head) never split.
int gemv_split(int64_t features, int64_t chunks, int sm_count) {
  if (int64_t(blocks_for(features, kWarpsPerBlock)) >= 16 * int64_t(sm_count)) return 1;
  const int64_t min_chunks = features <= 2048 ? 64 : 100;
  int split = 1;
  while (split < kWarpsPerBlock && chunks / (2 * split) >= min_chunks) split *= 2;
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

template <typename T, bool kGated, int kSplit>
void launch_gemv_rows(const GemvCall<T>& call, cudaStream_t stream) {
  switch (call.rows) {
    case 1: return launch_gemv_kernel<T, kGated, kSplit, 1>(call, stream);
    case 2: return launch_gemv_kernel<T, kGated, kSplit, 2>(call, stream);
    case 3: return launch_gemv_kernel<T, kGated, kSplit, 3>(call, stream);
    case 4: return launch_gemv_kernel<T, kGated, kSplit, 4>(call, stream);
    case 5: return launch_gemv_kernel<T, kGated, kSplit, 5>(call, stream);
    case 6: return launch_gemv_kernel<T, kGated, kSplit, 6>(call, stream);
    case 7: return launch_gemv_kernel<T, kGated, kSplit, 7>(call, stream);
    case 8: return launch_gemv_kernel<T, kGated, kSplit, 8>(call, stream);
  }
  fail("GEMV: ", call.rows, " rows (at most ", kMaxGemvRows, ")");
}

// F32 weights (small test models) take one warp per feature.
template <bool kGated>
void launch_gemv(const GemvCall<float>& call, int, cudaStream_t stream) {
  launch_gemv_rows<float, kGated, 1>(call, stream);
}

template <bool kGated>
void launch_gemv(const GemvCall<bf16>& call, int split, cudaStream_t stream) {
  switch (split) {
    case 1: return launch_gemv_rows<bf16, kGated, 1>(call, stream);
    case 2: return launch_gemv_rows<bf16, kGated, 2>(call, stream);
    case 4: return launch_gemv_rows<bf16, kGated, 4>(call, stream);
    case 8: return launch_gemv_rows<bf16, kGated, 8>(call, stream);
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

int Linear::gemv_split_for(int64_t features, int64_t in_features, DType dtype) const {
  if (gemv_split_ > 0) return gemv_split_;
  const int64_t chunks = in_features / (dtype == DType::BF16 ? 8 : 4);
  return gemv_split(features, chunks, context_.properties().multiProcessorCount);
}

void Linear::launch(const void* x, int64_t rows, const void* w, int64_t features, int64_t in_features, DType dtype,
                    float* y, void* gated_out, Activation act, bool gated, cudaStream_t stream) {
  const int split = gemv_split_for(features, in_features, dtype);
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
    if (gated)
      launch_gemv<true>(call, split, stream);
    else
      launch_gemv<false>(call, split, stream);
  };
  if (dtype == DType::BF16)
    run_typed(bf16{});
  else
    run_typed(float{});
}

void Linear::run(const void* x, int64_t rows, const void* w, int64_t out_features, int64_t in_features, DType dtype,
                 float* y, cudaStream_t stream) {
  if (rows == 0) return;
  if (!force_blas_ && gemv_fits(rows, in_features, dtype, x, w)) {
    launch(x, rows, w, out_features, in_features, dtype, y, nullptr, Activation::GeluTanh, false, stream);
    return;
  }
  run_blas(x, rows, w, out_features, in_features, dtype, y, stream);
}

void Linear::run_gated(const void* x, int64_t rows, const void* w, int64_t width, int64_t in_features, Activation act,
                       DType dtype, void* out, float* scratch, cudaStream_t stream) {
  if (rows == 0) return;
  if (!force_blas_ && gemv_fits(rows, in_features, dtype, x, w)) {
    launch(x, rows, w, width, in_features, dtype, nullptr, out, act, true, stream);
    return;
  }
  run_blas(x, rows, w, 2 * width, in_features, dtype, scratch, stream);
  gated_activation(scratch, rows, width, act, out, dtype, stream);
}

}  // namespace glint::ops::cuda
