// Chat templates of Hugging Face checkpoints, rendered as transformers' apply_chat_template(tokenize=False)
// renders them: the template sees messages, tools, documents, add_generation_prompt, the tokenizer's
// special token strings and any extra keyword arguments.
#pragma once
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace glint {

namespace jinja {
class Template;
}

class ChatTemplate {
 public:
  // Looks in DIR for chat_template.jinja, chat_template.json ({"chat_template": ...}), then
  // tokenizer_config.json "chat_template" (a string, or a list of {name, template}: takes "default").
  // Special token strings (bos_token, eos_token, ...) come from tokenizer_config.json.
  // Returns nullopt when the directory has no chat template; throws glint::Error for unreadable files.
  static std::optional<ChatTemplate> from_dir(const std::string& model_dir);
  static ChatTemplate from_string(std::string source, nlohmann::json special_tokens = {});

  // messages: [{"role":..., "content": string | [{"type":"text","text":...}, {"type":"image"}, ...]}, ...]
  // extra_context: tools, documents, enable_thinking, ... (any template variable).
  // Throws glint::Error for template errors; jinja::RaisedException carries raise_exception's message.
  std::string render(const nlohmann::json& messages, bool add_generation_prompt,
                     const nlohmann::json& extra_context = {}) const;
  // Same, keeping the key order of JSON objects (which tojson and dict iteration expose).
  std::string render(const nlohmann::ordered_json& messages, bool add_generation_prompt,
                     const nlohmann::ordered_json& extra_context = {}) const;

  const std::string& source() const { return source_; }
  const nlohmann::ordered_json& special_tokens() const { return special_tokens_; }

 private:
  ChatTemplate(std::string source, nlohmann::ordered_json special_tokens);

  std::string source_;
  nlohmann::ordered_json special_tokens_;
  std::shared_ptr<const jinja::Template> compiled_;
};

// The special token strings transformers passes to templates, read from a parsed tokenizer_config.json
// (plain strings or {"content": ...} objects).
nlohmann::ordered_json special_tokens_from_config(const nlohmann::ordered_json& tokenizer_config);

}  // namespace glint
