// The BPE word cache (pre-token text -> its ids). Lookups take no lock: an entry is written once, then
// published through an atomic slot and never changed, so threads that encode parts of one text in parallel
// read it without contending. Inserts take a mutex. The cache only grows, up to a fixed number of entries.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string_view>
#include <vector>

namespace glint::tokenizer_detail {

class WordCache {
 public:
  explicit WordCache(size_t max_entries);
  WordCache(const WordCache&) = delete;
  WordCache& operator=(const WordCache&) = delete;

  static uint64_t hash(std::string_view word);
  // Appends the ids cached for `word` (whose hash() is `word_hash`) to `out`; false when it is not cached.
  bool append_cached(std::string_view word, uint64_t word_hash, std::vector<int32_t>& out) const;
  // Starts loading the slot where a word of this hash would be, to be looked up a little later.
  void prefetch(uint64_t word_hash) const { __builtin_prefetch(&slots_[word_hash & mask_]); }
  // Remembers `ids` for `word` unless the cache is full (or the word is already there).
  void insert(std::string_view word, uint64_t word_hash, std::span<const int32_t> ids);

 private:
  // Stored in blocks as: header, ids, then the word's bytes.
  struct Entry {
    uint32_t word_bytes;
    uint32_t id_count;
    const int32_t* ids() const { return reinterpret_cast<const int32_t*>(this + 1); }
    const char* word() const { return reinterpret_cast<const char*>(ids() + id_count); }
  };
  // A slot holds the entry's address in its low 48 bits and 16 more bits of the hash above them (so most
  // mismatches are rejected without touching the entry); 0 is empty.
  static constexpr int kTagShift = 48;
  static constexpr uint64_t kAddressMask = (uint64_t{1} << kTagShift) - 1;
  static constexpr size_t kBlockBytes = size_t{1} << 18;

  Entry* allocate(size_t bytes);  // under insert_mutex_

  std::unique_ptr<std::atomic<uint64_t>[]> slots_;
  size_t mask_ = 0;
  size_t max_entries_ = 0;
  std::mutex insert_mutex_;
  size_t entry_count_ = 0;
  std::vector<std::unique_ptr<std::byte[]>> blocks_;
  size_t block_used_ = kBlockBytes;
};

}  // namespace glint::tokenizer_detail
