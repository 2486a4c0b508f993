// The BPE model of tokenizer.json: vocab + ranked merges applied with a priority queue over a linked list of
// symbols (the same order of merges as the reference), byte fallback, unk fusing and a word cache.
#pragma once
#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

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

  std::optional<int32_t> token_to_id(std::string_view token) const;
  const std::string* id_to_token(int32_t id) const;  // nullptr when the model has no such id
  size_t vocab_size() const { return vocab_.size(); }
  int32_t max_id() const { return static_cast<int32_t>(id_to_token_.size()) - 1; }

 private:
  struct MergeResult {
    uint32_t rank;
    int32_t new_id;
  };
  // Open-addressing map from a (left id, right id) pair to its merge: the lookup is the hot path of BPE, and
  // a flat table with linear probing is several times faster than std::unordered_map here.
  class MergeTable {
   public:
    void reserve(size_t count);
    void insert_or_assign(uint64_t key, MergeResult value);
    const MergeResult* find(uint64_t key) const {
      for (size_t slot = hash(key);; slot = (slot + 1) & mask_) {
        if (slots_[slot].key == key) return &slots_[slot].value;
        if (slots_[slot].key == kEmpty) return nullptr;
      }
    }

   private:
    static constexpr uint64_t kEmpty = ~uint64_t{0};  // ids are < 2^31, so no real pair has this key
    size_t hash(uint64_t key) const { return static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> shift_); }
    struct Slot {  // key and value side by side: one cache miss per probe
      uint64_t key;
      MergeResult value;
    };
    std::vector<Slot> slots_;
    size_t mask_ = 0;
    int shift_ = 64;
    size_t size_ = 0;
  };
  static uint64_t pair_key(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
  }
  void add_merge(const std::string& left, const std::string& right, uint32_t rank);
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

  static constexpr size_t kCacheCapacity = 100000;
  static constexpr size_t kMaxCachedWordBytes = 256;
  mutable std::shared_mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<int32_t>, StringHash, std::equal_to<>> cache_;
};

}  // namespace glint::tokenizer_detail
