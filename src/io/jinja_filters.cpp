// jinja2's built-in filters, plus transformers' tojson override.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

#include "io/jinja_interpreter.h"
#include "io/jinja_json.h"
#include "io/jinja_unicode.h"

namespace glint::jinja {

namespace {

Value arg_or(CallArgs& args, size_t index, const char* name, Value fallback) {
  std::optional<Value> v = args.take(index, name);
  return v ? *v : fallback;
}

// jinja2's make_attrgetter: "a.b.0" walks items/attributes, integer parts index sequences.
Value lookup_path(const Value& item, const Value& attribute) {
  if (attribute.is_none()) return item;
  if (!attribute.is_string()) return get_item(item, attribute);
  Value current = item;
  std::string path = attribute.as_string();
  size_t start = 0;
  while (true) {
    size_t dot = path.find('.', start);
    std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    bool digits = !part.empty() && std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; });
    current = digits ? get_item(current, Value(static_cast<int64_t>(std::stoll(part)))) : get_item(current, Value(part));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return current;
}

// jinja2's map/select/unique/batch/items are generators: problems with their input surface only when the
// result is iterated, so a failure here becomes a generator that fails later.
template <typename Compute>
Value lazily(Compute compute) {
  try {
    return compute();
  } catch (const RuntimeError& e) {
    Value failed = Value::generator({});
    failed.list_ptr()->deferred_error = e.message;
    return failed;
  }
}

Value ignore_case(const Value& v) { return v.is_string() ? Value(py_lower(v.as_string())) : v; }

// Sort keys for sort/dictsort/unique/min/max: a list of attribute values (comma separated attributes).
Value sort_key(const Value& item, const Value& attribute, bool case_sensitive) {
  auto post = [&](const Value& v) { return case_sensitive ? v : ignore_case(v); };
  if (attribute.is_string() && attribute.as_string().find(',') != std::string::npos) {
    std::vector<Value> keys;
    std::string spec = attribute.as_string();
    size_t start = 0;
    while (true) {
      size_t comma = spec.find(',', start);
      keys.push_back(post(lookup_path(item, Value(spec.substr(start, comma == std::string::npos ? std::string::npos : comma - start)))));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    return Value::list(std::move(keys));
  }
  return post(lookup_path(item, attribute));
}

void check_sort_value(const Value& v) {
  if (v.is_undefined()) runtime_fail(v.as_undefined().hint);
}

std::vector<Value> sorted_by(std::vector<Value> items, const std::vector<Value>& keys, bool reverse) {
  std::vector<size_t> order(items.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  for (const Value& k : keys) check_sort_value(k);
  // Python's sort is stable, and reverse=True keeps equal elements in their original order.
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return reverse ? less_than(keys[b], keys[a]) : less_than(keys[a], keys[b]);
  });
  std::vector<Value> out;
  for (size_t i : order) out.push_back(items[i]);
  return out;
}

// ---- individual filters ----

Value f_abs(Interpreter&, const Value& v, CallArgs& args) {
  args.expect_consumed("abs");
  if (v.is_float()) return Value(std::fabs(v.as_double()));
  if (v.is_int() || v.is_bool()) return Value(static_cast<int64_t>(std::llabs(v.as_int())));
  runtime_fail("bad operand type for abs(): '", type_name(v), "'");
}

Value f_attr(Interpreter&, const Value& v, CallArgs& args) {
  Value name = arg_or(args, 0, "name", Value(""));
  args.expect_consumed("attr");
  if (v.is_dict()) {
    const std::string& n = name.as_string();
    if (n == "items" || n == "keys" || n == "values" || n == "get") return get_attribute(v, n);
    return Value::undefined("'dict object' has no attribute '" + n + "'");
  }
  return get_attribute(v, to_str(name));
}

Value f_batch_now(Interpreter&, const Value& v, CallArgs& args) {
  std::optional<Value> count = args.take(0, "linecount");
  Value fill = arg_or(args, 1, "fill_with", Value(None{}));
  args.expect_consumed("batch");
  if (!count) runtime_fail("batch() missing argument 'linecount'");
  int64_t n = count->as_int();
  std::vector<Value> batches, current;
  for (const Value& item : iterate(v)) {
    if (static_cast<int64_t>(current.size()) == n) {
      batches.push_back(Value::list(std::move(current)));
      current.clear();
    }
    current.push_back(item);
  }
  if (!current.empty()) {
    if (!fill.is_none())
      while (static_cast<int64_t>(current.size()) < n) current.push_back(fill);
    batches.push_back(Value::list(std::move(current)));
  }
  return Value::generator(std::move(batches));
}

// Filters that run a str method on soft_str(value) keep a Markup input a Markup.
Value same_kind(const Value& input, std::string text) {
  return input.is_markup() ? Value::markup(std::move(text)) : Value(std::move(text));
}

Value f_capitalize(Interpreter&, const Value& v, CallArgs& args) {
  args.expect_consumed("capitalize");
  return same_kind(v, py_capitalize(to_str(v)));
}

Value f_center(Interpreter&, const Value& v, CallArgs& args) {
  Value width = arg_or(args, 0, "width", Value(80));
  args.expect_consumed("center");
  return same_kind(v, python_center(to_str(v), width.as_int(), " "));
}

Value f_default(Interpreter&, const Value& v, CallArgs& args) {
  Value fallback = arg_or(args, 0, "default_value", Value(""));
  Value boolean = arg_or(args, 1, "boolean", Value(false));
  args.expect_consumed("default");
  if (v.is_undefined() || (truthy(boolean) && !truthy(v))) return fallback;
  return v;
}

Value f_dictsort(Interpreter&, const Value& v, CallArgs& args) {
  bool case_sensitive = truthy(arg_or(args, 0, "case_sensitive", Value(false)));
  Value by = arg_or(args, 1, "by", Value("key"));
  bool reverse = truthy(arg_or(args, 2, "reverse", Value(false)));
  args.expect_consumed("dictsort");
  if (!v.is_dict()) runtime_fail("dictsort filter needs a mapping, got ", type_name(v));
  size_t pos;
  if (to_str(by) == "key") pos = 0;
  else if (to_str(by) == "value") pos = 1;
  else runtime_fail("You can only sort by either \"key\" or \"value\"");
  std::vector<Value> items, keys;
  for (const auto& [key, value] : v.as_dict().entries) {
    items.push_back(Value::tuple({key, value}));
    const Value& k = pos == 0 ? key : value;
    keys.push_back(case_sensitive ? k : ignore_case(k));
  }
  return Value::list(sorted_by(std::move(items), keys, reverse));
}

Value f_escape(Interpreter&, const Value& v, CallArgs& args) {
  args.expect_consumed("escape");
  if (v.is_markup()) return v;  // already safe
  return Value::markup(html_escape(to_str(v)));
}

Value f_forceescape(Interpreter&, const Value& v, CallArgs& args) {
  args.expect_consumed("forceescape");
  return Value::markup(html_escape(to_str(v)));
}

Value f_first(Interpreter&, const Value& v, CallArgs& args) {
  args.expect_consumed("first");
  std::vector<Value> items = iterate(v);
  if (items.empty()) return Value::undefined("No first item, sequence was empty.");
  return items.front();
}

Value f_last(Interpreter&, const Value& v, CallArgs& args) {
  args.expect_consumed("last");
  if (v.is_iterator()) runtime_fail("'", type_name(v), "' object is not reversible");
  std::vector<Value> items = iterate(v);
  if (items.empty()) return Value::undefined("No last item, sequence was empty.");
  return items.back();
}

// Python's float(str): surrounding whitespace, underscores between digits, inf/nan spellings.
std::optional<double> parse_python_float(const std::string& text) {
  std::string s = py_strip(text, nullptr, true, true);
  std::string cleaned;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '_') {
      if (i == 0 || i + 1 >= s.size() || !std::isdigit(static_cast<unsigned char>(s[i - 1])) ||
          !std::isdigit(static_cast<unsigned char>(s[i + 1])))
        return std::nullopt;
      continue;
    }
    cleaned += s[i];
  }
  if (cleaned.empty()) return std::nullopt;
  std::string lower = py_lower(cleaned);
  std::string body = lower[0] == '+' || lower[0] == '-' ? lower.substr(1) : lower;
  if (body == "inf" || body == "infinity") return lower[0] == '-' ? -INFINITY : INFINITY;
  if (body == "nan") return NAN;
  if (body.find_first_not_of("0123456789.e+-") != std::string::npos) return std::nullopt;
  char* end = nullptr;
  double d = std::strtod(cleaned.c_str(), &end);
  if (end != cleaned.c_str() + cleaned.size()) return std::nullopt;
  return d;
}

Value f_float(Interpreter&, const Value& v, CallArgs& args) {
  Value fallback = arg_or(args, 0, "default", Value(0.0));
  args.expect_consumed("float");
  if (v.is_undefined()) runtime_fail(v.as_undefined().hint);
  if (v.is_number()) return Value(v.as_double());
  if (v.is_string()) {
    if (auto d = parse_python_float(v.as_string())) return Value(*d);
  }
  return fallback;
}

std::optional<int64_t> parse_python_int(const std::string& text, int base) {
  std::string s = py_strip(text, nullptr, true, true);
  bool negative = false;
  size_t i = 0;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) negative = s[i++] == '-';
  if (base != 10 && i + 1 < s.size() && s[i] == '0') {
    char p = static_cast<char>(std::tolower(s[i + 1]));
    if ((p == 'x' && base == 16) || (p == 'o' && base == 8) || (p == 'b' && base == 2)) i += 2;
  }
  std::string digits;
  for (; i < s.size(); ++i) {
    if (s[i] == '_') continue;
    digits += s[i];
  }
  if (digits.empty()) return std::nullopt;
  try {
    size_t used = 0;
    long long value = std::stoll(digits, &used, base);
    if (used != digits.size()) return std::nullopt;
    return negative ? -value : value;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

Value f_int(Interpreter&, const Value& v, CallArgs& args) {
  Value fallback = arg_or(args, 0, "default", Value(0));
  Value base = arg_or(args, 1, "base", Value(10));
  args.expect_consumed("int");
  if (v.is_undefined()) runtime_fail(v.as_undefined().hint);
  if (v.is_int() || v.is_bool()) return Value(v.as_int());
  if (v.is_float()) {
    double d = v.as_double();
    if (!std::isfinite(d)) return fallback;
    return Value(static_cast<int64_t>(std::trunc(d)));
  }
  if (v.is_string()) {
    if (auto i = parse_python_int(v.as_string(), static_cast<int>(base.as_int()))) return Value(*i);
    if (auto d = parse_python_float(v.as_string()); d && std::isfinite(*d)) return Value(static_cast<int64_t>(std::trunc(*d)));
  }
  return fallback;
}

Value f_format(Interpreter&, const Value& v, CallArgs& args) {
  if (!args.positional.empty() && !args.keyword.empty())
    runtime_fail("can't handle positional and keyword arguments at the same time");
  if (!args.keyword.empty()) {
    Value mapping = Value::dict();
    for (const auto& [k, val] : args.keyword) mapping.dict_ptr()->set(Value(k), val);
    return binary_arithmetic("%", v.is_string() ? v : Value(to_str(v)), mapping);
  }
  return binary_arithmetic("%", v.is_string() ? v : Value(to_str(v)), Value::tuple(args.positional));
}

Value f_indent(Interpreter&, const Value& v, CallArgs& args) {
  Value width = arg_or(args, 0, "width", Value(4));
  bool first = truthy(arg_or(args, 1, "first", Value(false)));
  bool blank = truthy(arg_or(args, 2, "blank", Value(false)));
  args.expect_consumed("indent");
  // jinja2 appends "\n" to the value, which only strings accept.
  if (v.is_undefined()) runtime_fail(v.as_undefined().hint);
  if (v.is_list() && !v.is_tuple()) runtime_fail("'list' object has no attribute 'splitlines'");
  if (!v.is_string()) runtime_fail("unsupported operand type(s) for +=: '", type_name(v), "' and 'str'");
  std::string indention = width.is_string() ? width.as_string() : std::string(static_cast<size_t>(std::max<int64_t>(0, width.as_int())), ' ');
  std::vector<std::string> lines = python_splitlines(to_str(v) + "\n", false);
  std::string rv;
  if (blank) {
    for (size_t i = 0; i < lines.size(); ++i) rv += (i ? "\n" + indention : "") + lines[i];
  } else {
    rv = lines.empty() ? "" : lines[0];
    for (size_t i = 1; i < lines.size(); ++i) rv += "\n" + (lines[i].empty() ? "" : indention + lines[i]);
  }
  if (first) rv = indention + rv;
  return same_kind(v, rv);
}

Value f_items_now(Interpreter&, const Value& v, CallArgs& args) {
  args.expect_consumed("items");
  if (v.is_undefined()) return Value::generator({});
  if (!v.is_dict()) runtime_fail("Can only get item pairs from a mapping.");
  std::vector<Value> items;
  for (const auto& [k, val] : v.as_dict().entries) items.push_back(Value::tuple({k, val}));
  return Value::generator(std::move(items));
}

Value f_join(Interpreter&, const Value& v, CallArgs& args) {
  Value separator = arg_or(args, 0, "d", Value(""));
  Value attribute = arg_or(args, 1, "attribute", Value(None{}));
  args.expect_consumed("join");
  std::string out, sep = to_str(separator);
  bool first = true;
  for (const Value& item : iterate(v)) {
    if (!first) out += sep;
    first = false;
    out += to_str(lookup_path(item, attribute));
  }
  return Value(std::move(out));
}

Value f_length(Interpreter&, const Value& v, CallArgs& args) {
  args.expect_consumed("length");
  return Value(length(v));
}

Value f_list(Interpreter&, const Value& v, CallArgs& args) {
  args.expect_consumed("list");
  return Value::list(iterate(v));
}

Value f_lower(Interpreter&, const Value& v, CallArgs& args) {
  args.expect_consumed("lower");
  return same_kind(v, py_lower(to_str(v)));
}

Value f_upper(Interpreter&, const Value& v, CallArgs& args) {
  args.expect_consumed("upper");
  return same_kind(v, py_upper(to_str(v)));
}

Value f_map_now(Interpreter& interp, const Value& v, CallArgs& args) {
  std::vector<Value> out;
  if (!truthy(v)) return Value::generator({});  // jinja2 only iterates a true value
  if (args.positional.empty()) {
    std::optional<Value> attribute = args.take(0, "attribute");
    std::optional<Value> fallback = args.take(1, "default");
    args.expect_consumed("map");
    if (!attribute) runtime_fail("map requires a filter argument");
    for (const Value& item : iterate(v)) {
      Value mapped = lookup_path(item, *attribute);
      if (mapped.is_undefined() && fallback && !fallback->is_none()) mapped = *fallback;
      out.push_back(mapped);
    }
    return Value::generator(std::move(out));
  }
  std::string filter = to_str(args.positional[0]);
  CallArgs rest;
  rest.positional.assign(args.positional.begin() + 1, args.positional.end());
  rest.keyword = args.keyword;
  for (const Value& item : iterate(v)) {
    CallArgs copy = rest;
    out.push_back(interp.apply_filter(filter, item, copy));
  }
  return Value::generator(std::move(out));
}

Value min_or_max(const Value& v, CallArgs& args, bool want_max, const char* name) {
  bool case_sensitive = truthy(arg_or(args, 0, "case_sensitive", Value(false)));
  Value attribute = arg_or(args, 1, "attribute", Value(None{}));
  args.expect_consumed(name);
  std::vector<Value> items = iterate(v);
  if (items.empty()) return Value::undefined("No aggregated item, sequence was empty.");
  size_t best = 0;
  Value best_key = sort_key(items[0], attribute, case_sensitive);
  for (size_t i = 1; i < items.size(); ++i) {
    Value key = sort_key(items[i], attribute, case_sensitive);
    if (want_max ? less_than(best_key, key) : less_than(key, best_key)) {
      best = i;
      best_key = key;
    }
  }
  return items[best];
}

Value f_max(Interpreter&, const Value& v, CallArgs& args) { return min_or_max(v, args, true, "max"); }
Value f_min(Interpreter&, const Value& v, CallArgs& args) { return min_or_max(v, args, false, "min"); }

Value f_replace(Interpreter&, const Value& v, CallArgs& args) {
  std::optional<Value> old = args.take(0, "old"), replacement = args.take(1, "new");
  Value count = arg_or(args, 2, "count", Value(None{}));
  args.expect_consumed("replace");
  if (!old || !replacement) runtime_fail("replace() needs the old and new strings");
  return Value(python_replace(to_str(v), to_str(*old), to_str(*replacement), count.is_none() ? -1 : count.as_int()));
}

Value f_reverse(Interpreter&, const Value& v, CallArgs& args) {
  args.expect_consumed("reverse");
  if (v.is_string()) {
    std::u32string cps = utf8_decode(v.as_string());
    std::reverse(cps.begin(), cps.end());
    return same_kind(v, utf8_encode(cps));  // value[::-1] keeps a Markup a Markup
  }
  // reversed() gives an iterator for lists and dicts; generators are not reversible, so jinja2 lists them.
  bool was_iterator = v.is_iterator();
  std::vector<Value> items = iterate(v);
  std::reverse(items.begin(), items.end());
  if (was_iterator) return Value::list(std::move(items));
  return Value::sequence(std::move(items), Flavor::ReverseIterator);
}

// Python's round(x, ndigits): correctly rounded, ties to even on the exact binary value.
double python_round(double value, int64_t digits) {
  if (!std::isfinite(value)) return value;
  if (digits >= 0) {
    char buf[512];
    std::snprintf(buf, sizeof(buf), "%.*f", static_cast<int>(std::min<int64_t>(digits, 300)), value);
    return std::strtod(buf, nullptr);
  }
  double scale = std::pow(10.0, static_cast<double>(-digits));
  return std::nearbyint(value / scale) * scale;
}

Value f_round(Interpreter&, const Value& v, CallArgs& args) {
  Value precision = arg_or(args, 0, "precision", Value(0));
  Value method = arg_or(args, 1, "method", Value("common"));
  args.expect_consumed("round");
  std::string m = to_str(method);
  if (m != "common" && m != "ceil" && m != "floor") runtime_fail("method must be common, ceil or floor");
  if (!v.is_number()) runtime_fail("type ", type_name(v), " doesn't define __round__ method");
  int64_t p = precision.as_int();
  if (m == "common") {
    if (!v.is_float()) {
      if (p >= 0) return Value(v.as_int());
      double scale = std::pow(10.0, static_cast<double>(-p));
      return Value(static_cast<int64_t>(std::nearbyint(static_cast<double>(v.as_int()) / scale) * scale));
    }
    return Value(python_round(v.as_double(), p));
  }
  double scale = std::pow(10.0, static_cast<double>(p));
  double x = v.as_double() * scale;
  return Value((m == "ceil" ? std::ceil(x) : std::floor(x)) / scale);
}

Value f_safe(Interpreter&, const Value& v, CallArgs& args) {
  args.expect_consumed("safe");
  return v.is_markup() ? v : Value::markup(to_str(v));
}

Value select_or_reject(Interpreter& interp, const Value& v, CallArgs& args, bool select, bool by_attribute) {
  size_t next = 0;
  Value attribute(None{});
  if (by_attribute) {
    if (args.positional.empty()) runtime_fail("Missing parameter for attribute name");
    attribute = args.positional[next++];
  }
  std::string test;
  bool has_test = next < args.positional.size();
  if (has_test) test = to_str(args.positional[next++]);
  CallArgs test_args;
  test_args.positional.assign(args.positional.begin() + static_cast<long>(std::min(next, args.positional.size())), args.positional.end());
  test_args.keyword = args.keyword;
  std::vector<Value> out;
  if (!truthy(v)) return Value::generator({});  // jinja2 only iterates a true value
  for (const Value& item : iterate(v)) {
    Value subject = by_attribute ? lookup_path(item, attribute) : item;
    bool result;
    if (has_test) {
      CallArgs copy = test_args;
      result = interp.apply_test(test, subject, copy);
    } else {
      result = truthy(subject);
    }
    if (result == select) out.push_back(item);
  }
  return Value::generator(std::move(out));
}

Value f_select(Interpreter& i, const Value& v, CallArgs& a) {
  return lazily([&] { return select_or_reject(i, v, a, true, false); });
}
Value f_reject(Interpreter& i, const Value& v, CallArgs& a) {
  return lazily([&] { return select_or_reject(i, v, a, false, false); });
}
Value f_selectattr(Interpreter& i, const Value& v, CallArgs& a) {
  return lazily([&] { return select_or_reject(i, v, a, true, true); });
}
Value f_rejectattr(Interpreter& i, const Value& v, CallArgs& a) {
  return lazily([&] { return select_or_reject(i, v, a, false, true); });
}
Value f_batch(Interpreter& i, const Value& v, CallArgs& a) { return lazily([&] { return f_batch_now(i, v, a); }); }
Value f_items(Interpreter& i, const Value& v, CallArgs& a) { return lazily([&] { return f_items_now(i, v, a); }); }
Value f_map(Interpreter& i, const Value& v, CallArgs& a) { return lazily([&] { return f_map_now(i, v, a); }); }

Value f_sort(Interpreter&, const Value& v, CallArgs& args) {
  bool reverse = truthy(arg_or(args, 0, "reverse", Value(false)));
  bool case_sensitive = truthy(arg_or(args, 1, "case_sensitive", Value(false)));
  Value attribute = arg_or(args, 2, "attribute", Value(None{}));
  args.expect_consumed("sort");
  std::vector<Value> items = iterate(v), keys;
  for (const Value& item : items) keys.push_back(sort_key(item, attribute, case_sensitive));
  return Value::list(sorted_by(std::move(items), keys, reverse));
}

Value f_string(Interpreter&, const Value& v, CallArgs& args) {
  args.expect_consumed("string");
  return v.is_markup() ? v : Value(to_str(v));
}

Value f_sum(Interpreter&, const Value& v, CallArgs& args) {
  Value attribute = arg_or(args, 0, "attribute", Value(None{}));
  Value total = arg_or(args, 1, "start", Value(0));
  args.expect_consumed("sum");
  for (const Value& item : iterate(v)) total = binary_arithmetic("+", total, lookup_path(item, attribute));
  return total;
}

Value f_title(Interpreter&, const Value& v, CallArgs& args) {
  args.expect_consumed("title");
  // jinja2 splits at runs of "-", whitespace and opening brackets and writes each piece as
  // piece[0].upper() + piece[1:].lower().
  std::u32string cps = utf8_decode(to_str(v));
  std::string out;
  size_t i = 0;
  while (i < cps.size()) {
    auto separator = [](char32_t c) { return c == '-' || c == '(' || c == '{' || c == '[' || c == '<' || py_isspace(c); };
    size_t j = i;
    bool is_separator = separator(cps[i]);
    while (j < cps.size() && separator(cps[j]) == is_separator) ++j;
    std::u32string_view piece = std::u32string_view(cps).substr(i, j - i);
    if (is_separator) {
      out += utf8_encode(piece);
    } else {
      out += py_upper(utf8_encode(piece.substr(0, 1)));
      out += py_lower(utf8_encode(piece.substr(1)));
    }
    i = j;
  }
  return Value(std::move(out));
}

Value f_tojson(Interpreter&, const Value& v, CallArgs& args) {
  bool ensure_ascii = truthy(arg_or(args, 0, "ensure_ascii", Value(false)));
  Value indent = arg_or(args, 1, "indent", Value(None{}));
  Value separators = arg_or(args, 2, "separators", Value(None{}));
  bool sort_keys = truthy(arg_or(args, 3, "sort_keys", Value(false)));
  args.expect_consumed("tojson");
  JsonDumpOptions options;
  options.ensure_ascii = ensure_ascii;
  options.sort_keys = sort_keys;
  if (indent.is_string()) options.indent = indent.as_string();
  else if (indent.is_int()) options.indent = std::string(static_cast<size_t>(std::max<int64_t>(0, indent.as_int())), ' ');
  else if (!indent.is_none()) runtime_fail("tojson indent must be an int or a string");
  if (!separators.is_none()) {
    std::vector<Value> parts = iterate(separators);
    if (parts.size() != 2 || !parts[0].is_string() || !parts[1].is_string())
      runtime_fail("tojson separators must be a pair of strings");
    options.item_separator = parts[0].as_string();
    options.key_separator = parts[1].as_string();
  }
  return Value(python_json_dumps(v, options));
}

Value f_trim(Interpreter&, const Value& v, CallArgs& args) {
  Value chars = arg_or(args, 0, "chars", Value(None{}));
  args.expect_consumed("trim");
  std::string set = chars.is_none() ? "" : to_str(chars);
  return same_kind(v, py_strip(to_str(v), chars.is_none() ? nullptr : &set, true, true));
}

Value f_truncate(Interpreter&, const Value& v, CallArgs& args) {
  int64_t length_limit = arg_or(args, 0, "length", Value(255)).as_int();
  bool killwords = truthy(arg_or(args, 1, "killwords", Value(false)));
  std::string end = to_str(arg_or(args, 2, "end", Value("...")));
  int64_t leeway = arg_or(args, 3, "leeway", Value(5)).as_int();
  args.expect_consumed("truncate");
  if (!v.is_string()) {
    // jinja2 measures and slices the value itself: other sequences pass when short enough.
    if (length(v) <= length_limit + leeway) return v;
    runtime_fail("'", type_name(v), "' object has no attribute 'rsplit'");
  }
  std::u32string s = utf8_decode(v.as_string());
  int64_t end_len = static_cast<int64_t>(utf8_length(end));
  if (length_limit < end_len) runtime_fail("expected length >= ", end_len, ", got ", length_limit);
  if (static_cast<int64_t>(s.size()) <= length_limit + leeway) return Value(utf8_encode(s));
  std::u32string head = s.substr(0, static_cast<size_t>(length_limit - end_len));
  if (!killwords) {
    size_t space = head.rfind(U' ');
    if (space != std::u32string::npos) head = head.substr(0, space);
  }
  return Value(utf8_encode(head) + end);
}

Value f_unique_now(Interpreter&, const Value& v, CallArgs& args) {
  bool case_sensitive = truthy(arg_or(args, 0, "case_sensitive", Value(false)));
  Value attribute = arg_or(args, 1, "attribute", Value(None{}));
  args.expect_consumed("unique");
  std::vector<Value> out, seen;
  for (const Value& item : iterate(v)) {
    Value key = sort_key(item, attribute, case_sensitive);
    bool duplicate = std::any_of(seen.begin(), seen.end(), [&](const Value& s) { return equals(s, key); });
    if (duplicate) continue;
    seen.push_back(key);
    out.push_back(item);
  }
  return Value::generator(std::move(out));
}

Value f_unique(Interpreter& i, const Value& v, CallArgs& a) { return lazily([&] { return f_unique_now(i, v, a); }); }

Value f_wordcount(Interpreter&, const Value& v, CallArgs& args) {
  args.expect_consumed("wordcount");
  int64_t words = 0;
  bool in_word = false;
  for (char32_t c : utf8_decode(to_str(v))) {
    bool word_char = py_isalnum(c) || c == '_';
    if (word_char && !in_word) ++words;
    in_word = word_char;
  }
  return Value(words);
}

const std::map<std::string, FilterFunction>& filters() {
  static const std::map<std::string, FilterFunction> table = {
      {"abs", f_abs}, {"attr", f_attr}, {"batch", f_batch}, {"capitalize", f_capitalize}, {"center", f_center},
      {"count", f_length}, {"d", f_default}, {"default", f_default}, {"dictsort", f_dictsort}, {"e", f_escape},
      {"escape", f_escape}, {"first", f_first}, {"float", f_float}, {"forceescape", f_forceescape}, {"format", f_format},
      {"indent", f_indent}, {"int", f_int}, {"items", f_items}, {"join", f_join}, {"last", f_last},
      {"length", f_length}, {"list", f_list}, {"lower", f_lower}, {"map", f_map}, {"max", f_max}, {"min", f_min},
      {"reject", f_reject}, {"rejectattr", f_rejectattr}, {"replace", f_replace}, {"reverse", f_reverse},
      {"round", f_round}, {"safe", f_safe}, {"select", f_select}, {"selectattr", f_selectattr}, {"sort", f_sort},
      {"string", f_string}, {"sum", f_sum}, {"title", f_title}, {"tojson", f_tojson}, {"trim", f_trim},
      {"truncate", f_truncate}, {"unique", f_unique}, {"upper", f_upper}, {"wordcount", f_wordcount},
  };
  return table;
}

}  // namespace

FilterFunction find_filter(const std::string& name) {
  auto it = filters().find(name);
  return it == filters().end() ? nullptr : it->second;
}

}  // namespace glint::jinja
