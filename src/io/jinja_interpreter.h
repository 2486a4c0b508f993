// Evaluates a parsed template. Internal to the jinja_* files; users go through jinja.h.
#pragma once
#include <memory>
#include <string>
#include <unordered_map>

#include "io/jinja_ast.h"
#include "io/jinja_value.h"

namespace glint::jinja {

struct Scope {
  std::unordered_map<std::string, Value> vars;
  std::shared_ptr<Scope> parent;
  const Value* lookup(const std::string& name) const {
    for (const Scope* s = this; s; s = s->parent.get()) {
      auto it = s->vars.find(name);
      if (it != s->vars.end()) return &it->second;
    }
    return nullptr;
  }
};
using ScopePtr = std::shared_ptr<Scope>;

class Interpreter;
using FilterFunction = Value (*)(Interpreter&, const Value& subject, CallArgs& args);
using TestFunction = bool (*)(Interpreter&, const Value& subject, CallArgs& args);

// Registries live in jinja_filters.cpp; nullptr when unknown.
FilterFunction find_filter(const std::string& name);
TestFunction find_test(const std::string& name);
// Global functions: range, dict, namespace, cycler, joiner, raise_exception, strftime_now.
void add_globals(Scope& scope);
// Attribute lookup with jinja2's sandboxed getattr rules (methods of str/dict/list, object attributes,
// then item lookup); returns undefined when missing and throws when `object` itself is undefined.
Value get_attribute(const Value& object, const std::string& name);
// Subscript with jinja2's getitem rules (item first, then attribute for string keys).
Value get_item(const Value& object, const Value& key);
Value slice_value(const Value& object, const Value& start, const Value& stop, const Value& step);
// Python's printf-style "fmt % args".
std::string percent_format(const std::string& format, const Value& args);
// str.format with positional and keyword fields (format specs limited to the common ones).
std::string brace_format(const std::string& format, CallArgs& args);

// str.splitlines, str.replace and str.center with CPython's exact results.
std::vector<std::string> python_splitlines(const std::string& s, bool keepends);
std::string python_replace(const std::string& s, const std::string& old, const std::string& replacement,
                           int64_t count);
std::string python_center(const std::string& s, int64_t width, const std::string& fill);

class Interpreter {
 public:
  void render(const Body& body, const ScopePtr& scope, std::string& out);
  Value eval(const Expr& expr, const ScopePtr& scope);
  Value apply_filter(const std::string& name, const Value& subject, CallArgs& args);
  bool apply_test(const std::string& name, const Value& subject, CallArgs& args);
  Value call(const Value& callee, CallArgs& args);

 private:
  enum class Flow { Normal, Break, Continue };
  Flow exec(const Stmt& stmt, const ScopePtr& scope, std::string& out);
  Flow exec_body(const Body& body, const ScopePtr& scope, std::string& out);
  Flow exec_for(const Stmt& stmt, const ScopePtr& scope, std::string& out);
  void run_loop(const Stmt& stmt, const ScopePtr& scope, const Value& iterable, int depth, std::string& out);
  void assign(const Target& target, const Value& value, const ScopePtr& scope);
  Value make_macro(const Stmt& stmt, const ScopePtr& scope);
  Value make_caller(const Stmt& stmt, const ScopePtr& scope);
  Value eval_filter_chain(const Expr& filter, const Value& subject, const ScopePtr& scope);
  CallArgs eval_args(const Expr& expr, const ScopePtr& scope);
  Value eval_binary(const Expr& expr, const ScopePtr& scope);
  Value eval_compare(const Expr& expr, const ScopePtr& scope);

  // Macro and recursive-loop calls nest; runaway recursion gets an error instead of a stack overflow.
  static constexpr int kMaxCallDepth = 200;
  int call_depth_ = 0;
  friend struct CallDepthGuard;
};

// Python arithmetic on values; `op` is one of + - * / // % **.
Value binary_arithmetic(const std::string& op, const Value& left, const Value& right);
// Python's `needle in haystack`.
bool contains(const Value& haystack, const Value& needle);

}  // namespace glint::jinja
