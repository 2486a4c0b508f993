// The BPE model of tokenizer.json: vocab + ranked merges applied with a priority queue over a linked list of
// symbols (the same order of merges as the reference), byte fallback, unk fusing and a word cache.
#pragma once
#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "io/tokenizer_word_cache.h"

namespace glint::tokenizer_detail {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view text) const { return std::hash<std::string_view>{}(text); }
};
using TokenMap = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

// Vocab and merges pulled out of tokenizer.json while it is parsed, so that the 100k-500k entries never become
// a JSON DOM (which would triple load time).
struct BpeTables {
  bool captured = false;
  std::vector<std::pair<std::string, int64_t>> vocab;
  std::vector<std::pair<std::string, std::string>> merges;  // "a b" lines are split on load
  std::vector<std::string> merge_lines;                     // "a b" as written, when the file uses that form
  std::string error;                                        // first malformed entry seen
};

class BpeModel {
 public:
  // `model` is the "model" object of tokenizer.json (its vocab/merges may be in `tables` instead); throws
  // glint::Error naming what is wrong.
  explicit BpeModel(const nlohmann::json& model, BpeTables tables = {});
  BpeModel(const BpeModel&) = delete;
  BpeModel& operator=(const BpeModel&) = delete;

  // Appends the ids of one pre-token.
  void tokenize(std::string_view word, std::vector<int32_t>& out) const;
  // A hint that `word` will be tokenized soon: starts loading its word-cache slot (a likely cache miss).
  void prefetch(std::string_view word) const {
    if (word.size() <= kMaxCachedWordBytes) cache_.prefetch(WordCache::hash(word));
  }

  std::optional<int32_t> token_to_id(std::string_view token) const;
  const std::string* id_to_token(int32_t id) const;  // nullptr when the model has no such id
  size_t vocab_size() const { return vocab_.size(); }
  int32_t max_id() const { return static_cast<int32_t>(id_to_token_.size()) - 1; }

 private:
  struct MergeResult {
    uint32_t rank;
    int32_t new_id;
  };
  // Open-addressing map from a (left id, right id) pair to its merge rank. It is the hot path of BPE and its
  // size decides the speed (each probe is a likely cache miss), so a slot packs left:20 | right:20 | rank:24
  // bits into 8 bytes; the merged id comes from a rank-indexed array, read only on a hit.
  class MergeTable {
   public:
    static constexpr int32_t kMaxId = (1 << 20) - 2;  // all-ones left id marks an empty slot
    static constexpr uint32_t kMaxRank = (1u << 24) - 1;
    void reserve(size_t count);
    void insert_or_assign(int32_t left, int32_t right, uint32_t rank, int32_t new_id);
    std::optional<MergeResult> find(int32_t left, int32_t right) const {
      const uint64_t pair = pair_bits(left, right);
      for (size_t slot = hash(pair);; slot = (slot + 1) & mask_) {
        const uint64_t entry = slots_[slot];
        if ((entry >> 24) == pair) {
          const auto rank = static_cast<uint32_t>(entry & kMaxRank);
          return MergeResult{rank, new_ids_[rank]};
        }
        if (entry == kEmpty) return std::nullopt;
      }
    }

    void prefetch(int32_t left, int32_t right) const { __builtin_prefetch(&slots_[hash(pair_bits(left, right))]); }

   private:
    static constexpr uint64_t kEmpty = ~uint64_t{0};
    static uint64_t pair_bits(int32_t left, int32_t right) {
      return (static_cast<uint64_t>(left) << 20) | static_cast<uint64_t>(right);
    }
    size_t hash(uint64_t pair) const { return static_cast<size_t>((pair * 0x9E3779B97F4A7C15ull) >> shift_); }
    std::vector<uint64_t> slots_;
    std::vector<int32_t> new_ids_;  // by rank
    size_t mask_ = 0;
    int shift_ = 64;
    size_t size_ = 0;
  };
  void add_merge(const std::string& left, const std::string& right, uint32_t rank);
  void find_word_marker();
  // Where the next word of `text` starts after `begin` (text.size() when no boundary follows).
  size_t next_word_start(std::string_view text, size_t begin) const;
  void tokenize_word(std::string_view word, uint64_t word_hash, std::vector<int32_t>& out) const;
  void merge_word(std::string_view word, std::vector<int32_t>& out) const;

  TokenMap vocab_;
  std::vector<std::string> id_to_token_;
  std::vector<bool> has_id_;
  MergeTable merges_;
  std::optional<std::string> unk_token_;
  std::string continuing_subword_prefix_;
  std::string end_of_word_suffix_;
  bool fuse_unk_ = false;
  bool byte_fallback_ = false;
  bool ignore_merges_ = false;
  std::vector<int32_t> byte_fallback_ids_;  // id of "<0xAB>" per byte, -1 when absent
  // Id of each single-character token below U+10000 (-1 when absent): the first step of BPE looks up every
  // character, and an array is much cheaper than hashing strings. Unused with a prefix/suffix.
  std::vector<int32_t> bmp_char_ids_;

  // SentencePiece-style vocabularies (Gemma) start words with U+2581 and their pre-tokenizer leaves whole
  // lines as one pre-token. BPE may still be run word by word when no token can join a word's last character
  // to the next word's marker: a merge across that point would make a token containing "c\u2581", so none
  // happens, and the merges on either side never interact (same tokens, same order). Word-sized pieces keep
  // the merge queue short and hit the word cache. `word_marker_` is empty when this does not apply.
  std::string word_marker_;
  std::vector<bool> joins_marker_;  // BMP characters some token has right before the marker

  static constexpr size_t kCacheCapacity = 100000;
  static constexpr size_t kMaxCachedWordBytes = 256;
  mutable WordCache cache_{kCacheCapacity};
};

}  // namespace glint::tokenizer_detail
