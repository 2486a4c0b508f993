// Syntax tree of a parsed template. Expressions and statements keep their source line for error messages.
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "io/jinja_value.h"

namespace glint::jinja {

struct Expr;
struct Stmt;
using ExprPtr = std::unique_ptr<Expr>;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

enum class ExprKind {
  Literal,    // value
  Name,       // name
  List,       // items
  Tuple,      // items
  Dict,       // keys (items) / values
  GetAttr,    // object . name
  GetItem,    // object [ index ]
  Slice,      // object [ start : stop : step ] (null parts are omitted)
  Call,       // callee ( args, kwargs )
  Filter,     // object | name ( args, kwargs ); object null inside {% filter %}
  Test,       // object is [not] name ( args, kwargs )
  Not,
  Negate,
  Plus,
  Binary,     // op: and or + - * / // % ** 
  Compare,    // object, then (op, operand) pairs: == != < <= > >= in notin
  Concat,     // items joined with ~
  Conditional // then_expr if condition else else_expr
};

struct Expr {
  ExprKind kind;
  int line = 0;
  int column = 0;
  Value value;                       // Literal
  std::string name;                  // Name, GetAttr, Call-less Filter/Test name, Binary op
  ExprPtr object;                    // GetAttr, GetItem, Slice, Call callee, Filter/Test subject, unary operand
  ExprPtr index, start, stop, step;  // GetItem / Slice
  std::vector<ExprPtr> items;        // List, Tuple, Dict keys, Concat, Call/Filter/Test positional args
  std::vector<ExprPtr> values;       // Dict values
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
  std::vector<std::pair<std::string, ExprPtr>> comparisons;  // Compare
  ExprPtr left, right;               // Binary
  ExprPtr condition, then_expr, else_expr;  // Conditional
  bool negated = false;              // Test
};

// An assignment target: a name, a tuple of names, or namespace attribute (ns.attr).
struct Target {
  std::vector<std::string> names;
  bool is_tuple = false;
  std::string attribute;  // set when assigning ns.attribute; names[0] is the namespace
};

struct MacroParam {
  std::string name;
  ExprPtr default_value;  // may be null
};

enum class StmtKind {
  Text,
  Output,
  If,
  For,
  Set,
  SetBlock,
  Macro,
  CallBlock,
  FilterBlock,
  With,
  Break,
  Continue,
  Scope,  // body rendered in place: {% generation %}, {% block %}
};

struct Stmt {
  StmtKind kind;
  int line = 0;
  int column = 0;
  std::string text;                                   // Text; Macro name
  ExprPtr expr;                                       // Output, Set value, For iterable, CallBlock call
  std::vector<std::pair<ExprPtr, Body>> branches;     // If: condition/body pairs
  Body body;                                          // For, Macro, SetBlock, CallBlock, FilterBlock, With, Scope
  Body else_body;                                     // If, For
  Target target;                                      // For, Set, SetBlock
  ExprPtr filter;                                     // For "if" condition; SetBlock / FilterBlock filter chain
  bool recursive = false;                             // For
  // Macro: whether the body reads varargs / kwargs / caller, which decides the arguments it accepts.
  bool uses_varargs = false, uses_kwargs = false, uses_caller = false;
  // Names that start out undefined in the scope of `body` / `else_body` (see jinja_symbols.cpp).
  std::vector<std::string> body_undefined, else_undefined;
  std::vector<MacroParam> params;                     // Macro, CallBlock caller
  std::vector<std::pair<Target, ExprPtr>> assignments;  // With
};

struct Program {
  Body body;
  std::vector<std::string> body_undefined;  // as Stmt::body_undefined, for the template's top level
};

}  // namespace glint::jinja
