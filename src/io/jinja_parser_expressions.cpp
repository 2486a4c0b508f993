// Expression half of the parser: jinja2's grammar and operator precedence.
#include "core/error.h"
#include "io/jinja_parser_impl.h"

namespace glint::jinja::detail {

bool Parser::at_tuple_end() const {
  TokenType t = current().type;
  return t == TokenType::VariableEnd || t == TokenType::BlockEnd || is_op(")") || t == TokenType::EndOfInput;
}

ExprPtr Parser::parse_tuple(bool with_condexpr, bool explicit_parentheses) {
  const Token& start = current();
  std::vector<ExprPtr> items;
  bool is_tuple = false;
  while (true) {
    if (!items.empty()) expect_op(",");
    if (at_tuple_end()) break;
    items.push_back(parse_expression(with_condexpr));
    if (is_op(",")) {
      is_tuple = true;
    } else {
      break;
    }
  }
  if (!is_tuple) {
    if (!items.empty()) return std::move(items[0]);
    if (!explicit_parentheses) error(current(), "expected an expression, got " + spelling(current()));
  }
  auto e = make_expr(ExprKind::Tuple, start);
  e->items = std::move(items);
  return e;
}

ExprPtr Parser::parse_expression(bool with_condexpr) {
  return with_condexpr ? parse_conditional() : parse_or();
}

ExprPtr Parser::parse_conditional() {
  ChainGuard chain(*this);
  ExprPtr expr = parse_or();
  while (is_name("if")) {
    chain.step();
    auto e = make_expr(ExprKind::Conditional, current());
    advance();
    e->condition = parse_or();
    e->then_expr = std::move(expr);
    if (skip_name("else")) e->else_expr = parse_conditional();
    expr = std::move(e);
  }
  return expr;
}

ExprPtr Parser::binary(const Token& at, std::string op, ExprPtr left, ExprPtr right) {
  auto e = make_expr(ExprKind::Binary, at);
  e->name = std::move(op);
  e->left = std::move(left);
  e->right = std::move(right);
  return e;
}

ExprPtr Parser::parse_or() {
  ChainGuard chain(*this);
  ExprPtr left = parse_and();
  while (is_name("or")) {
    chain.step();
    const Token& at = advance();
    left = binary(at, "or", std::move(left), parse_and());
  }
  return left;
}

ExprPtr Parser::parse_and() {
  ChainGuard chain(*this);
  ExprPtr left = parse_not();
  while (is_name("and")) {
    chain.step();
    const Token& at = advance();
    left = binary(at, "and", std::move(left), parse_not());
  }
  return left;
}

ExprPtr Parser::parse_not() {
  if (is_name("not")) {
    auto e = make_expr(ExprKind::Not, current());
    advance();
    e->object = parse_not();
    return e;
  }
  return parse_compare();
}

ExprPtr Parser::parse_compare() {
  const Token& start = current();
  ExprPtr expr = parse_math1();
  std::vector<std::pair<std::string, ExprPtr>> ops;
  while (true) {
    const Token& t = current();
    if (t.type == TokenType::Operator &&
        (t.text == "==" || t.text == "!=" || t.text == "<" || t.text == "<=" || t.text == ">" || t.text == ">=")) {
      advance();
      ops.emplace_back(t.text, parse_math1());
    } else if (is_name("in")) {
      advance();
      ops.emplace_back("in", parse_math1());
    } else if (is_name("not") && peek().type == TokenType::Name && peek().text == "in") {
      advance();
      advance();
      ops.emplace_back("notin", parse_math1());
    } else {
      break;
    }
  }
  if (ops.empty()) return expr;
  auto e = make_expr(ExprKind::Compare, start);
  e->object = std::move(expr);
  e->comparisons = std::move(ops);
  return e;
}

ExprPtr Parser::parse_math1() {
  ChainGuard chain(*this);
  ExprPtr left = parse_concat();
  while (is_op("+") || is_op("-")) {
    chain.step();
    const Token& at = advance();
    left = binary(at, at.text, std::move(left), parse_concat());
  }
  return left;
}

ExprPtr Parser::parse_concat() {
  const Token& start = current();
  ExprPtr first = parse_math2();
  if (!is_op("~")) return first;
  auto e = make_expr(ExprKind::Concat, start);
  e->items.push_back(std::move(first));
  while (skip_op("~")) e->items.push_back(parse_math2());
  return e;
}

ExprPtr Parser::parse_math2() {
  ChainGuard chain(*this);
  ExprPtr left = parse_pow();
  while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
    chain.step();
    const Token& at = advance();
    left = binary(at, at.text, std::move(left), parse_pow());
  }
  return left;
}

ExprPtr Parser::parse_pow() {
  ChainGuard chain(*this);
  ExprPtr left = parse_unary(true);
  while (is_op("**")) {
    chain.step();
    const Token& at = advance();
    left = binary(at, "**", std::move(left), parse_unary(true));
  }
  return left;
}

ExprPtr Parser::parse_unary(bool with_filter) {
  NestingGuard guard(*this);
  ExprPtr node;
  if (is_op("-") || is_op("+")) {
    auto e = make_expr(is_op("-") ? ExprKind::Negate : ExprKind::Plus, current());
    advance();
    e->object = parse_unary(false);
    node = std::move(e);
  } else {
    node = parse_primary();
  }
  node = parse_postfix(std::move(node));
  if (with_filter) node = parse_filter_expr(std::move(node));
  return node;
}

ExprPtr Parser::parse_primary() {
  const Token& t = current();
  switch (t.type) {
    case TokenType::Name: {
      advance();
      if (t.text == "true" || t.text == "True" || t.text == "false" || t.text == "False") {
        auto e = make_expr(ExprKind::Literal, t);
        e->value = Value(t.text == "true" || t.text == "True");
        return e;
      }
      if (t.text == "none" || t.text == "None") {
        auto e = make_expr(ExprKind::Literal, t);
        e->value = Value(None{});
        return e;
      }
      auto e = make_expr(ExprKind::Name, t);
      e->name = t.text;
      return e;
    }
    case TokenType::String: {
      std::string text;
      while (current().type == TokenType::String) text += advance().text;
      auto e = make_expr(ExprKind::Literal, t);
      e->value = Value(std::move(text));
      return e;
    }
    case TokenType::Integer: {
      advance();
      auto e = make_expr(ExprKind::Literal, t);
      e->value = Value(t.integer);
      return e;
    }
    case TokenType::Float: {
      advance();
      auto e = make_expr(ExprKind::Literal, t);
      e->value = Value(t.number);
      return e;
    }
    case TokenType::Operator:
      if (t.text == "(") {
        advance();
        ExprPtr inner = parse_tuple(true, true);
        expect_op(")");
        return inner;
      }
      if (t.text == "[") return parse_list();
      if (t.text == "{") return parse_dict();
      [[fallthrough]];
    default:
      error(t, "unexpected " + spelling(t));
  }
}

ExprPtr Parser::parse_list() {
  auto e = make_expr(ExprKind::List, current());
  expect_op("[");
  while (!is_op("]")) {
    if (!e->items.empty()) expect_op(",");
    if (is_op("]")) break;
    e->items.push_back(parse_expression(true));
  }
  expect_op("]");
  return e;
}

ExprPtr Parser::parse_dict() {
  auto e = make_expr(ExprKind::Dict, current());
  expect_op("{");
  while (!is_op("}")) {
    if (!e->items.empty()) expect_op(",");
    if (is_op("}")) break;
    e->items.push_back(parse_expression(true));
    expect_op(":");
    e->values.push_back(parse_expression(true));
  }
  expect_op("}");
  return e;
}

ExprPtr Parser::parse_postfix(ExprPtr node) {
  ChainGuard chain(*this);
  while (true) {
    chain.step();
    if (is_op(".") || is_op("[")) {
      node = parse_subscript(std::move(node));
    } else if (is_op("(")) {
      node = parse_call(std::move(node));
    } else {
      return node;
    }
  }
}

ExprPtr Parser::parse_filter_expr(ExprPtr node) {
  ChainGuard chain(*this);
  while (true) {
    chain.step();
    if (is_op("|")) {
      node = parse_filter(std::move(node), false);
    } else if (is_name("is")) {
      node = parse_test(std::move(node));
    } else if (is_op("(")) {
      node = parse_call(std::move(node));
    } else {
      return node;
    }
  }
}

ExprPtr Parser::parse_subscript(ExprPtr node) {
  const Token& t = advance();
  if (t.text == ".") {
    const Token& attr = current();
    if (attr.type == TokenType::Name) {
      advance();
      auto e = make_expr(ExprKind::GetAttr, t);
      e->object = std::move(node);
      e->name = attr.text;
      return e;
    }
    if (attr.type == TokenType::Integer) {
      advance();
      auto e = make_expr(ExprKind::GetItem, t);
      e->object = std::move(node);
      e->index = make_expr(ExprKind::Literal, attr);
      e->index->value = Value(attr.integer);
      return e;
    }
    error(attr, "expected name or number after '.'");
  }
  // '[' index or slice ']'
  ExprPtr start, stop, step;
  bool is_slice = false;
  if (!is_op(":")) start = parse_expression(true);
  if (skip_op(":")) {
    is_slice = true;
    if (!is_op("]") && !is_op(":")) stop = parse_expression(true);
    if (skip_op(":") && !is_op("]")) step = parse_expression(true);
  }
  if (is_op(",")) error(current(), "tuple subscripts are not supported");
  expect_op("]");
  if (!is_slice) {
    auto e = make_expr(ExprKind::GetItem, t);
    e->object = std::move(node);
    e->index = std::move(start);
    return e;
  }
  auto e = make_expr(ExprKind::Slice, t);
  e->object = std::move(node);
  e->start = std::move(start);
  e->stop = std::move(stop);
  e->step = std::move(step);
  return e;
}

void Parser::parse_call_args(Expr& e) {
  expect_op("(");
  bool first = true;
  while (!is_op(")")) {
    if (!first) expect_op(",");
    first = false;
    if (is_op(")")) break;
    if (is_op("*") || is_op("**")) error(current(), "*args / **kwargs in calls are not supported");
    if (current().type == TokenType::Name && peek().type == TokenType::Operator && peek().text == "=") {
      std::string key = advance().text;
      advance();
      e.kwargs.emplace_back(std::move(key), parse_expression(true));
    } else {
      if (!e.kwargs.empty()) error(current(), "positional argument follows keyword argument");
      e.items.push_back(parse_expression(true));
    }
  }
  expect_op(")");
}

ExprPtr Parser::parse_call(ExprPtr node) {
  auto e = make_expr(ExprKind::Call, current());
  e->object = std::move(node);
  parse_call_args(*e);
  return e;
}

std::string Parser::parse_dotted_name() {
  std::string name = expect_name();
  while (is_op(".")) {
    advance();
    name += "." + expect_name();
  }
  return name;
}

ExprPtr Parser::parse_filter(ExprPtr node, bool start_inline) {
  ChainGuard chain(*this);
  while (is_op("|") || start_inline) {
    chain.step();
    if (!start_inline) advance();
    start_inline = false;
    auto e = make_expr(ExprKind::Filter, current());
    e->name = parse_dotted_name();
    if (is_op("(")) parse_call_args(*e);
    e->object = std::move(node);
    node = std::move(e);
  }
  return node;
}

ExprPtr Parser::parse_test(ExprPtr node) {
  advance();  // 'is'
  auto e = make_expr(ExprKind::Test, current());
  e->negated = skip_name("not");
  e->name = parse_dotted_name();
  const Token& t = current();
  if (is_op("(")) {
    parse_call_args(*e);
  } else if ((t.type == TokenType::Name || t.type == TokenType::String || t.type == TokenType::Integer ||
              t.type == TokenType::Float || is_op("(") || is_op("[") || is_op("{")) &&
             !(t.type == TokenType::Name && (t.text == "else" || t.text == "or" || t.text == "and"))) {
    if (is_name("is")) error(t, "You cannot chain multiple tests with is");
    e->items.push_back(parse_postfix(parse_primary()));
  }
  e->object = std::move(node);
  return e;
}
}  // namespace glint::jinja::detail
