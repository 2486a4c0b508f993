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

// One warp per output feature (per gate/up pair when kGated). Each lane walks the row in 16-byte pieces, four pieces
// per iteration so that loads overlap; the R input rows share every weight load.
template <typename T, int R, bool kGated>
__global__ void __launch_bounds__(kWarpsPerBlock * 32)
    gemv_kernel(const T* __restrict__ x, const T* __restrict__ w, int64_t features, int64_t in, float* __restrict__ y,
                T* __restrict__ gated_out, Activation act) {
  constexpr int kVec = 16 / sizeof(T);
  const int lane = threadIdx.x & 31;
  const int64_t feature = int64_t(blockIdx.x) * kWarpsPerBlock + (threadIdx.x >> 5);
  if (feature >= features) return;
  const T* w0 = w + feature * in;
  const T* w1 = kGated ? w + (feature + features) * in : nullptr;
  float acc0[R], acc1[R];
#pragma unroll
  for (int r = 0; r < R; ++r) acc0[r] = acc1[r] = 0.0f;
  const int64_t step = 32 * kVec;
  int64_t k = int64_t(lane) * kVec;
  for (; k + 3 * step < in; k += 4 * step) {
    uint4 a[4], b[4];
#pragma unroll
    for (int u = 0; u < 4; ++u) a[u] = load_streaming(w0 + k + u * step);
    if constexpr (kGated) {
#pragma unroll
      for (int u = 0; u < 4; ++u) b[u] = load_streaming(w1 + k + u * step);
    }
#pragma unroll
    for (int r = 0; r < R; ++r) {
#pragma unroll
      for (int u = 0; u < 4; ++u) {
        const uint4 xu = *reinterpret_cast<const uint4*>(x + r * in + k + u * step);
        acc0[r] += dot16(a[u], xu, T{});
        if constexpr (kGated) acc1[r] += dot16(b[u], xu, T{});
      }
    }
  }
  for (; k < in; k += step) {
    const uint4 a0 = load_streaming(w0 + k);
    uint4 b0{};
    if constexpr (kGated) b0 = load_streaming(w1 + k);
#pragma unroll
    for (int r = 0; r < R; ++r) {
      const uint4 x0 = *reinterpret_cast<const uint4*>(x + r * in + k);
      acc0[r] += dot16(a0, x0, T{});
      if constexpr (kGated) acc1[r] += dot16(b0, x0, T{});
    }
  }
#pragma unroll
  for (int r = 0; r < R; ++r) {
    const float g = warp_sum(acc0[r]);
    if constexpr (kGated) {
      const float u = warp_sum(acc1[r]);
      if (lane == 0)
        gated_out[r * features + feature] = from_float<T>(gated(act, g, u));
    } else {
      if (lane == 0) y[r * features + feature] = g;
    }
  }
}

template <typename T, bool kGated>
void launch_gemv(const void* x, int64_t rows, const void* w, int64_t features, int64_t in, float* y, void* gated_out,
                 Activation act, cudaStream_t stream) {
  const unsigned blocks = blocks_for(features, kWarpsPerBlock);
  const T* xt = static_cast<const T*>(x);
  const T* wt = static_cast<const T*>(w);
  T* go = static_cast<T*>(gated_out);
  switch (rows) {
#define GLINT_GEMV_CASE(R) \
  case R: gemv_kernel<T, R, kGated><<<blocks, kWarpsPerBlock * 32, 0, stream>>>(xt, wt, features, in, y, go, act); break;
    GLINT_GEMV_CASE(1)
    GLINT_GEMV_CASE(2)
    GLINT_GEMV_CASE(3)
    GLINT_GEMV_CASE(4)
    GLINT_GEMV_CASE(5)
    GLINT_GEMV_CASE(6)
    GLINT_GEMV_CASE(7)
    GLINT_GEMV_CASE(8)
#undef GLINT_GEMV_CASE
    default: fail("GEMV: ", rows, " rows (at most ", kMaxGemvRows, ")");
  }
  GLINT_CUDA_LAUNCHED();
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

void Linear::run(const void* x, int64_t rows, const void* w, int64_t out_features, int64_t in_features, DType dtype,
                 float* y, cudaStream_t stream) {
  if (rows == 0) return;
  if (!force_blas_ && gemv_fits(rows, in_features, dtype, x, w)) {
    if (dtype == DType::BF16)
      launch_gemv<bf16, false>(x, rows, w, out_features, in_features, y, nullptr, Activation::GeluTanh, stream);
    else
      launch_gemv<float, false>(x, rows, w, out_features, in_features, y, nullptr, Activation::GeluTanh, stream);
    return;
  }
  run_blas(x, rows, w, out_features, in_features, dtype, y, stream);
}

void Linear::run_gated(const void* x, int64_t rows, const void* w, int64_t width, int64_t in_features, Activation act,
                       DType dtype, void* out, float* scratch, cudaStream_t stream) {
  if (rows == 0) return;
  if (!force_blas_ && gemv_fits(rows, in_features, dtype, x, w)) {
    if (dtype == DType::BF16)
      launch_gemv<bf16, true>(x, rows, w, width, in_features, nullptr, out, act, stream);
    else
      launch_gemv<float, true>(x, rows, w, width, in_features, nullptr, out, act, stream);
    return;
  }
  run_blas(x, rows, w, 2 * width, in_features, dtype, scratch, stream);
  gated_activation(scratch, rows, width, act, out, dtype, stream);
}

}  // namespace glint::ops::cuda
