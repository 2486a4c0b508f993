// Splits a template into text and tag tokens the way jinja2's lexer does, including its whitespace rules
// (trim_blocks, lstrip_blocks, "-" / "+" markers, the dropped final newline).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace glint::jinja {

enum class TokenType {
  Text,
  VariableBegin,  // {{
  VariableEnd,    // }}
  BlockBegin,     // {%
  BlockEnd,       // %}
  Name,
  String,
  Integer,
  Float,
  Operator,
  EndOfInput,
};

struct Token {
  TokenType type;
  std::string text;  // Text: the data; String: the unescaped value; Operator/Name: the spelling
  int64_t integer = 0;
  double number = 0;
  int line = 1;
  int column = 1;
};

struct LexerOptions {
  bool trim_blocks = true;
  bool lstrip_blocks = true;
  bool keep_trailing_newline = false;
};

// Throws glint::Error naming line and column for malformed input (unclosed tags, strings, comments).
std::vector<Token> tokenize(std::string_view source, const LexerOptions& options = {});

// Replaces \r\n and \r by \n, as jinja2 does for template text.
std::string normalize_newlines(std::string_view text);

}  // namespace glint::jinja
