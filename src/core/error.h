// Errors that reach the user: every failure names what was wrong and where.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace glint {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// Concatenates anything streamable: str("tensor ", name, " has ", n, " dims").
template <typename... Args>
std::string str(Args&&... args) {
  std::ostringstream out;
  (out << ... << std::forward<Args>(args));
  return out.str();
}

template <typename... Args>
[[noreturn]] void fail(Args&&... args) {
  throw Error(str(std::forward<Args>(args)...));
}

}  // namespace glint

#define GLINT_CHECK(cond, ...)                 \
  do {                                         \
    if (!(cond)) ::glint::fail(__VA_ARGS__);   \
  } while (0)
