// glint template: renders a model's chat template for a list of messages, exactly as transformers'
// apply_chat_template(tokenize=False) would, and prints it with no added newline.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "core/error.h"
#include "io/chat_template.h"
#include "io/jinja.h"

namespace glint::cli {
namespace {

nlohmann::ordered_json read_json(const std::string& path, const char* what) {
  std::ifstream file;
  std::istream* in = &std::cin;
  if (path != "-") {
    file.open(path, std::ios::binary);
    GLINT_CHECK(file, "cannot open ", what, " file '", path, "'");
    in = &file;
  }
  std::stringstream buffer;
  buffer << in->rdbuf();
  try {
    return nlohmann::ordered_json::parse(buffer.str());
  } catch (const nlohmann::json::exception& e) {
    fail(what, " file '", path, "' is not valid JSON: ", e.what());
  }
}

int run_template(int argc, char** argv) {
  CLI::App app(
      "Render the model's chat template for a conversation (like apply_chat_template with tokenize=False).\n"
      "The messages file holds a JSON array of {role, content} messages, or an object with \"messages\"\n"
      "and further template variables (tools, documents, enable_thinking, ...).",
      "glint template");
  std::string model_dir, messages_path, context_path;
  bool add_generation_prompt = false;
  app.add_option("--model", model_dir, "directory with chat_template.jinja / chat_template.json / tokenizer_config.json")
      ->required();
  app.add_option("--messages", messages_path, "JSON file of messages ('-' for stdin)")->required();
  app.add_flag("--add-generation-prompt", add_generation_prompt, "end with the header of the assistant's turn");
  app.add_option("--context", context_path, "JSON object file with extra template variables (tools, ...)");
  CLI11_PARSE(app, argc, argv);

  std::optional<ChatTemplate> chat = ChatTemplate::from_dir(model_dir);
  GLINT_CHECK(chat.has_value(), "no chat template in '", model_dir,
              "' (looked for chat_template.jinja, chat_template.json and tokenizer_config.json \"chat_template\")");

  nlohmann::ordered_json input = read_json(messages_path, "messages");
  nlohmann::ordered_json messages, extra = nlohmann::ordered_json::object();
  if (input.is_object()) {
    GLINT_CHECK(input.contains("messages"), "messages file '", messages_path,
                "' is an object without a \"messages\" array");
    for (auto it = input.begin(); it != input.end(); ++it) {
      if (it.key() == "messages") messages = it.value();
      else if (it.key() == "add_generation_prompt") add_generation_prompt = add_generation_prompt || it.value() == true;
      else extra[it.key()] = it.value();
    }
  } else {
    messages = std::move(input);
  }
  if (!context_path.empty()) {
    nlohmann::ordered_json context = read_json(context_path, "context");
    GLINT_CHECK(context.is_object(), "context file '", context_path, "' must hold a JSON object");
    for (auto it = context.begin(); it != context.end(); ++it) extra[it.key()] = it.value();
  }

  std::string prompt;
  try {
    prompt = chat->render(messages, add_generation_prompt, extra);
  } catch (const jinja::RaisedException& e) {
    fail("the chat template rejected the conversation: ", e.what());
  }
  std::fwrite(prompt.data(), 1, prompt.size(), stdout);
  std::fflush(stdout);
  return 0;
}

}  // namespace

GLINT_COMMAND("template", "render the chat template for a conversation", run_template);

}  // namespace glint::cli
