// KV cache: ring overwrite order, memory bounded by window + chunk for sliding/chunked layers, full
// layers that grow, shared layers that own nothing, and rollback; attention over what a ring keeps must
// equal attention over the whole history.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <random>
#include <vector>

#include "core/error.h"
#include "models/layer_plan.h"
#include "runtime/kv_cache.h"

namespace glint {
namespace {

constexpr int kHeads = 2, kDim = 3;
constexpr int64_t kRow = int64_t(kHeads) * kDim;

// K of position p is p·10 + element, V its negative: each row says which position it holds.
std::vector<float> rows_for(const std::vector<int64_t>& positions, float sign) {
  std::vector<float> out;
  for (int64_t p : positions)
    for (int64_t e = 0; e < kRow; ++e) out.push_back(sign * float(p * 10 + e));
  return out;
}

void append(LayerKVCache& cache, int64_t first, int64_t count) {
  std::vector<int64_t> positions;
  for (int64_t i = 0; i < count; ++i) positions.push_back(first + i);
  const auto k = rows_for(positions, 1), v = rows_for(positions, -1);
  cache.append(k.data(), v.data(), positions.data(), count);
}

// Positions in the view, slot by slot; checks each slot's K/V rows belong to its position.
std::vector<int64_t> slots(const LayerKVCache& cache) {
  const auto view = cache.view();
  std::vector<int64_t> out;
  for (int64_t i = 0; i < view.n; ++i) {
    out.push_back(view.positions[i]);
    if (view.positions[i] > (int64_t(1) << 40)) continue;  // a dropped slot
    for (int64_t e = 0; e < kRow; ++e) {
      EXPECT_EQ(view.k[i * kRow + e], float(view.positions[i] * 10 + e)) << "slot " << i;
      EXPECT_EQ(view.v[i * kRow + e], -float(view.positions[i] * 10 + e)) << "slot " << i;
    }
  }
  return out;
}

TEST(LayerKVCache, RingOverwritesTheOldestSlotsInOrder) {
  LayerKVCache ring(kHeads, kDim, 5);
  append(ring, 0, 3);
  EXPECT_EQ(slots(ring), (std::vector<int64_t>{0, 1, 2}));
  append(ring, 3, 4);  // 3, 4 fill the ring; 5, 6 replace 0, 1
  EXPECT_EQ(slots(ring), (std::vector<int64_t>{5, 6, 2, 3, 4}));
  append(ring, 7, 1);
  EXPECT_EQ(slots(ring), (std::vector<int64_t>{5, 6, 7, 3, 4}));
  append(ring, 8, 5);  // a full turn
  EXPECT_EQ(slots(ring), (std::vector<int64_t>{10, 11, 12, 8, 9}));
  EXPECT_EQ(ring.rows(), 5);
}

TEST(LayerKVCache, RingRefusesMoreTokensThanItHoldsInOnePass) {
  LayerKVCache ring(kHeads, kDim, 4);
  try {
    append(ring, 0, 5);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("4 rows"), std::string::npos) << e.what();
  }
}

TEST(LayerKVCache, FullLayerGrowsAndKeepsEveryPosition) {
  LayerKVCache full(kHeads, kDim, 0);
  EXPECT_EQ(full.view().n, 0);
  size_t previous = full.bytes();
  for (int64_t p = 0; p < 50; p += 5) {
    append(full, p, 5);
    EXPECT_GE(full.bytes(), size_t(p + 5) * kRow * 2 * sizeof(float));
    EXPECT_GE(full.bytes(), previous);
    previous = full.bytes();
  }
  const auto s = slots(full);
  ASSERT_EQ(s.size(), 50u);
  for (int64_t p = 0; p < 50; ++p) EXPECT_EQ(s[size_t(p)], p);
  full.truncate(20);
  EXPECT_EQ(full.rows(), 20);
  append(full, 20, 2);
  EXPECT_EQ(slots(full).back(), 21);
  full.clear();
  EXPECT_EQ(full.view().n, 0);
}

// A plan of `types` (S = sliding, C = chunked, F = full) with optional sharing: owner[i] = layer whose
// cache layer i reads.
ModelPlan make_plan(const std::string& types, int64_t window, std::vector<int> owner = {},
                    std::map<int, int64_t> windows = {}) {
  ModelPlan plan;
  for (size_t i = 0; i < types.size(); ++i) {
    LayerPlan l;
    l.attention.mask = types[i] == 'S' ? MaskKind::Sliding : types[i] == 'C' ? MaskKind::Chunked : MaskKind::Causal;
    l.attention.window = types[i] == 'F' ? 0 : (windows.count(int(i)) ? windows[int(i)] : window);
    l.attention.n_heads = 4;
    l.attention.n_kv_heads = kHeads;
    l.attention.head_dim = kDim;
    l.attention.kv_owner = owner.empty() ? int(i) : owner[i];
    plan.layers.push_back(l);
  }
  return plan;
}

TEST(KVCache, SlidingAndChunkedMemoryIsBoundedByWindowPlusChunkFullLayersGrow) {
  const int64_t window = 6, chunk = 4;
  const ModelPlan plan = make_plan("SCF", window);
  KVCache cache(plan, chunk);
  EXPECT_EQ(cache.owning_layers(), 3);
  size_t ring_bytes = 0;
  for (int64_t start = 0; start < 400; start += chunk) {
    for (int i = 0; i < 3; ++i) append(*cache.layer(i), start, chunk);
    cache.advance(chunk);
    if (start == 40) ring_bytes = cache.layer(0)->bytes() + cache.layer(1)->bytes();
  }
  EXPECT_EQ(cache.length(), 400);
  for (int i : {0, 1}) {
    EXPECT_EQ(cache.layer(i)->view().n, window - 1 + chunk) << i;
    // Rows of K and V plus one position each.
    EXPECT_EQ(cache.layer(i)->bytes(), size_t(window - 1 + chunk) * (2 * kRow * sizeof(float) + sizeof(int64_t)));
  }
  EXPECT_EQ(cache.layer(0)->bytes() + cache.layer(1)->bytes(), ring_bytes);
  EXPECT_EQ(cache.layer(2)->view().n, 400);
  EXPECT_GE(cache.layer(2)->bytes(), size_t(400) * 2 * kRow * sizeof(float));

  // The estimate used for --context planning agrees with the allocation.
  const size_t row = 2 * kRow * sizeof(float) + sizeof(int64_t);
  EXPECT_EQ(kv_cache_bytes_for_context(plan, 400, chunk), 2 * size_t(window - 1 + chunk) * row + 400 * row);
  EXPECT_EQ(kv_cache_bytes_for_context(plan, 3, chunk), 3 * 3 * row);  // short context: rings not yet full
}

TEST(KVCache, SharedLayersOwnNothingAndOwnersServeTheirWidestReader) {
  // Layers 2 and 3 read layer 0's cache; layer 4 reads layer 1's.
  const ModelPlan plan = make_plan("SFSSF", 4, {0, 1, 0, 0, 1}, {{3, 10}});
  KVCache cache(plan, 5);
  EXPECT_EQ(cache.owning_layers(), 2);
  for (int i : {2, 3, 4}) EXPECT_EQ(cache.layer(i), nullptr) << i;
  // Owner 0 has window 4 but serves a reader with window 10.
  for (int64_t p = 0; p < 100; p += 5) append(*cache.layer(0), p, 5);
  EXPECT_EQ(cache.layer(0)->view().n, 10 - 1 + 5);
  // A sliding owner read by a full-attention layer must keep everything.
  const ModelPlan mixed = make_plan("SF", 4, {0, 0});
  KVCache grows(mixed, 5);
  for (int64_t p = 0; p < 100; p += 5) append(*grows.layer(0), p, 5);
  EXPECT_EQ(grows.layer(0)->view().n, 100);
  EXPECT_EQ(grows.layer(1), nullptr);
  EXPECT_THROW(KVCache(plan, 0), Error);
}

// Attention of queries at `positions` against a view must equal attention against the full history of
// every position before them (with the layer's mask).
void expect_attention_sees_full_history(const LayerKVCache& ring, MaskKind mask, int64_t window,
                                        const std::vector<int64_t>& positions, const std::vector<float>& history_k,
                                        const std::vector<float>& history_v, const std::string& label) {
  ops::AttentionParams p;
  p.n_heads = 4;
  p.n_kv_heads = kHeads;
  p.head_dim = kDim;
  p.scale = 0.5f;
  p.mask = mask;
  p.window = window;
  const int64_t tokens = int64_t(positions.size());
  std::mt19937 rng(uint32_t(positions[0] * 7 + 1));
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<float> q(size_t(tokens * p.n_heads * kDim));
  for (auto& x : q) x = u(rng);
  std::vector<float> got(q.size()), expected(q.size());
  ops::attention(q.data(), positions.data(), tokens, ring.view(), p, got.data());
  const int64_t n = positions.back() + 1;
  std::vector<int64_t> all(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) all[size_t(i)] = i;
  ops::attention(q.data(), positions.data(), tokens,
                 ops::KeyValueView{history_k.data(), history_v.data(), all.data(), n}, p, expected.data());
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_NEAR(got[i], expected[i], 1e-5) << label << " query position " << positions[0] << " element " << i;
}

struct History {
  std::vector<float> k, v;
  std::mt19937 rng{3};
  // Appends random rows for positions [first, first + count) to the ring and to the history, replacing any
  // rows the history already had from `first` on (after a rollback).
  std::vector<int64_t> add(LayerKVCache& ring, int64_t first, int64_t count) {
    k.resize(size_t(first * kRow));
    v.resize(size_t(first * kRow));
    std::uniform_real_distribution<float> u(-1, 1);
    std::vector<int64_t> positions;
    for (int64_t i = 0; i < count; ++i) positions.push_back(first + i);
    std::vector<float> nk(size_t(count * kRow)), nv(nk.size());
    for (auto& x : nk) x = u(rng);
    for (auto& x : nv) x = u(rng);
    ring.append(nk.data(), nv.data(), positions.data(), count);
    k.insert(k.end(), nk.begin(), nk.end());
    v.insert(v.end(), nv.begin(), nv.end());
    return positions;
  }
};

TEST(KVCache, RingKeepsEverythingAQueryCanSee) {
  for (MaskKind mask : {MaskKind::Sliding, MaskKind::Chunked}) {
    for (int64_t window : {1, 3, 8}) {
      for (int64_t chunk : {1, 2, 5}) {
        const ModelPlan plan = make_plan(mask == MaskKind::Sliding ? "S" : "C", window);
        KVCache cache(plan, chunk);
        History history;
        int64_t pos = 0, pass = 0;
        while (pos < 60) {
          const int64_t count = 1 + (pass++ * 7) % chunk;  // passes of every size up to chunk
          const auto positions = history.add(*cache.layer(0), pos, count);
          cache.advance(count);
          expect_attention_sees_full_history(*cache.layer(0), mask, window, positions, history.k, history.v,
                                             "window " + std::to_string(window) + " chunk " + std::to_string(chunk));
          pos += count;
        }
      }
    }
  }
}

TEST(KVCache, RollbackThenContinueMatchesTheFullHistory) {
  const int64_t window = 4, chunk = 4;
  const ModelPlan plan = make_plan("SF", window);
  KVCache cache(plan, chunk);
  History sliding, full;
  auto step = [&](int64_t count) {
    const int64_t first = cache.length();
    const auto positions = sliding.add(*cache.layer(0), first, count);
    full.add(*cache.layer(1), first, count);
    cache.advance(count);
    expect_attention_sees_full_history(*cache.layer(0), MaskKind::Sliding, window, positions, sliding.k, sliding.v,
                                       "sliding");
    expect_attention_sees_full_history(*cache.layer(1), MaskKind::Causal, 0, positions, full.k, full.v, "full");
  };
  for (int i = 0; i < 5; ++i) step(2);  // length 10
  EXPECT_FALSE(cache.rollback_to(5));   // 5 back is more than one chunk: refused, unchanged
  EXPECT_EQ(cache.length(), 10);
  EXPECT_FALSE(cache.rollback_to(11));
  EXPECT_TRUE(cache.rollback_to(10));
  EXPECT_TRUE(cache.rollback_to(7));
  EXPECT_EQ(cache.length(), 7);
  EXPECT_EQ(cache.layer(1)->rows(), 7);
  step(1);  // position 7 again, with new values
  // Rolling back over a slot that an earlier rollback already dropped must not rewind further.
  EXPECT_TRUE(cache.rollback_to(7));
  step(3);
  step(2);
  EXPECT_TRUE(cache.rollback_to(10));
  step(4);
  step(1);
  EXPECT_THROW(cache.rollback_to(-1), Error);
}

TEST(KVCache, RollbacksInARowCannotReachPastWhatTheRingKept) {
  // Each rollback is within one chunk, but together they go back further than the ring reaches: the
  // second one must be refused (or leave a cache that still attends correctly).
  const int64_t window = 4, chunk = 3;
  const ModelPlan plan = make_plan("S", window);
  KVCache cache(plan, chunk);
  History history;
  for (int i = 0; i < 6; ++i) {
    history.add(*cache.layer(0), cache.length(), 3);
    cache.advance(3);
  }  // length 18; the ring keeps positions 12..17
  ASSERT_TRUE(cache.rollback_to(16));
  if (cache.rollback_to(14)) {
    const auto positions = history.add(*cache.layer(0), 14, 1);
    cache.advance(1);
    expect_attention_sees_full_history(*cache.layer(0), MaskKind::Sliding, window, positions, history.k,
                                       history.v, "after two rollbacks");
  }
  if (cache.rollback_to(cache.length() - 2)) {
    const int64_t first = cache.length();
    const auto positions = history.add(*cache.layer(0), first, 2);
    cache.advance(2);
    expect_attention_sees_full_history(*cache.layer(0), MaskKind::Sliding, window, positions, history.k,
                                       history.v, "after three rollbacks");
  }
}

// A device cache keeps position p in ring row p % capacity with capacity = window − 1 + chunk, so row p is
// overwritten once the sequence has reached p + capacity: a rollback may reach back at most one chunk from the
// furthest length ever reached, not only from the current one.
class FakeDeviceSlot final : public DeviceCacheSlot {
 public:
  int index() const override { return 3; }
  size_t bytes() const override { return 1234; }
};

TEST(KVCache, DeviceCacheRollbackIsBoundedByTheFurthestLengthReached) {
  KVCache cache(4, std::make_unique<FakeDeviceSlot>());
  ASSERT_NE(cache.device_slot(), nullptr);
  EXPECT_EQ(cache.device_slot()->index(), 3);
  EXPECT_EQ(cache.bytes(), 1234u);
  EXPECT_EQ(cache.layer(0), nullptr);  // no host rows
  cache.advance(10);
  EXPECT_FALSE(cache.rollback_to(5));  // 5 back: more than a chunk
  EXPECT_EQ(cache.length(), 10);
  EXPECT_TRUE(cache.rollback_to(7));
  EXPECT_EQ(cache.length(), 7);
  // Reached 10 before: rolling further back than 10 − 4 = 6 would need rows that 10's writes replaced.
  EXPECT_TRUE(cache.rollback_to(6));
  EXPECT_FALSE(cache.rollback_to(5));
  cache.advance(8);  // now at 14, the furthest so far
  EXPECT_FALSE(cache.rollback_to(9));
  EXPECT_TRUE(cache.rollback_to(10));
  EXPECT_FALSE(cache.rollback_to(11));  // forward is not a rollback
  cache.clear();
  EXPECT_EQ(cache.length(), 0);
  cache.advance(3);
  EXPECT_TRUE(cache.rollback_to(0));  // the furthest length was reset with the contents
}

TEST(KVCache, ClearForgetsEverything) {
  const ModelPlan plan = make_plan("SF", 3);
  KVCache cache(plan, 2);
  append(*cache.layer(0), 0, 2);
  append(*cache.layer(1), 0, 2);
  cache.advance(2);
  cache.clear();
  EXPECT_EQ(cache.length(), 0);
  EXPECT_EQ(cache.layer(0)->view().n, 0);
  EXPECT_EQ(cache.layer(1)->view().n, 0);
  append(*cache.layer(0), 0, 1);
  EXPECT_EQ(slots(*cache.layer(0)), (std::vector<int64_t>{0}));
}

}  // namespace
}  // namespace glint
