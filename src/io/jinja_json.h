// json.dumps exactly as CPython writes it: transformers' chat templates serialize tools and arguments with
// json.dumps(x, ensure_ascii=False, indent=..., separators=..., sort_keys=...).
#pragma once
#include <optional>
#include <string>

#include "io/jinja_value.h"

namespace glint::jinja {

struct JsonDumpOptions {
  std::optional<std::string> indent;  // nullopt: single line; "" / "  " ...: one item per line
  std::optional<std::string> item_separator;  // default ", " without indent, "," with indent
  std::string key_separator = ": ";
  bool sort_keys = false;
  bool ensure_ascii = false;
};

std::string python_json_dumps(const Value& value, const JsonDumpOptions& options);

}  // namespace glint::jinja
