#include "io/jinja_json.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "io/jinja_unicode.h"

namespace glint::jinja {
namespace {

void append_json_string(std::string& out, std::string_view text, bool ensure_ascii) {
  out += '"';
  auto append_escape = [&](unsigned code) {
    char buf[16];
    std::snprintf(buf, sizeof(buf), "\\u%04x", code & 0xFFFF);
    out += buf;
  };
  for (char32_t c : utf8_decode(text)) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          append_escape(c);
        } else if (ensure_ascii && c >= 0x7F) {
          if (c >= 0x10000) {
            char32_t v = c - 0x10000;
            append_escape(0xD800 | (v >> 10));
            append_escape(0xDC00 | (v & 0x3FF));
          } else {
            append_escape(c);
          }
        } else {
          utf8_append(out, c);
        }
    }
  }
  out += '"';
}

std::string float_text(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
  return python_float_repr(d);
}

// Python converts non-string keys: True -> "true", None -> "null", numbers by repr.
std::string key_text(const Value& key) {
  if (key.is_string()) return key.as_string();
  if (key.is_bool()) return key.as_bool() ? "true" : "false";
  if (key.is_none()) return "null";
  if (key.is_int()) return std::to_string(key.as_int());
  if (key.is_float()) return float_text(key.as_double());
  runtime_fail("keys must be str, int, float, bool or None, not ", type_name(key));
}

class Dumper {
 public:
  explicit Dumper(const JsonDumpOptions& options) : options_(options) {
    item_separator_ = options.item_separator ? *options.item_separator : (options.indent ? "," : ", ");
  }

  void dump(std::string& out, const Value& v, int depth) {
    if (v.is_none()) {
      out += "null";
    } else if (v.is_bool()) {
      out += v.as_bool() ? "true" : "false";
    } else if (v.is_int()) {
      out += std::to_string(v.as_int());
    } else if (v.is_float()) {
      out += float_text(v.as_double());
    } else if (v.is_string()) {
      append_json_string(out, v.as_string(), options_.ensure_ascii);
    } else if (v.is_list() && v.flavor() == Flavor::Plain) {
      const auto& items = v.as_list().items;
      if (items.empty()) {
        out += "[]";
        return;
      }
      out += '[';
      for (size_t i = 0; i < items.size(); ++i) {
        if (i) out += item_separator_;
        newline(out, depth + 1);
        dump(out, items[i], depth + 1);
      }
      newline(out, depth);
      out += ']';
    } else if (v.is_dict()) {
      auto entries = v.as_dict().entries;
      if (entries.empty()) {
        out += "{}";
        return;
      }
      if (options_.sort_keys)
        std::stable_sort(entries.begin(), entries.end(),
                         [](const auto& a, const auto& b) { return less_than(a.first, b.first); });
      out += '{';
      for (size_t i = 0; i < entries.size(); ++i) {
        if (i) out += item_separator_;
        newline(out, depth + 1);
        append_json_string(out, key_text(entries[i].first), options_.ensure_ascii);
        out += options_.key_separator;
        dump(out, entries[i].second, depth + 1);
      }
      newline(out, depth);
      out += '}';
    } else {
      runtime_fail("Object of type ", type_name(v), " is not JSON serializable");
    }
  }

 private:
  void newline(std::string& out, int depth) {
    if (!options_.indent) return;
    out += '\n';
    for (int i = 0; i < depth; ++i) out += *options_.indent;
  }

  const JsonDumpOptions& options_;
  std::string item_separator_;
};

}  // namespace

std::string python_json_dumps(const Value& value, const JsonDumpOptions& options) {
  std::string out;
  Dumper(options).dump(out, value, 0);
  return out;
}

}  // namespace glint::jinja
