// Small helpers for reading tokenizer.json component objects with errors that name the component.
#pragma once
#include <nlohmann/json.hpp>

#include <string>

#include "core/error.h"
#include "io/tokenizer_pattern.h"
#include "io/unicode.h"

namespace glint::tokenizer_detail {

inline std::string component_type(const nlohmann::json& config, const char* kind) {
  GLINT_CHECK(config.is_object(), "tokenizer.json: ", kind, " must be an object");
  auto it = config.find("type");
  GLINT_CHECK(it != config.end() && it->is_string(), "tokenizer.json: ", kind, " has no \"type\"");
  return it->get<std::string>();
}

// config[key] as T, `fallback` when absent or null; a value of the wrong type is an error.
template <typename T>
T field(const nlohmann::json& config, const char* key, const T& fallback) {
  auto it = config.find(key);
  if (it == config.end() || it->is_null()) return fallback;
  try {
    return it->get<T>();
  } catch (const nlohmann::json::exception&) {
    fail("tokenizer.json: field \"", key, "\" of ", config.value("type", std::string("component")),
         " has the wrong type");
  }
}

// The one character of `text` (e.g. a Metaspace replacement).
inline char32_t single_char(const std::string& text, const char* owner) {
  GLINT_CHECK(!text.empty() && unicode::is_valid_utf8(text), "tokenizer.json: ", owner, " needs one character");
  size_t pos = 0;
  const char32_t c = unicode::next_code_point(text, pos);
  GLINT_CHECK(pos == text.size(), "tokenizer.json: ", owner, " needs exactly one character, got '", text, "'");
  return c;
}

// {"String": "..."} or {"Regex": "..."}.
inline Pattern parse_pattern(const nlohmann::json& config, const char* owner) {
  auto it = config.find("pattern");
  GLINT_CHECK(it != config.end() && it->is_object(), "tokenizer.json: ", owner, " has no pattern");
  if (auto s = it->find("String"); s != it->end() && s->is_string()) return Pattern::literal(s->get<std::string>());
  if (auto r = it->find("Regex"); r != it->end() && r->is_string()) {
    try {
      return Pattern::regex(r->get<std::string>());
    } catch (const Error& e) {
      fail("tokenizer.json: ", owner, ": ", e.what());
    }
  }
  fail("tokenizer.json: ", owner, " pattern must be {\"String\": ...} or {\"Regex\": ...}");
}

}  // namespace glint::tokenizer_detail
