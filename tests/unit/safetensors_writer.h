// A tiny safetensors writer for tests that need small checkpoints, well-formed or deliberately broken:
// tensors are laid out back to back after an 8-byte little-endian header length and a JSON header.
#pragma once
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include <unistd.h>

#include "core/error.h"
#include "core/tensor.h"
#include "io/safetensors.h"

namespace glint::test {

struct TensorBytes {
  std::string name;
  std::string dtype = "F32";  // safetensors spelling
  std::vector<int64_t> shape;
  std::vector<uint8_t> data;
};

inline TensorBytes f32_tensor(const std::string& name, std::vector<int64_t> shape, float fill = 0.5f) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  std::vector<float> values(static_cast<size_t>(n), fill);
  TensorBytes t{name, "F32", std::move(shape), std::vector<uint8_t>(values.size() * 4)};
  std::memcpy(t.data.data(), values.data(), t.data.size());
  return t;
}

// The JSON header for tensors stored in order (data_offsets relative to the end of the header).
inline nlohmann::json safetensors_header(const std::vector<TensorBytes>& tensors,
                                         const nlohmann::json& metadata = nlohmann::json()) {
  nlohmann::json header = nlohmann::json::object();
  uint64_t offset = 0;
  for (const auto& t : tensors) {
    header[t.name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {offset, offset + t.data.size()}}};
    offset += t.data.size();
  }
  if (!metadata.is_null()) header["__metadata__"] = metadata;
  return header;
}

// File bytes from a header given as text (possibly corrupt) and a data section.
inline std::vector<uint8_t> safetensors_bytes(const std::string& header_text, const std::vector<uint8_t>& data) {
  std::vector<uint8_t> out(8);
  const uint64_t n = header_text.size();
  for (int i = 0; i < 8; ++i) out[size_t(i)] = uint8_t(n >> (8 * i));
  out.insert(out.end(), header_text.begin(), header_text.end());
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

inline std::vector<uint8_t> safetensors_bytes(const std::vector<TensorBytes>& tensors,
                                              const nlohmann::json& metadata = nlohmann::json()) {
  std::vector<uint8_t> data;
  for (const auto& t : tensors) data.insert(data.end(), t.data.begin(), t.data.end());
  return safetensors_bytes(safetensors_header(tensors, metadata).dump(), data);
}

inline void write_bytes(const std::filesystem::path& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  GLINT_CHECK(out.good(), "test writer: cannot create ", path.string());
  out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
}

inline void write_text(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  GLINT_CHECK(out.good(), "test writer: cannot create ", path.string());
  out << text;
}

inline void write_safetensors(const std::filesystem::path& path, const std::vector<TensorBytes>& tensors,
                              const nlohmann::json& metadata = nlohmann::json()) {
  write_bytes(path, safetensors_bytes(tensors, metadata));
}

// Every tensor of an existing safetensors file, bytes copied (to rewrite a fixture with changes).
inline std::vector<TensorBytes> read_all_tensors(const std::string& path) {
  auto file = SafetensorsFile::open(path);
  std::vector<TensorBytes> out;
  for (const auto& [name, info] : file->tensors()) {
    Tensor t = file->get(name);
    TensorBytes b{name, "", info.shape, std::vector<uint8_t>(t.nbytes())};
    switch (info.dtype) {
      case DType::F32: b.dtype = "F32"; break;
      case DType::F16: b.dtype = "F16"; break;
      case DType::BF16: b.dtype = "BF16"; break;
      case DType::I64: b.dtype = "I64"; break;
      case DType::I32: b.dtype = "I32"; break;
      default: fail("test writer: unexpected dtype in ", path);
    }
    if (!b.data.empty()) std::memcpy(b.data.data(), t.raw(), b.data.size());
    out.push_back(std::move(b));
  }
  return out;
}

// A fresh empty directory under the system temp dir, removed when the object goes away.
class TempDir {
 public:
  explicit TempDir(const std::string& label) {
    static int counter = 0;
    path_ = std::filesystem::temp_directory_path() /
            ("glint_test_" + label + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::string str() const { return path_.string(); }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

}  // namespace glint::test
