#include <algorithm>
#include <cstdio>
#include <cstring>
#include <exception>

#include "cli/command.h"
#include "core/error.h"

namespace glint::cli {
std::vector<Command>& command_registry() {
  static std::vector<Command> commands;
  return commands;
}
}  // namespace glint::cli

static void print_usage() {
  auto commands = glint::cli::command_registry();
  std::sort(commands.begin(), commands.end(), [](auto& a, auto& b) { return a.name < b.name; });
  std::fprintf(stderr, "usage: glint <command> [options]   (glint <command> --help for its options)\n\ncommands:\n");
  for (const auto& c : commands) std::fprintf(stderr, "  %-12s %s\n", c.name.c_str(), c.summary.c_str());
}

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    print_usage();
    return argc < 2 ? 2 : 0;
  }
  for (const auto& command : glint::cli::command_registry()) {
    if (command.name != argv[1]) continue;
    try {
      return command.run(argc - 1, argv + 1);
    } catch (const glint::Error& e) {
      std::fprintf(stderr, "glint %s: error: %s\n", argv[1], e.what());
      return 1;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "glint %s: internal error: %s\n", argv[1], e.what());
      return 1;
    }
  }
  std::fprintf(stderr, "glint: unknown command '%s'\n\n", argv[1]);
  print_usage();
  return 2;
}
