// Decoders and post-processors of tokenizer.json, following the reference `tokenizers` library.
#include <nlohmann/json.hpp>

#include <map>

#include "core/error.h"
#include "io/tokenizer_components.h"
#include "io/tokenizer_json.h"
#include "io/tokenizer_pattern.h"
#include "io/unicode.h"

namespace glint::tokenizer_detail {
namespace {

using nlohmann::json;

std::vector<char32_t> code_points(std::string_view text) {
  std::vector<char32_t> out;
  for (size_t pos = 0; pos < text.size();) out.push_back(unicode::next_code_point(text, pos));
  return out;
}

// ---------------------------------------------------------------- decoders

class SequenceDecoder final : public Decoder {
 public:
  explicit SequenceDecoder(std::vector<std::unique_ptr<Decoder>> parts) : parts_(std::move(parts)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (const auto& part : parts_) part->decode_chain(tokens);
  }
  bool has_byte_fallback() const override {
    for (const auto& part : parts_)
      if (part->has_byte_fallback()) return true;
    return false;
  }

 private:
  std::vector<std::unique_ptr<Decoder>> parts_;
};

class ReplaceDecoder final : public Decoder {
 public:
  ReplaceDecoder(Pattern pattern, std::string content) : pattern_(std::move(pattern)), content_(std::move(content)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (std::string& token : tokens) token = pattern_.replace_all(token, content_);
  }

 private:
  Pattern pattern_;
  std::string content_;
};

// "<0xAB>" -> 0xAB, as the reference parses it (u8::from_str_radix on the two characters after "<0x").
std::optional<unsigned char> parse_byte_token(std::string_view token) {
  if (token.size() != 6 || !token.starts_with("<0x") || token.back() != '>') return std::nullopt;
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  const char high = token[3], low = token[4];
  if (high == '+') {  // from_str_radix accepts a leading plus sign
    return hex(low) >= 0 ? std::optional<unsigned char>(static_cast<unsigned char>(hex(low))) : std::nullopt;
  }
  if (hex(high) < 0 || hex(low) < 0) return std::nullopt;
  return static_cast<unsigned char>(hex(high) * 16 + hex(low));
}

class ByteFallbackDecoder final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::vector<std::string> result;
    result.reserve(tokens.size());
    std::string pending_bytes;
    auto flush = [&] {
      if (pending_bytes.empty()) return;
      if (unicode::is_valid_utf8(pending_bytes)) {
        result.push_back(pending_bytes);
      } else {
        // The reference gives one U+FFFD per byte when the run as a whole is not valid UTF-8.
        for (size_t i = 0; i < pending_bytes.size(); ++i) result.emplace_back("\xEF\xBF\xBD");
      }
      pending_bytes.clear();
    };
    for (std::string& token : tokens) {
      if (auto byte = parse_byte_token(token)) {
        pending_bytes.push_back(static_cast<char>(*byte));
      } else {
        flush();
        result.push_back(std::move(token));
      }
    }
    flush();
    tokens = std::move(result);
  }
  bool has_byte_fallback() const override { return true; }
};

class FuseDecoder final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string joined;
    for (const std::string& token : tokens) joined += token;
    tokens.assign(1, std::move(joined));
  }
};

class StripDecoder final : public Decoder {
 public:
  StripDecoder(char32_t content, size_t start, size_t stop) : content_(content), start_(start), stop_(stop) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (std::string& token : tokens) {
      const std::vector<char32_t> chars = code_points(token);
      size_t start_cut = 0;
      for (size_t i = 0; i < std::min(start_, chars.size()) && chars[i] == content_; ++i) start_cut = i + 1;
      size_t stop_cut = chars.size();
      for (size_t i = 0; i < std::min(stop_, chars.size()); ++i) {
        const size_t index = chars.size() - i - 1;
        if (chars[index] != content_) break;
        stop_cut = index;
      }
      std::string out;
      for (size_t i = start_cut; i < std::max(start_cut, stop_cut); ++i) unicode::append_utf8(out, chars[i]);
      token = std::move(out);
    }
  }

 private:
  char32_t content_;
  size_t start_, stop_;
};

class ByteLevelDecoder final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string bytes;
    for (const std::string& token : tokens) {
      // A token made only of byte-level characters becomes those bytes; any other token is kept as UTF-8.
      std::string mapped;
      bool all_mapped = true;
      for (size_t pos = 0; pos < token.size();) {
        const int byte = unicode::level_char_to_byte(unicode::next_code_point(token, pos));
        if (byte < 0) {
          all_mapped = false;
          break;
        }
        mapped.push_back(static_cast<char>(byte));
      }
      bytes += all_mapped ? mapped : token;
    }
    tokens.assign(1, unicode::repair_utf8_lossy(bytes));
  }
};

class MetaspaceDecoder final : public Decoder {
 public:
  MetaspaceDecoder(char32_t replacement, bool drop_in_first_token)
      : replacement_(replacement), drop_in_first_token_(drop_in_first_token) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      std::string out;
      for (char32_t c : code_points(tokens[i])) {
        if (c != replacement_) {
          unicode::append_utf8(out, c);
        } else if (!(i == 0 && drop_in_first_token_)) {
          out.push_back(' ');
        }
      }
      tokens[i] = std::move(out);
    }
  }

 private:
  char32_t replacement_;
  bool drop_in_first_token_;
};

class BpeSuffixDecoder final : public Decoder {
 public:
  explicit BpeSuffixDecoder(std::string suffix) : suffix_(std::move(suffix)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    if (suffix_.empty()) return;
    const Pattern pattern = Pattern::literal(suffix_);
    for (size_t i = 0; i < tokens.size(); ++i) {
      tokens[i] = pattern.replace_all(tokens[i], i + 1 == tokens.size() ? "" : " ");
    }
  }

 private:
  std::string suffix_;
};

// ---------------------------------------------------------------- post-processors

class TemplatePostProcessor final : public PostProcessor {
 public:
  // Each entry: the ids of a special token, or nullopt where the sequence goes.
  explicit TemplatePostProcessor(std::vector<std::optional<std::vector<int32_t>>> single) : single_(std::move(single)) {}
  void process(std::vector<int32_t>& ids, bool add_special_tokens) const override {
    if (!add_special_tokens) return;
    std::vector<int32_t> out;
    out.reserve(ids.size() + 4);
    for (const auto& piece : single_) {
      if (piece) {
        out.insert(out.end(), piece->begin(), piece->end());
      } else {
        out.insert(out.end(), ids.begin(), ids.end());
      }
    }
    ids = std::move(out);
  }
  std::optional<int32_t> leading_special_id() const override {
    if (!single_.empty() && single_.front() && !single_.front()->empty()) return single_.front()->front();
    return std::nullopt;
  }

 private:
  std::vector<std::optional<std::vector<int32_t>>> single_;
};

class SequencePostProcessor final : public PostProcessor {
 public:
  explicit SequencePostProcessor(std::vector<std::unique_ptr<PostProcessor>> parts) : parts_(std::move(parts)) {}
  void process(std::vector<int32_t>& ids, bool add_special_tokens) const override {
    for (const auto& part : parts_) part->process(ids, add_special_tokens);
  }
  std::optional<int32_t> leading_special_id() const override {
    for (const auto& part : parts_)
      if (auto id = part->leading_special_id()) return id;
    return std::nullopt;
  }

 private:
  std::vector<std::unique_ptr<PostProcessor>> parts_;
};

class NoOpPostProcessor final : public PostProcessor {  // ByteLevel only trims offsets, which we do not track
 public:
  void process(std::vector<int32_t>&, bool) const override {}
};

std::unique_ptr<PostProcessor> make_template(const json& config) {
  auto special_it = config.find("special_tokens");
  std::map<std::string, std::vector<int32_t>> special_ids;
  if (special_it != config.end() && special_it->is_object()) {
    for (auto it = special_it->begin(); it != special_it->end(); ++it) {
      auto ids = it.value().find("ids");
      GLINT_CHECK(ids != it.value().end() && ids->is_array(), "tokenizer.json: TemplateProcessing special token '",
                  it.key(), "' has no ids");
      special_ids[it.key()] = ids->get<std::vector<int32_t>>();
    }
  }
  auto single_it = config.find("single");
  GLINT_CHECK(single_it != config.end() && single_it->is_array(),
              "tokenizer.json: TemplateProcessing \"single\" must be a list of pieces");
  std::vector<std::optional<std::vector<int32_t>>> single;
  for (const auto& piece : *single_it) {
    if (auto special = piece.find("SpecialToken"); special != piece.end()) {
      const std::string name = field<std::string>(*special, "id", "");
      auto found = special_ids.find(name);
      GLINT_CHECK(found != special_ids.end(), "tokenizer.json: TemplateProcessing uses special token '", name,
                  "' missing from special_tokens");
      single.emplace_back(found->second);
    } else if (auto sequence = piece.find("Sequence"); sequence != piece.end()) {
      const std::string id = field<std::string>(*sequence, "id", "A");
      GLINT_CHECK(id == "A", "tokenizer.json: TemplateProcessing single template refers to sequence ", id);
      single.emplace_back(std::nullopt);
    } else {
      fail("tokenizer.json: TemplateProcessing piece ", piece.dump(), " is not understood");
    }
  }
  return std::make_unique<TemplatePostProcessor>(std::move(single));
}

}  // namespace

std::unique_ptr<Decoder> make_decoder(const json& config) {
  if (config.is_null()) return nullptr;
  const std::string type = component_type(config, "decoder");
  if (type == "Sequence") {
    std::vector<std::unique_ptr<Decoder>> parts;
    auto it = config.find("decoders");
    GLINT_CHECK(it != config.end() && it->is_array(), "tokenizer.json: Sequence decoder has no \"decoders\"");
    for (const auto& part : *it) {
      if (auto decoder = make_decoder(part)) parts.push_back(std::move(decoder));
    }
    return std::make_unique<SequenceDecoder>(std::move(parts));
  }
  if (type == "Replace") {
    Pattern pattern = parse_pattern(config, "Replace decoder");
    return std::make_unique<ReplaceDecoder>(std::move(pattern), field<std::string>(config, "content", ""));
  }
  if (type == "ByteFallback") return std::make_unique<ByteFallbackDecoder>();
  if (type == "Fuse") return std::make_unique<FuseDecoder>();
  if (type == "Strip") {
    return std::make_unique<StripDecoder>(single_char(field<std::string>(config, "content", " "), "Strip decoder content"),
                                          field<size_t>(config, "start", 0), field<size_t>(config, "stop", 0));
  }
  if (type == "ByteLevel") return std::make_unique<ByteLevelDecoder>();
  if (type == "Metaspace") {
    const char32_t replacement =
        single_char(field<std::string>(config, "replacement", "\xE2\x96\x81"), "Metaspace decoder replacement");
    std::string scheme = field<std::string>(config, "prepend_scheme", "");
    bool drop_first = scheme.empty() ? field<bool>(config, "add_prefix_space", true) : scheme != "never";
    return std::make_unique<MetaspaceDecoder>(replacement, drop_first);
  }
  if (type == "BPEDecoder") return std::make_unique<BpeSuffixDecoder>(field<std::string>(config, "suffix", "</w>"));
  fail("tokenizer.json: decoder '", type, "' is not supported");
}

std::unique_ptr<PostProcessor> make_post_processor(const json& config) {
  if (config.is_null()) return nullptr;
  const std::string type = component_type(config, "post_processor");
  if (type == "Sequence") {
    std::vector<std::unique_ptr<PostProcessor>> parts;
    auto it = config.find("processors");
    GLINT_CHECK(it != config.end() && it->is_array(), "tokenizer.json: Sequence post_processor has no \"processors\"");
    for (const auto& part : *it) {
      if (auto processor = make_post_processor(part)) parts.push_back(std::move(processor));
    }
    return std::make_unique<SequencePostProcessor>(std::move(parts));
  }
  if (type == "TemplateProcessing") return make_template(config);
  if (type == "ByteLevel") return std::make_unique<NoOpPostProcessor>();
  if (type == "BertProcessing" || type == "RobertaProcessing") {
    // "cls": ["[CLS]", 101], "sep": ["[SEP]", 102] -> CLS A SEP
    auto id_of = [&](const char* key) {
      auto it = config.find(key);
      GLINT_CHECK(it != config.end() && it->is_array() && it->size() == 2 && (*it)[1].is_number_integer(),
                  "tokenizer.json: ", type, " needs \"", key, "\": [token, id]");
      return (*it)[1].get<int32_t>();
    };
    std::vector<std::optional<std::vector<int32_t>>> single{std::vector<int32_t>{id_of("cls")}, std::nullopt,
                                                            std::vector<int32_t>{id_of("sep")}};
    return std::make_unique<TemplatePostProcessor>(std::move(single));
  }
  fail("tokenizer.json: post_processor '", type, "' is not supported");
}

}  // namespace glint::tokenizer_detail
