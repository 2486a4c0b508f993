// Element types of tensors, and conversions between the 16-bit floats and float.
#pragma once
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace glint {

enum class DType : uint8_t { F32, F16, BF16, I64, I32, I8, U8, BOOL, F64 };

size_t dtype_size(DType t);
const char* dtype_name(DType t);
// Safetensors spelling ("F32", "BF16", ...); throws Error naming the unknown type.
DType dtype_from_safetensors(std::string_view name);

inline float bf16_to_f32(uint16_t bits) {
  uint32_t u = uint32_t(bits) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// Round to nearest even, as torch does; NaN stays NaN.
inline uint16_t f32_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u);
  return uint16_t(u >> 16);
}

float f16_to_f32(uint16_t bits);
uint16_t f32_to_f16(float f);

// Rounds a float through bf16 / f16, as the reference does when it casts a scalar to the weight dtype.
inline float round_to_bf16(float f) { return bf16_to_f32(f32_to_bf16(f)); }
float round_to_dtype(float f, DType t);

}  // namespace glint
