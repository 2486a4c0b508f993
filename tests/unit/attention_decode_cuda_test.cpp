// attention_decode_fused against the separate path it replaces (qkv_rope_cache_write with write_kv, then
// attention_decode), on random projected rows and caches: the outputs and both caches after each call must agree,
// over consecutive steps (each reads the rows the step before wrote, and the merge counters must be back at zero)
// and through a CUDA graph replayed at advancing positions. Fused outputs and workspace are poisoned with NaN before
// every call, so an unwritten element or a partial read before it was written shows.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "core/cuda_runtime.h"
#include "core/dtype.h"
#include "core/error.h"
#include "gpu_test_util.h"
#include "ops/attention.h"
#include "ops/attention_cuda.h"
#include "ops/cuda_ops.h"
#include "ops/rms_norm.h"
#include "ops/rope.h"

namespace glint::ops::cuda {
namespace {

using glint::cuda::DeviceBuffer;
using test::download;

struct Case {
  std::string name;
  DType dtype = DType::BF16;
  int n_heads = 8, n_kv_heads = 4, head_dim = 256;
  MaskKind mask = MaskKind::Causal;
  int64_t window = 0;
  float softcap = 0.0f;
  bool rope = true;
  RopeStyle rope_style = RopeStyle::RotateHalf;
  float rope_factor = 1.0f;
  NormKind q_norm = NormKind::Rms, k_norm = NormKind::Rms;
  bool v_norm = false;
  std::vector<int32_t> slots, positions;  // of the first step; later steps advance every position by one
};

std::vector<float> uniform(size_t n, float scale, std::mt19937& rng) {
  std::uniform_real_distribution<float> u(-scale, scale);
  std::vector<float> v(n);
  for (float& x : v) x = u(rng);
  return v;
}

DeviceBuffer upload_ints(const std::vector<int32_t>& values) {
  DeviceBuffer buffer(values.size() * sizeof(int32_t));
  GLINT_CUDA_CHECK(cudaMemcpy(buffer.get(), values.data(), buffer.bytes(), cudaMemcpyHostToDevice));
  return buffer;
}

// Element-wise agreement: within float rounding for F32 and a bf16 unit in the last place for BF16 (both paths do
// the same operations in the same order, so most elements agree exactly); NaN only where the reference has NaN.
void expect_match(const std::vector<float>& fused, const std::vector<float>& separate, DType dtype,
                  const std::string& what) {
  ASSERT_EQ(fused.size(), separate.size());
  size_t unwritten = 0, differing = 0, first_bad = 0;
  for (size_t i = 0; i < fused.size(); ++i) {
    bool bad = false;
    if (std::isnan(fused[i]) || std::isnan(separate[i])) {
      bad = std::isnan(fused[i]) != std::isnan(separate[i]);
      unwritten += bad;
    } else {
      const float ref = std::abs(separate[i]);
      const float ulp = dtype == DType::BF16 ? (ref > 0 ? std::ldexp(1.0f, std::ilogb(ref) - 7) : 0.0f)
                                             : 1e-5f * ref;
      bad = std::abs(fused[i] - separate[i]) > ulp + 1e-6f;
      differing += bad;
    }
    if (bad && unwritten + differing == 1) first_bad = i;
  }
  EXPECT_EQ(unwritten, 0u) << what << ": NaN in one path only, first at " << first_bad;
  EXPECT_EQ(differing, 0u) << what << ": elements apart, first at " << first_bad << ": fused " << fused[first_bad]
                           << ", separate " << separate[first_bad];
}

// Both paths on their own copies of one random cache, fed the same projected rows, run at advancing positions and
// compared after every step.
class Harness {
 public:
  explicit Harness(const Case& c) : c_(c), batch_(int(c.slots.size())) {
    GLINT_CUDA_CHECK(cudaStreamCreate(&stream_));  // blocking: ordered after the uploads below
    std::mt19937 rng(uint32_t(std::hash<std::string>{}(c.name)));
    const int d = c.head_dim;
    int64_t longest = 0;
    for (int32_t p : c.positions) longest = std::max<int64_t>(longest, p);
    // Windowed layers get a ring that wraps (window − 1 + 8 rows); full ones every position of a few steps.
    capacity_ = c.mask == MaskKind::Causal ? longest + 8 : c.window - 1 + 8;
    slot_count_ = *std::max_element(c.slots.begin(), c.slots.end()) + 1;
    cache_elems_ = size_t(slot_count_ * capacity_) * c.n_kv_heads * d;
    const std::vector<float> k = uniform(cache_elems_, 1.0f, rng), v = uniform(cache_elems_, 1.0f, rng);
    for (DeviceBuffer* buffer : {&k_separate_, &k_fused_}) *buffer = test::upload(k, c.dtype);
    for (DeviceBuffer* buffer : {&v_separate_, &v_fused_}) *buffer = test::upload(v, c.dtype);
    qkv_ = test::upload(uniform(size_t(batch_) * (c.n_heads + 2 * c.n_kv_heads) * d, 2.0f, rng), DType::F32);
    q_norm_weight_ = test::upload(uniform(size_t(d), 1.0f, rng), DType::F32);
    k_norm_weight_ = test::upload(uniform(size_t(d), 1.0f, rng), DType::F32);
    const RopeTable table =
        make_rope_table({{"rope_type", "default"}, {"rope_theta", 10000.0}}, d, 4096, c.rope_style);
    inv_freq_ = test::upload(table.inv_freq, DType::F32);
    slots_ = upload_ints(c.slots);
    positions_ = upload_ints(c.positions);
    q_ = DeviceBuffer(out_elems() * dtype_size(c.dtype));
    out_separate_ = DeviceBuffer(out_elems() * dtype_size(c.dtype));
    out_fused_ = DeviceBuffer(out_elems() * dtype_size(c.dtype));
    const size_t workspace = decode_workspace_bytes(shape(), batch_, capacity_);
    workspace_separate_ = DeviceBuffer(workspace);
    workspace_fused_ = DeviceBuffer(workspace);
    counters_ = DeviceBuffer(decode_counter_count(shape(), batch_) * sizeof(unsigned));
    GLINT_CUDA_CHECK(cudaMemset(counters_.get(), 0, counters_.bytes()));
  }

  ~Harness() { cudaStreamDestroy(stream_); }
  Harness(const Harness&) = delete;
  Harness& operator=(const Harness&) = delete;

  AttentionShape shape() const {
    AttentionShape s;
    s.n_heads = c_.n_heads;
    s.n_kv_heads = c_.n_kv_heads;
    s.head_dim = c_.head_dim;
    s.scale = 4.0f / std::sqrt(float(c_.head_dim));  // sharper than 1/√d, so the softmax is far from uniform
    s.softcap = c_.softcap;
    s.mask = c_.mask;
    s.window = c_.window;
    s.dtype = c_.dtype;
    return s;
  }
  QkvLayout layout() const {
    QkvLayout l;
    l.n_heads = c_.n_heads;
    l.n_kv_heads = c_.n_kv_heads;
    l.head_dim = c_.head_dim;
    l.q_norm = c_.q_norm;
    l.k_norm = c_.k_norm;
    l.v_norm = c_.v_norm;
    l.inv_freq = c_.rope ? inv_freq_.as<float>() : nullptr;
    l.rope_style = c_.rope_style;
    l.rope_factor = c_.rope_factor;
    return l;
  }
  cudaStream_t stream() const { return stream_; }
  void set_positions(const std::vector<int32_t>& positions) {
    GLINT_CUDA_CHECK(cudaMemcpyAsync(positions_.get(), positions.data(), positions.size() * sizeof(int32_t),
                                     cudaMemcpyHostToDevice, stream()));
  }

  void run_separate() {
    qkv_rope_cache_write(layout(), qkv_.as<float>(), batch_, positions_.as<int32_t>(), slots_.as<int32_t>(),
                         q_norm_weight_.as<float>(), k_norm_weight_.as<float>(), true, q_.get(), k_separate_.get(),
                         v_separate_.get(), capacity_, c_.dtype, stream());
    attention_decode(shape(), q_.get(), batch_, slots_.as<int32_t>(), positions_.as<int32_t>(),
                     CacheView{k_separate_.get(), v_separate_.get(), capacity_}, out_separate_.get(),
                     workspace_separate_.get(), stream());
  }
  void poison_fused() {
    GLINT_CUDA_CHECK(cudaMemsetAsync(out_fused_.get(), 0xFF, out_fused_.bytes(), stream()));
    GLINT_CUDA_CHECK(cudaMemsetAsync(workspace_fused_.get(), 0xFF, workspace_fused_.bytes(), stream()));
  }
  void run_fused() {
    attention_decode_fused(shape(), layout(), qkv_.as<float>(), q_norm_weight_.as<float>(),
                           k_norm_weight_.as<float>(), batch_, slots_.as<int32_t>(), positions_.as<int32_t>(),
                           k_fused_.get(), v_fused_.get(), capacity_, out_fused_.get(), workspace_fused_.get(),
                           counters_.as<unsigned>(), stream());
  }

  void compare(const std::string& what) {
    GLINT_CUDA_CHECK(cudaStreamSynchronize(stream_));
    const std::string where = c_.name + ", " + what;
    expect_match(download(out_fused_, out_elems(), c_.dtype), download(out_separate_, out_elems(), c_.dtype),
                 c_.dtype, where + ": output");
    expect_match(download(k_fused_, cache_elems_, c_.dtype), download(k_separate_, cache_elems_, c_.dtype),
                 c_.dtype, where + ": K cache");
    expect_match(download(v_fused_, cache_elems_, c_.dtype), download(v_separate_, cache_elems_, c_.dtype),
                 c_.dtype, where + ": V cache");
    std::vector<unsigned> counters(decode_counter_count(shape(), batch_));
    GLINT_CUDA_CHECK(cudaMemcpy(counters.data(), counters_.get(), counters_.bytes(), cudaMemcpyDeviceToHost));
    EXPECT_EQ(std::count(counters.begin(), counters.end(), 0u), std::ptrdiff_t(counters.size()))
        << where << ": merge counters not back at zero";
  }

  std::vector<int32_t> advanced(int steps) const {
    std::vector<int32_t> positions = c_.positions;
    for (int32_t& p : positions) p += steps;
    return positions;
  }

  // Consecutive decode steps, each path run eagerly.
  void check_steps(int steps) {
    for (int step = 0; step < steps; ++step) {
      set_positions(advanced(step));
      run_separate();
      poison_fused();
      run_fused();
      compare(str("step ", step));
    }
  }

  // The fused call captured once and replayed as the positions advance (the separate path runs eagerly before).
  void check_graph_replays(int replays) {
    cudaGraph_t graph = nullptr;
    cudaGraphExec_t exec = nullptr;
    GLINT_CUDA_CHECK(cudaStreamBeginCapture(stream(), cudaStreamCaptureModeThreadLocal));
    run_fused();
    GLINT_CUDA_CHECK(cudaStreamEndCapture(stream(), &graph));
    GLINT_CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
    for (int replay = 0; replay < replays; ++replay) {
      set_positions(advanced(replay));
      run_separate();
      poison_fused();
      GLINT_CUDA_CHECK(cudaGraphLaunch(exec, stream()));
      compare(str("graph replay ", replay));
    }
    GLINT_CUDA_CHECK(cudaGraphExecDestroy(exec));
    GLINT_CUDA_CHECK(cudaGraphDestroy(graph));
  }

  DeviceBuffer& out_fused() { return out_fused_; }
  DeviceBuffer& out_separate() { return out_separate_; }
  size_t out_elems() const { return size_t(batch_) * c_.n_heads * c_.head_dim; }

 private:
  Case c_;
  int batch_ = 0;
  cudaStream_t stream_ = nullptr;
  int64_t capacity_ = 0, slot_count_ = 0;
  size_t cache_elems_ = 0;
  DeviceBuffer k_separate_, v_separate_, k_fused_, v_fused_, qkv_, q_norm_weight_, k_norm_weight_, inv_freq_, slots_,
      positions_, q_, out_separate_, out_fused_, workspace_separate_, workspace_fused_, counters_;
};

Case make_case(std::string name, DType dtype, int n_heads, int n_kv_heads, int head_dim, MaskKind mask,
               int64_t window, float softcap, std::vector<int32_t> slots, std::vector<int32_t> positions) {
  Case c;
  c.name = std::move(name);
  c.dtype = dtype;
  c.n_heads = n_heads;
  c.n_kv_heads = n_kv_heads;
  c.head_dim = head_dim;
  c.mask = mask;
  c.window = window;
  c.softcap = softcap;
  c.slots = std::move(slots);
  c.positions = std::move(positions);
  return c;
}

// Groups 1 to 16, every mask, softcap on and off, both RoPE styles and none, every norm kind, one split per row
// (the output written at once) and many (merged by the last block; blocks looping over several splits).
std::vector<Case> cases() {
  std::vector<Case> all;
  Case c = make_case("bf16 d256 8/1 causal", DType::BF16, 8, 1, 256, MaskKind::Causal, 0, 0.0f, {0}, {100});
  c.v_norm = true;
  all.push_back(c);

  c = make_case("bf16 d256 8/4 causal batch 5", DType::BF16, 8, 4, 256, MaskKind::Causal, 0, 0.0f, {3, 0, 4, 1, 2},
                {5, 200, 64, 0, 95});
  c.q_norm = c.k_norm = NormKind::RmsPlusOne;
  all.push_back(c);

  // A ring of 23 rows: every row but the first two has wrapped; one split per row.
  c = make_case("bf16 d256 8/4 sliding 16 softcap batch 5", DType::BF16, 8, 4, 256, MaskKind::Sliding, 16, 50.0f,
                {3, 0, 4, 1, 2}, {0, 15, 16, 40, 123});
  c.q_norm = c.k_norm = NormKind::RmsPlusOne;
  all.push_back(c);

  c = make_case("f32 d64 4/1 causal softcap interleaved batch 5", DType::F32, 4, 1, 64, MaskKind::Causal, 0, 30.0f,
                {4, 2, 0, 3, 1}, {0, 31, 32, 300, 1000});
  c.rope_style = RopeStyle::Interleaved;
  c.q_norm = c.k_norm = NormKind::RmsNoWeight;
  c.v_norm = true;
  all.push_back(c);

  // A ring of 77 rows for a window of 70: up to three splits, wrapped.
  c = make_case("f32 d256 2/1 sliding 70 no rope no norms", DType::F32, 2, 1, 256, MaskKind::Sliding, 70, 0.0f,
                {0, 1, 2, 3, 4}, {69, 70, 77, 150, 401});
  c.rope = false;
  c.q_norm = c.k_norm = NormKind::None;
  all.push_back(c);

  // 47 splits at position 1500 over fewer blocks per row (batch 5 · 4 kv heads): blocks take several splits.
  c = make_case("bf16 d64 4/4 causal long batch 5", DType::BF16, 4, 4, 64, MaskKind::Causal, 0, 0.0f,
                {4, 3, 2, 1, 0}, {1500, 0, 700, 33, 1499});
  c.rope_style = RopeStyle::Interleaved;
  c.k_norm = NormKind::RmsPlusOne;
  all.push_back(c);

  // 16 query heads per kv head: two passes over V with 8 heads each.
  c = make_case("bf16 d128 16/1 chunked 64 softcap", DType::BF16, 16, 1, 128, MaskKind::Chunked, 64, 20.0f,
                {0, 1, 2}, {63, 64, 130});
  c.rope_factor = 0.8f;
  c.v_norm = true;
  all.push_back(c);

  c = make_case("f32 d32 2/2 causal", DType::F32, 2, 2, 32, MaskKind::Causal, 0, 0.0f, {1}, {70});
  c.q_norm = c.k_norm = NormKind::RmsPlusOne;
  all.push_back(c);

  // 132 splits: the merge weights of 16 heads take two passes (128 splits each for F32).
  c = make_case("f32 d64 16/1 causal 4200", DType::F32, 16, 1, 64, MaskKind::Causal, 0, 0.0f, {0}, {4200});
  all.push_back(c);
  return all;
}

TEST(AttentionDecodeFusedCuda, MatchesSeparatePathOverSteps) {
  GLINT_REQUIRE_GPU();
  for (const Case& c : cases()) {
    Harness h(c);
    h.check_steps(2);  // the second step reads the row the first wrote, and needs the counters back at zero
  }
}

TEST(AttentionDecodeFusedCuda, ReplaysInGraph) {
  GLINT_REQUIRE_GPU();
  for (const Case& c : cases()) {
    if (c.name.rfind("bf16 d256", 0) != 0 && c.name.rfind("f32 d64 4/1", 0) != 0) continue;
    Harness h(c);
    h.check_graph_replays(3);
  }
}

// GLINT_CUDA_SIMPLE_ATTENTION=1: the separate preparation and the simple kernel, within float rounding.
TEST(AttentionDecodeFusedCuda, SimplePathMatches) {
  GLINT_REQUIRE_GPU();
  Case c = make_case("f32 d64 4/1 causal simple", DType::F32, 4, 1, 64, MaskKind::Causal, 0, 30.0f, {2, 0, 1},
                     {0, 40, 300});
  Harness h(c);
  h.run_separate();
  setenv("GLINT_CUDA_SIMPLE_ATTENTION", "1", 1);
  h.poison_fused();
  h.run_fused();
  unsetenv("GLINT_CUDA_SIMPLE_ATTENTION");
  GLINT_CUDA_CHECK(cudaStreamSynchronize(h.stream()));
  const std::vector<float> fused = download(h.out_fused(), h.out_elems(), c.dtype);
  const std::vector<float> separate = download(h.out_separate(), h.out_elems(), c.dtype);
  for (size_t i = 0; i < fused.size(); ++i)
    ASSERT_NEAR(fused[i], separate[i], 1e-5f + 1e-5f * std::abs(separate[i])) << "element " << i;
}

TEST(AttentionDecodeFusedCuda, RejectsUnsupportedInputs) {
  GLINT_REQUIRE_GPU();
  const Case base = make_case("rejects", DType::BF16, 8, 4, 64, MaskKind::Causal, 0, 0.0f, {0}, {3});
  Harness h(base);
  DeviceBuffer scratch(size_t(1) << 20), counters(64 * sizeof(unsigned));
  auto call = [&](const AttentionShape& s, const QkvLayout& l, const float* q_weight, unsigned* counter_array) {
    attention_decode_fused(s, l, scratch.as<float>(), q_weight, scratch.as<float>(), 1, scratch.as<int32_t>(),
                           scratch.as<int32_t>(), scratch.get(), scratch.get(), 16, scratch.get(), scratch.get(),
                           counter_array, h.stream());
  };
  AttentionShape s = h.shape();
  QkvLayout l = h.layout();
  s.head_dim = l.head_dim = 72;  // a multiple of 8 the separate path takes, but not of 32
  EXPECT_THROW(call(s, l, scratch.as<float>(), counters.as<unsigned>()), Error);
  s = h.shape();
  l = h.layout();
  l.n_kv_heads = 2;  // the layout and the shape disagree
  EXPECT_THROW(call(s, l, scratch.as<float>(), counters.as<unsigned>()), Error);
  s.n_heads = l.n_heads = 64;  // 32 query heads per kv head
  s.n_kv_heads = l.n_kv_heads = 2;
  EXPECT_THROW(call(s, l, scratch.as<float>(), counters.as<unsigned>()), Error);
  EXPECT_THROW(call(h.shape(), h.layout(), nullptr, counters.as<unsigned>()), Error);  // Rms q norm without weight
  EXPECT_THROW(call(h.shape(), h.layout(), scratch.as<float>(), nullptr), Error);
}

}  // namespace
}  // namespace glint::ops::cuda
