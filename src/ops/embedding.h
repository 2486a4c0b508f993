// Row lookup in an embedding table (F32/BF16/F16) into F32 activations, with an optional scale.
#pragma once
#include <span>

#include "core/tensor.h"

namespace glint::ops {

// out[t, :] = table[ids[t], :] · scale. Ids outside the table are an error naming the id.
void embedding_lookup(const Tensor& table, std::span<const int32_t> ids, float scale, float* out);

}  // namespace glint::ops
