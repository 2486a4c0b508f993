// NumPy .npy files (version 1.0, little-endian float32 / int32 / int64), for exchanging arrays with checks.
#pragma once
#include <string>

#include "core/tensor.h"

namespace glint {

void write_npy(const std::string& path, const Tensor& tensor);
Tensor read_npy(const std::string& path);

}  // namespace glint
