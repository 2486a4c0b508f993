// Internal state of glint::Tokenizer, shared by tokenizer.cpp and tokenizer_stream.cpp.
#pragma once
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "io/tokenizer.h"
#include "io/tokenizer_added_tokens.h"
#include "io/tokenizer_bpe.h"
#include "io/tokenizer_components.h"

namespace glint {

struct Tokenizer::Impl {
  std::unique_ptr<tokenizer_detail::BpeModel> model;
  std::unique_ptr<tokenizer_detail::Normalizer> normalizer;
  std::unique_ptr<tokenizer_detail::PreTokenizer> pre_tokenizer;
  std::unique_ptr<tokenizer_detail::PostProcessor> post_processor;
  std::unique_ptr<tokenizer_detail::Decoder> decoder;

  std::vector<tokenizer_detail::AddedToken> added_tokens;  // unique by id
  std::unordered_map<int32_t, size_t> added_by_id;         // id -> index in added_tokens
  tokenizer_detail::TokenMap added_by_content;             // content -> id
  std::unordered_set<std::string> special_contents;
  tokenizer_detail::AddedTokenMatcher raw_matcher;         // tokens with normalized=false
  tokenizer_detail::AddedTokenMatcher normalized_matcher;  // tokens with normalized=true (normalized content)

  int32_t vocab_size = 0;
  int32_t id_limit = 0;  // every valid id is below this
  std::optional<int32_t> bos;

  // Encoding in two stages, each independent per piece, so that a large input can be split into groups of
  // pieces and the groups encoded on several threads: text pieces (added tokens already cut out) -> normalized,
  // with normalized added tokens cut out, and pre-tokenized; then pieces -> model ids appended to `ids`.
  tokenizer_detail::Pieces normalized(tokenizer_detail::Pieces raw) const;  // + normalized added tokens cut out
  tokenizer_detail::Pieces pre_tokenized(tokenizer_detail::Pieces raw) const;
  void append_model_ids(const tokenizer_detail::Pieces& pieces, std::vector<int32_t>& ids) const;
  // Both stages at once when the pre-tokenizer can stream (Llama 3): each piece goes to the model as the
  // pre-tokenizer makes it, so no piece list is built. Same ids as the two stages.
  void append_streamed_ids(tokenizer_detail::Pieces raw, std::vector<int32_t>& ids) const;
  // The same on the thread pool: text pieces are cut where the pre-tokenizer allows (stream_cut) into parts of
  // about `part_bytes`, which stream on their own; their ids are joined in order.
  void append_streamed_ids_in_parts(tokenizer_detail::Pieces raw, size_t part_bytes, std::vector<int32_t>& ids) const;

  // The string decode() feeds to the decoder for `id`, or nullptr when the id is unassigned.
  const std::string* token_for_decode(int32_t id) const;
  bool is_special_content(const std::string& token) const { return special_contents.count(token) > 0; }
  std::vector<std::string> tokens_for_decode(std::span<const int32_t> ids, bool skip_special_tokens) const;
  std::string run_decoder(std::vector<std::string> tokens) const;
};

}  // namespace glint
