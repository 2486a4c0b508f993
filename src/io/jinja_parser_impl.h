// The recursive-descent parser behind parse_template, split over jinja_parser.cpp (statements) and
// jinja_parser_expressions.cpp (expressions). Internal to the jinja_* files.
#pragma once
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "io/jinja_ast.h"
#include "io/jinja_lexer.h"

namespace glint::jinja::detail {

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
  bool skip_op(std::string_view op);
  bool skip_name(std::string_view name);
  [[noreturn]] void error(const Token& at, const std::string& message) const;
  std::string spelling(const Token& t) const;
  void expect_op(std::string_view op);
  std::string expect_name();
  void expect(TokenType type);
  ExprPtr make_expr(ExprKind kind, const Token& at);
  StmtPtr make_stmt(StmtKind kind, const Token& at);
  // ---- statements ----

  // Parses until a block tag whose name is in `enders`; consumes "{% name" and reports the name.
  Body parse_body(std::initializer_list<std::string_view> enders, std::string& ender);
  StmtPtr parse_statement(const Token& tag_start);
  StmtPtr parse_if();
  Target parse_target(bool allow_attribute);
  StmtPtr parse_for();
  StmtPtr parse_set();
  std::vector<MacroParam> parse_params();
  StmtPtr parse_macro();
  StmtPtr parse_call_block();
  StmtPtr parse_filter_block();
  StmtPtr parse_with();
  StmtPtr parse_scope();
  // ---- expressions ----

  bool at_tuple_end() const;
  ExprPtr parse_tuple(bool with_condexpr, bool explicit_parentheses);
  ExprPtr parse_expression(bool with_condexpr);
  ExprPtr parse_conditional();
  ExprPtr binary(const Token& at, std::string op, ExprPtr left, ExprPtr right);
  ExprPtr parse_or();
  ExprPtr parse_and();
  ExprPtr parse_not();
  ExprPtr parse_compare();
  ExprPtr parse_math1();
  ExprPtr parse_concat();
  ExprPtr parse_math2();
  ExprPtr parse_pow();
  ExprPtr parse_unary(bool with_filter);
  ExprPtr parse_primary();
  ExprPtr parse_list();
  ExprPtr parse_dict();
  ExprPtr parse_postfix(ExprPtr node);
  ExprPtr parse_filter_expr(ExprPtr node);
  ExprPtr parse_subscript(ExprPtr node);
  void parse_call_args(Expr& e);
  ExprPtr parse_call(ExprPtr node);
  std::string parse_dotted_name();
  // `| name(args)` chains; with start_inline the first filter has no leading '|' ({% filter upper %}).
  ExprPtr parse_filter(ExprPtr node, bool start_inline);
  ExprPtr parse_test(ExprPtr node);
  // Deeply nested input would otherwise exhaust the stack of this recursive-descent parser.
  static constexpr int kMaxNesting = 200;
  struct NestingGuard {
    explicit NestingGuard(Parser& p) : parser(p) {
      if (++parser.nesting_ > kMaxNesting) parser.error(parser.current(), "template nesting is too deep");
    }
    ~NestingGuard() { --parser.nesting_; }
    Parser& parser;
  };
  // Left-associative chains (a + b + c ..., x | f | g ...) build trees as deep as they are long.
  struct ChainGuard {
    explicit ChainGuard(Parser& p) : parser(p) {}
    void step() {
      ++added;
      if (++parser.nesting_ > kMaxNesting) parser.error(parser.current(), "template nesting is too deep");
    }
    ~ChainGuard() { parser.nesting_ -= added; }
    Parser& parser;
    int added = 0;
  };

  // break/continue need an enclosing loop in the same function: macro and call bodies start afresh.
  std::vector<int> loops_in_function_ = {0};
  // Any assignment to "loop" inside a for statement is an error in jinja2, even in nested macros.
  int for_statements_open_ = 0;

  std::vector<Token> tokens_;
  size_t pos_ = 0;
  int nesting_ = 0;
};

}  // namespace glint::jinja::detail
