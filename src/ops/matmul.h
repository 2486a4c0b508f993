// Matrix products against weight matrices stored [out_features, in_features] (the Hugging Face layout).
#pragma once
#include "core/tensor.h"

namespace glint::ops {

// y[M, N] = x[M, K] · w[N, K]ᵀ, or y += ... when accumulate is set.
// x and y are F32; w is F32, BF16 or F16. Any leading dims of x/y are flattened into M.
// Runs on the thread pool; picks AVX-512 / AVX2 / portable code at run time.
void matmul(const Tensor& x, const Tensor& w, Tensor& y, bool accumulate = false);

// Same on raw pointers, for callers that slice weights (experts) without building tensors.
// w_row_stride is in elements. w_dtype F32/BF16/F16.
void matmul_raw(const float* x, int64_t m, int64_t k, const void* w, DType w_dtype, int64_t w_row_stride,
                int64_t n, float* y, bool accumulate);

}  // namespace glint::ops
