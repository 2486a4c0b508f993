// The pipeline stages of tokenizer.json (normalizer, pre-tokenizer, post-processor, decoder), each built from
// its JSON object. Unsupported component types fail at load time with an error naming the component.
#pragma once
#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace glint::tokenizer_detail {

// A slice of the input on its way to the model: either still text, or already an added token.
struct Piece {
  std::string text;
  int32_t token_id = -1;           // >= 0 once the piece is an added token
  bool at_original_start = false;  // starts at offset 0 of the original input (Metaspace prepend_scheme "first")
};
using Pieces = std::vector<Piece>;

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual void normalize(std::string& text) const = 0;
};

// Receives pre-tokenized text pieces one at a time; `text` is valid only during the call.
class PieceSink {
 public:
  virtual void take(std::string_view text) = 0;

 protected:
  ~PieceSink() = default;
};

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Splits/transforms the text pieces (pieces with a token_id are left alone); empty pieces are dropped.
  virtual void pre_tokenize(Pieces& pieces) const = 0;
  // True when stream() is available: Split with Isolated, ByteLevel without its regex, and Sequences of these
  // (Llama 3), which need nothing of a piece but its text.
  virtual bool can_stream() const { return false; }
  // Hands `sink` the non-empty pieces pre_tokenize would make of one text piece, in order, without building
  // them (no piece list, no string per piece). Only when can_stream().
  virtual void stream(std::string_view text, PieceSink& sink) const;
  // A position >= from where streaming text[..cut) and then text[cut..) gives the pieces of streaming the whole
  // text (so parts of a large text can stream on several threads), or npos when none is known.
  virtual size_t stream_cut(std::string_view /*text*/, size_t /*from*/) const { return std::string_view::npos; }
};

class PostProcessor {
 public:
  virtual ~PostProcessor() = default;
  virtual void process(std::vector<int32_t>& ids, bool add_special_tokens) const = 0;
  // The id the single-sequence template puts first, if any (the BOS).
  virtual std::optional<int32_t> leading_special_id() const { return std::nullopt; }
};

class Decoder {
 public:
  virtual ~Decoder() = default;
  virtual void decode_chain(std::vector<std::string>& tokens) const = 0;
  // True when a run of trailing <0xAB> byte tokens may still change how it decodes (ByteFallback).
  virtual bool has_byte_fallback() const { return false; }
};

// Each factory accepts the component's JSON object (null gives nullptr) and throws glint::Error on anything
// unsupported or malformed.
std::unique_ptr<Normalizer> make_normalizer(const nlohmann::json& config);
std::unique_ptr<PreTokenizer> make_pre_tokenizer(const nlohmann::json& config);
std::unique_ptr<PostProcessor> make_post_processor(const nlohmann::json& config);
std::unique_ptr<Decoder> make_decoder(const nlohmann::json& config);

}  // namespace glint::tokenizer_detail
