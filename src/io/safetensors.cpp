#include "io/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

namespace glint {
namespace fs = std::filesystem;
using json = nlohmann::json;

struct SafetensorsFile::Mapping : Storage {
  void* base = nullptr;
  size_t size = 0;
  ~Mapping() override {
    if (base && size) munmap(base, size);
  }
};

SafetensorsFile::~SafetensorsFile() = default;

std::shared_ptr<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  auto file = std::shared_ptr<SafetensorsFile>(new SafetensorsFile());
  file->path_ = path;
  int fd = ::open(path.c_str(), O_RDONLY);
  GLINT_CHECK(fd >= 0, "cannot open ", path, ": ", std::strerror(errno));
  struct stat st {};
  fstat(fd, &st);
  const size_t size = size_t(st.st_size);
  if (size < 8) {
    ::close(fd);
    fail(path, ": not a safetensors file (", size, " bytes, too short for a header)");
  }
  auto mapping = std::make_shared<Mapping>();
  mapping->base = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  GLINT_CHECK(mapping->base != MAP_FAILED, "cannot map ", path, ": ", std::strerror(errno));
  mapping->size = size;
  file->mapping_ = mapping;

  const auto* bytes = static_cast<const uint8_t*>(mapping->base);
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = header_len << 8 | bytes[i];
  GLINT_CHECK(header_len <= size - 8, path, ": corrupt or truncated safetensors file (header of ", header_len,
              " bytes, file has ", size, ")");
  json header;
  try {
    header = json::parse(bytes + 8, bytes + 8 + header_len);
  } catch (const json::exception& e) {
    fail(path, ": corrupt safetensors header: ", e.what());
  }
  GLINT_CHECK(header.is_object(), path, ": safetensors header is not a JSON object");
  const size_t data_start = 8 + size_t(header_len);
  const size_t data_size = size - data_start;
  for (auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      if (entry.is_object())
        for (auto& [k, v] : entry.items())
          if (v.is_string()) file->metadata_[k] = v.get<std::string>();
      continue;
    }
    try {
      TensorInfo info;
      info.name = name;
      info.file = path;
      info.dtype = dtype_from_safetensors(entry.at("dtype").get<std::string>());
      info.shape = entry.at("shape").get<std::vector<int64_t>>();
      auto offsets = entry.at("data_offsets").get<std::vector<uint64_t>>();
      GLINT_CHECK(offsets.size() == 2 && offsets[0] <= offsets[1], "bad data_offsets");
      uint64_t numel = 1, nbytes = 0;
      bool overflow = false;  // a wrapped-around size could otherwise match the offsets
      for (int64_t d : info.shape) {
        GLINT_CHECK(d >= 0, "negative dimension");
        overflow |= __builtin_mul_overflow(numel, uint64_t(d), &numel);
      }
      overflow |= __builtin_mul_overflow(numel, uint64_t(dtype_size(info.dtype)), &nbytes);
      GLINT_CHECK(!overflow, "has a shape too large to address");
      GLINT_CHECK(offsets[1] - offsets[0] == nbytes, "has ", offsets[1] - offsets[0],
                  " bytes but its shape and dtype need ", nbytes);
      GLINT_CHECK(offsets[1] <= data_size, "ends at byte ", offsets[1], " of the data section, which has only ",
                  data_size, " bytes (file truncated?)");
      GLINT_CHECK(info.shape.size() <= size_t(Tensor::kMaxDims), "has ", info.shape.size(), " dimensions");
      file->offsets_[name] = data_start + offsets[0];
      file->infos_[name] = std::move(info);
    } catch (const Error& e) {
      fail(path, ": tensor '", name, "' ", e.what());
    } catch (const json::exception& e) {
      fail(path, ": tensor '", name, "' has a malformed header entry: ", e.what());
    }
  }
  return file;
}

Tensor SafetensorsFile::get(const std::string& name) const {
  auto it = infos_.find(name);
  GLINT_CHECK(it != infos_.end(), path_, " has no tensor '", name, "'");
  auto* base = static_cast<uint8_t*>(mapping_->base) + offsets_.at(name);
  // The mapping is read-only; views of weights are never written through.
  return Tensor::view(base, it->second.shape, it->second.dtype, mapping_);
}

Checkpoint Checkpoint::open(const std::string& dir) {
  Checkpoint ckpt;
  ckpt.dir_ = dir;
  GLINT_CHECK(fs::is_directory(dir), "model directory '", dir, "' does not exist or is not a directory");
  std::vector<std::string> paths;
  const fs::path index = fs::path(dir) / "model.safetensors.index.json";
  const fs::path single = fs::path(dir) / "model.safetensors";
  std::map<std::string, std::string> expected_location;
  if (fs::exists(index)) {
    json j;
    try {
      std::ifstream in(index);
      j = json::parse(in);
    } catch (const json::exception& e) {
      fail(index.string(), ": invalid JSON: ", e.what());
    }
    GLINT_CHECK(j.contains("weight_map") && j["weight_map"].is_object(), index.string(), " has no weight_map");
    std::set<std::string> shards;
    for (auto& [name, shard] : j["weight_map"].items()) {
      GLINT_CHECK(shard.is_string(), index.string(), ": weight_map entry for tensor '", name,
                  "' is not a file name (", shard.dump(), ")");
      shards.insert(shard.get<std::string>());
      expected_location[name] = shard.get<std::string>();
    }
    for (const auto& s : shards) {
      GLINT_CHECK(fs::exists(fs::path(dir) / s), index.string(), " names shard '", s, "', which is missing");
      paths.push_back((fs::path(dir) / s).string());
    }
  } else if (fs::exists(single)) {
    paths.push_back(single.string());
  } else {
    for (auto& entry : fs::directory_iterator(dir))
      if (entry.path().extension() == ".safetensors") paths.push_back(entry.path().string());
    std::sort(paths.begin(), paths.end());
  }
  GLINT_CHECK(!paths.empty(), "no *.safetensors weights in '", dir, "'");
  for (const auto& p : paths) {
    auto file = SafetensorsFile::open(p);
    for (auto& [name, info] : file->tensors()) {
      GLINT_CHECK(!ckpt.where_.count(name), "tensor '", name, "' appears in two files: ",
                  ckpt.files_[ckpt.where_[name]]->path(), " and ", p);
      ckpt.where_[name] = ckpt.files_.size();
    }
    ckpt.files_.push_back(file);
  }
  for (auto& [name, shard] : expected_location)
    GLINT_CHECK(ckpt.where_.count(name), index.string(), " lists tensor '", name, "' in ", shard,
                ", but that file does not contain it");
  return ckpt;
}

const TensorInfo& Checkpoint::info(const std::string& name) const {
  auto it = where_.find(name);
  GLINT_CHECK(it != where_.end(), "checkpoint ", dir_, " has no tensor '", name, "'");
  return files_[it->second]->tensors().at(name);
}

Tensor Checkpoint::get(const std::string& name) const {
  auto it = where_.find(name);
  GLINT_CHECK(it != where_.end(), "checkpoint ", dir_, " has no tensor '", name, "'");
  return files_[it->second]->get(name);
}

std::vector<std::string> Checkpoint::names() const {
  std::vector<std::string> out;
  for (auto& [n, _] : where_) out.push_back(n);
  return out;
}

}  // namespace glint
