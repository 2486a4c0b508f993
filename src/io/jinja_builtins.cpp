// jinja2's tests ("is defined", "is string", ...) and the globals a chat template can call.
#include <ctime>
#include <map>

#include "io/jinja.h"
#include "io/jinja_interpreter.h"
#include "io/jinja_unicode.h"

namespace glint::jinja {
namespace {

Value one_arg(CallArgs& args, const char* test, const char* name = "other") {
  std::optional<Value> v = args.take(0, name);
  args.expect_consumed(test);
  if (!v) runtime_fail("test '", test, "' needs an argument");
  return *v;
}

void no_args(CallArgs& args, const char* test) { args.expect_consumed(test); }

// jinja2 computes `value % n` with Python's semantics (floats included) and compares the remainder.
bool remainder_is(const Value& v, const Value& divisor, int64_t expected) {
  return equals(binary_arithmetic("%", v, divisor), Value(expected));
}

bool t_defined(Interpreter&, const Value& v, CallArgs& a) { no_args(a, "defined"); return !v.is_undefined(); }
bool t_undefined(Interpreter&, const Value& v, CallArgs& a) { no_args(a, "undefined"); return v.is_undefined(); }
bool t_none(Interpreter&, const Value& v, CallArgs& a) { no_args(a, "none"); return v.is_none(); }
bool t_boolean(Interpreter&, const Value& v, CallArgs& a) { no_args(a, "boolean"); return v.is_bool(); }
bool t_false(Interpreter&, const Value& v, CallArgs& a) { no_args(a, "false"); return v.is_bool() && !v.as_bool(); }
bool t_true(Interpreter&, const Value& v, CallArgs& a) { no_args(a, "true"); return v.is_bool() && v.as_bool(); }
bool t_integer(Interpreter&, const Value& v, CallArgs& a) { no_args(a, "integer"); return v.is_int(); }
bool t_float(Interpreter&, const Value& v, CallArgs& a) { no_args(a, "float"); return v.is_float(); }
bool t_number(Interpreter&, const Value& v, CallArgs& a) { no_args(a, "number"); return v.is_number(); }
bool t_string(Interpreter&, const Value& v, CallArgs& a) { no_args(a, "string"); return v.is_string(); }
bool t_mapping(Interpreter&, const Value& v, CallArgs& a) { no_args(a, "mapping"); return v.is_dict(); }
bool t_iterable(Interpreter&, const Value& v, CallArgs& a) {
  no_args(a, "iterable");
  return v.is_string() || v.is_list() || v.is_dict() || v.is_undefined();
}
bool t_sequence(Interpreter&, const Value& v, CallArgs& a) {
  no_args(a, "sequence");
  // Needs len() and indexing: generators and dict views fail it.
  bool indexable_list = v.is_list() && (v.flavor() == Flavor::Plain || v.flavor() == Flavor::Range);
  return v.is_string() || indexable_list || v.is_dict() || v.is_undefined();
}
bool t_callable(Interpreter&, const Value& v, CallArgs& a) {
  no_args(a, "callable");
  return v.is_undefined() || v.is_function() || (v.is_object() && v.object_ptr()->attributes->find(std::string_view("__call__")));
}
bool t_odd(Interpreter&, const Value& v, CallArgs& a) { no_args(a, "odd"); return remainder_is(v, Value(2), 1); }
bool t_even(Interpreter&, const Value& v, CallArgs& a) { no_args(a, "even"); return remainder_is(v, Value(2), 0); }
bool t_divisibleby(Interpreter&, const Value& v, CallArgs& a) {
  return remainder_is(v, one_arg(a, "divisibleby", "num"), 0);
}
bool t_lower(Interpreter&, const Value& v, CallArgs& a) {
  no_args(a, "lower");
  std::string s = to_str(v);
  bool cased = false;
  for (char32_t c : utf8_decode(s)) {
    if (py_isupper(c)) return false;
    if (py_islower(c)) cased = true;
  }
  return cased;
}
bool t_upper(Interpreter&, const Value& v, CallArgs& a) {
  no_args(a, "upper");
  bool cased = false;
  for (char32_t c : utf8_decode(to_str(v))) {
    if (py_islower(c)) return false;
    if (py_isupper(c)) cased = true;
  }
  return cased;
}
bool t_sameas(Interpreter&, const Value& v, CallArgs& a) {
  Value other = one_arg(a, "sameas");
  if (v.storage().index() != other.storage().index()) return false;
  if (v.is_none() || v.is_bool() || v.is_int()) return equals(v, other);
  if (v.is_list()) return v.list_ptr() == other.list_ptr();
  if (v.is_dict()) return v.dict_ptr() == other.dict_ptr();
  if (v.is_object()) return v.object_ptr() == other.object_ptr();
  return false;
}
bool t_escaped(Interpreter&, const Value& v, CallArgs& a) { no_args(a, "escaped"); return v.is_markup(); }
bool t_in(Interpreter&, const Value& v, CallArgs& a) { return contains(one_arg(a, "in", "seq"), v); }
bool t_eq(Interpreter&, const Value& v, CallArgs& a) { return equals(v, one_arg(a, "eq")); }
bool t_ne(Interpreter&, const Value& v, CallArgs& a) { return !equals(v, one_arg(a, "ne")); }
bool t_lt(Interpreter&, const Value& v, CallArgs& a) { return less_than(v, one_arg(a, "lt")); }
bool t_gt(Interpreter&, const Value& v, CallArgs& a) { return less_than(one_arg(a, "gt"), v); }
bool t_le(Interpreter&, const Value& v, CallArgs& a) {
  Value o = one_arg(a, "le");
  return less_than(v, o) || equals(v, o);
}
bool t_ge(Interpreter&, const Value& v, CallArgs& a) {
  Value o = one_arg(a, "ge");
  return less_than(o, v) || equals(v, o);
}
bool t_filter(Interpreter&, const Value& v, CallArgs& a) { no_args(a, "filter"); return v.is_string() && find_filter(v.as_string()); }
bool t_test(Interpreter&, const Value& v, CallArgs& a) { no_args(a, "test"); return v.is_string() && find_test(v.as_string()); }

const std::map<std::string, TestFunction>& tests() {
  static const std::map<std::string, TestFunction> table = {
      {"defined", t_defined}, {"undefined", t_undefined}, {"none", t_none}, {"boolean", t_boolean},
      {"false", t_false}, {"true", t_true}, {"integer", t_integer}, {"float", t_float}, {"number", t_number},
      {"string", t_string}, {"mapping", t_mapping}, {"iterable", t_iterable}, {"sequence", t_sequence},
      {"callable", t_callable}, {"odd", t_odd}, {"even", t_even}, {"divisibleby", t_divisibleby},
      {"lower", t_lower}, {"upper", t_upper}, {"sameas", t_sameas}, {"escaped", t_escaped}, {"in", t_in},
      {"eq", t_eq}, {"equalto", t_eq}, {"==", t_eq}, {"ne", t_ne}, {"!=", t_ne}, {"lt", t_lt},
      {"lessthan", t_lt}, {"<", t_lt}, {"le", t_le}, {"<=", t_le}, {"gt", t_gt}, {"greaterthan", t_gt},
      {">", t_gt}, {"ge", t_ge}, {">=", t_ge}, {"filter", t_filter}, {"test", t_test},
  };
  return table;
}

// The sandbox refuses ranges over this size, as jinja2's MAX_RANGE does.
constexpr int64_t kMaxRange = 100000;

Value g_range(CallArgs& args) {
  if (!args.keyword.empty()) runtime_fail("range() takes no keyword arguments");
  std::vector<int64_t> a;
  for (const Value& v : args.positional) {
    if (!v.is_int() && !v.is_bool()) runtime_fail("'", type_name(v), "' object cannot be interpreted as an integer");
    a.push_back(v.as_int());
  }
  if (a.empty() || a.size() > 3) runtime_fail("range expected 1 to 3 arguments, got ", a.size());
  int64_t start = a.size() == 1 ? 0 : a[0], stop = a.size() == 1 ? a[0] : a[1], step = a.size() == 3 ? a[2] : 1;
  if (step == 0) runtime_fail("range() arg 3 must not be zero");
  std::vector<Value> items;
  for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
    if (static_cast<int64_t>(items.size()) >= kMaxRange)
      runtime_fail("Range too big. The sandbox blocks ranges larger than MAX_RANGE (", kMaxRange, ").");
    items.emplace_back(i);
  }
  Value range = Value::sequence(std::move(items), Flavor::Range);
  range.list_ptr()->range_start = start;
  range.list_ptr()->range_stop = stop;
  range.list_ptr()->range_step = step;
  return range;
}

void merge_mapping(DictData& into, CallArgs& args, const char* callee) {
  if (args.positional.size() > 1) runtime_fail(callee, " expected at most 1 positional argument");
  if (!args.positional.empty()) {
    const Value& source = args.positional[0];
    if (source.is_dict()) {
      for (const auto& [k, v] : source.as_dict().entries) into.set(k, v);
    } else {
      for (const Value& pair : iterate(source)) {
        std::vector<Value> kv = iterate(pair);
        if (kv.size() != 2) runtime_fail(callee, " sequence elements must have length 2");
        into.set(kv[0], kv[1]);
      }
    }
  }
  for (const auto& [k, v] : args.keyword) into.set(Value(k), v);
}

Value g_dict(CallArgs& args) {
  Value d = Value::dict();
  merge_mapping(*d.dict_ptr(), args, "dict");
  return d;
}

Value g_namespace(CallArgs& args) {
  auto ns = std::make_shared<ObjectData>();
  ns->type_name = "Namespace";
  ns->assignable = true;
  merge_mapping(*ns->attributes, args, "namespace");
  return Value(ns);
}

Value g_raise_exception(CallArgs& args) {
  std::optional<Value> message = args.take(0, "message");
  throw RaisedException(message ? to_str(*message) : std::string());
}

Value g_strftime_now(CallArgs& args) {
  std::optional<Value> format = args.take(0, "format");
  args.expect_consumed("strftime_now");
  if (!format || !format->is_string()) runtime_fail("strftime_now() needs a format string");
  std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  char buf[512];
  size_t n = std::strftime(buf, sizeof(buf), format->as_string().c_str(), &local);
  return Value(std::string(buf, n));
}

Value g_joiner(CallArgs& args) {
  std::optional<Value> sep = args.take(0, "sep");
  args.expect_consumed("joiner");
  std::string separator = sep ? to_str(*sep) : ", ";
  auto used = std::make_shared<bool>(false);
  return Value::function("joiner", [separator, used](CallArgs&) -> Value {
    if (!*used) {
      *used = true;
      return Value("");
    }
    return Value(separator);
  });
}

Value g_cycler(CallArgs& args) {
  if (args.positional.empty()) runtime_fail("at least one item has to be provided");
  auto cycler = std::make_shared<ObjectData>();
  cycler->type_name = "Cycler";
  auto items = std::make_shared<std::vector<Value>>(args.positional);
  auto position = std::make_shared<size_t>(0);
  std::weak_ptr<DictData> attributes = cycler->attributes;
  cycler->attributes->set(Value("current"), (*items)[0]);
  cycler->attributes->set(Value("next"), Value::function("next", [items, position, attributes](CallArgs&) -> Value {
    Value current = (*items)[*position];
    *position = (*position + 1) % items->size();
    if (auto a = attributes.lock()) a->set(Value("current"), (*items)[*position]);
    return current;
  }));
  cycler->attributes->set(Value("reset"), Value::function("reset", [items, position, attributes](CallArgs&) -> Value {
    *position = 0;
    if (auto a = attributes.lock()) a->set(Value("current"), (*items)[0]);
    return Value(None{});
  }));
  return Value(cycler);
}

}  // namespace

TestFunction find_test(const std::string& name) {
  auto it = tests().find(name);
  return it == tests().end() ? nullptr : it->second;
}

void add_globals(Scope& scope) {
  scope.vars["range"] = Value::function("range", g_range, "<class 'range'>");
  scope.vars["dict"] = Value::function("dict", g_dict, "<class 'dict'>");
  scope.vars["namespace"] = Value::function("namespace", g_namespace, "<class 'jinja2.utils.Namespace'>");
  scope.vars["joiner"] = Value::function("joiner", g_joiner, "<class 'jinja2.utils.Joiner'>");
  scope.vars["cycler"] = Value::function("cycler", g_cycler, "<class 'jinja2.utils.Cycler'>");
  scope.vars["raise_exception"] = Value::function("raise_exception", g_raise_exception);
  scope.vars["strftime_now"] = Value::function("strftime_now", g_strftime_now);
}

}  // namespace glint::jinja
