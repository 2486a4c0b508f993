// Shared helpers for tests: paths to committed fixtures and goldens, tolerances.
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "io/safetensors.h"

namespace glint::test {

// GLINT_SOURCE_DIR in the environment overrides the build-time path (a test binary run from another checkout).
inline std::string source_dir() {
  if (const char* dir = std::getenv("GLINT_SOURCE_DIR")) return dir;
  return GLINT_SOURCE_DIR;
}
inline std::string fixture_dir(const std::string& name) {
  return source_dir() + "/tests/reference/fixtures/" + name;
}
inline bool has_fixture(const std::string& name) {
  return std::filesystem::exists(fixture_dir(name) + "/golden.safetensors");
}

// Tensors of a golden file as float / int vectors.
struct Golden {
  std::shared_ptr<SafetensorsFile> file;
  nlohmann::json meta;
  explicit Golden(const std::string& fixture) {
    file = SafetensorsFile::open(fixture_dir(fixture) + "/golden.safetensors");
    std::ifstream in(fixture_dir(fixture) + "/golden.json");
    if (in) meta = nlohmann::json::parse(in);
  }
  bool has(const std::string& name) const { return file->tensors().count(name) > 0; }
  std::vector<int64_t> shape(const std::string& name) const { return file->tensors().at(name).shape; }
  std::vector<float> floats(const std::string& name) const {
    Tensor t = file->get(name).to_f32();
    return {t.f32(), t.f32() + t.numel()};
  }
  std::vector<int32_t> ids(const std::string& name) const {
    Tensor t = file->get(name);
    std::vector<int32_t> out(size_t(t.numel()));
    for (int64_t i = 0; i < t.numel(); ++i)
      out[size_t(i)] = t.dtype() == DType::I64 ? int32_t(t.data<int64_t>()[i]) : t.data<int32_t>()[i];
    return out;
  }
};

inline float max_abs_diff(const float* a, const float* b, size_t n) {
  float m = 0;
  for (size_t i = 0; i < n; ++i) {
    if (std::isnan(a[i]) || std::isnan(b[i])) return INFINITY;
    m = std::max(m, std::fabs(a[i] - b[i]));
  }
  return m;
}

}  // namespace glint::test
