// Python string formatting used by templates: "fmt" % args (also the format filter) and str.format.
#include <cmath>
#include <cstdio>

#include "io/jinja_interpreter.h"
#include "io/jinja_unicode.h"

namespace glint::jinja {
namespace {

struct Spec {
  std::string flags;
  int width = -1;
  int precision = -1;
  char type = 's';
  char fill = ' ';
  char align = 0;
};

std::string pad(const std::string& text, int width, char align, char fill) {
  int len = static_cast<int>(utf8_length(text));
  if (width <= len) return text;
  int margin = width - len;
  if (align == '<') return text + std::string(static_cast<size_t>(margin), fill);
  if (align == '^') {
    int left = margin / 2;
    return std::string(static_cast<size_t>(left), fill) + text + std::string(static_cast<size_t>(margin - left), fill);
  }
  return std::string(static_cast<size_t>(margin), fill) + text;
}

std::string format_number(const Value& v, const Spec& spec) {
  std::string fmt = "%" + spec.flags;
  if (spec.width >= 0) fmt += std::to_string(spec.width);
  if (spec.precision >= 0) fmt += "." + std::to_string(spec.precision);
  char buf[512];
  char type = spec.type;
  if (type == 'd' || type == 'i' || type == 'u' || type == 'x' || type == 'X' || type == 'o') {
    if (!v.is_number()) runtime_fail("%", type, " format: a real number is required, not ", type_name(v));
    long long i = v.is_float() ? static_cast<long long>(std::trunc(v.as_double())) : v.as_int();
    fmt += "ll";
    fmt += type == 'i' || type == 'u' ? 'd' : type;
    std::snprintf(buf, sizeof(buf), fmt.c_str(), i);
    return buf;
  }
  if (!v.is_number()) runtime_fail("must be real number, not ", type_name(v));
  fmt += type;
  std::snprintf(buf, sizeof(buf), fmt.c_str(), v.as_double());
  return buf;
}

}  // namespace

std::string percent_format(const std::string& format, const Value& args) {
  std::vector<Value> positional = args.is_tuple() ? args.as_list().items : std::vector<Value>{args};
  size_t next = 0;
  std::string out;
  for (size_t i = 0; i < format.size(); ++i) {
    if (format[i] != '%') {
      out += format[i];
      continue;
    }
    if (++i >= format.size()) runtime_fail("incomplete format");
    if (format[i] == '%') {
      out += '%';
      continue;
    }
    const Value* arg = nullptr;
    Value keyed;
    if (format[i] == '(') {
      size_t close = format.find(')', i);
      if (close == std::string::npos) runtime_fail("incomplete format key");
      if (!args.is_dict()) runtime_fail("format requires a mapping");
      const Value* found = args.as_dict().find(std::string_view(format).substr(i + 1, close - i - 1));
      if (!found) runtime_fail("'", format.substr(i + 1, close - i - 1), "'");
      keyed = *found;
      arg = &keyed;
      i = close + 1;
    }
    Spec spec;
    while (i < format.size() && std::string("-+ #0").find(format[i]) != std::string::npos) spec.flags += format[i++];
    if (i < format.size() && std::isdigit(static_cast<unsigned char>(format[i]))) {
      spec.width = 0;
      while (i < format.size() && std::isdigit(static_cast<unsigned char>(format[i]))) spec.width = spec.width * 10 + (format[i++] - '0');
    }
    if (i < format.size() && format[i] == '.') {
      ++i;
      spec.precision = 0;
      while (i < format.size() && std::isdigit(static_cast<unsigned char>(format[i]))) spec.precision = spec.precision * 10 + (format[i++] - '0');
    }
    if (i >= format.size()) runtime_fail("incomplete format");
    spec.type = format[i];
    if (!arg) {
      if (next >= positional.size()) runtime_fail("not enough arguments for format string");
      arg = &positional[next++];
    }
    std::string piece;
    switch (spec.type) {
      case 's': piece = to_str(*arg); break;
      case 'r': case 'a': piece = repr(*arg); break;
      case 'c': piece = arg->is_string() ? arg->as_string() : utf8_encode(std::u32string(1, static_cast<char32_t>(arg->as_int()))); break;
      case 'd': case 'i': case 'u': case 'x': case 'X': case 'o': case 'e': case 'E': case 'f': case 'F': case 'g': case 'G':
        out += format_number(*arg, spec);
        continue;
      default: runtime_fail("unsupported format character '", std::string(1, spec.type), "'");
    }
    if (spec.precision >= 0) piece = utf8_encode(utf8_decode(piece).substr(0, static_cast<size_t>(spec.precision)));
    out += pad(piece, spec.width, spec.flags.find('-') != std::string::npos ? '<' : '>', ' ');
  }
  // Python rejects leftover arguments, except for a mapping argument (used by %(name)s or not at all).
  bool mapping_like = args.is_dict() || args.is_plain_list() || args.is_undefined() ||
                      args.flavor() == Flavor::Range;
  if (!mapping_like && next < positional.size())
    runtime_fail("not all arguments converted during string formatting");
  return out;
}

std::string brace_format(const std::string& format, CallArgs& args) {
  std::string out;
  size_t auto_index = 0;
  for (size_t i = 0; i < format.size(); ++i) {
    char c = format[i];
    if (c == '}') {
      if (i + 1 < format.size() && format[i + 1] == '}') ++i;
      else runtime_fail("Single '}' encountered in format string");
      out += '}';
      continue;
    }
    if (c != '{') {
      out += c;
      continue;
    }
    if (i + 1 < format.size() && format[i + 1] == '{') {
      out += '{';
      ++i;
      continue;
    }
    size_t close = format.find('}', i);
    if (close == std::string::npos) runtime_fail("Single '{' encountered in format string");
    std::string field = format.substr(i + 1, close - i - 1);
    i = close;
    std::string spec_text, conversion;
    if (size_t colon = field.find(':'); colon != std::string::npos) {
      spec_text = field.substr(colon + 1);
      field = field.substr(0, colon);
    }
    if (size_t bang = field.find('!'); bang != std::string::npos) {
      conversion = field.substr(bang + 1);
      field = field.substr(0, bang);
    }
    Value value;
    if (field.empty()) {
      if (auto_index >= args.positional.size()) runtime_fail("Replacement index ", auto_index, " out of range for positional args tuple");
      value = args.positional[auto_index++];
    } else if (std::isdigit(static_cast<unsigned char>(field[0]))) {
      size_t index = std::stoul(field);
      if (index >= args.positional.size()) runtime_fail("Replacement index ", index, " out of range for positional args tuple");
      value = args.positional[index];
    } else {
      bool found = false;
      for (const auto& [name, v] : args.keyword) {
        if (name == field) {
          value = v;
          found = true;
        }
      }
      if (!found) runtime_fail("'", field, "'");
    }
    std::string text;
    Spec spec;
    size_t p = 0;
    if (spec_text.size() >= 2 && std::string("<>^").find(spec_text[1]) != std::string::npos) {
      spec.fill = spec_text[0];
      spec.align = spec_text[1];
      p = 2;
    } else if (!spec_text.empty() && std::string("<>^").find(spec_text[0]) != std::string::npos) {
      spec.align = spec_text[0];
      p = 1;
    }
    if (p < spec_text.size() && spec_text[p] == '0') {
      spec.fill = '0';
      if (!spec.align) spec.align = '>';
      ++p;
    }
    while (p < spec_text.size() && std::isdigit(static_cast<unsigned char>(spec_text[p]))) spec.width = std::max(spec.width, 0) * 10 + (spec_text[p++] - '0');
    if (p < spec_text.size() && spec_text[p] == '.') {
      ++p;
      spec.precision = 0;
      while (p < spec_text.size() && std::isdigit(static_cast<unsigned char>(spec_text[p]))) spec.precision = spec.precision * 10 + (spec_text[p++] - '0');
    }
    if (p < spec_text.size()) spec.type = spec_text[p++];
    else spec.type = 0;
    if (p != spec_text.size()) runtime_fail("unsupported format spec '", spec_text, "'");
    if (conversion == "r") {
      text = repr(value);
    } else if (spec.type == 'f' || spec.type == 'e' || spec.type == 'g' || spec.type == 'd' || spec.type == 'x') {
      Spec number_spec = spec;
      number_spec.width = -1;
      if (spec.type == 'f' && spec.precision < 0) number_spec.precision = 6;
      text = format_number(value, number_spec);
    } else {
      text = to_str(value);
      if (spec.precision >= 0) text = utf8_encode(utf8_decode(text).substr(0, static_cast<size_t>(spec.precision)));
    }
    char default_align = value.is_number() && conversion.empty() ? '>' : '<';
    out += pad(text, spec.width, spec.align ? spec.align : default_align, spec.fill);
  }
  return out;
}

}  // namespace glint::jinja
