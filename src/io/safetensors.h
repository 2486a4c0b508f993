// Memory-mapped safetensors files and Hugging Face checkpoint directories (single file or sharded).
#pragma once
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace glint {

struct TensorInfo {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  std::string file;  // which file holds it, for error messages
};

class SafetensorsFile {
 public:
  // Maps the file and validates its header: every tensor must lie inside the file with the size its
  // dtype and shape imply. Errors name the file and the problem (truncated, corrupt header, ...).
  static std::shared_ptr<SafetensorsFile> open(const std::string& path);
  const std::string& path() const { return path_; }
  const std::map<std::string, TensorInfo>& tensors() const { return infos_; }
  // A zero-copy view of the tensor's bytes; the view keeps the mapping alive.
  Tensor get(const std::string& name) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  ~SafetensorsFile();

 private:
  struct Mapping;
  std::string path_;
  std::shared_ptr<Mapping> mapping_;
  std::map<std::string, TensorInfo> infos_;
  std::map<std::string, size_t> offsets_;  // absolute byte offset of each tensor
  std::map<std::string, std::string> metadata_;
};

// All tensors of a checkpoint directory: model.safetensors, or model.safetensors.index.json + shards, or
// every *.safetensors file in the directory.
class Checkpoint {
 public:
  static Checkpoint open(const std::string& dir);
  // A checkpoint with no tensors (for synthetic weights); `label` names it in messages.
  static Checkpoint empty(const std::string& label) {
    Checkpoint c;
    c.dir_ = label;
    return c;
  }
  bool has(const std::string& name) const { return where_.count(name) > 0; }
  const TensorInfo& info(const std::string& name) const;
  Tensor get(const std::string& name) const;
  std::vector<std::string> names() const;
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  std::vector<std::shared_ptr<SafetensorsFile>> files_;
  std::map<std::string, size_t> where_;  // tensor name -> index into files_
};

}  // namespace glint
