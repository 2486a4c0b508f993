// config.json (+ generation_config.json) of a Hugging Face checkpoint directory.
#pragma once
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"

namespace glint {

struct ModelConfig {
  std::string dir;
  nlohmann::json raw;         // config.json as written
  nlohmann::json text;        // the text model's config: raw["text_config"] for *ForConditionalGeneration
  nlohmann::json generation;  // generation_config.json, or {} when absent
  std::string model_type;     // raw["model_type"]
  std::vector<std::string> architectures;

  bool has(const char* key) const { return text.contains(key) && !text[key].is_null(); }
  // text[key] converted to T; errors name the key and the file when it is missing or of the wrong type.
  template <typename T>
  T get(const char* key) const {
    GLINT_CHECK(has(key), dir, "/config.json: required field '", key, "' is missing");
    try {
      return text[key].get<T>();
    } catch (const nlohmann::json::exception&) {
      fail(dir, "/config.json: field '", key, "' has the wrong type (", text[key].dump(), ")");
    }
  }
  template <typename T>
  T get(const char* key, T fallback) const {
    return has(key) ? get<T>(key) : fallback;
  }
  // End-of-sequence ids from generation_config.json and config.json (either may hold an int or a list).
  std::vector<int32_t> eos_token_ids() const;
  std::optional<int32_t> bos_token_id() const;
  std::optional<int32_t> pad_token_id() const;
};

ModelConfig load_model_config(const std::string& dir);
// A config from JSON text already in memory (synthetic benchmark models); `label` stands for the dir.
ModelConfig model_config_from_json(const nlohmann::json& config, const std::string& label);

}  // namespace glint
