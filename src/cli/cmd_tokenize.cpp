// glint tokenize / glint detokenize: JSON lines in, JSON lines out, using DIR/tokenizer.json.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "core/error.h"
#include "io/tokenizer.h"

namespace glint::cli {
namespace {

// Calls `handle(line, line_number)` for each line of `path` ("-" is stdin); errors name the line.
template <typename Handler>
void for_each_line(const std::string& path, Handler handle) {
  std::ifstream file;
  std::istream* in = &std::cin;
  if (path != "-") {
    file.open(path, std::ios::binary);
    GLINT_CHECK(file, "cannot open input '", path, "'");
    in = &file;
  }
  std::string line;
  size_t line_number = 0;
  while (std::getline(*in, line)) {
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    try {
      handle(line);
    } catch (const nlohmann::json::exception& e) {
      fail(path == "-" ? "stdin" : path, " line ", line_number, ": bad JSON: ", e.what());
    } catch (const Error& e) {
      fail(path == "-" ? "stdin" : path, " line ", line_number, ": ", e.what());
    }
  }
}

std::string to_json_line(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

int run_tokenize(int argc, char** argv) {
  CLI::App app("Text to token ids: each input line is a JSON string, each output line a JSON array of ids",
               "glint tokenize");
  std::string model_dir, input;
  bool no_special = false;
  app.add_option("--model", model_dir, "model directory holding tokenizer.json")->required();
  app.add_option("--jsonl", input, "input file of JSON strings, one per line ('-' for stdin)")->required();
  app.add_flag("--no-special", no_special, "do not add special tokens such as BOS");
  CLI11_PARSE(app, argc, argv);
  const Tokenizer tokenizer = Tokenizer::from_dir(model_dir);
  std::string out;
  for_each_line(input, [&](const std::string& line) {
    const auto value = nlohmann::json::parse(line);
    GLINT_CHECK(value.is_string(), "expected a JSON string, got ", value.type_name());
    out = to_json_line(tokenizer.encode(value.get_ref<const std::string&>(), !no_special));
    out.push_back('\n');
    std::fwrite(out.data(), 1, out.size(), stdout);
  });
  return std::fflush(stdout) == 0 ? 0 : 1;
}

int run_detokenize(int argc, char** argv) {
  CLI::App app("Token ids to text: each input line is a JSON array of ids, each output line a JSON string",
               "glint detokenize");
  std::string model_dir, input;
  bool skip_special = false;
  app.add_option("--model", model_dir, "model directory holding tokenizer.json")->required();
  app.add_option("--jsonl", input, "input file of JSON id arrays, one per line ('-' for stdin)")->required();
  app.add_flag("--skip-special", skip_special, "drop special tokens from the text");
  CLI11_PARSE(app, argc, argv);
  const Tokenizer tokenizer = Tokenizer::from_dir(model_dir);
  std::string out;
  for_each_line(input, [&](const std::string& line) {
    const auto value = nlohmann::json::parse(line);
    GLINT_CHECK(value.is_array(), "expected a JSON array of token ids, got ", value.type_name());
    std::vector<int32_t> ids;
    ids.reserve(value.size());
    for (const auto& id : value) {
      GLINT_CHECK(id.is_number_integer(), "token ids must be integers, got ", id.dump());
      const auto wide = id.get<int64_t>();
      GLINT_CHECK(wide >= 0 && wide < tokenizer.vocab_size(), "token id ", wide, " is out of range [0, ",
                  tokenizer.vocab_size(), ")");
      ids.push_back(static_cast<int32_t>(wide));
    }
    out = to_json_line(tokenizer.decode(ids, skip_special));
    out.push_back('\n');
    std::fwrite(out.data(), 1, out.size(), stdout);
  });
  return std::fflush(stdout) == 0 ? 0 : 1;
}

}  // namespace

GLINT_COMMAND("tokenize", "text (JSON lines) -> token ids", run_tokenize);
GLINT_COMMAND("detokenize", "token ids (JSON lines) -> text", run_detokenize);

}  // namespace glint::cli
