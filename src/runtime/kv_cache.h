// Per-sequence key/value cache. Full-attention layers keep every position; sliding-window and chunked
// layers keep a ring sized to what a query can still see plus one forward chunk, so their memory is
// bounded by the window, not the context. Layers that read another layer's K/V own nothing.
#pragma once
#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

#include "ops/attention.h"

namespace glint {

struct ModelPlan;

class LayerKVCache {
 public:
  // ring_capacity 0: grows without bound (full attention).
  LayerKVCache(int n_kv_heads, int head_dim, int64_t ring_capacity);
  // Appends rows k[t], v[t] ([tokens, n_kv_heads, head_dim]) at the given absolute positions.
  void append(const float* k, const float* v, const int64_t* positions, int64_t tokens);
  ops::KeyValueView view() const;
  int64_t rows() const { return rows_; }
  size_t bytes() const { return (k_.capacity() + v_.capacity()) * sizeof(float) + positions_.capacity() * 8; }
  void clear() { rows_ = 0; next_ = 0; }
  // Drops positions >= length. Rows are appended in position order, so those are the newest rows; a ring
  // rewinds its write index over them so that later appends reuse their slots first.
  void truncate(int64_t length);
  // Whether, after truncate(length), the ring still holds the window of a query at `length`: the
  // `ring_capacity − chunk_tokens` positions before it (a ring forgets its oldest rows as it turns).
  bool keeps_window_after_truncate(int64_t length, int64_t chunk_tokens) const;

 private:
  int64_t row_elems_;
  int64_t ring_capacity_;
  int64_t rows_ = 0;  // valid rows
  int64_t next_ = 0;  // ring write index
  std::vector<float> k_, v_;
  std::vector<int64_t> positions_;
};

// A sequence's cache kept on a device by the model's device runner: a slot in the runner's per-layer cache
// arrays, where position p lives in row p % capacity. Returned to the runner when destroyed.
class DeviceCacheSlot {
 public:
  virtual ~DeviceCacheSlot() = default;
  virtual int index() const = 0;
  virtual size_t bytes() const = 0;
};

class KVCache {
 public:
  // chunk_tokens: the most tokens one forward pass appends (rings keep window − 1 + chunk_tokens rows).
  KVCache(const ModelPlan& plan, int64_t chunk_tokens);
  // A cache held on a device: no host layers; the runner reads and writes the slot.
  KVCache(int64_t chunk_tokens, std::unique_ptr<DeviceCacheSlot> device_slot);
  KVCache(KVCache&&) = default;
  KVCache& operator=(KVCache&&) = default;
  ~KVCache();
  // Null for a device cache, and for layers that read another layer's cache.
  LayerKVCache* layer(int index) { return layers_.empty() ? nullptr : layers_[size_t(index)].get(); }
  DeviceCacheSlot* device_slot() const { return device_slot_.get(); }
  int64_t length() const { return length_; }  // tokens processed so far = next position
  void advance(int64_t tokens) {
    length_ += tokens;
    high_water_ = std::max(high_water_, length_);
  }
  int64_t chunk_tokens() const { return chunk_tokens_; }
  size_t bytes() const;
  int owning_layers() const;
  void clear();
  // Forgets every position >= length so generation can continue from there. Rings only hold the last
  // chunk_tokens positions beyond their window, so a rollback of more than that is refused (returns false,
  // cache unchanged); the caller then starts over.
  bool rollback_to(int64_t length);

 private:
  std::vector<std::unique_ptr<LayerKVCache>> layers_;  // null for layers that share another's cache
  std::unique_ptr<DeviceCacheSlot> device_slot_;
  int64_t length_ = 0;
  int64_t high_water_ = 0;  // furthest length ever reached (device rings have overwritten rows before it)
  int64_t chunk_tokens_;
};

}  // namespace glint

namespace glint {
// Bytes the cache of one sequence holds after `context` tokens (F32 K and V).
size_t kv_cache_bytes_for_context(const ModelPlan& plan, int64_t context, int64_t chunk_tokens);
}  // namespace glint
