// Subcommands register themselves; main() dispatches on the first argument.
#pragma once
#include <functional>
#include <string>
#include <vector>

namespace glint::cli {

struct Command {
  std::string name;
  std::string summary;
  std::function<int(int argc, char** argv)> run;  // argv[0] is the subcommand name
};

std::vector<Command>& command_registry();

struct CommandRegistrar {
  CommandRegistrar(std::string name, std::string summary, std::function<int(int, char**)> run) {
    command_registry().push_back({std::move(name), std::move(summary), std::move(run)});
  }
};

}  // namespace glint::cli

#define GLINT_CONCAT_INNER(a, b) a##b
#define GLINT_CONCAT(a, b) GLINT_CONCAT_INNER(a, b)
// GLINT_COMMAND("tokenize", "text -> token ids", run_tokenize);
#define GLINT_COMMAND(name, summary, function) \
  static const ::glint::cli::CommandRegistrar GLINT_CONCAT(glint_command_, __LINE__)(name, summary, function)
