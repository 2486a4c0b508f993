// Hugging Face tokenizer.json (BPE models) in C++: encode/decode matching the reference `tokenizers` library,
// plus a streaming decoder for generated ids.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace glint {

class Tokenizer {
 public:
  // Throws glint::Error naming the file and the unsupported/malformed component.
  static Tokenizer from_file(const std::string& tokenizer_json_path);
  static Tokenizer from_dir(const std::string& model_dir);  // DIR/tokenizer.json
  static Tokenizer from_json_string(std::string_view tokenizer_json, const std::string& origin = "<memory>");

  // `text` must be valid UTF-8 (glint::Error otherwise). Special tokens are added as the post-processor says.
  std::vector<int32_t> encode(std::string_view text, bool add_special_tokens = true) const;
  // Ids outside [0, vocab_size()) throw glint::Error; unassigned ids inside the range are skipped as the
  // reference does.
  std::string decode(std::span<const int32_t> ids, bool skip_special_tokens = false) const;

  std::optional<int32_t> token_to_id(std::string_view token) const;
  std::string id_to_token(int32_t id) const;  // "" for an unassigned id; glint::Error when out of range
  int32_t vocab_size() const;                  // including added tokens
  bool is_special(int32_t id) const;
  std::optional<int32_t> bos_id() const;  // from the post-processor / added tokens, if any

  struct Impl;  // internal (src/io/tokenizer_impl.h)
  const Impl& impl() const { return *impl_; }

 private:
  explicit Tokenizer(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;  // shared: copies are cheap and const methods are thread-safe
};

// Turns ids into text one id at a time. Never returns a broken UTF-8 sequence, and the concatenation of all
// push() results plus flush() equals tokenizer.decode(all ids, skip_special_tokens).
class StreamingDecoder {
 public:
  explicit StreamingDecoder(const Tokenizer& tokenizer, bool skip_special_tokens = true);
  std::string push(int32_t id);  // text completed by this id (may be empty)
  std::string flush();           // whatever is left (invalid bytes as U+FFFD like the reference); then resets

 private:
  Tokenizer tokenizer_;
  bool skip_special_tokens_;
  std::vector<int32_t> window_;  // ids whose decoded text is partly emitted
  size_t emitted_bytes_ = 0;     // bytes of decode(window_) already returned
};

}  // namespace glint
