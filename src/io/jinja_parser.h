// Builds the syntax tree from tokens, following jinja2's grammar and operator precedence.
#pragma once
#include <string_view>

#include "io/jinja_ast.h"
#include "io/jinja_lexer.h"

namespace glint::jinja {

// Throws glint::Error with line and column for syntax errors and for tags this interpreter does not support.
Program parse_template(std::string_view source, const LexerOptions& options = {});

// Fills in the names each scope starts with as undefined (jinja_symbols.cpp); parse_template calls it.
void analyze_scopes(Program& program);

}  // namespace glint::jinja
