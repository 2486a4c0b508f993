// GPU attention (prefill and decode) against the CPU reference ops::attention on the same data: random queries and
// cache rows (bf16-rounded where the device holds bf16), outputs pre-filled with NaN so that every element must be
// written, and the reference given exactly the rows the ring holds, with their positions.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "core/cuda_runtime.h"
#include "core/dtype.h"
#include "core/error.h"
#include "gpu_test_util.h"
#include "ops/attention.h"
#include "ops/attention_cuda.h"

namespace glint::ops::cuda {
namespace {

using glint::cuda::DeviceBuffer;

// Values in ±[0.05, 1] (never zero), rounded through bf16 when the device holds bf16. A plain xorshift keeps the
// large caches cheap to fill.
std::vector<float> random_values(size_t n, DType dtype, std::mt19937& rng) {
  uint64_t state = (uint64_t(rng()) << 32) | rng() | 1;
  std::vector<float> values(n);
  for (float& x : values) {
    state ^= state << 13, state ^= state >> 7, state ^= state << 17;
    const float magnitude = 0.05f + 0.95f * float((state >> 40) & 0xFFFFFF) / float(1 << 24);
    x = (state >> 20) & 1 ? -magnitude : magnitude;
    if (dtype == DType::BF16) x = round_to_bf16(x);
  }
  return values;
}

using test::download;
using test::nan_filled;
using test::upload;

struct Config {
  DType dtype = DType::BF16;
  int n_heads = 8, n_kv_heads = 4, head_dim = 256;
  MaskKind mask = MaskKind::Causal;
  int64_t window = 0;
  float softcap = 0.0f;

  AttentionShape shape() const {
    AttentionShape s;
    s.n_heads = n_heads;
    s.n_kv_heads = n_kv_heads;
    s.head_dim = head_dim;
    s.scale = 1.0f / std::sqrt(float(head_dim)) * 4.0f;  // sharper than 1/√d, so the softmax is far from uniform
    s.softcap = softcap;
    s.mask = mask;
    s.window = window;
    s.dtype = dtype;
    return s;
  }
  std::string describe() const {
    const char* masks[] = {"causal", "sliding", "chunked"};
    return str(dtype_name(dtype), " heads ", n_heads, "/", n_kv_heads, " dim ", head_dim, " ", masks[int(mask)],
               " window ", window, " softcap ", softcap);
  }
};

// A cache of `slots` sequences, random in every row; the ring rows of one slot and the positions they hold after
// positions 0..last were written (row r holds the latest p ≤ last with p % capacity == r).
struct Cache {
  int64_t slots = 0, capacity = 0, row_elems = 0;
  std::vector<float> k, v;
  DeviceBuffer k_device, v_device;

  Cache(const Config& c, int64_t slots_, int64_t capacity_, std::mt19937& rng)
      : slots(slots_), capacity(capacity_), row_elems(int64_t(c.n_kv_heads) * c.head_dim) {
    k = random_values(size_t(slots * capacity * row_elems), c.dtype, rng);
    v = random_values(size_t(slots * capacity * row_elems), c.dtype, rng);
    k_device = upload(k, c.dtype);
    v_device = upload(v, c.dtype);
  }
  CacheView view() const { return CacheView{k_device.get(), v_device.get(), capacity}; }

  // Reference attention of queries (positions q_positions) against `slot` after positions 0..last were written.
  std::vector<float> reference(const Config& c, const float* q, const std::vector<int64_t>& q_positions, int64_t slot,
                               int64_t last) const {
    std::vector<float> keys, values;
    std::vector<int64_t> positions;
    for (int64_t row = 0; row < capacity && row <= last; ++row) {
      const int64_t pos = row + (last - row) / capacity * capacity;
      const size_t offset = size_t((slot * capacity + row) * row_elems);
      keys.insert(keys.end(), k.begin() + offset, k.begin() + offset + row_elems);
      values.insert(values.end(), v.begin() + offset, v.begin() + offset + row_elems);
      positions.push_back(pos);
    }
    const AttentionShape s = c.shape();
    AttentionParams p;
    p.n_heads = s.n_heads;
    p.n_kv_heads = s.n_kv_heads;
    p.head_dim = s.head_dim;
    p.scale = s.scale;
    p.softcap = s.softcap;
    p.mask = s.mask;
    p.window = s.window;
    std::vector<float> out(q_positions.size() * size_t(c.n_heads) * c.head_dim);
    attention(q, q_positions.data(), int64_t(q_positions.size()),
              KeyValueView{keys.data(), values.data(), positions.data(), int64_t(positions.size())}, p, out.data());
    return out;
  }
};

void expect_close(const std::vector<float>& out, const std::vector<float>& ref, DType dtype, const std::string& what) {
  ASSERT_EQ(out.size(), ref.size());
  double diff = 0, norm = 0;
  size_t unwritten = 0;
  for (size_t i = 0; i < out.size(); ++i) {
    if (std::isnan(out[i])) {
      ++unwritten;
      continue;
    }
    diff += double(out[i] - ref[i]) * (out[i] - ref[i]);
    norm += double(ref[i]) * ref[i];
  }
  EXPECT_EQ(unwritten, 0u) << what << ": elements left NaN (unwritten)";
  const double relative = std::sqrt(diff / norm);
  EXPECT_LT(relative, dtype == DType::BF16 ? 1e-2 : 1e-5) << what;
}

// Prefill of `tokens` queries from first_position in slot 1 of 2; `ring` sizes the cache as a windowed layer
// would (window − 1 + tokens rows, so rows wrap), else as a full layer (every position, plus a spare row).
void check_prefill(const Config& c, int64_t tokens, int64_t first_position, uint32_t seed) {
  std::mt19937 rng(seed);
  const int64_t last = first_position + tokens - 1;
  const int64_t capacity = c.mask == MaskKind::Causal ? last + 2 : c.window - 1 + tokens;
  const Cache cache(c, 2, capacity, rng);
  const size_t q_elems = size_t(tokens) * c.n_heads * c.head_dim;
  const std::vector<float> q = random_values(q_elems, c.dtype, rng);
  const DeviceBuffer q_device = upload(q, c.dtype);
  DeviceBuffer out_device = nan_filled(q_elems, c.dtype);
  attention_prefill(c.shape(), q_device.get(), tokens, first_position, cache.view(), 1, out_device.get(), nullptr);
  const std::vector<float> out = download(out_device, q_elems, c.dtype);
  std::vector<int64_t> q_positions(static_cast<size_t>(tokens));
  for (int64_t i = 0; i < tokens; ++i) q_positions[size_t(i)] = first_position + i;
  expect_close(out, cache.reference(c, q.data(), q_positions, 1, last), c.dtype,
               str("prefill ", c.describe(), " tokens ", tokens, " from ", first_position));
}

DeviceBuffer upload_ints(const std::vector<int32_t>& values) {
  DeviceBuffer buffer(values.size() * sizeof(int32_t));
  GLINT_CUDA_CHECK(cudaMemcpy(buffer.get(), values.data(), buffer.bytes(), cudaMemcpyHostToDevice));
  return buffer;
}

// Decode of one query per row b at (slots[b], positions[b]); the cache holds 3 slots.
int64_t decode_capacity(const Config& c, int64_t longest) {
  return c.mask == MaskKind::Causal ? longest + 3 : c.window - 1 + 64;  // a windowed ring for 64-token passes
}

std::vector<float> decode_reference(const Config& c, const Cache& cache, const std::vector<float>& q,
                                    const std::vector<int32_t>& slots, const std::vector<int32_t>& positions) {
  const size_t row = size_t(c.n_heads) * c.head_dim;
  std::vector<float> ref;
  for (size_t b = 0; b < slots.size(); ++b) {
    const std::vector<float> one =
        cache.reference(c, q.data() + b * row, {int64_t(positions[b])}, slots[b], positions[b]);
    ref.insert(ref.end(), one.begin(), one.end());
  }
  return ref;
}

void check_decode(const Config& c, const std::vector<int32_t>& slots, const std::vector<int32_t>& positions,
                  uint32_t seed) {
  std::mt19937 rng(seed);
  int64_t longest = 0;
  for (int32_t p : positions) longest = std::max<int64_t>(longest, p + 1);
  const Cache cache(c, 3, decode_capacity(c, longest), rng);
  const int batch = int(slots.size());
  const size_t q_elems = size_t(batch) * c.n_heads * c.head_dim;
  const std::vector<float> q = random_values(q_elems, c.dtype, rng);
  const DeviceBuffer q_device = upload(q, c.dtype);
  const DeviceBuffer slots_device = upload_ints(slots), positions_device = upload_ints(positions);
  DeviceBuffer workspace(decode_workspace_bytes(c.shape(), batch, cache.capacity));
  DeviceBuffer out_device = nan_filled(q_elems, c.dtype);
  attention_decode(c.shape(), q_device.get(), batch, slots_device.as<int32_t>(), positions_device.as<int32_t>(),
                   cache.view(), out_device.get(), workspace.get(), nullptr);
  const std::vector<float> out = download(out_device, q_elems, c.dtype);
  expect_close(out, decode_reference(c, cache, q, slots, positions), c.dtype, str("decode ", c.describe()));
}

Config config(DType dtype, int n_heads, int n_kv_heads, int head_dim, MaskKind mask, int64_t window, float softcap) {
  Config c;
  c.dtype = dtype;
  c.n_heads = n_heads;
  c.n_kv_heads = n_kv_heads;
  c.head_dim = head_dim;
  c.mask = mask;
  c.window = window;
  c.softcap = softcap;
  return c;
}

// The mask / window / softcap / GQA combinations every path runs through.
std::vector<Config> configs(DType dtype, int head_dim) {
  return {
      config(dtype, 8, 4, head_dim, MaskKind::Causal, 0, 0.0f),
      config(dtype, 4, 1, head_dim, MaskKind::Causal, 0, 50.0f),
      config(dtype, 2, 2, head_dim, MaskKind::Sliding, 37, 0.0f),
      config(dtype, 8, 4, head_dim, MaskKind::Sliding, 512, 50.0f),
      config(dtype, 4, 1, head_dim, MaskKind::Chunked, 100, 0.0f),
  };
}

void check_prefill_all(DType dtype, int head_dim) {
  uint32_t seed = 1;
  for (const Config& c : configs(dtype, head_dim)) {
    check_prefill(c, 1, 0, seed++);
    check_prefill(c, 67, 0, seed++);
    check_prefill(c, 300, 0, seed++);
    check_prefill(c, 67, 700, seed++);  // a second chunk: rows of windowed rings wrap
    check_prefill(c, 1, 901, seed++);
  }
}

void check_decode_all(DType dtype, int head_dim) {
  uint32_t seed = 100;
  for (const Config& c : configs(dtype, head_dim)) {
    check_decode(c, {1, 0, 2}, {2999, 17, 1234}, seed++);
    check_decode(c, {2, 1, 0}, {0, 255, 256}, seed++);  // split boundaries
  }
}

TEST(AttentionCuda, PrefillBf16HeadDim256) {
  GLINT_REQUIRE_GPU();
  check_prefill_all(DType::BF16, 256);
}

TEST(AttentionCuda, PrefillBf16HeadDim64) {
  GLINT_REQUIRE_GPU();
  check_prefill_all(DType::BF16, 64);
}

TEST(AttentionCuda, PrefillF32HeadDim256) {
  GLINT_REQUIRE_GPU();
  check_prefill_all(DType::F32, 256);
}

TEST(AttentionCuda, PrefillF32HeadDim64) {
  GLINT_REQUIRE_GPU();
  check_prefill_all(DType::F32, 64);
}

TEST(AttentionCuda, PrefillOtherHeadDims) {
  GLINT_REQUIRE_GPU();
  // 80: the tensor-core kernel at a dim that is no power of two; 72 and 8: the simple kernel (not a multiple of 16).
  for (int head_dim : {80, 72, 8}) {
    check_prefill(config(DType::BF16, 8, 4, head_dim, MaskKind::Causal, 0, 0.0f), 130, 5, 7);
    check_prefill(config(DType::BF16, 4, 2, head_dim, MaskKind::Sliding, 37, 50.0f), 67, 300, 8);
    check_decode(config(DType::BF16, 4, 2, head_dim, MaskKind::Causal, 0, 0.0f), {0, 1, 2}, {40, 700, 3}, 9);
  }
}

TEST(AttentionCuda, DecodeBf16HeadDim256) {
  GLINT_REQUIRE_GPU();
  check_decode_all(DType::BF16, 256);
}

TEST(AttentionCuda, DecodeBf16HeadDim64) {
  GLINT_REQUIRE_GPU();
  check_decode_all(DType::BF16, 64);
}

TEST(AttentionCuda, DecodeF32HeadDim256) {
  GLINT_REQUIRE_GPU();
  check_decode_all(DType::F32, 256);
}

TEST(AttentionCuda, DecodeF32HeadDim64) {
  GLINT_REQUIRE_GPU();
  check_decode_all(DType::F32, 64);
}

TEST(AttentionCuda, DecodeLargeGroups) {
  GLINT_REQUIRE_GPU();
  // 8 and 16 query heads per kv head (one and two passes over V), 6 (a partly filled pass).
  check_decode(config(DType::BF16, 8, 1, 128, MaskKind::Causal, 0, 0.0f), {0, 1, 2}, {500, 70, 1300}, 11);
  check_decode(config(DType::BF16, 32, 2, 64, MaskKind::Sliding, 37, 0.0f), {0, 1, 2}, {500, 70, 1300}, 12);
  check_decode(config(DType::F32, 12, 2, 64, MaskKind::Chunked, 300, 50.0f), {0, 1, 2}, {500, 70, 1300}, 13);
}

// Past 1024 splits (32k keys) the combine kernel merges the split weights in passes.
TEST(AttentionCuda, DecodeMergesSplitsInPasses) {
  GLINT_REQUIRE_GPU();
  check_decode(config(DType::F32, 4, 1, 64, MaskKind::Causal, 0, 0.0f), {0, 2}, {33000, 40}, 14);
}

// GLINT_CUDA_SIMPLE_ATTENTION=1 selects the plain kernel for both entry points (for bisecting on a device).
TEST(AttentionCuda, SimplePathMatches) {
  GLINT_REQUIRE_GPU();
  setenv("GLINT_CUDA_SIMPLE_ATTENTION", "1", 1);
  const Config c = config(DType::BF16, 8, 4, 256, MaskKind::Sliding, 37, 50.0f);
  check_prefill(c, 67, 700, 21);
  check_decode(c, {1, 0, 2}, {2999, 17, 1234}, 22);
  check_decode(config(DType::F32, 4, 1, 64, MaskKind::Causal, 0, 0.0f), {1, 0, 2}, {2999, 17, 1234}, 23);
  unsetenv("GLINT_CUDA_SIMPLE_ATTENTION");
}

// The decode launch depends only on the shape: a graph captured at some positions replays correctly at others.
TEST(AttentionCuda, DecodeReplaysInGraph) {
  GLINT_REQUIRE_GPU();
  const Config c = config(DType::BF16, 8, 4, 256, MaskKind::Sliding, 512, 0.0f);
  std::mt19937 rng(31);
  const Cache cache(c, 3, decode_capacity(c, 0), rng);
  const int batch = 3;
  const size_t q_elems = size_t(batch) * c.n_heads * c.head_dim;
  const std::vector<float> q = random_values(q_elems, c.dtype, rng);
  const DeviceBuffer q_device = upload(q, c.dtype);
  std::vector<int32_t> slots = {2, 0, 1}, positions = {3, 40, 100};
  const DeviceBuffer slots_device = upload_ints(slots);
  DeviceBuffer positions_device = upload_ints(positions);
  DeviceBuffer workspace(decode_workspace_bytes(c.shape(), batch, cache.capacity));
  DeviceBuffer out_device = nan_filled(q_elems, c.dtype);

  cudaStream_t stream;
  GLINT_CUDA_CHECK(cudaStreamCreate(&stream));
  cudaGraph_t graph;
  GLINT_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
  attention_decode(c.shape(), q_device.get(), batch, slots_device.as<int32_t>(), positions_device.as<int32_t>(),
                   cache.view(), out_device.get(), workspace.get(), stream);
  GLINT_CUDA_CHECK(cudaStreamEndCapture(stream, &graph));
  cudaGraphExec_t exec;
  GLINT_CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
  for (const std::vector<int32_t>& now : {std::vector<int32_t>{3, 40, 100}, std::vector<int32_t>{1500, 574, 9}}) {
    GLINT_CUDA_CHECK(cudaMemcpy(positions_device.get(), now.data(), now.size() * 4, cudaMemcpyHostToDevice));
    GLINT_CUDA_CHECK(cudaGraphLaunch(exec, stream));
    GLINT_CUDA_CHECK(cudaStreamSynchronize(stream));
    const std::vector<float> out = download(out_device, q_elems, c.dtype);
    expect_close(out, decode_reference(c, cache, q, slots, now), c.dtype, str("graph replay at ", now[0]));
  }
  GLINT_CUDA_CHECK(cudaGraphExecDestroy(exec));
  GLINT_CUDA_CHECK(cudaGraphDestroy(graph));
  GLINT_CUDA_CHECK(cudaStreamDestroy(stream));
}

TEST(AttentionCuda, RejectsUnsupportedShapes) {
  GLINT_REQUIRE_GPU();
  Config c = config(DType::BF16, 8, 4, 64, MaskKind::Causal, 0, 0.0f);
  std::mt19937 rng(41);
  const Cache cache(c, 1, 128, rng);
  DeviceBuffer q(size_t(8) * 64 * 2 * 4), out(size_t(8) * 64 * 2 * 4);
  auto prefill = [&](const AttentionShape& s, int64_t tokens, int64_t first) {
    attention_prefill(s, q.get(), tokens, first, cache.view(), 0, out.get(), nullptr);
  };
  AttentionShape s = c.shape();
  s.head_dim = 12;
  EXPECT_THROW(prefill(s, 1, 0), Error);
  s = c.shape();
  s.dtype = DType::F16;
  EXPECT_THROW(prefill(s, 1, 0), Error);
  s = c.shape();
  s.n_kv_heads = 3;
  EXPECT_THROW(prefill(s, 1, 0), Error);
  s = c.shape();
  s.mask = MaskKind::Sliding;  // window 0
  EXPECT_THROW(prefill(s, 1, 0), Error);
  EXPECT_THROW(prefill(c.shape(), 4, 126), Error);  // positions 0..129 do not fit in 128 rows
}

}  // namespace
}  // namespace glint::ops::cuda

namespace glint::ops::cuda {
namespace {

// Timing on real shapes, run by hand: --gtest_also_run_disabled_tests --gtest_filter='*AttentionCudaSpeed*'.
float time_ms(const std::function<void()>& launch, int repeats) {
  launch();  // warm-up (and the shared-memory attribute)
  cudaEvent_t start, stop;
  GLINT_CUDA_CHECK(cudaEventCreate(&start));
  GLINT_CUDA_CHECK(cudaEventCreate(&stop));
  GLINT_CUDA_CHECK(cudaEventRecord(start));
  for (int i = 0; i < repeats; ++i) launch();
  GLINT_CUDA_CHECK(cudaEventRecord(stop));
  GLINT_CUDA_CHECK(cudaEventSynchronize(stop));
  float ms = 0;
  GLINT_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
  GLINT_CUDA_CHECK(cudaEventDestroy(start));
  GLINT_CUDA_CHECK(cudaEventDestroy(stop));
  return ms / repeats;
}

TEST(AttentionCudaSpeed, DISABLED_Gemma3Shapes) {
  GLINT_REQUIRE_GPU();
  for (const Config& c : {config(DType::BF16, 8, 4, 256, MaskKind::Causal, 0, 0.0f),
                          config(DType::BF16, 8, 4, 256, MaskKind::Sliding, 1024, 0.0f),
                          config(DType::BF16, 32, 16, 128, MaskKind::Causal, 0, 0.0f)}) {
    std::mt19937 rng(1);
    const int64_t tokens = 4096;
    const Cache cache(c, 1, tokens, rng);
    const DeviceBuffer q = upload(random_values(size_t(tokens) * c.n_heads * c.head_dim, c.dtype, rng), c.dtype);
    DeviceBuffer out(size_t(tokens) * c.n_heads * c.head_dim * 2);
    const float ms = time_ms([&] {
      attention_prefill(c.shape(), q.get(), tokens, 0, cache.view(), 0, out.get(), nullptr);
    }, 20);
    double pairs = 0;  // visible (query, key) pairs
    for (int64_t t = 0; t < tokens; ++t) pairs += c.mask == MaskKind::Causal ? t + 1 : std::min<int64_t>(t + 1, c.window);
    const double flops = 4.0 * pairs * c.n_heads * c.head_dim;
    std::printf("prefill %s tokens %lld: %.3f ms, %.1f TFLOP/s (visible pairs only)\n", c.describe().c_str(),
                (long long)tokens, ms, flops / ms / 1e9);

    const int batch = 32;
    const int64_t context = 4096;
    const Cache big(c, batch, context, rng);
    const DeviceBuffer qd = upload(random_values(size_t(batch) * c.n_heads * c.head_dim, c.dtype, rng), c.dtype);
    std::vector<int32_t> slots(batch), positions(batch, int32_t(context - 1));
    for (int b = 0; b < batch; ++b) slots[size_t(b)] = b;
    const DeviceBuffer slots_d = upload_ints(slots), positions_d = upload_ints(positions);
    DeviceBuffer workspace(decode_workspace_bytes(c.shape(), batch, context));
    DeviceBuffer outd(size_t(batch) * c.n_heads * c.head_dim * 2);
    const float dms = time_ms([&] {
      attention_decode(c.shape(), qd.get(), batch, slots_d.as<int32_t>(), positions_d.as<int32_t>(), big.view(),
                       outd.get(), workspace.get(), nullptr);
    }, 20);
    const int64_t visible = c.mask == MaskKind::Causal ? context : std::min<int64_t>(context, c.window);
    const double bytes = 2.0 * batch * visible * c.n_kv_heads * c.head_dim * 2;
    std::printf("decode %s batch %d context %lld: %.3f ms, %.0f GB/s of K/V\n", c.describe().c_str(), batch,
                (long long)context, dms, bytes / dms / 1e6);
  }
}

}  // namespace
}  // namespace glint::ops::cuda
