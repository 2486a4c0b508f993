#include "io/jinja_interpreter.h"

#include <cmath>

#include "io/jinja.h"
#include "io/jinja_parser.h"
#include "io/jinja_unicode.h"

namespace glint::jinja {
namespace {

[[noreturn]] void fail_undefined(const Value& v) { runtime_fail(v.as_undefined().hint); }

void check_defined(const Value& v) {
  if (v.is_undefined()) fail_undefined(v);
}

int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

int64_t floor_mod(int64_t a, int64_t b) {
  int64_t r = a % b;
  if (r != 0 && ((r < 0) != (b < 0))) r += b;
  return r;
}

Value repeat(const Value& sequence, int64_t times) {
  if (sequence.is_string()) {
    std::string out;
    for (int64_t i = 0; i < times; ++i) out += sequence.as_string();
    return Value(std::move(out));
  }
  std::vector<Value> items;
  for (int64_t i = 0; i < times; ++i)
    for (const Value& v : sequence.as_list().items) items.push_back(v);
  return Value::list(std::move(items), sequence.is_tuple());
}

// Python integers never overflow; rather than wrap around silently we stop with a clear error.
int64_t checked(bool overflowed, int64_t value) {
  if (overflowed) runtime_fail("integer result does not fit in 64 bits (Python would switch to a big integer)");
  return value;
}
int64_t add_ints(int64_t a, int64_t b) {
  int64_t r = 0;
  bool overflowed = __builtin_add_overflow(a, b, &r);
  return checked(overflowed, r);
}
int64_t sub_ints(int64_t a, int64_t b) {
  int64_t r = 0;
  bool overflowed = __builtin_sub_overflow(a, b, &r);
  return checked(overflowed, r);
}
int64_t mul_ints(int64_t a, int64_t b) {
  int64_t r = 0;
  bool overflowed = __builtin_mul_overflow(a, b, &r);
  return checked(overflowed, r);
}

[[noreturn]] void unsupported_operands(const std::string& op, const Value& a, const Value& b) {
  runtime_fail("unsupported operand type(s) for ", op, ": '", type_name(a), "' and '", type_name(b), "'");
}

}  // namespace

Value binary_arithmetic(const std::string& op, const Value& a, const Value& b) {
  // "fmt" % x treats an undefined x like an empty mapping, as Python does for objects with __getitem__.
  if (op == "%" && a.is_markup()) {
    // Markup % args escapes the arguments.
    Value escaped_args = b;
    if (b.is_tuple()) {
      std::vector<Value> items;
      for (const Value& item : b.as_list().items)
        items.push_back(item.is_string() && !item.is_markup() ? Value::markup(html_escape(item.as_string())) : item);
      escaped_args = Value::tuple(std::move(items));
    } else if (b.is_string() && !b.is_markup()) {
      escaped_args = Value::markup(html_escape(b.as_string()));
    }
    return Value::markup(percent_format(a.as_string(), escaped_args));
  }
  if (op == "%" && a.is_string()) return Value(percent_format(a.as_string(), b));
  // Adding to a Markup escapes the other string.
  if (op == "+" && a.is_string() && b.is_string() && (a.is_markup() || b.is_markup()))
    return Value::markup(escape_for_markup(a) + escape_for_markup(b));
  check_defined(a);
  check_defined(b);
  bool numbers = a.is_number() && b.is_number();
  bool any_float = a.is_float() || b.is_float();
  if (op == "+") {
    if (numbers) return any_float ? Value(a.as_double() + b.as_double()) : Value(add_ints(a.as_int(), b.as_int()));
    if (a.is_string() && b.is_string()) return Value(a.as_string() + b.as_string());
    if (a.is_list() && b.is_list() && a.is_tuple() == b.is_tuple() && a.flavor() == Flavor::Plain &&
        b.flavor() == Flavor::Plain) {
      std::vector<Value> items = a.as_list().items;
      for (const Value& v : b.as_list().items) items.push_back(v);
      return Value::list(std::move(items), a.is_tuple());
    }
    if (a.is_string()) runtime_fail("can only concatenate str (not \"", type_name(b), "\") to str");
    if (a.is_list() && !a.is_tuple()) runtime_fail("can only concatenate list (not \"", type_name(b), "\") to list");
    unsupported_operands("+", a, b);
  }
  if (op == "-") {
    if (numbers) return any_float ? Value(a.as_double() - b.as_double()) : Value(sub_ints(a.as_int(), b.as_int()));
    unsupported_operands("-", a, b);
  }
  if (op == "*") {
    if (numbers) return any_float ? Value(a.as_double() * b.as_double()) : Value(mul_ints(a.as_int(), b.as_int()));
    if (a.is_markup() && (b.is_int() || b.is_bool())) return Value::markup(repeat(a, b.as_int()).as_string());
    if (b.is_markup() && (a.is_int() || a.is_bool())) return Value::markup(repeat(b, a.as_int()).as_string());
    auto repeatable = [](const Value& v) { return v.is_string() || (v.is_list() && v.flavor() == Flavor::Plain); };
    if (repeatable(a) && (b.is_int() || b.is_bool())) return repeat(a, b.as_int());
    if (repeatable(b) && (a.is_int() || a.is_bool())) return repeat(b, a.as_int());
    unsupported_operands("*", a, b);
  }
  if (op == "/") {
    if (!numbers) unsupported_operands("/", a, b);
    if (b.as_double() == 0) runtime_fail("division by zero");
    return Value(a.as_double() / b.as_double());
  }
  if (op == "//") {
    if (!numbers) unsupported_operands("//", a, b);
    if (b.as_double() == 0) runtime_fail(any_float ? "float floor division by zero" : "integer division or modulo by zero");
    if (any_float) return Value(std::floor(a.as_double() / b.as_double()));
    return Value(floor_div(a.as_int(), b.as_int()));
  }
  if (op == "%") {
    if (a.is_string()) return Value(percent_format(a.as_string(), b));
    if (!numbers) unsupported_operands("%", a, b);
    if (b.as_double() == 0) runtime_fail(any_float ? "float modulo" : "integer division or modulo by zero");
    if (any_float) {
      double r = std::fmod(a.as_double(), b.as_double());
      if (r != 0 && ((r < 0) != (b.as_double() < 0))) r += b.as_double();
      if (r == 0) r = std::copysign(0.0, b.as_double());  // Python gives zero the divisor's sign
      return Value(r);
    }
    return Value(floor_mod(a.as_int(), b.as_int()));
  }
  if (op == "**") {
    if (!numbers) unsupported_operands("** or pow()", a, b);
    if (!any_float && b.as_int() >= 0) {
      int64_t result = 1, base = a.as_int();
      for (int64_t e = b.as_int(); e > 0 && result != 0; --e) {
        if (base == 1 || base == 0) {
          result = base == 0 ? 0 : result;
          break;
        }
        if (base == -1) {
          result = (e % 2) ? -result : result;
          break;
        }
        result = mul_ints(result, base);
      }
      return Value(result);
    }
    double result = std::pow(a.as_double(), b.as_double());
    if (std::isinf(result) && std::isfinite(a.as_double()) && std::isfinite(b.as_double())) {
      if (a.as_double() == 0) runtime_fail("0.0 cannot be raised to a negative power");
      runtime_fail("(34, 'Numerical result out of range')");
    }
    return Value(result);
  }
  runtime_fail("unknown operator ", op);
}

bool contains(const Value& haystack, const Value& needle) {
  if (haystack.is_string()) {
    if (!needle.is_string()) {
      check_defined(needle);
      runtime_fail("'in <string>' requires string as left operand, not ", type_name(needle));
    }
    return haystack.as_string().find(needle.as_string()) != std::string::npos;
  }
  if (haystack.is_list()) {
    if (haystack.is_iterator()) {
      for (const Value& v : iterate(haystack))
        if (equals(v, needle)) return true;
      return false;
    }
    for (const Value& v : haystack.as_list().items)
      if (equals(v, needle)) return true;
    return false;
  }
  if (haystack.is_dict()) {
    if (needle.is_plain_list()) runtime_fail("unhashable type: 'list'");
    if (needle.is_dict()) runtime_fail("unhashable type: 'dict'");
    return haystack.as_dict().find(needle) != nullptr;
  }
  if (haystack.is_undefined()) return false;
  if (haystack.is_object()) return haystack.object_ptr()->attributes->find(needle) != nullptr;
  runtime_fail("argument of type '", type_name(haystack), "' is not iterable");
}

// ---------------------------------------------------------------- expressions

CallArgs Interpreter::eval_args(const Expr& expr, const ScopePtr& scope) {
  CallArgs args;
  for (const auto& item : expr.items) args.positional.push_back(eval(*item, scope));
  for (const auto& [name, value] : expr.kwargs) args.keyword.emplace_back(name, eval(*value, scope));
  return args;
}

Value Interpreter::call(const Value& callee, CallArgs& args) {
  if (callee.is_function()) return callee.as_function().call(args);
  if (callee.is_object()) {
    const Value* call_attribute = callee.object_ptr()->attributes->find(std::string_view("__call__"));
    if (call_attribute && call_attribute->is_function()) return call_attribute->as_function().call(args);
  }
  check_defined(callee);
  runtime_fail("'", type_name(callee), "' object is not callable");
}

Value Interpreter::apply_filter(const std::string& name, const Value& subject, CallArgs& args) {
  FilterFunction filter = find_filter(name);
  if (!filter) runtime_fail("no filter named '", name, "'");
  return filter(*this, subject, args);
}

bool Interpreter::apply_test(const std::string& name, const Value& subject, CallArgs& args) {
  TestFunction test = find_test(name);
  if (!test) runtime_fail("no test named '", name, "'");
  return test(*this, subject, args);
}

Value Interpreter::eval_filter_chain(const Expr& filter, const Value& subject, const ScopePtr& scope) {
  Value input = filter.object ? eval_filter_chain(*filter.object, subject, scope) : subject;
  CallArgs args = eval_args(filter, scope);
  return apply_filter(filter.name, input, args);
}

namespace {
// Expressions jinja2's optimizer folds to a constant before generating Python code.
bool is_constant(const Expr& e) {
  switch (e.kind) {
    case ExprKind::Literal: return true;
    case ExprKind::Negate:
    case ExprKind::Plus: return is_constant(*e.object);
    case ExprKind::Binary: return e.name != "and" && e.name != "or" && is_constant(*e.left) && is_constant(*e.right);
    default: return false;
  }
}
}  // namespace

Value Interpreter::eval_binary(const Expr& expr, const ScopePtr& scope) {
  if (expr.name == "and") {
    Value left = eval(*expr.left, scope);
    return truthy(left) ? eval(*expr.right, scope) : left;
  }
  if (expr.name == "or") {
    Value left = eval(*expr.left, scope);
    return truthy(left) ? left : eval(*expr.right, scope);
  }
  Value left = eval(*expr.left, scope);
  Value right = eval(*expr.right, scope);
  if (expr.name == "**" && left.is_number() && left.as_double() < 0 && is_constant(*expr.left) &&
      !is_constant(*expr.right)) {
    // jinja2 writes a folded negative constant into Python source as "-3 ** x", which Python reads as
    // -(3 ** x).
    Value magnitude = left.is_float() ? Value(-left.as_double()) : Value(-left.as_int());
    Value power = binary_arithmetic("**", magnitude, right);
    return power.is_float() ? Value(-power.as_double()) : Value(-power.as_int());
  }
  return binary_arithmetic(expr.name, left, right);
}

Value Interpreter::eval_compare(const Expr& expr, const ScopePtr& scope) {
  Value left = eval(*expr.object, scope);
  for (const auto& [op, operand] : expr.comparisons) {
    Value right = eval(*operand, scope);
    bool result;
    if (op == "==") {
      result = equals(left, right);
    } else if (op == "!=") {
      result = !equals(left, right);
    } else if (op == "in") {
      result = contains(right, left);
    } else if (op == "notin") {
      result = !contains(right, left);
    } else {
      check_defined(left);
      check_defined(right);
      if (op == "<") result = less_than(left, right);
      else if (op == ">") result = less_than(right, left);
      else if (op == "<=") result = less_than(left, right) || equals(left, right);
      else result = less_than(right, left) || equals(left, right);
    }
    if (!result) return Value(false);
    left = std::move(right);
  }
  return Value(true);
}

Value Interpreter::eval(const Expr& expr, const ScopePtr& scope) {
  switch (expr.kind) {
    case ExprKind::Literal:
      return expr.value;
    case ExprKind::Name: {
      const Value* v = scope->lookup(expr.name);
      if (v) return *v;
      return Value::undefined("'" + expr.name + "' is undefined");
    }
    case ExprKind::List:
    case ExprKind::Tuple: {
      std::vector<Value> items;
      for (const auto& item : expr.items) items.push_back(eval(*item, scope));
      return Value::list(std::move(items), expr.kind == ExprKind::Tuple);
    }
    case ExprKind::Dict: {
      Value dict = Value::dict();
      for (size_t i = 0; i < expr.items.size(); ++i) {
        Value key = eval(*expr.items[i], scope);
        if (key.is_plain_list() || key.is_dict() || key.is_undefined())
          runtime_fail("unhashable type: '", type_name(key), "'");
        dict.dict_ptr()->set(std::move(key), eval(*expr.values[i], scope));
      }
      return dict;
    }
    case ExprKind::GetAttr:
      return get_attribute(eval(*expr.object, scope), expr.name);
    case ExprKind::GetItem:
      return get_item(eval(*expr.object, scope), eval(*expr.index, scope));
    case ExprKind::Slice: {
      Value object = eval(*expr.object, scope);
      Value none{None{}};
      return slice_value(object, expr.start ? eval(*expr.start, scope) : none,
                         expr.stop ? eval(*expr.stop, scope) : none, expr.step ? eval(*expr.step, scope) : none);
    }
    case ExprKind::Call: {
      Value callee = eval(*expr.object, scope);
      CallArgs args = eval_args(expr, scope);
      return call(callee, args);
    }
    case ExprKind::Filter: {
      Value subject = eval(*expr.object, scope);
      CallArgs args = eval_args(expr, scope);
      return apply_filter(expr.name, subject, args);
    }
    case ExprKind::Test: {
      Value subject = eval(*expr.object, scope);
      CallArgs args = eval_args(expr, scope);
      bool result = apply_test(expr.name, subject, args);
      return Value(expr.negated ? !result : result);
    }
    case ExprKind::Not:
      return Value(!truthy(eval(*expr.object, scope)));
    case ExprKind::Negate:
    case ExprKind::Plus: {
      Value v = eval(*expr.object, scope);
      check_defined(v);
      if (!v.is_number()) runtime_fail("bad operand type for unary ", expr.kind == ExprKind::Negate ? "-" : "+", ": '", type_name(v), "'");
      if (expr.kind == ExprKind::Plus) return v.is_bool() ? Value(v.as_int()) : v;
      return v.is_float() ? Value(-v.as_double()) : Value(sub_ints(0, v.as_int()));
    }
    case ExprKind::Binary:
      return eval_binary(expr, scope);
    case ExprKind::Compare:
      return eval_compare(expr, scope);
    case ExprKind::Concat: {
      std::string out;
      for (const auto& item : expr.items) out += to_str(eval(*item, scope));
      return Value(std::move(out));
    }
    case ExprKind::Conditional:
      if (truthy(eval(*expr.condition, scope))) return eval(*expr.then_expr, scope);
      if (expr.else_expr) return eval(*expr.else_expr, scope);
      return Value::undefined(str("the inline if-expression on line ", expr.line,
                                  " evaluated to false and no else section was defined."));
  }
  runtime_fail("unknown expression");
}

// ---------------------------------------------------------------- statements

void Interpreter::assign(const Target& target, const Value& value, const ScopePtr& scope) {
  if (!target.attribute.empty()) {
    const Value* object = scope->lookup(target.names[0]);
    if (!object || !object->is_object() || !object->object_ptr()->assignable)
      runtime_fail("cannot assign attribute on non-namespace object");
    object->object_ptr()->attributes->set(Value(target.attribute), value);
    return;
  }
  if (!target.is_tuple) {
    scope->vars[target.names[0]] = value;
    return;
  }
  check_defined(value);
  std::vector<Value> items = iterate(value);
  if (items.size() < target.names.size())
    runtime_fail("not enough values to unpack (expected ", target.names.size(), ", got ", items.size(), ")");
  if (items.size() > target.names.size())
    runtime_fail("too many values to unpack (expected ", target.names.size(), ")");
  for (size_t i = 0; i < items.size(); ++i) scope->vars[target.names[i]] = items[i];
}

Interpreter::Flow Interpreter::exec_body(const Body& body, const ScopePtr& scope, std::string& out) {
  for (const auto& stmt : body) {
    Flow flow = exec(*stmt, scope, out);
    if (flow != Flow::Normal) return flow;
  }
  return Flow::Normal;
}

void Interpreter::render(const Body& body, const ScopePtr& scope, std::string& out) { exec_body(body, scope, out); }

struct CallDepthGuard {
  CallDepthGuard(Interpreter& i, const std::string& what) : interpreter(i) {
    if (++interpreter.call_depth_ > Interpreter::kMaxCallDepth)
      runtime_fail("maximum recursion depth exceeded in ", what);
  }
  ~CallDepthGuard() { --interpreter.call_depth_; }
  Interpreter& interpreter;
};

namespace {
ScopePtr child_scope(const ScopePtr& parent) {
  auto scope = std::make_shared<Scope>();
  scope->parent = parent;
  return scope;
}

// Enters a jinja2 frame: names the frame assigns without reading them first start out undefined.
void start_frame(Scope& scope, const std::vector<std::string>& undefined_names) {
  for (const auto& name : undefined_names) scope.vars[name] = Value::undefined("'" + name + "' is undefined");
}

ScopePtr frame_scope(const ScopePtr& parent, const std::vector<std::string>& undefined_names) {
  ScopePtr scope = child_scope(parent);
  start_frame(*scope, undefined_names);
  return scope;
}
}  // namespace

void Interpreter::run_loop(const Stmt& stmt, const ScopePtr& scope, const Value& iterable, int depth,
                           std::string& out) {
  std::vector<Value> items = iterate(iterable);  // an undefined iterable yields nothing, as in jinja2
  if (stmt.filter) {
    std::vector<Value> kept;
    for (const Value& item : items) {
      ScopePtr probe = child_scope(scope);
      assign(stmt.target, item, probe);
      if (truthy(eval(*stmt.filter, probe))) kept.push_back(item);
    }
    items = std::move(kept);
  }
  const int64_t n = static_cast<int64_t>(items.size());
  // jinja2 marks a loop as iterated at the end of its body, so the else branch also runs when every
  // iteration ended in continue, or the first one in break.
  bool body_completed = false;
  // The loop's methods are made once per loop; they read the iteration they are called in.
  auto current_index = std::make_shared<int64_t>(0);
  auto changed_state = std::make_shared<std::optional<Value>>();
  Value cycle = Value::function("cycle", [current_index](CallArgs& args) -> Value {
    if (args.positional.empty()) runtime_fail("no items for cycling given");
    return args.positional[static_cast<size_t>(*current_index) % args.positional.size()];
  });
  Value changed = Value::function("changed", [changed_state](CallArgs& args) -> Value {
    Value current = Value::list(args.positional);
    if (changed_state->has_value() && equals(**changed_state, current)) return Value(false);
    *changed_state = current;
    return Value(true);
  });
  Value recurse;
  if (stmt.recursive) {
    recurse = Value::function("loop", [this, &stmt, scope, depth](CallArgs& args) -> Value {
      CallDepthGuard depth_guard(*this, "recursive loop");
      std::optional<Value> inner = args.take(0, "iterable");
      if (!inner) runtime_fail("loop() missing the iterable argument");
      std::string rendered;
      run_loop(stmt, scope, *inner, depth + 1, rendered);
      return Value(std::move(rendered));
    });
  }
  for (int64_t i = 0; i < n; ++i) {
    *current_index = i;
    ScopePtr iteration = frame_scope(scope, stmt.body_undefined);
    assign(stmt.target, items[static_cast<size_t>(i)], iteration);
    auto loop = std::make_shared<ObjectData>();
    loop->type_name = "LoopContext";
    auto& a = loop->attributes->entries;
    a.reserve(14);
    a.emplace_back(Value("index"), Value(i + 1));
    a.emplace_back(Value("index0"), Value(i));
    a.emplace_back(Value("revindex"), Value(n - i));
    a.emplace_back(Value("revindex0"), Value(n - i - 1));
    a.emplace_back(Value("first"), Value(i == 0));
    a.emplace_back(Value("last"), Value(i == n - 1));
    a.emplace_back(Value("length"), Value(n));
    a.emplace_back(Value("depth"), Value(static_cast<int64_t>(depth)));
    a.emplace_back(Value("depth0"), Value(static_cast<int64_t>(depth - 1)));
    a.emplace_back(Value("previtem"),
                   i > 0 ? items[static_cast<size_t>(i - 1)] : Value::undefined("there is no previous item"));
    a.emplace_back(Value("nextitem"),
                   i + 1 < n ? items[static_cast<size_t>(i + 1)] : Value::undefined("there is no next item"));
    a.emplace_back(Value("cycle"), cycle);
    a.emplace_back(Value("changed"), changed);
    if (stmt.recursive) a.emplace_back(Value("__call__"), recurse);
    iteration->vars["loop"] = Value(loop);
    Flow flow = exec_body(stmt.body, iteration, out);
    if (flow == Flow::Break) break;
    if (flow == Flow::Normal) body_completed = true;
  }
  if (!body_completed) exec_body(stmt.else_body, frame_scope(scope, stmt.else_undefined), out);
}

Interpreter::Flow Interpreter::exec_for(const Stmt& stmt, const ScopePtr& scope, std::string& out) {
  Value iterable = eval(*stmt.expr, scope);
  run_loop(stmt, scope, iterable, 1, out);
  return Flow::Normal;
}

Value Interpreter::make_macro(const Stmt& stmt, const ScopePtr& scope) {
  std::weak_ptr<Scope> defining = scope;
  const Stmt* macro = &stmt;
  return Value::function(stmt.text, [this, macro, defining](CallArgs& args) -> Value {
    ScopePtr parent = defining.lock();
    if (!parent) runtime_fail("macro '", macro->text, "' called after its scope ended");
    CallDepthGuard depth_guard(*this, "macro '" + macro->text + "'");
    ScopePtr local = child_scope(parent);
    // Argument binding follows jinja2's Macro._invoke, including which extra arguments it rejects.
    for (size_t i = 0; i < macro->params.size(); ++i) {
      const MacroParam& p = macro->params[i];
      std::optional<Value> arg = args.take(i, p.name);
      if (arg) {
        local->vars[p.name] = *arg;
      } else if (p.default_value) {
        local->vars[p.name] = eval(*p.default_value, local);
      } else {
        local->vars[p.name] = Value::undefined("parameter '" + p.name + "' was not provided");
      }
    }
    args.used_keyword.resize(args.keyword.size());
    if (macro->uses_caller) {
      if (!local->vars.count("caller")) local->vars["caller"] = Value::undefined("'caller' is undefined");
      for (size_t i = 0; i < args.keyword.size(); ++i) {
        if (!args.used_keyword[i] && args.keyword[i].first == "caller") {
          local->vars["caller"] = args.keyword[i].second;
          args.used_keyword[i] = true;
        }
      }
    }
    Value kwargs = Value::dict();
    for (size_t i = 0; i < args.keyword.size(); ++i) {
      if (args.used_keyword[i]) continue;
      const std::string& name = args.keyword[i].first;
      if (!macro->uses_kwargs) {
        if (name == "caller")
          runtime_fail("macro '", macro->text, "' was invoked with two values for the special caller argument. ",
                       "This is most likely a bug.");
        runtime_fail("macro '", macro->text, "' takes no keyword argument '", name, "'");
      }
      kwargs.dict_ptr()->set(Value(name), args.keyword[i].second);
    }
    std::vector<Value> varargs;
    for (size_t i = macro->params.size(); i < args.positional.size(); ++i) varargs.push_back(args.positional[i]);
    if (!varargs.empty() && !macro->uses_varargs)
      runtime_fail("macro '", macro->text, "' takes not more than ", macro->params.size(), " argument(s)");
    local->vars["varargs"] = Value::tuple(std::move(varargs));
    local->vars["kwargs"] = kwargs;
    start_frame(*local, macro->body_undefined);
    std::string rendered;
    exec_body(macro->body, local, rendered);
    return Value(std::move(rendered));
  }, "<Macro '" + stmt.text + "'>");
}

Value Interpreter::make_caller(const Stmt& stmt, const ScopePtr& scope) {
  const Stmt* call_block = &stmt;
  return Value::function("caller", [this, call_block, scope](CallArgs& args) -> Value {
    ScopePtr local = child_scope(scope);
    for (size_t i = 0; i < call_block->params.size(); ++i) {
      const MacroParam& p = call_block->params[i];
      std::optional<Value> arg = args.take(i, p.name);
      if (arg) local->vars[p.name] = *arg;
      else if (p.default_value) local->vars[p.name] = eval(*p.default_value, local);
      else local->vars[p.name] = Value::undefined("parameter '" + p.name + "' was not provided");
    }
    start_frame(*local, call_block->body_undefined);
    std::string rendered;
    exec_body(call_block->body, local, rendered);
    return Value(std::move(rendered));
  }, "<Macro anonymous>");
}

Interpreter::Flow Interpreter::exec(const Stmt& stmt, const ScopePtr& scope, std::string& out) {
  try {
    switch (stmt.kind) {
      case StmtKind::Text:
        out += stmt.text;
        return Flow::Normal;
      case StmtKind::Output:
        out += to_str(eval(*stmt.expr, scope));
        return Flow::Normal;
      case StmtKind::If:
        for (const auto& [condition, body] : stmt.branches)
          if (truthy(eval(*condition, scope))) return exec_body(body, scope, out);
        return exec_body(stmt.else_body, scope, out);
      case StmtKind::For:
        return exec_for(stmt, scope, out);
      case StmtKind::Set:
        assign(stmt.target, eval(*stmt.expr, scope), scope);
        return Flow::Normal;
      case StmtKind::SetBlock: {
        std::string captured;
        // The body runs inline in jinja2, so a break or continue in it acts on the enclosing loop.
        if (Flow flow = exec_body(stmt.body, frame_scope(scope, stmt.body_undefined), captured); flow != Flow::Normal)
          return flow;
        Value value(std::move(captured));
        if (stmt.filter) value = eval_filter_chain(*stmt.filter, value, scope);
        assign(stmt.target, value, scope);
        return Flow::Normal;
      }
      case StmtKind::Macro:
        scope->vars[stmt.text] = make_macro(stmt, scope);
        return Flow::Normal;
      case StmtKind::CallBlock: {
        const Expr& call_expr = *stmt.expr;
        Value callee = eval(*call_expr.object, scope);
        CallArgs args = eval_args(call_expr, scope);
        args.keyword.emplace_back("caller", make_caller(stmt, scope));
        out += to_str(call(callee, args));
        return Flow::Normal;
      }
      case StmtKind::FilterBlock: {
        std::string captured;
        if (Flow flow = exec_body(stmt.body, frame_scope(scope, stmt.body_undefined), captured); flow != Flow::Normal)
          return flow;
        out += to_str(eval_filter_chain(*stmt.filter, Value(std::move(captured)), scope));
        return Flow::Normal;
      }
      case StmtKind::With: {
        ScopePtr inner = frame_scope(scope, stmt.body_undefined);
        for (const auto& [target, value] : stmt.assignments) assign(target, eval(*value, scope), inner);
        return exec_body(stmt.body, inner, out);
      }
      case StmtKind::Break:
        return Flow::Break;
      case StmtKind::Continue:
        return Flow::Continue;
      case StmtKind::Scope: {
        std::string captured;
        exec_body(stmt.body, frame_scope(scope, stmt.body_undefined), captured);
        out += captured;
        return Flow::Normal;
      }
    }
  } catch (const RuntimeError& e) {
    fail("template error at line ", stmt.line, ": ", e.message);
  }
  return Flow::Normal;
}

// ---------------------------------------------------------------- Template

Template::Template(std::string_view source, const LexerOptions& options)
    : program_(std::make_shared<Program>(parse_template(source, options))) {}

std::string Template::render(const Value& context) const {
  GLINT_CHECK(context.is_dict(), "template context must be a mapping of variable names to values");
  auto globals = std::make_shared<Scope>();
  add_globals(*globals);
  auto context_scope = std::make_shared<Scope>();
  context_scope->parent = globals;
  for (const auto& [key, value] : context.as_dict().entries) {
    GLINT_CHECK(key.is_string(), "template context keys must be strings");
    context_scope->vars[key.as_string()] = value;
  }
  ScopePtr top = frame_scope(context_scope, program_->body_undefined);
  Interpreter interpreter;
  std::string out;
  try {
    interpreter.render(program_->body, top, out);
  } catch (const RuntimeError& e) {
    fail("template error: ", e.message);
  }
  return out;
}

}  // namespace glint::jinja
