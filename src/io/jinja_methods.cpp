// Attribute and item access, slicing, and the Python methods of str, dict and list that templates call.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>

#include "io/jinja_interpreter.h"
#include "io/jinja_unicode.h"

namespace glint::jinja {
namespace {

using Method = Value (*)(const Value& self, CallArgs& args);

std::string arg_string(const std::optional<Value>& v, const char* method, const char* what) {
  if (!v || !v->is_string()) runtime_fail(method, "() ", what, " must be str");
  return v->as_string();
}

std::optional<std::string> optional_chars(const std::optional<Value>& v, const char* method) {
  if (!v || v->is_none()) return std::nullopt;
  if (!v->is_string()) runtime_fail(method, " arg must be None or str");
  return v->as_string();
}

Value strip_method(const Value& self, CallArgs& args, bool left, bool right, const char* name) {
  std::optional<std::string> chars = optional_chars(args.take(0, "chars"), name);
  args.expect_consumed(name);
  return Value(py_strip(self.as_string(), chars ? &*chars : nullptr, left, right));
}

// str.split / rsplit with Python's two modes: on whitespace runs (sep None) or on an exact separator.
std::vector<std::string> split_string(const std::string& s, const std::optional<std::string>& sep, int64_t maxsplit,
                                      bool from_right) {
  std::vector<std::string> parts;
  if (sep) {
    if (sep->empty()) runtime_fail("empty separator");
    if (!from_right) {
      size_t pos = 0;
      while (maxsplit < 0 || static_cast<int64_t>(parts.size()) < maxsplit) {
        size_t found = s.find(*sep, pos);
        if (found == std::string::npos) break;
        parts.push_back(s.substr(pos, found - pos));
        pos = found + sep->size();
      }
      parts.push_back(s.substr(pos));
    } else {
      size_t end = s.size();
      std::vector<std::string> reversed;
      while (maxsplit < 0 || static_cast<int64_t>(reversed.size()) < maxsplit) {
        if (end < sep->size()) break;
        size_t found = s.rfind(*sep, end - sep->size());
        if (found == std::string::npos) break;
        reversed.push_back(s.substr(found + sep->size(), end - found - sep->size()));
        end = found;
      }
      reversed.push_back(s.substr(0, end));
      parts.assign(reversed.rbegin(), reversed.rend());
    }
    return parts;
  }
  std::u32string cps = utf8_decode(s);
  if (!from_right) {
    size_t i = 0;
    while (true) {
      while (i < cps.size() && py_isspace(cps[i])) ++i;
      if (i >= cps.size()) break;
      if (maxsplit >= 0 && static_cast<int64_t>(parts.size()) >= maxsplit) {
        size_t end = cps.size();
        while (end > i && py_isspace(cps[end - 1])) --end;
        parts.push_back(utf8_encode(std::u32string_view(cps).substr(i, end - i)));
        break;
      }
      size_t j = i;
      while (j < cps.size() && !py_isspace(cps[j])) ++j;
      parts.push_back(utf8_encode(std::u32string_view(cps).substr(i, j - i)));
      i = j;
    }
  } else {
    std::vector<std::string> reversed;
    size_t end = cps.size();
    while (true) {
      while (end > 0 && py_isspace(cps[end - 1])) --end;
      if (end == 0) break;
      if (maxsplit >= 0 && static_cast<int64_t>(reversed.size()) >= maxsplit) {
        size_t begin = 0;
        while (begin < end && py_isspace(cps[begin])) ++begin;
        reversed.push_back(utf8_encode(std::u32string_view(cps).substr(begin, end - begin)));
        break;
      }
      size_t begin = end;
      while (begin > 0 && !py_isspace(cps[begin - 1])) --begin;
      reversed.push_back(utf8_encode(std::u32string_view(cps).substr(begin, end - begin)));
      end = begin;
    }
    parts.assign(reversed.rbegin(), reversed.rend());
  }
  return parts;
}

Value string_list(const std::vector<std::string>& parts) {
  std::vector<Value> items;
  for (const auto& p : parts) items.emplace_back(p);
  return Value::list(std::move(items));
}

Value split_method(const Value& self, CallArgs& args, bool from_right) {
  std::optional<std::string> sep = optional_chars(args.take(0, "sep"), "split");
  std::optional<Value> maxsplit = args.take(1, "maxsplit");
  args.expect_consumed(from_right ? "rsplit" : "split");
  return string_list(split_string(self.as_string(), sep, maxsplit ? maxsplit->as_int() : -1, from_right));
}

bool is_line_break(char32_t c) {
  return c == '\n' || c == '\r' || c == 0x0B || c == 0x0C || c == 0x1C || c == 0x1D || c == 0x1E || c == 0x85 ||
         c == 0x2028 || c == 0x2029;
}

}  // namespace

std::vector<std::string> python_splitlines(const std::string& s, bool keepends) {
  std::u32string cps = utf8_decode(s);
  std::vector<std::string> lines;
  size_t start = 0;
  for (size_t i = 0; i < cps.size(); ++i) {
    if (!is_line_break(cps[i])) continue;
    size_t end = i;
    if (cps[i] == '\r' && i + 1 < cps.size() && cps[i + 1] == '\n') ++i;
    lines.push_back(utf8_encode(std::u32string_view(cps).substr(start, (keepends ? i + 1 : end) - start)));
    start = i + 1;
  }
  if (start < cps.size()) lines.push_back(utf8_encode(std::u32string_view(cps).substr(start)));
  return lines;
}

std::string python_replace(const std::string& s, const std::string& old, const std::string& replacement,
                           int64_t count) {
  std::string out;
  if (old.empty()) {
    // Python inserts the replacement before every character and at the end.
    std::vector<Value> chars = iterate(Value(s));
    int64_t done = 0;
    for (const Value& c : chars) {
      if (count < 0 || done < count) {
        out += replacement;
        ++done;
      }
      out += c.as_string();
    }
    if (count < 0 || done < count) out += replacement;
    return out;
  }
  size_t pos = 0;
  int64_t done = 0;
  while (count < 0 || done < count) {
    size_t found = s.find(old, pos);
    if (found == std::string::npos) break;
    out.append(s, pos, found - pos);
    out += replacement;
    pos = found + old.size();
    ++done;
  }
  out.append(s, pos, std::string::npos);
  return out;
}

std::string python_center(const std::string& s, int64_t width, const std::string& fill) {
  int64_t len = static_cast<int64_t>(utf8_length(s));
  if (width <= len) return s;
  int64_t margin = width - len;
  int64_t left = margin / 2 + (margin & width & 1);
  std::string out;
  for (int64_t i = 0; i < left; ++i) out += fill;
  out += s;
  for (int64_t i = 0; i < margin - left; ++i) out += fill;
  return out;
}

namespace {

// Converts a Python-style (start, end) range of code point indices to a clamped [begin, end) range.
std::pair<size_t, size_t> code_point_range(const std::u32string& cps, const std::optional<Value>& start,
                                           const std::optional<Value>& end) {
  int64_t n = static_cast<int64_t>(cps.size());
  auto clamp_index = [n](const std::optional<Value>& v, int64_t fallback) {
    if (!v || v->is_none()) return fallback;
    int64_t i = v->as_int();
    if (i < 0) i += n;
    return std::clamp<int64_t>(i, 0, n);
  };
  int64_t b = clamp_index(start, 0), e = clamp_index(end, n);
  return {static_cast<size_t>(b), static_cast<size_t>(std::max(b, e))};
}

Value find_method(const Value& self, CallArgs& args, bool from_right, bool raise_if_missing, const char* name) {
  std::string sub = arg_string(args.take(0, "sub"), name, "argument");
  std::optional<Value> start = args.take(1, "start"), end = args.take(2, "end");
  args.expect_consumed(name);
  std::u32string hay = utf8_decode(self.as_string());
  std::u32string needle = utf8_decode(sub);
  auto [b, e] = code_point_range(hay, start, end);
  std::u32string_view window = std::u32string_view(hay).substr(b, e - b);
  size_t found = from_right ? window.rfind(needle) : window.find(needle);
  if (found == std::u32string_view::npos || (needle.size() > window.size())) {
    if (raise_if_missing) runtime_fail("substring not found");
    return Value(int64_t{-1});
  }
  return Value(static_cast<int64_t>(b + found));
}

Value affix_method(const Value& self, CallArgs& args, bool prefix) {
  const char* name = prefix ? "startswith" : "endswith";
  std::optional<Value> affix = args.take(0, prefix ? "prefix" : "suffix");
  std::optional<Value> start = args.take(1, "start"), end = args.take(2, "end");
  args.expect_consumed(name);
  if (!affix) runtime_fail(name, "() takes at least 1 argument (0 given)");
  std::vector<Value> candidates = affix->is_tuple() ? affix->as_list().items : std::vector<Value>{*affix};
  std::u32string hay = utf8_decode(self.as_string());
  auto [b, e] = code_point_range(hay, start, end);
  std::u32string_view window = std::u32string_view(hay).substr(b, e - b);
  for (const Value& c : candidates) {
    if (!c.is_string())
      runtime_fail(name, " first arg must be str or a tuple of str, not ", type_name(c));
    std::u32string needle = utf8_decode(c.as_string());
    if (needle.size() > window.size()) continue;
    if (prefix ? window.substr(0, needle.size()) == needle : window.substr(window.size() - needle.size()) == needle)
      return Value(true);
  }
  return Value(false);
}

template <bool (*Predicate)(char32_t)>
Value all_chars(const Value& self, CallArgs& args) {
  std::u32string cps = utf8_decode(self.as_string());
  return Value(!cps.empty() && std::all_of(cps.begin(), cps.end(), Predicate));
}

Value case_check(const Value& self, bool upper) {
  bool any_cased = false;
  for (char32_t c : utf8_decode(self.as_string())) {
    if (py_isupper(c)) {
      if (!upper) return Value(false);
      any_cased = true;
    } else if (py_islower(c)) {
      if (upper) return Value(false);
      any_cased = true;
    }
  }
  return Value(any_cased);
}

Value string_method(const Value& self, const std::string& name, CallArgs& args) {
  const std::string& s = self.as_string();
  if (name == "strip") return strip_method(self, args, true, true, "strip");
  if (name == "lstrip") return strip_method(self, args, true, false, "lstrip");
  if (name == "rstrip") return strip_method(self, args, false, true, "rstrip");
  if (name == "split") return split_method(self, args, false);
  if (name == "rsplit") return split_method(self, args, true);
  if (name == "splitlines") {
    std::optional<Value> keep = args.take(0, "keepends");
    args.expect_consumed(name);
    return string_list(python_splitlines(s, keep && truthy(*keep)));
  }
  if (name == "upper" || name == "lower" || name == "title" || name == "capitalize" || name == "swapcase") {
    args.expect_consumed(name);
    if (name == "upper") return Value(py_upper(s));
    if (name == "lower") return Value(py_lower(s));
    if (name == "title") return Value(py_title(s));
    if (name == "capitalize") return Value(py_capitalize(s));
    return Value(py_swapcase(s));
  }
  if (name == "startswith") return affix_method(self, args, true);
  if (name == "endswith") return affix_method(self, args, false);
  if (name == "find") return find_method(self, args, false, false, "find");
  if (name == "rfind") return find_method(self, args, true, false, "rfind");
  if (name == "index") return find_method(self, args, false, true, "index");
  if (name == "rindex") return find_method(self, args, true, true, "rindex");
  if (name == "count") {
    std::string sub = arg_string(args.take(0, "sub"), "count", "argument");
    args.expect_consumed(name);
    if (sub.empty()) return Value(static_cast<int64_t>(utf8_length(s) + 1));
    int64_t n = 0;
    for (size_t pos = s.find(sub); pos != std::string::npos; pos = s.find(sub, pos + sub.size())) ++n;
    return Value(n);
  }
  if (name == "replace") {
    std::string old = arg_string(args.take(0, "old"), "replace", "argument 1");
    std::string replacement = arg_string(args.take(1, "new"), "replace", "argument 2");
    std::optional<Value> count = args.take(2, "count");
    args.expect_consumed(name);
    return Value(python_replace(s, old, replacement, count ? count->as_int() : -1));
  }
  if (name == "join") {
    std::optional<Value> iterable = args.take(0, "iterable");
    args.expect_consumed(name);
    if (!iterable) runtime_fail("join() takes exactly one argument (0 given)");
    std::string out;
    bool first = true;
    for (const Value& item : iterate(*iterable)) {
      if (!item.is_string()) runtime_fail("sequence item: expected str instance, ", type_name(item), " found");
      if (!first) out += s;
      first = false;
      out += item.as_string();
    }
    return Value(std::move(out));
  }
  if (name == "format") return Value(brace_format(s, args));
  if (name == "center" || name == "ljust" || name == "rjust") {
    std::optional<Value> width = args.take(0, "width");
    std::optional<Value> fill = args.take(1, "fillchar");
    args.expect_consumed(name);
    if (!width) runtime_fail(name, "() takes at least 1 argument");
    std::string fill_char = fill ? fill->as_string() : " ";
    if (name == "center") return Value(python_center(s, width->as_int(), fill_char));
    int64_t pad = width->as_int() - static_cast<int64_t>(utf8_length(s));
    std::string padding;
    for (int64_t i = 0; i < pad; ++i) padding += fill_char;
    return Value(name == "ljust" ? s + padding : padding + s);
  }
  if (name == "zfill") {
    std::optional<Value> width = args.take(0, "width");
    args.expect_consumed(name);
    int64_t pad = (width ? width->as_int() : 0) - static_cast<int64_t>(utf8_length(s));
    if (pad <= 0) return self;
    size_t sign = !s.empty() && (s[0] == '+' || s[0] == '-') ? 1 : 0;
    return Value(s.substr(0, sign) + std::string(static_cast<size_t>(pad), '0') + s.substr(sign));
  }
  if (name == "removeprefix" || name == "removesuffix") {
    std::string affix = arg_string(args.take(0, "affix"), name.c_str(), "argument");
    args.expect_consumed(name);
    if (name == "removeprefix") return Value(s.rfind(affix, 0) == 0 ? s.substr(affix.size()) : s);
    bool ends = s.size() >= affix.size() && s.compare(s.size() - affix.size(), affix.size(), affix) == 0;
    return Value(ends && !affix.empty() ? s.substr(0, s.size() - affix.size()) : s);
  }
  if (name == "partition" || name == "rpartition") {
    std::string sep = arg_string(args.take(0, "sep"), name.c_str(), "argument");
    args.expect_consumed(name);
    if (sep.empty()) runtime_fail("empty separator");
    size_t found = name == "partition" ? s.find(sep) : s.rfind(sep);
    if (found == std::string::npos)
      return name == "partition" ? Value::tuple({Value(s), Value(""), Value("")})
                                 : Value::tuple({Value(""), Value(""), Value(s)});
    return Value::tuple({Value(s.substr(0, found)), Value(sep), Value(s.substr(found + sep.size()))});
  }
  args.expect_consumed(name);
  if (name == "isdigit" || name == "isdecimal" || name == "isnumeric") return all_chars<py_isdigit>(self, args);
  if (name == "isalpha") return all_chars<py_isalpha>(self, args);
  if (name == "isalnum") return all_chars<py_isalnum>(self, args);
  if (name == "isspace") return all_chars<py_isspace>(self, args);
  if (name == "isupper") return case_check(self, true);
  if (name == "islower") return case_check(self, false);
  runtime_fail("'str' object has no attribute '", name, "'");
}

Value dict_method(const Value& self, const std::string& name, CallArgs& args) {
  const DictData& d = self.as_dict();
  if (name == "get") {
    std::optional<Value> key = args.take(0, "key");
    std::optional<Value> fallback = args.take(1, "default");
    args.expect_consumed(name);
    if (!key) runtime_fail("get expected at least 1 argument, got 0");
    const Value* found = d.find(*key);
    return found ? *found : (fallback ? *fallback : Value(None{}));
  }
  args.expect_consumed(name);
  std::vector<Value> out;
  Flavor view = name == "items" ? Flavor::DictItems : name == "keys" ? Flavor::DictKeys : Flavor::DictValues;
  if (name == "items") {
    for (const auto& [k, v] : d.entries) out.push_back(Value::tuple({k, v}));
  } else if (name == "keys") {
    for (const auto& [k, v] : d.entries) out.push_back(k);
  } else if (name == "values") {
    for (const auto& [k, v] : d.entries) out.push_back(v);
  } else if (name == "copy") {
    auto copy = std::make_shared<DictData>(d);
    return Value(copy);
  }
  return Value::sequence(std::move(out), view);
}

Value list_method(const Value& self, const std::string& name, CallArgs& args) {
  const auto& items = self.as_list().items;
  std::optional<Value> x = args.take(0, "value");
  args.expect_consumed(name);
  if (!x) runtime_fail(name, "() takes exactly one argument (0 given)");
  int64_t count = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    if (!equals(items[i], *x)) continue;
    if (name == "index") return Value(static_cast<int64_t>(i));
    ++count;
  }
  if (name == "index") runtime_fail(repr(*x), " is not in list");
  return Value(count);
}

Value as_markup(const Value& v) {
  if (v.is_string()) return Value::markup(v.as_string());
  if (v.is_list()) {
    std::vector<Value> items;
    for (const Value& item : v.as_list().items) items.push_back(as_markup(item));
    return Value::list(std::move(items), v.is_tuple());
  }
  return v;
}

// Markup's str methods return Markup, and join/format escape what they insert.
Value markup_method(const Value& self, const std::string& name, CallArgs& args) {
  if (name == "join" || name == "format") {
    CallArgs escaped = args;
    if (name == "join") {
      if (!escaped.positional.empty()) {
        std::vector<Value> items;
        for (const Value& item : iterate(escaped.positional[0])) items.push_back(Value(escape_for_markup(item)));
        escaped.positional[0] = Value::list(std::move(items));
      }
    } else {
      for (Value& v : escaped.positional)
        if (v.is_string()) v = Value(escape_for_markup(v));
      for (auto& [key, v] : escaped.keyword)
        if (v.is_string()) v = Value(escape_for_markup(v));
    }
    return as_markup(string_method(self, name, escaped));
  }
  return as_markup(string_method(self, name, args));
}

const std::set<std::string>& string_methods() {
  static const std::set<std::string> names = {
      "strip", "lstrip", "rstrip", "split", "rsplit", "splitlines", "upper", "lower", "title", "capitalize",
      "swapcase", "startswith", "endswith", "find", "rfind", "index", "rindex", "count", "replace", "join",
      "format", "center", "ljust", "rjust", "zfill", "removeprefix", "removesuffix", "partition", "rpartition",
      "isdigit", "isdecimal", "isnumeric", "isalpha", "isalnum", "isspace", "isupper", "islower"};
  return names;
}

Value bound_method(const Value& self, const std::string& name, Value (*impl)(const Value&, const std::string&, CallArgs&)) {
  std::string owner = type_name(self);
  return Value::function(name, [self, name, impl](CallArgs& args) { return impl(self, name, args); },
                         "<built-in method " + name + " of " + owner + " object>");
}

// The immutable sandbox refuses methods that modify lists and dicts: the attribute is an undefined value
// (prints empty) whose use raises the SecurityError message.
Value unsafe_method(const Value& self, const std::string& name) {
  return Value::undefined("access to attribute '" + name + "' of '" + type_name(self) + "' object is unsafe.");
}

bool is_mutating(const Value& self, const std::string& name) {
  static const std::set<std::string> list_mutators = {"append", "extend", "insert", "pop", "remove",
                                                       "reverse", "sort", "clear"};
  static const std::set<std::string> dict_mutators = {"pop", "popitem", "setdefault", "update", "clear"};
  return self.is_list() && !self.is_tuple() ? list_mutators.count(name) > 0 : self.is_dict() && dict_mutators.count(name) > 0;
}

std::string owner_description(const Value& v) {
  if (v.is_none()) return "'None'";
  return "'" + type_name(v) + " object'";
}

}  // namespace

Value get_attribute(const Value& object, const std::string& name) {
  if (object.is_undefined()) runtime_fail(object.as_undefined().hint);
  if (object.is_markup() && string_methods().count(name)) return bound_method(object, name, markup_method);
  if (object.is_string() && string_methods().count(name)) return bound_method(object, name, string_method);
  if (object.is_dict()) {
    if (name == "items" || name == "keys" || name == "values" || name == "get" || name == "copy")
      return bound_method(object, name, dict_method);
    if (is_mutating(object, name)) return unsafe_method(object, name);
    if (const Value* found = object.as_dict().find(std::string_view(name))) return *found;
  }
  if (object.is_list()) {
    if (name == "index" || name == "count") return bound_method(object, name, list_method);
    if (is_mutating(object, name)) return unsafe_method(object, name);
  }
  if (object.is_object()) {
    if (const Value* found = object.object_ptr()->attributes->find(std::string_view(name))) return *found;
  }
  return Value::undefined(owner_description(object) + " has no attribute '" + name + "'");
}

Value get_item(const Value& object, const Value& key) {
  if (object.is_undefined()) runtime_fail(object.as_undefined().hint);
  if (object.is_dict()) {
    if (const Value* found = object.as_dict().find(key)) return *found;
  } else if (((object.is_list() && (object.flavor() == Flavor::Plain || object.flavor() == Flavor::Range)) ||
              object.is_string()) &&
             (key.is_int() || key.is_bool())) {
    int64_t n = length(object);
    int64_t i = key.as_int();
    if (i < 0) i += n;
    if (i >= 0 && i < n) {
      if (object.is_list()) return object.as_list().items[static_cast<size_t>(i)];
      if (object.is_markup()) return as_markup(iterate(object)[static_cast<size_t>(i)]);  // Markup.__getitem__
      if (is_ascii(object.as_string())) return Value(object.as_string().substr(static_cast<size_t>(i), 1));
      return iterate(object)[static_cast<size_t>(i)];
    }
  } else if (object.is_object() && key.is_string()) {
    if (const Value* found = object.object_ptr()->attributes->find(key)) return *found;
  }
  if (key.is_string()) {
    Value attribute = get_attribute(object, key.as_string());
    if (!attribute.is_undefined()) return attribute;
    if (object.is_dict() || object.is_object()) return attribute;
  }
  if (key.is_undefined()) runtime_fail(key.as_undefined().hint);
  return Value::undefined(owner_description(object) + " has no element " + repr(key));
}

Value slice_value(const Value& object, const Value& start_v, const Value& stop_v, const Value& step_v) {
  if (object.is_undefined()) runtime_fail(object.as_undefined().hint);
  if (!object.is_list() && !object.is_string()) runtime_fail("'", type_name(object), "' object is not subscriptable");
  // jinja2 turns the TypeError of slicing a generator or dict view into an undefined value.
  if (object.is_list() && object.flavor() != Flavor::Plain && object.flavor() != Flavor::Range)
    return Value::undefined("'" + type_name(object) + " object' has no element slice");
  auto as_index = [](const Value& v) -> std::optional<int64_t> {
    if (v.is_none()) return std::nullopt;
    if (!v.is_int() && !v.is_bool()) runtime_fail("slice indices must be integers or None");
    return v.as_int();
  };
  int64_t step = as_index(step_v).value_or(1);
  if (step == 0) runtime_fail("slice step cannot be zero");
  std::vector<Value> items = object.is_list() ? object.as_list().items : iterate(object);
  int64_t n = static_cast<int64_t>(items.size());
  auto adjust = [n, step](std::optional<int64_t> v, bool is_start) -> int64_t {
    if (!v) return step > 0 ? (is_start ? 0 : n) : (is_start ? n - 1 : -1);
    int64_t i = *v;
    if (i < 0) i += n;
    if (step > 0) return std::clamp<int64_t>(i, 0, n);
    return std::clamp<int64_t>(i, -1, n - 1);
  };
  int64_t start = adjust(as_index(start_v), true), stop = adjust(as_index(stop_v), false);
  std::vector<Value> out;
  for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) out.push_back(items[static_cast<size_t>(i)]);
  if (object.is_list()) return Value::list(std::move(out), object.is_tuple());
  std::string text;
  for (const Value& c : out) text += c.as_string();
  if (object.is_markup()) return Value::markup(std::move(text));
  return Value(std::move(text));
}

}  // namespace glint::jinja
