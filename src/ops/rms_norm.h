// RMS normalisation over the last dimension, in the variants the four families use.
#pragma once
#include "core/tensor.h"

namespace glint::ops {

enum class NormKind : uint8_t {
  None,        // identity
  Rms,         // x̂ · w            (Gemma 3n, Gemma 4, Llama 4 in float32)
  RmsPlusOne,  // x̂ · (1 + w)      (Gemma 3: weights stored zero-centred)
  RmsNoWeight, // x̂                (value norms, router norms, Llama 4 L2 q/k norm)
};

const char* norm_kind_name(NormKind k);

// out = norm(x) row by row; x and out are F32 [.., D] (out may alias x); weight F32 [D] (unused for
// RmsNoWeight/None). x̂ = x / sqrt(mean(x²) + eps).
void rms_norm(const Tensor& x, const Tensor& weight, NormKind kind, float eps, Tensor& out);
// Same on raw rows of length d.
void rms_norm_rows(const float* x, int64_t rows, int64_t d, const float* weight, NormKind kind, float eps,
                   float* out);

}  // namespace glint::ops
