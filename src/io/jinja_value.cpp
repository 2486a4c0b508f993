#include "io/jinja_value.h"

#include <charconv>
#include <cmath>
#include <cstdio>

#include "io/jinja_unicode.h"

namespace glint::jinja {

const Value* DictData::find(const Value& key) const {
  if (key.is_string()) return find(std::string_view(key.as_string()));
  for (const auto& [k, v] : entries)
    if (equals(k, key)) return &v;
  return nullptr;
}

const Value* DictData::find(std::string_view key) const {
  for (const auto& [k, v] : entries)
    if (k.is_string() && k.as_string() == key) return &v;
  return nullptr;
}

void DictData::set(Value key, Value value) {
  for (auto& [k, v] : entries) {
    if (equals(k, key)) {
      v = std::move(value);
      return;
    }
  }
  entries.emplace_back(std::move(key), std::move(value));
}

Value Value::list(std::vector<Value> items, bool is_tuple) {
  auto data = std::make_shared<ListData>();
  data->items = std::move(items);
  data->is_tuple = is_tuple;
  return Value(std::move(data));
}

Value Value::sequence(std::vector<Value> items, Flavor flavor) {
  Value v = list(std::move(items));
  v.list_ptr()->flavor = flavor;
  return v;
}

Value Value::dict() { return Value(std::make_shared<DictData>()); }

Value Value::function(std::string name, NativeFunction call, std::string repr) {
  auto data = std::make_shared<FunctionData>();
  if (repr.empty()) repr = "<function " + name + ">";
  data->name = std::move(name);
  data->call = std::move(call);
  data->repr = std::move(repr);
  return Value(std::move(data));
}

int64_t Value::as_int() const {
  if (is_bool()) return as_bool() ? 1 : 0;
  return std::get<int64_t>(data_);
}

double Value::as_double() const {
  if (is_float()) return std::get<double>(data_);
  return static_cast<double>(as_int());
}

std::optional<Value> CallArgs::take(size_t index, std::string_view name) {
  used_positional.resize(positional.size());
  used_keyword.resize(keyword.size());
  if (index < positional.size()) {
    used_positional[index] = true;
    return positional[index];
  }
  for (size_t i = 0; i < keyword.size(); ++i) {
    if (keyword[i].first == name) {
      used_keyword[i] = true;
      return keyword[i].second;
    }
  }
  return std::nullopt;
}

void CallArgs::expect_consumed(std::string_view callee) const {
  for (size_t i = 0; i < positional.size(); ++i)
    if (i >= used_positional.size() || !used_positional[i])
      runtime_fail(callee, "() takes ", used_positional.size() > 0 ? "fewer" : "no", " positional arguments (got ",
                   positional.size(), ")");
  for (size_t i = 0; i < keyword.size(); ++i)
    if (i >= used_keyword.size() || !used_keyword[i])
      runtime_fail(callee, "() got an unexpected keyword argument '", keyword[i].first, "'");
}

std::string type_name(const Value& v) {
  struct Visitor {
    std::string operator()(const Undefined&) const { return "Undefined"; }
    std::string operator()(const None&) const { return "NoneType"; }
    std::string operator()(bool) const { return "bool"; }
    std::string operator()(int64_t) const { return "int"; }
    std::string operator()(double) const { return "float"; }
    std::string operator()(const std::string&) const { return "str"; }
    std::string operator()(const Markup&) const { return "Markup"; }
    std::string operator()(const ListPtr& l) const {
      switch (l->flavor) {
        case Flavor::Generator: return "generator";
        case Flavor::ReverseIterator: return "list_reverseiterator";
        case Flavor::Range: return "range";
        case Flavor::DictKeys: return "dict_keys";
        case Flavor::DictValues: return "dict_values";
        case Flavor::DictItems: return "dict_items";
        case Flavor::Plain: break;
      }
      return l->is_tuple ? "tuple" : "list";
    }
    std::string operator()(const DictPtr&) const { return "dict"; }
    std::string operator()(const FunctionPtr&) const { return "function"; }
    std::string operator()(const ObjectPtr& o) const { return o->type_name; }
  };
  return std::visit(Visitor{}, v.storage());
}

bool truthy(const Value& v) {
  struct Visitor {
    bool operator()(const Undefined&) const { return false; }
    bool operator()(const None&) const { return false; }
    bool operator()(bool b) const { return b; }
    bool operator()(int64_t i) const { return i != 0; }
    bool operator()(double d) const { return d != 0.0; }
    bool operator()(const std::string& s) const { return !s.empty(); }
    bool operator()(const Markup& m) const { return !m.text.empty(); }
    bool operator()(const ListPtr& l) const {
      if (l->flavor == Flavor::Generator || l->flavor == Flavor::ReverseIterator) return true;
      return !l->items.empty();
    }
    bool operator()(const DictPtr& d) const { return !d->entries.empty(); }
    bool operator()(const FunctionPtr&) const { return true; }
    bool operator()(const ObjectPtr&) const { return true; }
  };
  return std::visit(Visitor{}, v.storage());
}

std::string python_float_repr(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  if (value == 0) return std::signbit(value) ? "-0.0" : "0.0";
  // Shortest round-trip digits, then laid out the way CPython's repr does.
  char buffer[64];
  auto result = std::to_chars(buffer, buffer + sizeof(buffer), value, std::chars_format::scientific);
  std::string sci(buffer, result.ptr);
  bool negative = sci[0] == '-';
  if (negative) sci.erase(0, 1);
  size_t e_pos = sci.find('e');
  std::string mantissa = sci.substr(0, e_pos);
  int exponent = std::stoi(sci.substr(e_pos + 1));
  std::string digits;
  for (char c : mantissa)
    if (c != '.') digits += c;
  std::string out = negative ? "-" : "";
  if (exponent >= -4 && exponent < 16) {
    if (exponent >= 0) {
      size_t int_len = static_cast<size_t>(exponent) + 1;
      if (digits.size() <= int_len) {
        out += digits + std::string(int_len - digits.size(), '0') + ".0";
      } else {
        out += digits.substr(0, int_len) + "." + digits.substr(int_len);
      }
    } else {
      out += "0." + std::string(static_cast<size_t>(-exponent - 1), '0') + digits;
    }
  } else {
    out += digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    char exp_text[16];
    std::snprintf(exp_text, sizeof(exp_text), "e%c%02d", exponent < 0 ? '-' : '+', std::abs(exponent));
    out += exp_text;
  }
  return out;
}

std::string html_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&#34;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string escape_for_markup(const Value& value) {
  if (value.is_markup()) return value.as_string();
  return html_escape(to_str(value));
}

std::string python_string_repr(std::string_view text) {
  bool has_single = text.find('\'') != std::string_view::npos;
  bool has_double = text.find('"') != std::string_view::npos;
  char quote = has_single && !has_double ? '"' : '\'';
  std::string out(1, quote);
  for (char32_t c : utf8_decode(text)) {
    if (c == static_cast<char32_t>(quote) || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (py_isprintable(c)) {
      utf8_append(out, c);
    } else {
      char buf[16];
      if (c < 0x100)
        std::snprintf(buf, sizeof(buf), "\\x%02x", static_cast<unsigned>(c));
      else if (c < 0x10000)
        std::snprintf(buf, sizeof(buf), "\\u%04x", static_cast<unsigned>(c));
      else
        std::snprintf(buf, sizeof(buf), "\\U%08x", static_cast<unsigned>(c));
      out += buf;
    }
  }
  out += quote;
  return out;
}

namespace {

void append_repr(std::string& out, const Value& v);

std::string object_repr(const ObjectData& o) {
  if (o.type_name == "Namespace") {
    std::string out = "<Namespace {";
    bool first = true;
    for (const auto& [k, val] : o.attributes->entries) {
      if (!first) out += ", ";
      first = false;
      append_repr(out, k);
      out += ": ";
      append_repr(out, val);
    }
    return out + "}>";
  }
  return "<" + o.type_name + " object>";
}

void append_repr(std::string& out, const Value& v) {
  if (v.is_markup()) {
    out += "Markup(" + python_string_repr(v.as_string()) + ")";
  } else if (v.is_string()) {
    out += python_string_repr(v.as_string());
  } else if (v.is_list()) {
    const ListData& l = v.as_list();
    switch (l.flavor) {
      case Flavor::Generator: out += "<generator object>"; return;
      case Flavor::ReverseIterator: out += "<list_reverseiterator object>"; return;
      case Flavor::Range:
        out += "range(" + std::to_string(l.range_start) + ", " + std::to_string(l.range_stop);
        if (l.range_step != 1) out += ", " + std::to_string(l.range_step);
        out += ")";
        return;
      case Flavor::DictKeys:
      case Flavor::DictValues:
      case Flavor::DictItems: {
        Value plain = Value::list(l.items);
        out += type_name(v) + "(";
        append_repr(out, plain);
        out += ")";
        return;
      }
      case Flavor::Plain: break;
    }
    out += l.is_tuple ? '(' : '[';
    for (size_t i = 0; i < l.items.size(); ++i) {
      if (i) out += ", ";
      append_repr(out, l.items[i]);
    }
    if (l.is_tuple && l.items.size() == 1) out += ',';
    out += l.is_tuple ? ')' : ']';
  } else if (v.is_dict()) {
    out += '{';
    bool first = true;
    for (const auto& [k, val] : v.as_dict().entries) {
      if (!first) out += ", ";
      first = false;
      append_repr(out, k);
      out += ": ";
      append_repr(out, val);
    }
    out += '}';
  } else if (v.is_undefined()) {
    out += "Undefined";
  } else {
    out += to_str(v);
  }
}

}  // namespace

std::string to_str(const Value& v) {
  struct Visitor {
    const Value& self;
    std::string operator()(const Undefined&) const { return ""; }
    std::string operator()(const None&) const { return "None"; }
    std::string operator()(bool b) const { return b ? "True" : "False"; }
    std::string operator()(int64_t i) const { return std::to_string(i); }
    std::string operator()(double d) const { return python_float_repr(d); }
    std::string operator()(const std::string& s) const { return s; }
    std::string operator()(const Markup& m) const { return m.text; }
    std::string operator()(const ListPtr&) const { return repr(self); }
    std::string operator()(const DictPtr&) const { return repr(self); }
    std::string operator()(const FunctionPtr& f) const { return f->repr; }
    std::string operator()(const ObjectPtr& o) const { return object_repr(*o); }
  };
  return std::visit(Visitor{v}, v.storage());
}

std::string repr(const Value& v) {
  std::string out;
  append_repr(out, v);
  return out;
}

bool equals(const Value& a, const Value& b) {
  if (a.is_string() && b.is_string()) return a.as_string() == b.as_string();
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return a.as_double() == b.as_double();
    return a.as_int() == b.as_int();
  }
  if (a.storage().index() != b.storage().index()) return false;
  if (a.is_undefined() || a.is_none()) return true;
  if (a.is_string()) return a.as_string() == b.as_string();
  if (a.is_list()) {
    const ListData &x = a.as_list(), &y = b.as_list();
    if (a.is_iterator() || b.is_iterator()) return &x == &y;
    if (x.is_tuple != y.is_tuple || x.flavor != y.flavor || x.items.size() != y.items.size()) return false;
    for (size_t i = 0; i < x.items.size(); ++i)
      if (!equals(x.items[i], y.items[i])) return false;
    return true;
  }
  if (a.is_dict()) {
    const DictData &x = a.as_dict(), &y = b.as_dict();
    if (x.entries.size() != y.entries.size()) return false;
    for (const auto& [k, v] : x.entries) {
      const Value* other = y.find(k);
      if (!other || !equals(v, *other)) return false;
    }
    return true;
  }
  if (a.is_function()) return &a.as_function() == &b.as_function();
  if (a.is_object()) return a.object_ptr() == b.object_ptr();
  return false;
}

bool less_than(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return a.as_double() < b.as_double();
    return a.as_int() < b.as_int();
  }
  if (a.is_string() && b.is_string()) return a.as_string() < b.as_string();
  if (a.is_list() && b.is_list() && a.is_tuple() == b.is_tuple() && a.flavor() == Flavor::Plain &&
      b.flavor() == Flavor::Plain) {
    const auto &x = a.as_list().items, &y = b.as_list().items;
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (!equals(x[i], y[i])) return less_than(x[i], y[i]);
    }
    return x.size() < y.size();
  }
  runtime_fail("'<' not supported between instances of '", type_name(a), "' and '", type_name(b), "'");
}

std::vector<Value> iterate(const Value& v) {
  if (v.is_iterator()) {
    if (v.as_list().deferred_error) runtime_fail(*v.as_list().deferred_error);
    // Iterating a generator uses it up, as in Python.
    std::vector<Value> items = std::move(v.list_ptr()->items);
    v.list_ptr()->items.clear();
    return items;
  }
  if (v.is_list()) return v.as_list().items;
  if (v.is_dict()) {
    std::vector<Value> keys;
    for (const auto& [k, val] : v.as_dict().entries) keys.push_back(k);
    return keys;
  }
  if (v.is_string()) {
    std::vector<Value> chars;
    const std::string& s = v.as_string();
    for (size_t i = 0; i < s.size();) {
      size_t n = 1;
      while (i + n < s.size() && (static_cast<unsigned char>(s[i + n]) & 0xC0) == 0x80) ++n;
      chars.emplace_back(s.substr(i, n));
      i += n;
    }
    return chars;
  }
  if (v.is_undefined()) return {};
  runtime_fail("'", type_name(v), "' object is not iterable");
}

int64_t length(const Value& v) {
  if (v.is_iterator()) runtime_fail("object of type '", type_name(v), "' has no len()");
  if (v.is_string()) return static_cast<int64_t>(utf8_length(v.as_string()));
  if (v.is_list()) return static_cast<int64_t>(v.as_list().items.size());
  if (v.is_dict()) return static_cast<int64_t>(v.as_dict().entries.size());
  if (v.is_undefined()) return 0;
  runtime_fail("object of type '", type_name(v), "' has no len()");
}

namespace {
// Values nest as deep as the JSON does, and printing or serializing them recurses just as deep.
constexpr int kMaxJsonDepth = 256;

template <typename Json>
Value convert_json(const Json& json, int depth = 0) {
  if (depth > kMaxJsonDepth) fail("template input nests deeper than ", kMaxJsonDepth, " levels");
  switch (json.type()) {
    case nlohmann::json::value_t::null: return Value(None{});
    case nlohmann::json::value_t::boolean: return Value(json.template get<bool>());
    case nlohmann::json::value_t::number_integer: return Value(json.template get<int64_t>());
    case nlohmann::json::value_t::number_unsigned: return Value(static_cast<int64_t>(json.template get<uint64_t>()));
    case nlohmann::json::value_t::number_float: return Value(json.template get<double>());
    case nlohmann::json::value_t::string: return Value(json.template get<std::string>());
    case nlohmann::json::value_t::array: {
      std::vector<Value> items;
      for (const auto& item : json) items.push_back(convert_json(item, depth + 1));
      return Value::list(std::move(items));
    }
    case nlohmann::json::value_t::object: {
      auto dict = std::make_shared<DictData>();
      for (auto it = json.begin(); it != json.end(); ++it) dict->entries.emplace_back(Value(it.key()), convert_json(it.value(), depth + 1));
      return Value(std::move(dict));
    }
    default: return Value(None{});
  }
}
}  // namespace

Value from_json(const nlohmann::ordered_json& json) { return convert_json(json); }
Value from_json(const nlohmann::json& json) { return convert_json(json); }

}  // namespace glint::jinja
