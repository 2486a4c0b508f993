#include "io/jinja_parser.h"

#include <initializer_list>

#include "core/error.h"

namespace glint::jinja {
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

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : tokens_(std::move(tokens)) {}

  Program parse() {
    Program program;
    std::string ender;
    program.body = parse_body({}, ender);
    return program;
  }

 private:
  // ---- token helpers ----
  const Token& current() const { return tokens_[pos_]; }
  const Token& peek(size_t ahead = 1) const { return tokens_[std::min(pos_ + ahead, tokens_.size() - 1)]; }
  const Token& advance() { return tokens_[pos_ < tokens_.size() - 1 ? pos_++ : pos_]; }
  bool is_op(std::string_view op) const { return current().type == TokenType::Operator && current().text == op; }
  bool is_name(std::string_view name) const { return current().type == TokenType::Name && current().text == name; }
  bool skip_op(std::string_view op) {
    if (!is_op(op)) return false;
    advance();
    return true;
  }
  bool skip_name(std::string_view name) {
    if (!is_name(name)) return false;
    advance();
    return true;
  }

  [[noreturn]] void error(const Token& at, const std::string& message) const {
    fail("template syntax error at line ", at.line, ", column ", at.column, ": ", message);
  }
  std::string spelling(const Token& t) const {
    if (t.type == TokenType::Name || t.type == TokenType::Operator) return "'" + t.text + "'";
    if (t.type == TokenType::String) return "string";
    return describe(t.type);
  }
  void expect_op(std::string_view op) {
    if (!skip_op(op)) error(current(), "expected '" + std::string(op) + "', got " + spelling(current()));
  }
  std::string expect_name() {
    if (current().type != TokenType::Name) error(current(), "expected a name, got " + spelling(current()));
    return advance().text;
  }
  void expect(TokenType type) {
    if (current().type != type) error(current(), std::string("expected ") + describe(type) + ", got " + spelling(current()));
    advance();
  }

  ExprPtr make_expr(ExprKind kind, const Token& at) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->line = at.line;
    e->column = at.column;
    return e;
  }
  StmtPtr make_stmt(StmtKind kind, const Token& at) {
    auto s = std::make_unique<Stmt>();
    s->kind = kind;
    s->line = at.line;
    s->column = at.column;
    return s;
  }

  // ---- statements ----

  // Parses until a block tag whose name is in `enders`; consumes "{% name" and reports the name.
  Body parse_body(std::initializer_list<std::string_view> enders, std::string& ender) {
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

  StmtPtr parse_statement(const Token& tag_start) {
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

  StmtPtr parse_if() {
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

  Target parse_target(bool allow_attribute) {
    Target target;
    bool parenthesized = skip_op("(");
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
    return target;
  }

  StmtPtr parse_for() {
    auto s = make_stmt(StmtKind::For, current());
    advance();
    s->target = parse_target(false);
    if (!skip_name("in")) error(current(), "expected 'in', got " + spelling(current()));
    s->expr = parse_tuple(false, false);
    if (skip_name("if")) s->filter = parse_tuple(true, false);
    if (skip_name("recursive")) s->recursive = true;
    expect(TokenType::BlockEnd);
    std::string ender;
    s->body = parse_body({"endfor", "else"}, ender);
    if (ender == "else") {
      expect(TokenType::BlockEnd);
      s->else_body = parse_body({"endfor"}, ender);
    }
    expect(TokenType::BlockEnd);
    return s;
  }

  StmtPtr parse_set() {
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

  std::vector<MacroParam> parse_params() {
    std::vector<MacroParam> params;
    expect_op("(");
    while (!is_op(")")) {
      if (!params.empty()) expect_op(",");
      if (is_op(")")) break;
      MacroParam p;
      p.name = expect_name();
      if (skip_op("=")) p.default_value = parse_expression(true);
      params.push_back(std::move(p));
    }
    expect_op(")");
    return params;
  }

  StmtPtr parse_macro() {
    auto s = make_stmt(StmtKind::Macro, current());
    advance();
    s->text = expect_name();
    s->params = parse_params();
    expect(TokenType::BlockEnd);
    std::string ender;
    s->body = parse_body({"endmacro"}, ender);
    if (current().type == TokenType::Name) advance();  // {% endmacro name %}
    expect(TokenType::BlockEnd);
    return s;
  }

  StmtPtr parse_call_block() {
    auto s = make_stmt(StmtKind::CallBlock, current());
    advance();
    if (is_op("(")) s->params = parse_params();
    s->expr = parse_expression(true);
    if (s->expr->kind != ExprKind::Call) error(current(), "expected a call after {% call %}");
    expect(TokenType::BlockEnd);
    std::string ender;
    s->body = parse_body({"endcall"}, ender);
    expect(TokenType::BlockEnd);
    return s;
  }

  StmtPtr parse_filter_block() {
    auto s = make_stmt(StmtKind::FilterBlock, current());
    advance();
    s->filter = parse_filter(nullptr, true);
    expect(TokenType::BlockEnd);
    std::string ender;
    s->body = parse_body({"endfilter"}, ender);
    expect(TokenType::BlockEnd);
    return s;
  }

  StmtPtr parse_with() {
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

  StmtPtr parse_scope() {
    auto s = make_stmt(StmtKind::Scope, current());
    std::string tag = advance().text;
    if (tag == "block") {
      s->text = expect_name();
      while (current().type == TokenType::Name) advance();  // scoped / required
    }
    expect(TokenType::BlockEnd);
    std::string ender;
    s->body = parse_body({tag == "block" ? "endblock" : "endgeneration"}, ender);
    if (current().type == TokenType::Name) advance();
    expect(TokenType::BlockEnd);
    return s;
  }

  // ---- expressions ----

  bool at_tuple_end() const {
    TokenType t = current().type;
    return t == TokenType::VariableEnd || t == TokenType::BlockEnd || is_op(")") || t == TokenType::EndOfInput;
  }

  ExprPtr parse_tuple(bool with_condexpr, bool explicit_parentheses) {
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

  ExprPtr parse_expression(bool with_condexpr) {
    return with_condexpr ? parse_conditional() : parse_or();
  }

  ExprPtr parse_conditional() {
    ExprPtr expr = parse_or();
    while (is_name("if")) {
      auto e = make_expr(ExprKind::Conditional, current());
      advance();
      e->condition = parse_or();
      e->then_expr = std::move(expr);
      if (skip_name("else")) e->else_expr = parse_conditional();
      expr = std::move(e);
    }
    return expr;
  }

  ExprPtr binary(const Token& at, std::string op, ExprPtr left, ExprPtr right) {
    auto e = make_expr(ExprKind::Binary, at);
    e->name = std::move(op);
    e->left = std::move(left);
    e->right = std::move(right);
    return e;
  }

  ExprPtr parse_or() {
    ExprPtr left = parse_and();
    while (is_name("or")) {
      const Token& at = advance();
      left = binary(at, "or", std::move(left), parse_and());
    }
    return left;
  }

  ExprPtr parse_and() {
    ExprPtr left = parse_not();
    while (is_name("and")) {
      const Token& at = advance();
      left = binary(at, "and", std::move(left), parse_not());
    }
    return left;
  }

  ExprPtr parse_not() {
    if (is_name("not")) {
      auto e = make_expr(ExprKind::Not, current());
      advance();
      e->object = parse_not();
      return e;
    }
    return parse_compare();
  }

  ExprPtr parse_compare() {
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

  ExprPtr parse_math1() {
    ExprPtr left = parse_concat();
    while (is_op("+") || is_op("-")) {
      const Token& at = advance();
      left = binary(at, at.text, std::move(left), parse_concat());
    }
    return left;
  }

  ExprPtr parse_concat() {
    const Token& start = current();
    ExprPtr first = parse_math2();
    if (!is_op("~")) return first;
    auto e = make_expr(ExprKind::Concat, start);
    e->items.push_back(std::move(first));
    while (skip_op("~")) e->items.push_back(parse_math2());
    return e;
  }

  ExprPtr parse_math2() {
    ExprPtr left = parse_pow();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      const Token& at = advance();
      left = binary(at, at.text, std::move(left), parse_pow());
    }
    return left;
  }

  ExprPtr parse_pow() {
    ExprPtr left = parse_unary(true);
    while (is_op("**")) {
      const Token& at = advance();
      left = binary(at, "**", std::move(left), parse_unary(true));
    }
    return left;
  }

  ExprPtr parse_unary(bool with_filter) {
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

  ExprPtr parse_primary() {
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

  ExprPtr parse_list() {
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

  ExprPtr parse_dict() {
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

  ExprPtr parse_postfix(ExprPtr node) {
    while (true) {
      if (is_op(".") || is_op("[")) {
        node = parse_subscript(std::move(node));
      } else if (is_op("(")) {
        node = parse_call(std::move(node));
      } else {
        return node;
      }
    }
  }

  ExprPtr parse_filter_expr(ExprPtr node) {
    while (true) {
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

  ExprPtr parse_subscript(ExprPtr node) {
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

  void parse_call_args(Expr& e) {
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

  ExprPtr parse_call(ExprPtr node) {
    auto e = make_expr(ExprKind::Call, current());
    e->object = std::move(node);
    parse_call_args(*e);
    return e;
  }

  std::string parse_dotted_name() {
    std::string name = expect_name();
    while (is_op(".")) {
      advance();
      name += "." + expect_name();
    }
    return name;
  }

  // `| name(args)` chains; with start_inline the first filter has no leading '|' ({% filter upper %}).
  ExprPtr parse_filter(ExprPtr node, bool start_inline) {
    while (is_op("|") || start_inline) {
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

  ExprPtr parse_test(ExprPtr node) {
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

  // Deeply nested input would otherwise exhaust the stack of this recursive-descent parser.
  static constexpr int kMaxNesting = 200;
  struct NestingGuard {
    explicit NestingGuard(Parser& p) : parser(p) {
      if (++parser.nesting_ > kMaxNesting) parser.error(parser.current(), "template nesting is too deep");
    }
    ~NestingGuard() { --parser.nesting_; }
    Parser& parser;
  };

  std::vector<Token> tokens_;
  size_t pos_ = 0;
  int nesting_ = 0;
};

}  // namespace

Program parse_template(std::string_view source, const LexerOptions& options) {
  return Parser(tokenize(source, options)).parse();
}

}  // namespace glint::jinja
