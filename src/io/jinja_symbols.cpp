// jinja2 compiles every scope ("frame": the template, a loop body, a macro, a block set, ...) to Python
// locals whose starting values it decides statically. A name assigned in a frame that the frame itself
// has not read before the assignment, and that no enclosing frame knows, starts out undefined - even if
// the render context has a value for it. Nested frames that read it before the assignment therefore see
// an undefined value. This pass reproduces that analysis (jinja2's idtracking) and records, per frame,
// the names the interpreter must set to undefined when it enters the frame.
#include <map>
#include <set>
#include <string>

#include "io/jinja_parser.h"

namespace glint::jinja {
namespace {

enum class Load { Resolve, Alias, Undefined, Parameter };

struct Symbols {
  const Symbols* parent = nullptr;
  std::map<std::string, Load> refs;
  std::set<std::string> stores;

  bool find_ref(const std::string& name) const {
    for (const Symbols* s = this; s; s = s->parent)
      if (s->refs.count(name)) return true;
    return false;
  }
  void load(const std::string& name) {
    if (!find_ref(name)) refs[name] = Load::Resolve;
  }
  void store(const std::string& name) {
    stores.insert(name);
    if (refs.count(name)) return;
    refs[name] = parent && parent->find_ref(name) ? Load::Alias : Load::Undefined;
  }
  void parameter(const std::string& name) { refs[name] = Load::Parameter; }

  // After an if statement every name assigned in one of its branches starts from the outer value
  // (jinja2 3.1's branch_update), whichever branches assign it.
  void merge_branches(const std::vector<Symbols>& branches) {
    std::set<std::string> new_stores;
    for (const auto& b : branches)
      for (const auto& name : b.stores)
        if (!stores.count(name)) new_stores.insert(name);
    for (const auto& b : branches) {
      for (const auto& [name, load] : b.refs) refs[name] = load;
      stores.insert(b.stores.begin(), b.stores.end());
    }
    for (const auto& name : new_stores) refs[name] = parent && parent->find_ref(name) ? Load::Alias : Load::Resolve;
  }

  std::vector<std::string> undefined_names() const {
    std::vector<std::string> names;
    for (const auto& [name, load] : refs)
      if (load == Load::Undefined) names.push_back(name);
    return names;
  }
};

void visit_expr(const Expr* e, Symbols& symbols) {
  if (!e) return;
  if (e->kind == ExprKind::Name) symbols.load(e->name);
  for (const ExprPtr* child : {&e->object, &e->index, &e->start, &e->stop, &e->step, &e->left, &e->right,
                               &e->condition, &e->then_expr, &e->else_expr})
    visit_expr(child->get(), symbols);
  for (const auto& item : e->items) visit_expr(item.get(), symbols);
  for (const auto& value : e->values) visit_expr(value.get(), symbols);
  for (const auto& [key, value] : e->kwargs) visit_expr(value.get(), symbols);
  for (const auto& [op, operand] : e->comparisons) visit_expr(operand.get(), symbols);
}

void store_target(const Target& target, Symbols& symbols) {
  if (!target.attribute.empty()) {
    symbols.load(target.names[0]);  // ns.attr = ... reads ns
    return;
  }
  for (const auto& name : target.names) symbols.store(name);
}

void visit_body(const Body& body, Symbols& symbols);

// jinja2 keeps elif as nested if statements: if (a) {..} elif-list [if (b) {..}, ...] else {..}.
void visit_if(const Stmt& s, size_t first_branch, Symbols& symbols, bool with_else) {
  visit_expr(s.branches[first_branch].first.get(), symbols);
  std::vector<Symbols> branches(3, symbols);
  visit_body(s.branches[first_branch].second, branches[0]);
  if (first_branch == 0) {
    for (size_t k = 1; k < s.branches.size(); ++k) visit_if(s, k, branches[1], false);
  }
  if (with_else) visit_body(s.else_body, branches[2]);
  symbols.merge_branches(branches);
}

void visit_statement(const Stmt& s, Symbols& symbols) {
  switch (s.kind) {
    case StmtKind::Output: visit_expr(s.expr.get(), symbols); break;
    case StmtKind::If: visit_if(s, 0, symbols, true); break;
    case StmtKind::For: visit_expr(s.expr.get(), symbols); break;
    case StmtKind::Set:
      visit_expr(s.expr.get(), symbols);
      store_target(s.target, symbols);
      break;
    case StmtKind::SetBlock:
      store_target(s.target, symbols);
      visit_expr(s.filter.get(), symbols);
      break;
    case StmtKind::Macro: symbols.store(s.text); break;
    case StmtKind::CallBlock: visit_expr(s.expr.get(), symbols); break;
    case StmtKind::FilterBlock: visit_expr(s.filter.get(), symbols); break;
    case StmtKind::With:
      for (const auto& [target, value] : s.assignments) visit_expr(value.get(), symbols);
      break;
    default: break;
  }
}

void visit_body(const Body& body, Symbols& symbols) {
  for (const auto& s : body) visit_statement(*s, symbols);
}

void analyze_frames_in(Body& body, const Symbols& frame);

// Analyzes a nested frame (its parameters first), records its undefined names, then recurses.
std::vector<std::string> analyze_frame(Body& body, const Symbols* parent, const std::vector<std::string>& parameters,
                                       const std::vector<const Expr*>& frame_exprs) {
  Symbols symbols;
  symbols.parent = parent;
  for (const auto& p : parameters) symbols.parameter(p);
  for (const Expr* e : frame_exprs) visit_expr(e, symbols);
  visit_body(body, symbols);
  analyze_frames_in(body, symbols);
  return symbols.undefined_names();
}

// Finds the frames nested in `body` (whose own frame is `frame`) and analyzes each.
void analyze_frames_in(Body& body, const Symbols& frame) {
  for (auto& s : body) {
    switch (s->kind) {
      case StmtKind::If:
        for (auto& [condition, branch] : s->branches) analyze_frames_in(branch, frame);
        analyze_frames_in(s->else_body, frame);
        break;
      case StmtKind::For: {
        std::vector<std::string> params = s->target.names;
        params.push_back("loop");
        s->body_undefined = analyze_frame(s->body, &frame, params, {});
        s->else_undefined = analyze_frame(s->else_body, &frame, {}, {});
        break;
      }
      case StmtKind::Macro:
      case StmtKind::CallBlock: {
        std::vector<std::string> params;
        std::vector<const Expr*> defaults;
        for (const auto& p : s->params) {
          params.push_back(p.name);
          defaults.push_back(p.default_value.get());
        }
        for (const char* special : {"varargs", "kwargs", "caller"}) params.push_back(special);
        s->body_undefined = analyze_frame(s->body, &frame, params, defaults);
        break;
      }
      case StmtKind::With: {
        std::vector<std::string> params;
        for (const auto& [target, value] : s->assignments)
          for (const auto& name : target.names) params.push_back(name);
        s->body_undefined = analyze_frame(s->body, &frame, params, {});
        break;
      }
      case StmtKind::SetBlock:
      case StmtKind::FilterBlock:
      case StmtKind::Scope:
        s->body_undefined = analyze_frame(s->body, &frame, {}, {});
        break;
      default:
        break;
    }
  }
}

}  // namespace

void analyze_scopes(Program& program) {
  Symbols root;
  visit_body(program.body, root);
  analyze_frames_in(program.body, root);
  program.body_undefined = root.undefined_names();
}

}  // namespace glint::jinja
