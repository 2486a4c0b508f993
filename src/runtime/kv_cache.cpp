#include "runtime/kv_cache.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "models/layer_plan.h"

namespace glint {
namespace {
// Position given to a slot a rollback dropped: no query can see it until an append reuses the slot.
constexpr int64_t kDroppedPosition = INT64_MAX / 2;
}  // namespace

LayerKVCache::LayerKVCache(int n_kv_heads, int head_dim, int64_t ring_capacity)
    : row_elems_(int64_t(n_kv_heads) * head_dim), ring_capacity_(ring_capacity) {
  if (ring_capacity_ > 0) {
    k_.assign(size_t(ring_capacity_ * row_elems_), 0.0f);
    v_.assign(size_t(ring_capacity_ * row_elems_), 0.0f);
    positions_.assign(size_t(ring_capacity_), 0);
  }
}

void LayerKVCache::append(const float* k, const float* v, const int64_t* positions, int64_t tokens) {
  const size_t row_bytes = size_t(row_elems_) * sizeof(float);
  if (ring_capacity_ == 0) {
    k_.resize(size_t((rows_ + tokens) * row_elems_));
    v_.resize(size_t((rows_ + tokens) * row_elems_));
    positions_.resize(size_t(rows_ + tokens));
    std::memcpy(k_.data() + rows_ * row_elems_, k, row_bytes * size_t(tokens));
    std::memcpy(v_.data() + rows_ * row_elems_, v, row_bytes * size_t(tokens));
    std::memcpy(positions_.data() + rows_, positions, size_t(tokens) * 8);
    rows_ += tokens;
    return;
  }
  GLINT_CHECK(tokens <= ring_capacity_, "KV ring of ", ring_capacity_, " rows cannot take ", tokens,
              " tokens in one pass");
  for (int64_t t = 0; t < tokens; ++t) {
    std::memcpy(k_.data() + next_ * row_elems_, k + t * row_elems_, row_bytes);
    std::memcpy(v_.data() + next_ * row_elems_, v + t * row_elems_, row_bytes);
    positions_[size_t(next_)] = positions[t];
    rows_ = std::max(rows_, next_ + 1);  // slots [0, rows_) have been written at least once
    next_ = (next_ + 1) % ring_capacity_;
  }
}

ops::KeyValueView LayerKVCache::view() const { return {k_.data(), v_.data(), positions_.data(), rows_}; }

void LayerKVCache::truncate(int64_t length) {
  if (ring_capacity_ == 0) {
    rows_ = std::min(rows_, length);
    return;
  }
  // Slots stay in the view (valid ones are not a prefix of a wrapped ring); dropped ones get a position no
  // query can see until an append reuses them.
  // Slots an earlier rollback dropped (and no append reused) are not counted again: the write index was
  // already rewound over them.
  int64_t dropped = 0;
  for (int64_t i = 0; i < rows_; ++i)
    if (positions_[size_t(i)] >= length && positions_[size_t(i)] != kDroppedPosition) {
      positions_[size_t(i)] = kDroppedPosition;
      ++dropped;
    }
  next_ = (next_ - dropped % ring_capacity_ + ring_capacity_) % ring_capacity_;
}

bool LayerKVCache::keeps_window_after_truncate(int64_t length, int64_t chunk_tokens) const {
  if (ring_capacity_ == 0 || rows_ < ring_capacity_) return true;  // nothing forgotten yet
  int64_t oldest = kDroppedPosition;
  for (int64_t i = 0; i < rows_; ++i) oldest = std::min(oldest, positions_[size_t(i)]);
  return oldest <= std::max<int64_t>(0, length - (ring_capacity_ - chunk_tokens));
}

KVCache::KVCache(const ModelPlan& plan, int64_t chunk_tokens) : chunk_tokens_(chunk_tokens) {
  GLINT_CHECK(chunk_tokens > 0, "KV cache chunk must be positive");
  layers_.resize(plan.layers.size());
  for (size_t i = 0; i < plan.layers.size(); ++i) {
    if (!plan.owns_cache(int(i))) continue;
    // Shared layers read their owner's cache, so the owner's ring must serve the widest reader.
    const auto& a = plan.layers[i].attention;
    int64_t ring = 0;
    if (a.mask != ops::MaskKind::Causal) {
      int64_t window = a.window;
      for (const auto& other : plan.layers)
        if (other.attention.kv_owner == int(i)) {
          if (other.attention.mask == ops::MaskKind::Causal) window = 0;
          if (window) window = std::max(window, other.attention.window);
        }
      ring = window ? window - 1 + chunk_tokens : 0;
    }
    layers_[i] = std::make_unique<LayerKVCache>(a.n_kv_heads, a.head_dim, ring);
  }
}

KVCache::KVCache(int64_t chunk_tokens, std::unique_ptr<DeviceCacheSlot> device_slot)
    : device_slot_(std::move(device_slot)), chunk_tokens_(chunk_tokens) {
  GLINT_CHECK(chunk_tokens > 0, "KV cache chunk must be positive");
}

KVCache::~KVCache() = default;

size_t KVCache::bytes() const {
  if (device_slot_) return device_slot_->bytes();
  size_t total = 0;
  for (auto& l : layers_)
    if (l) total += l->bytes();
  return total;
}

int KVCache::owning_layers() const {
  if (device_slot_) return 0;
  return int(std::count_if(layers_.begin(), layers_.end(), [](auto& l) { return l != nullptr; }));
}

bool KVCache::rollback_to(int64_t length) {
  GLINT_CHECK(length >= 0, "rollback to a negative length");
  if (length >= length_) return length == length_;
  if (length_ - length > chunk_tokens_) return false;
  if (device_slot_) {
    // Ring row p % capacity was overwritten by p + capacity whenever the sequence once reached that far.
    if (high_water_ - length > chunk_tokens_) return false;
    length_ = length;
    return true;
  }
  // Rollbacks in a row can together reach back further than one chunk.
  for (auto& l : layers_)
    if (l && !l->keeps_window_after_truncate(length, chunk_tokens_)) return false;
  for (auto& l : layers_)
    if (l) l->truncate(length);
  length_ = length;
  return true;
}

void KVCache::clear() {
  for (auto& l : layers_)
    if (l) l->clear();
  length_ = 0;
  high_water_ = 0;
}

}  // namespace glint

namespace glint {
size_t kv_cache_bytes_for_context(const ModelPlan& plan, int64_t context, int64_t chunk_tokens) {
  KVCache shape(plan, chunk_tokens);  // rings are allocated up front, full layers grow
  size_t total = 0;
  for (size_t i = 0; i < plan.layers.size(); ++i) {
    LayerKVCache* layer = shape.layer(int(i));
    if (!layer) continue;
    const auto& a = plan.layers[i].attention;
    const size_t row = size_t(a.n_kv_heads) * size_t(a.head_dim) * 2 * sizeof(float) + sizeof(int64_t);
    total += layer->bytes() > 0 ? std::min(layer->bytes(), size_t(context) * row) : size_t(context) * row;
  }
  return total;
}
}  // namespace glint
