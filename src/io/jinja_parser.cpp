#include "io/jinja_parser.h"

#include <set>

#include "core/error.h"
#include "io/jinja_interpreter.h"
#include "io/jinja_parser_impl.h"

namespace glint::jinja {
namespace detail {
namespace {

const char* describe(TokenType type) {
  switch (type) {
    case TokenType::Text: return "text";
    case TokenType::VariableBegin: return "'{{'";
    case TokenType::VariableEnd: return "end of print statement '}}'";
    case TokenType::BlockBegin: return "'{%'";
    case TokenType::BlockEnd: return "end of statement block '%}'";
    case TokenType::Name: return "name";
    case TokenType::String: return "string";
    case TokenType::Integer: return "integer";
    case TokenType::Float: return "float";
    case TokenType::Operator: return "operator";
    case TokenType::EndOfInput: return "end of template";
  }
  return "token";
}

void collect_names(const Expr* e, std::set<std::string>& names);
void collect_names(const Body& body, std::set<std::string>& names);

void collect_names(const Expr* e, std::set<std::string>& names) {
  if (!e) return;
  if (e->kind == ExprKind::Name) names.insert(e->name);
  for (const ExprPtr* child : {&e->object, &e->index, &e->start, &e->stop, &e->step, &e->left, &e->right,
                               &e->condition, &e->then_expr, &e->else_expr})
    collect_names(child->get(), names);
  for (const auto& item : e->items) collect_names(item.get(), names);
  for (const auto& value : e->values) collect_names(value.get(), names);
  for (const auto& [key, value] : e->kwargs) collect_names(value.get(), names);
  for (const auto& [op, operand] : e->comparisons) collect_names(operand.get(), names);
}

// Every name an expression in `body` reads, nested macros included (as jinja2's undeclared-name scan).
void collect_names(const Body& body, std::set<std::string>& names) {
  for (const auto& s : body) {
    collect_names(s->expr.get(), names);
    collect_names(s->filter.get(), names);
    for (const auto& [condition, branch] : s->branches) {
      collect_names(condition.get(), names);
      collect_names(branch, names);
    }
    collect_names(s->body, names);
    collect_names(s->else_body, names);
    for (const auto& p : s->params) collect_names(p.default_value.get(), names);
    for (const auto& [target, value] : s->assignments) collect_names(value.get(), names);
  }
}

// jinja2 resolves filters and tests when it compiles the template, after folding constant conditions:
// an unknown name fails the whole template unless it sits in a branch that a literal condition removes.
void check_names(const Expr* e);
void check_names(const Body& body);

[[noreturn]] void unknown_name(const Expr& e, const char* kind) {
  fail("template syntax error at line ", e.line, ", column ", e.column, ": No ", kind, " named '", e.name, "'.");
}

void check_names(const Expr* e) {
  if (!e) return;
  if (e->kind == ExprKind::Filter && !find_filter(e->name)) unknown_name(*e, "filter");
  if (e->kind == ExprKind::Test && !find_test(e->name)) unknown_name(*e, "test");
  if (e->kind == ExprKind::Binary && (e->name == "and" || e->name == "or") && e->left->kind == ExprKind::Literal) {
    bool left_true = truthy(e->left->value);
    if ((e->name == "and") == left_true) check_names(e->right.get());
    return;
  }
  if (e->kind == ExprKind::Conditional && e->condition->kind == ExprKind::Literal) {
    check_names(truthy(e->condition->value) ? e->then_expr.get() : e->else_expr.get());
    return;
  }
  for (const ExprPtr* child : {&e->object, &e->index, &e->start, &e->stop, &e->step, &e->left, &e->right,
                               &e->condition, &e->then_expr, &e->else_expr})
    check_names(child->get());
  for (const auto& item : e->items) check_names(item.get());
  for (const auto& value : e->values) check_names(value.get());
  for (const auto& [key, value] : e->kwargs) check_names(value.get());
  for (const auto& [op, operand] : e->comparisons) check_names(operand.get());
}

void check_names(const Body& body) {
  for (const auto& s : body) {
    check_names(s->expr.get());
    check_names(s->filter.get());
    bool branch_taken = false;
    for (const auto& [condition, branch] : s->branches) {
      if (condition->kind == ExprKind::Literal) {
        if (!truthy(condition->value)) continue;
        check_names(branch);
        branch_taken = true;
        break;
      }
      check_names(condition.get());
      check_names(branch);
    }
    if (!branch_taken) check_names(s->else_body);
    check_names(s->body);
    for (const auto& p : s->params) check_names(p.default_value.get());
    for (const auto& [target, value] : s->assignments) check_names(value.get());
  }
}

}  // namespace

bool Parser::skip_op(std::string_view op) {
  if (!is_op(op)) return false;
  advance();
  return true;
}

bool Parser::skip_name(std::string_view name) {
  if (!is_name(name)) return false;
  advance();
  return true;
}

void Parser::error(const Token& at, const std::string& message) const {
  fail("template syntax error at line ", at.line, ", column ", at.column, ": ", message);
}

std::string Parser::spelling(const Token& t) const {
  if (t.type == TokenType::Name || t.type == TokenType::Operator) return "'" + t.text + "'";
  if (t.type == TokenType::String) return "string";
  return describe(t.type);
}

void Parser::expect_op(std::string_view op) {
  if (!skip_op(op)) error(current(), "expected '" + std::string(op) + "', got " + spelling(current()));
}

std::string Parser::expect_name() {
  if (current().type != TokenType::Name) error(current(), "expected a name, got " + spelling(current()));
  return advance().text;
}

void Parser::expect(TokenType type) {
  if (current().type != type) error(current(), std::string("expected ") + describe(type) + ", got " + spelling(current()));
  advance();
}

ExprPtr Parser::make_expr(ExprKind kind, const Token& at) {
  auto e = std::make_unique<Expr>();
  e->kind = kind;
  e->line = at.line;
  e->column = at.column;
  return e;
}

StmtPtr Parser::make_stmt(StmtKind kind, const Token& at) {
  auto s = std::make_unique<Stmt>();
  s->kind = kind;
  s->line = at.line;
  s->column = at.column;
  return s;
}

Body Parser::parse_body(std::initializer_list<std::string_view> enders, std::string& ender) {
  Body body;
  while (true) {
    const Token& t = current();
    switch (t.type) {
      case TokenType::EndOfInput:
        if (enders.size() == 0) return body;
        error(t, "unexpected end of template, expected '" + std::string(*enders.begin()) + "'");
      case TokenType::Text: {
        auto s = make_stmt(StmtKind::Text, t);
        s->text = t.text;
        advance();
        body.push_back(std::move(s));
        break;
      }
      case TokenType::VariableBegin: {
        auto s = make_stmt(StmtKind::Output, t);
        advance();
        s->expr = parse_tuple(true, false);
        expect(TokenType::VariableEnd);
        body.push_back(std::move(s));
        break;
      }
      case TokenType::BlockBegin: {
        const Token& name = peek();
        if (name.type != TokenType::Name) error(name, "expected a statement name after '{%'");
        for (std::string_view e : enders) {
          if (name.text == e) {
            advance();
            advance();
            ender = name.text;
            return body;
          }
        }
        const Token& tag_start = advance();
        body.push_back(parse_statement(tag_start));
        break;
      }
      default:
        error(t, "unexpected " + spelling(t));
    }
  }
}

StmtPtr Parser::parse_statement(const Token& tag_start) {
  NestingGuard guard(*this);
  const Token& tag = current();
  const std::string name = tag.text;
  if (name == "if") return parse_if();
  if (name == "for") return parse_for();
  if (name == "set") return parse_set();
  if (name == "macro") return parse_macro();
  if (name == "call") return parse_call_block();
  if (name == "filter") return parse_filter_block();
  if (name == "with") return parse_with();
  if (name == "break" || name == "continue") {
    // jinja2 emits a Python break/continue, which Python rejects outside a loop of the same function.
    if (loops_in_function_.back() == 0)
      error(tag_start, name == "break" ? "'break' outside loop" : "'continue' not properly in loop");
    auto s = make_stmt(name == "break" ? StmtKind::Break : StmtKind::Continue, tag);
    advance();
    expect(TokenType::BlockEnd);
    return s;
  }
  if (name == "generation" || name == "block") return parse_scope();
  if (name.rfind("end", 0) == 0 || name == "elif" || name == "else")
    error(tag_start, "unexpected '" + name + "' tag without an open block");
  error(tag_start, "unsupported tag '" + name + "' (this interpreter renders single chat templates: no "
                   "extends/include/import, and no extensions beyond loop controls)");
}

StmtPtr Parser::parse_if() {
  auto s = make_stmt(StmtKind::If, current());
  advance();
  while (true) {
    ExprPtr condition = parse_tuple(true, false);
    expect(TokenType::BlockEnd);
    std::string ender;
    Body body = parse_body({"elif", "else", "endif"}, ender);
    s->branches.emplace_back(std::move(condition), std::move(body));
    if (ender == "elif") continue;
    if (ender == "else") {
      expect(TokenType::BlockEnd);
      s->else_body = parse_body({"endif"}, ender);
    }
    expect(TokenType::BlockEnd);
    return s;
  }
}

Target Parser::parse_target(bool allow_attribute) {
  Target target;
  bool parenthesized = skip_op("(");
  const Token& first = current();
  target.names.push_back(expect_name());
  if (allow_attribute && is_op(".")) {
    advance();
    target.attribute = expect_name();
    return target;
  }
  while (skip_op(",")) {
    if (current().type != TokenType::Name) break;
    target.names.push_back(expect_name());
    target.is_tuple = true;
  }
  if (target.names.size() > 1) target.is_tuple = true;
  if (parenthesized) expect_op(")");
  if (for_statements_open_ > 0)
    for (const auto& n : target.names)
      if (n == "loop") error(first, "Can't assign to special loop variable in for-loop target");
  return target;
}

StmtPtr Parser::parse_for() {
  auto s = make_stmt(StmtKind::For, current());
  advance();
  ++for_statements_open_;
  s->target = parse_target(false);
  if (!skip_name("in")) error(current(), "expected 'in', got " + spelling(current()));
  s->expr = parse_tuple(false, false);
  if (skip_name("if")) s->filter = parse_tuple(true, false);
  if (skip_name("recursive")) s->recursive = true;
  expect(TokenType::BlockEnd);
  std::string ender;
  ++loops_in_function_.back();
  s->body = parse_body({"endfor", "else"}, ender);
  --loops_in_function_.back();  // the else branch runs after the loop
  if (ender == "else") {
    expect(TokenType::BlockEnd);
    s->else_body = parse_body({"endfor"}, ender);
  }
  expect(TokenType::BlockEnd);
  --for_statements_open_;
  return s;
}

StmtPtr Parser::parse_set() {
  const Token& tag = current();
  advance();
  Target target = parse_target(true);
  if (skip_op("=")) {
    auto s = make_stmt(StmtKind::Set, tag);
    s->target = std::move(target);
    s->expr = parse_tuple(true, false);
    expect(TokenType::BlockEnd);
    return s;
  }
  auto s = make_stmt(StmtKind::SetBlock, tag);
  s->target = std::move(target);
  if (is_op("|")) s->filter = parse_filter(nullptr, false);
  expect(TokenType::BlockEnd);
  std::string ender;
  s->body = parse_body({"endset"}, ender);
  expect(TokenType::BlockEnd);
  return s;
}

std::vector<MacroParam> Parser::parse_params() {
  std::vector<MacroParam> params;
  expect_op("(");
  while (!is_op(")")) {
    if (!params.empty()) expect_op(",");
    if (is_op(")")) break;
    MacroParam p;
    const Token& at = current();
    p.name = expect_name();
    if (skip_op("=")) p.default_value = parse_expression(true);
    else if (!params.empty() && params.back().default_value) error(at, "non-default argument follows default argument");
    params.push_back(std::move(p));
  }
  expect_op(")");
  return params;
}

StmtPtr Parser::parse_macro() {
  const Token tag = current();
  auto s = make_stmt(StmtKind::Macro, tag);
  advance();
  s->text = expect_name();
  s->params = parse_params();
  expect(TokenType::BlockEnd);
  std::string ender;
  loops_in_function_.push_back(0);
  s->body = parse_body({"endmacro"}, ender);
  loops_in_function_.pop_back();
  std::set<std::string> names;
  collect_names(s->body, names);
  s->uses_varargs = names.count("varargs") > 0;
  s->uses_kwargs = names.count("kwargs") > 0;
  s->uses_caller = names.count("caller") > 0;
  for (const auto& p : s->params)
    if (s->uses_caller && p.name == "caller" && !p.default_value)
      error(tag, "When defining macros or call blocks the special \"caller\" argument must be omitted or be given a "
                 "default.");
  if (current().type == TokenType::Name) advance();  // {% endmacro name %}
  expect(TokenType::BlockEnd);
  return s;
}

StmtPtr Parser::parse_call_block() {
  auto s = make_stmt(StmtKind::CallBlock, current());
  advance();
  if (is_op("(")) s->params = parse_params();
  s->expr = parse_expression(true);
  if (s->expr->kind != ExprKind::Call) error(current(), "expected a call after {% call %}");
  expect(TokenType::BlockEnd);
  std::string ender;
  loops_in_function_.push_back(0);
  s->body = parse_body({"endcall"}, ender);
  loops_in_function_.pop_back();
  expect(TokenType::BlockEnd);
  return s;
}

StmtPtr Parser::parse_filter_block() {
  auto s = make_stmt(StmtKind::FilterBlock, current());
  advance();
  s->filter = parse_filter(nullptr, true);
  expect(TokenType::BlockEnd);
  std::string ender;
  s->body = parse_body({"endfilter"}, ender);
  expect(TokenType::BlockEnd);
  return s;
}

StmtPtr Parser::parse_with() {
  auto s = make_stmt(StmtKind::With, current());
  advance();
  while (current().type != TokenType::BlockEnd) {
    if (!s->assignments.empty()) expect_op(",");
    Target target = parse_target(false);
    expect_op("=");
    s->assignments.emplace_back(std::move(target), parse_expression(true));
  }
  expect(TokenType::BlockEnd);
  std::string ender;
  s->body = parse_body({"endwith"}, ender);
  expect(TokenType::BlockEnd);
  return s;
}

StmtPtr Parser::parse_scope() {
  auto s = make_stmt(StmtKind::Scope, current());
  std::string tag = advance().text;
  if (tag == "block") {
    s->text = expect_name();
    while (current().type == TokenType::Name) advance();  // scoped / required
  }
  expect(TokenType::BlockEnd);
  std::string ender;
  // Both render their body through a function of their own in jinja2.
  loops_in_function_.push_back(0);
  s->body = parse_body({tag == "block" ? "endblock" : "endgeneration"}, ender);
  loops_in_function_.pop_back();
  if (current().type == TokenType::Name) advance();
  expect(TokenType::BlockEnd);
  return s;
}
}  // namespace detail

Program parse_template(std::string_view source, const LexerOptions& options) {
  Program program = detail::Parser(tokenize(source, options)).parse();
  detail::check_names(program.body);
  analyze_scopes(program);
  return program;
}

}  // namespace glint::jinja
