// A Jinja template interpreter that renders chat templates byte for byte as jinja2 does inside
// transformers' apply_chat_template (ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks,
// loopcontrols, its own tojson, raise_exception and strftime_now).
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/error.h"
#include "io/jinja_lexer.h"
#include "io/jinja_value.h"

namespace glint::jinja {

struct Program;

// raise_exception("...") inside a template; what() is exactly the template's message.
class RaisedException : public glint::Error {
 public:
  explicit RaisedException(const std::string& message) : glint::Error(message) {}
};

class Template {
 public:
  // Parses now: syntax errors and unsupported tags throw glint::Error naming line and column.
  explicit Template(std::string_view source, const LexerOptions& options = {});

  // `context` is a dict of top-level variables. Runtime problems throw glint::Error with the line;
  // raise_exception throws RaisedException.
  std::string render(const Value& context) const;
  std::string render(const nlohmann::ordered_json& context) const { return render(from_json(context)); }

 private:
  std::shared_ptr<const Program> program_;
};

}  // namespace glint::jinja
