#include "ops/embedding.h"

namespace glint::ops {

void embedding_lookup(const Tensor& table, std::span<const int32_t> ids, float scale, float* out) {
  GLINT_CHECK(table.dims() == 2, "embedding table must be 2-D, got ", table.shape_string());
  const int64_t rows = table.size(0), d = table.size(1);
  for (size_t t = 0; t < ids.size(); ++t) {
    const int64_t id = ids[t];
    GLINT_CHECK(id >= 0 && id < rows, "token id ", id, " is outside the vocabulary (", rows, " rows)");
    float* o = out + int64_t(t) * d;
    switch (table.dtype()) {
      case DType::F32: {
        const float* src = table.data<float>() + id * d;
        for (int64_t i = 0; i < d; ++i) o[i] = src[i] * scale;
        break;
      }
      case DType::BF16: {
        const uint16_t* src = table.data<uint16_t>() + id * d;
        for (int64_t i = 0; i < d; ++i) o[i] = bf16_to_f32(src[i]) * scale;
        break;
      }
      case DType::F16: {
        const uint16_t* src = table.data<uint16_t>() + id * d;
        for (int64_t i = 0; i < d; ++i) o[i] = f16_to_f32(src[i]) * scale;
        break;
      }
      default: fail("embedding table dtype ", dtype_name(table.dtype()), " is not supported");
    }
  }
}

}  // namespace glint::ops
