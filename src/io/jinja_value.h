// Values of the Jinja interpreter, modelled on the Python objects jinja2 works with: templates compare,
// print and serialize them exactly as Python would (repr of lists, True/None, float formatting).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace glint::jinja {

class Value;

struct Undefined {
  std::string hint;  // what jinja2 would say when the undefined value is used, e.g. "'x' is undefined"
};
struct None {};
// markupsafe's Markup, which |safe and |escape return: a str that escapes what is added to it.
struct Markup {
  std::string text;
};

// Python sequence-like objects that jinja2 filters and methods return besides lists and tuples. They hold
// their items like a list but keep Python's behaviour: generators are always true, have no len(), cannot
// be indexed and are used up by iteration; range and dict views print as such.
enum class Flavor { Plain, Generator, ReverseIterator, Range, DictKeys, DictValues, DictItems };

struct ListData {
  std::vector<Value> items;
  bool is_tuple = false;
  Flavor flavor = Flavor::Plain;
  int64_t range_start = 0, range_stop = 0, range_step = 1;  // Flavor::Range
  // A generator whose computation failed: Python only raises once it is iterated.
  std::optional<std::string> deferred_error;
};

// Python dict: insertion ordered; keys are usually strings but any hashable value may be a key.
struct DictData {
  std::vector<std::pair<Value, Value>> entries;
  const Value* find(const Value& key) const;
  const Value* find(std::string_view key) const;
  void set(Value key, Value value);
};

struct CallArgs;
using NativeFunction = std::function<Value(CallArgs&)>;
struct FunctionData {
  std::string name;
  NativeFunction call;
  std::string repr;  // how Python would print the object, e.g. "<built-in method upper of str object>"
};

// Objects with attributes: namespace() (assignable), loop, cycler, joiner.
struct ObjectData {
  std::string type_name;
  std::shared_ptr<DictData> attributes = std::make_shared<DictData>();
  bool assignable = false;
};

using ListPtr = std::shared_ptr<ListData>;
using DictPtr = std::shared_ptr<DictData>;
using FunctionPtr = std::shared_ptr<FunctionData>;
using ObjectPtr = std::shared_ptr<ObjectData>;

class Value {
 public:
  using Storage = std::variant<Undefined, None, bool, int64_t, double, std::string, ListPtr, DictPtr, FunctionPtr,
                               ObjectPtr, Markup>;
  Value() : data_(Undefined{}) {}
  Value(None) : data_(None{}) {}
  Value(Undefined u) : data_(std::move(u)) {}
  Value(bool b) : data_(b) {}
  Value(int i) : data_(static_cast<int64_t>(i)) {}
  Value(int64_t i) : data_(i) {}
  Value(size_t i) : data_(static_cast<int64_t>(i)) {}
  Value(double d) : data_(d) {}
  Value(std::string s) : data_(std::move(s)) {}
  Value(const char* s) : data_(std::string(s)) {}
  Value(ListPtr l) : data_(std::move(l)) {}
  Value(DictPtr d) : data_(std::move(d)) {}
  Value(FunctionPtr f) : data_(std::move(f)) {}
  Value(ObjectPtr o) : data_(std::move(o)) {}
  Value(Markup m) : data_(std::move(m)) {}
  static Value markup(std::string text) { return Value(Markup{std::move(text)}); }

  static Value undefined(std::string hint) { return Value(Undefined{std::move(hint)}); }
  static Value list(std::vector<Value> items = {}, bool is_tuple = false);
  static Value tuple(std::vector<Value> items) { return list(std::move(items), true); }
  static Value sequence(std::vector<Value> items, Flavor flavor);
  static Value generator(std::vector<Value> items) { return sequence(std::move(items), Flavor::Generator); }
  static Value dict();
  static Value function(std::string name, NativeFunction call, std::string repr = "");

  bool is_undefined() const { return std::holds_alternative<Undefined>(data_); }
  bool is_none() const { return std::holds_alternative<None>(data_); }
  bool is_bool() const { return std::holds_alternative<bool>(data_); }
  bool is_int() const { return std::holds_alternative<int64_t>(data_); }
  bool is_float() const { return std::holds_alternative<double>(data_); }
  bool is_number() const { return is_int() || is_float() || is_bool(); }  // Python: bool is an int
  bool is_string() const { return std::holds_alternative<std::string>(data_) || is_markup(); }
  bool is_markup() const { return std::holds_alternative<Markup>(data_); }
  bool is_list() const { return std::holds_alternative<ListPtr>(data_); }
  bool is_tuple() const { return is_list() && as_list().is_tuple; }
  Flavor flavor() const { return is_list() ? as_list().flavor : Flavor::Plain; }
  bool is_plain_list() const { return is_list() && !as_list().is_tuple && as_list().flavor == Flavor::Plain; }
  // Generators and iterators: no len(), no indexing, single use.
  bool is_iterator() const { return flavor() == Flavor::Generator || flavor() == Flavor::ReverseIterator; }
  bool is_dict() const { return std::holds_alternative<DictPtr>(data_); }
  bool is_function() const { return std::holds_alternative<FunctionPtr>(data_); }
  bool is_object() const { return std::holds_alternative<ObjectPtr>(data_); }

  bool as_bool() const { return std::get<bool>(data_); }
  int64_t as_int() const;      // int or bool
  double as_double() const;    // int, bool or float
  const std::string& as_string() const {
    if (const Markup* m = std::get_if<Markup>(&data_)) return m->text;
    return std::get<std::string>(data_);
  }
  const ListData& as_list() const { return *std::get<ListPtr>(data_); }
  const DictData& as_dict() const { return *std::get<DictPtr>(data_); }
  const ListPtr& list_ptr() const { return std::get<ListPtr>(data_); }
  const DictPtr& dict_ptr() const { return std::get<DictPtr>(data_); }
  const FunctionData& as_function() const { return *std::get<FunctionPtr>(data_); }
  const ObjectPtr& object_ptr() const { return std::get<ObjectPtr>(data_); }
  const Undefined& as_undefined() const { return std::get<Undefined>(data_); }
  const Storage& storage() const { return data_; }

 private:
  Storage data_;
};

struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keyword;
  // Takes the argument at `index` or named `name` (Python's binding rules); nullopt when absent.
  std::optional<Value> take(size_t index, std::string_view name);
  // Fails when arguments remain that the callee did not take.
  void expect_consumed(std::string_view callee) const;
  std::vector<bool> used_positional;
  std::vector<bool> used_keyword;
};

// Python's type name, as it appears in jinja2's messages: "str", "int", "dict", "list", ...
std::string type_name(const Value& value);
// Python's bool(value).
bool truthy(const Value& value);
// Python's str(value) / repr(value). str() of undefined is "" (jinja2's default Undefined).
std::string to_str(const Value& value);
std::string repr(const Value& value);
std::string python_float_repr(double value);
std::string python_string_repr(std::string_view text);
// markupsafe.escape of text: & < > " ' become entities.
std::string html_escape(std::string_view text);
// What markupsafe does to a value joining a Markup (+, %, join, format): strings and other values are
// escaped, Markup is kept.
std::string escape_for_markup(const Value& value);
// Python's ==.
bool equals(const Value& a, const Value& b);
// Python's < for orderable pairs (numbers, strings, sequences); throws for others as Python raises TypeError.
bool less_than(const Value& a, const Value& b);
// Everything a for loop or list() would iterate: list items, dict keys, string characters.
std::vector<Value> iterate(const Value& value);
// len(); throws for values without a length.
int64_t length(const Value& value);

Value from_json(const nlohmann::ordered_json& json);
Value from_json(const nlohmann::json& json);

// Raised by value operations that Python would reject (TypeError, KeyError, ...); the interpreter adds
// the template position before it reaches the caller.
struct RuntimeError {
  std::string message;
};
template <typename... Args>
[[noreturn]] void runtime_fail(Args&&... args) {
  throw RuntimeError{glint::str(std::forward<Args>(args)...)};
}

}  // namespace glint::jinja
