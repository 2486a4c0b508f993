#include "io/chat_template.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "io/jinja.h"

namespace glint {
namespace {

// transformers passes tokenizer.special_tokens_map: in v5 only these named attributes, when set
// (extra_special_tokens such as image_token are not template variables).
constexpr const char* kSpecialTokenNames[] = {"bos_token", "eos_token", "unk_token", "sep_token",
                                              "pad_token", "cls_token", "mask_token"};

std::optional<std::string> read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

nlohmann::ordered_json parse_json_file(const std::filesystem::path& path, const std::string& text) {
  try {
    return nlohmann::ordered_json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    fail("cannot parse ", path.string(), " as JSON: ", e.what());
  }
}

// tokenizer_config.json "chat_template": a string, or named templates of which we take "default".
std::optional<std::string> template_from_config_value(const nlohmann::ordered_json& value,
                                                      const std::filesystem::path& path) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_array()) {
    for (const auto& entry : value) {
      if (entry.is_object() && entry.value("name", "") == "default" && entry.contains("template") &&
          entry["template"].is_string())
        return entry["template"].get<std::string>();
    }
    fail(path.string(), ": chat_template is a list of named templates without one named \"default\"");
  }
  if (value.is_null()) return std::nullopt;
  fail(path.string(), ": chat_template must be a string or a list of {name, template}");
}

}  // namespace

nlohmann::ordered_json special_tokens_from_config(const nlohmann::ordered_json& config) {
  nlohmann::ordered_json tokens = nlohmann::ordered_json::object();
  if (!config.is_object()) return tokens;
  for (const char* name : kSpecialTokenNames) {
    auto it = config.find(name);
    if (it == config.end()) continue;
    if (it->is_string()) {
      tokens[name] = *it;
    } else if (it->is_object() && it->contains("content") && (*it)["content"].is_string()) {
      tokens[name] = (*it)["content"];
    }
  }
  return tokens;
}

ChatTemplate::ChatTemplate(std::string source, nlohmann::ordered_json special_tokens)
    : source_(std::move(source)), special_tokens_(std::move(special_tokens)) {
  try {
    compiled_ = std::make_shared<const jinja::Template>(source_);
  } catch (const Error& e) {
    fail("chat template: ", e.what());
  }
}

ChatTemplate ChatTemplate::from_string(std::string source, nlohmann::json special_tokens) {
  nlohmann::ordered_json tokens = nlohmann::ordered_json::object();
  if (special_tokens.is_object()) {
    for (auto it = special_tokens.begin(); it != special_tokens.end(); ++it) tokens[it.key()] = nlohmann::ordered_json::parse(it.value().dump());
  } else {
    GLINT_CHECK(special_tokens.is_null(), "special tokens must be a JSON object of name -> string");
  }
  return ChatTemplate(std::move(source), std::move(tokens));
}

std::optional<ChatTemplate> ChatTemplate::from_dir(const std::string& model_dir) {
  namespace fs = std::filesystem;
  const fs::path dir(model_dir);
  GLINT_CHECK(fs::is_directory(dir), "model directory ", model_dir, " does not exist");

  nlohmann::ordered_json config;
  const fs::path config_path = dir / "tokenizer_config.json";
  if (auto text = read_file(config_path)) config = parse_json_file(config_path, *text);
  nlohmann::ordered_json tokens = special_tokens_from_config(config);

  if (auto text = read_file(dir / "chat_template.jinja")) return ChatTemplate(std::move(*text), tokens);
  const fs::path json_path = dir / "chat_template.json";
  if (auto text = read_file(json_path)) {
    nlohmann::ordered_json wrapper = parse_json_file(json_path, *text);
    GLINT_CHECK(wrapper.is_object() && wrapper.contains("chat_template"), json_path.string(),
                " has no \"chat_template\" entry");
    if (auto source = template_from_config_value(wrapper["chat_template"], json_path))
      return ChatTemplate(std::move(*source), tokens);
  }
  if (config.is_object() && config.contains("chat_template")) {
    if (auto source = template_from_config_value(config["chat_template"], config_path))
      return ChatTemplate(std::move(*source), tokens);
  }
  return std::nullopt;
}

std::string ChatTemplate::render(const nlohmann::json& messages, bool add_generation_prompt,
                                 const nlohmann::json& extra_context) const {
  return render(nlohmann::ordered_json::parse(messages.dump()), add_generation_prompt,
                extra_context.is_null() ? nlohmann::ordered_json() : nlohmann::ordered_json::parse(extra_context.dump()));
}

std::string ChatTemplate::render(const nlohmann::ordered_json& messages, bool add_generation_prompt,
                                 const nlohmann::ordered_json& extra_context) const {
  GLINT_CHECK(messages.is_array(), "messages must be a JSON array of {role, content} objects");
  for (size_t i = 0; i < messages.size(); ++i)
    GLINT_CHECK(messages[i].is_object(), "message ", i, " must be a JSON object with role and content");
  GLINT_CHECK(extra_context.is_null() || extra_context.is_object(), "extra template context must be a JSON object");

  // apply_chat_template renders with messages/tools/documents/add_generation_prompt plus
  // {**special_tokens_map, **kwargs}; tools and documents are None unless given.
  nlohmann::ordered_json context = special_tokens_;
  if (!context.is_object()) context = nlohmann::ordered_json::object();
  if (extra_context.is_object()) {
    for (auto it = extra_context.begin(); it != extra_context.end(); ++it) {
      GLINT_CHECK(it.key() != "messages" && it.key() != "add_generation_prompt",
                  "extra template context may not set '", it.key(), "'");
      context[it.key()] = it.value();
    }
  }
  if (!context.contains("tools")) context["tools"] = nullptr;
  if (!context.contains("documents")) context["documents"] = nullptr;
  context["messages"] = messages;
  context["add_generation_prompt"] = add_generation_prompt;
  try {
    return compiled_->render(context);
  } catch (const jinja::RaisedException&) {
    throw;
  } catch (const Error& e) {
    fail("chat template: ", e.what());
  }
}

}  // namespace glint
