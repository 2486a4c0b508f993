#include "io/model_config.h"

#include <algorithm>
#include <filesystem>
#include <fstream>

namespace glint {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {
json read_json(const fs::path& path) {
  std::ifstream in(path);
  GLINT_CHECK(in.good(), "cannot read ", path.string());
  try {
    return json::parse(in);
  } catch (const json::exception& e) {
    fail(path.string(), ": invalid JSON: ", e.what());
  }
}

void add_ids(const json& value, std::vector<int32_t>& out) {
  if (value.is_number_integer()) {
    out.push_back(value.get<int32_t>());
  } else if (value.is_array()) {
    for (auto& v : value)
      if (v.is_number_integer()) out.push_back(v.get<int32_t>());
  }
}

std::optional<int32_t> first_id(const ModelConfig& c, const char* key) {
  for (const json* j : {&c.generation, &c.text, &c.raw}) {
    if (j->contains(key) && (*j)[key].is_number_integer()) return (*j)[key].get<int32_t>();
  }
  return std::nullopt;
}
}  // namespace

ModelConfig model_config_from_json(const nlohmann::json& config, const std::string& label) {
  ModelConfig c;
  c.dir = label;
  c.raw = config;
  GLINT_CHECK(c.raw.is_object(), label, "/config.json is not a JSON object");
  GLINT_CHECK(c.raw.contains("model_type") && c.raw["model_type"].is_string(), label,
              "/config.json has no model_type");
  c.model_type = c.raw["model_type"].get<std::string>();
  if (c.raw.contains("architectures") && c.raw["architectures"].is_array())
    for (auto& a : c.raw["architectures"])
      if (a.is_string()) c.architectures.push_back(a.get<std::string>());
  c.text = c.raw.contains("text_config") && c.raw["text_config"].is_object() ? c.raw["text_config"] : c.raw;
  c.generation = json::object();
  return c;
}

ModelConfig load_model_config(const std::string& dir) {
  GLINT_CHECK(fs::is_directory(dir), "model directory '", dir, "' does not exist");
  const fs::path config_path = fs::path(dir) / "config.json";
  GLINT_CHECK(fs::exists(config_path), "'", dir, "' has no config.json");
  ModelConfig c = model_config_from_json(read_json(config_path), dir);
  const fs::path gen = fs::path(dir) / "generation_config.json";
  c.generation = fs::exists(gen) ? read_json(gen) : json::object();
  return c;
}

std::vector<int32_t> ModelConfig::eos_token_ids() const {
  std::vector<int32_t> ids;
  for (const json* j : {&generation, &text, &raw})
    if (j->contains("eos_token_id")) add_ids((*j)["eos_token_id"], ids);
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

std::optional<int32_t> ModelConfig::bos_token_id() const { return first_id(*this, "bos_token_id"); }
std::optional<int32_t> ModelConfig::pad_token_id() const { return first_id(*this, "pad_token_id"); }

}  // namespace glint
