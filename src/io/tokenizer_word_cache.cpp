#include "io/tokenizer_word_cache.h"

#include <algorithm>
#include <cstring>

namespace glint::tokenizer_detail {

WordCache::WordCache(size_t max_entries) : max_entries_(max_entries) {
  size_t capacity = 64;
  while (capacity < max_entries * 2) capacity *= 2;  // load factor at most one half
  slots_ = std::make_unique<std::atomic<uint64_t>[]>(capacity);
  for (size_t i = 0; i < capacity; ++i) slots_[i].store(0, std::memory_order_relaxed);
  mask_ = capacity - 1;
}

uint64_t WordCache::hash(std::string_view word) {
  constexpr uint64_t kMultiplier = 0xFF51AFD7ED558CCDull;
  uint64_t h = 0x9E3779B97F4A7C15ull ^ word.size();
  size_t pos = 0;
  for (; pos + 8 <= word.size(); pos += 8) {
    uint64_t chunk;
    std::memcpy(&chunk, word.data() + pos, 8);
    h = (h ^ chunk) * kMultiplier;
    h ^= h >> 32;
  }
  if (pos < word.size()) {
    uint64_t chunk = 0;
    std::memcpy(&chunk, word.data() + pos, word.size() - pos);
    h = (h ^ chunk) * kMultiplier;
  }
  h ^= h >> 33;
  h *= 0xC4CEB9FE1A85EC53ull;
  return h ^ (h >> 29);
}

bool WordCache::append_cached(std::string_view word, uint64_t word_hash, std::vector<int32_t>& out) const {
  const uint64_t tag = word_hash >> kTagShift;
  for (size_t slot = word_hash & mask_;; slot = (slot + 1) & mask_) {
    const uint64_t value = slots_[slot].load(std::memory_order_acquire);
    if (value == 0) return false;
    if ((value >> kTagShift) != tag) continue;
    const auto* entry = reinterpret_cast<const Entry*>(value & kAddressMask);
    if (entry->word_bytes == word.size() && std::memcmp(entry->word(), word.data(), word.size()) == 0) {
      out.insert(out.end(), entry->ids(), entry->ids() + entry->id_count);
      return true;
    }
  }
}

WordCache::Entry* WordCache::allocate(size_t bytes) {
  bytes = (bytes + 7) & ~size_t{7};
  if (block_used_ + bytes > kBlockBytes) {
    blocks_.push_back(std::make_unique<std::byte[]>(std::max(bytes, kBlockBytes)));
    block_used_ = 0;
  }
  auto* entry = reinterpret_cast<Entry*>(blocks_.back().get() + block_used_);
  block_used_ += bytes;
  return entry;
}

void WordCache::insert(std::string_view word, uint64_t word_hash, std::span<const int32_t> ids) {
  std::lock_guard lock(insert_mutex_);
  if (entry_count_ >= max_entries_) return;
  const uint64_t tag = word_hash >> kTagShift;
  size_t slot = word_hash & mask_;
  for (;; slot = (slot + 1) & mask_) {
    const uint64_t value = slots_[slot].load(std::memory_order_relaxed);
    if (value == 0) break;
    const auto* entry = reinterpret_cast<const Entry*>(value & kAddressMask);
    if ((value >> kTagShift) == tag && entry->word_bytes == word.size() &&
        std::memcmp(entry->word(), word.data(), word.size()) == 0) {
      return;  // another thread cached it first
    }
  }
  const size_t bytes = sizeof(Entry) + ids.size() * sizeof(int32_t) + word.size();
  Entry* entry = allocate(bytes);
  entry->word_bytes = static_cast<uint32_t>(word.size());
  entry->id_count = static_cast<uint32_t>(ids.size());
  std::memcpy(const_cast<int32_t*>(entry->ids()), ids.data(), ids.size() * sizeof(int32_t));
  std::memcpy(const_cast<char*>(entry->word()), word.data(), word.size());
  const auto address = reinterpret_cast<uint64_t>(entry);
  if ((address & ~kAddressMask) != 0) return;  // no room for the tag (not on x86-64 / AArch64 user space)
  slots_[slot].store((tag << kTagShift) | address, std::memory_order_release);
  ++entry_count_;
}

}  // namespace glint::tokenizer_detail
