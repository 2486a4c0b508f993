// DeviceSampler against the CPU Sampler given the same uniform draw (Sampler::sample_with_uniform): the same ids
// for greedy (ties included), the repetition penalty, temperature/top-k/top-p/min-p combinations and softcap, on
// a 262144-entry and a 1000-entry vocabulary. Skipped, visibly, without a GPU.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "core/cuda_runtime.h"
#include "core/error.h"
#include "gpu_test_util.h"
#include "runtime/sampler.h"
#include "runtime/sampler_cuda.h"

namespace glint {
namespace {

using cuda::DeviceBuffer;
using cuda::DeviceSampler;
using cuda::RowSampling;

constexpr int kLargeVocab = 262144;
constexpr int kSmallVocab = 1000;
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// Normal logits times `scale`, nudged away from zero (zeros would hide sign mistakes in the penalty).
std::vector<float> random_logits(size_t n, uint64_t seed, float scale) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, scale);
  std::vector<float> logits(n);
  for (auto& l : logits) {
    l = normal(rng);
    if (std::fabs(l) < 1e-3f) l = 1e-3f;
  }
  return logits;
}

SamplingOptions options(float temperature, int top_k = 0, float top_p = 1.0f, float min_p = 0.0f,
                        float penalty = 1.0f) {
  SamplingOptions o;
  o.temperature = temperature;
  o.top_k = top_k;
  o.top_p = top_p;
  o.min_p = min_p;
  o.repetition_penalty = penalty;
  return o;
}

struct Row {
  std::vector<float> logits;
  std::vector<int32_t> context;
  SamplingOptions options;
  double uniform = 0;
};

class DeviceSamplerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (cuda_device_count() > 0) GLINT_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  }
  void TearDown() override {
    if (stream_) cudaStreamDestroy(stream_);
  }

  // Uploads the rows' logits and samples them on the GPU; `processed` (if given) receives the logits afterwards.
  std::vector<int32_t> gpu_sample(DeviceSampler& sampler, const std::vector<Row>& rows, float softcap,
                                  std::vector<float>* processed = nullptr) {
    const size_t vocab = rows.at(0).logits.size();
    std::vector<float> flat;
    for (const Row& r : rows) flat.insert(flat.end(), r.logits.begin(), r.logits.end());
    DeviceBuffer logits(flat.size() * sizeof(float));
    GLINT_CUDA_CHECK(cudaMemcpy(logits.get(), flat.data(), flat.size() * sizeof(float), cudaMemcpyHostToDevice));
    std::vector<RowSampling> specs;
    for (const Row& r : rows) specs.push_back(RowSampling{r.options, r.context, r.uniform});
    std::vector<int32_t> ids(rows.size(), -7);
    sampler.sample(logits.as<float>(), specs, softcap, ids.data(), stream_);
    if (processed) {
      processed->resize(rows.size() * vocab);
      GLINT_CUDA_CHECK(cudaMemcpy(processed->data(), logits.get(), processed->size() * sizeof(float),
                                  cudaMemcpyDeviceToHost));
    }
    return ids;
  }

  // The CPU Sampler's pick for the same row (softcap as ops::softcap computes it on the CPU).
  static int32_t cpu_sample(const Row& row, float softcap) {
    std::vector<float> logits = row.logits;
    if (softcap > 0)
      for (auto& l : logits) l = softcap * std::tanh(l / softcap);
    Sampler sampler(row.options);
    return sampler.sample_with_uniform(logits, row.context, row.uniform);
  }

  void expect_same_as_cpu(DeviceSampler& sampler, const std::vector<Row>& rows, float softcap,
                          const std::string& label) {
    const auto ids = gpu_sample(sampler, rows, softcap);
    for (size_t r = 0; r < rows.size(); ++r)
      EXPECT_EQ(ids[r], cpu_sample(rows[r], softcap))
          << label << " row " << r << " (temperature " << rows[r].options.temperature << ", top-k "
          << rows[r].options.top_k << ", top-p " << rows[r].options.top_p << ", min-p " << rows[r].options.min_p
          << ", penalty " << rows[r].options.repetition_penalty << ", uniform " << rows[r].uniform << ")";
  }

  cudaStream_t stream_ = nullptr;
};

TEST(SamplerWithUniform, SampleDrawsAsSampleWithUniformOfNextUniform) {
  // The CPU refactor the GPU comparison relies on: sample() is sample_with_uniform(next_uniform()).
  const auto logits = random_logits(kSmallVocab, 11, 2.0f);
  const std::vector<int32_t> context = {1, 2, 2, 900};
  SamplingOptions o = options(0.9f, 50, 0.95f, 0.01f, 1.2f);
  o.seed = 1234;
  Sampler drawing(o), twin(o), given(o);
  for (int i = 0; i < 200; ++i)
    ASSERT_EQ(drawing.sample(logits, context), given.sample_with_uniform(logits, context, twin.next_uniform()));
}

TEST_F(DeviceSamplerTest, GreedyTakesTheFirstOfTiedMaxima) {
  GLINT_REQUIRE_GPU();
  DeviceSampler sampler(4, kLargeVocab);
  std::vector<Row> rows(4);
  for (size_t r = 0; r < rows.size(); ++r) rows[r] = Row{random_logits(kLargeVocab, 100 + r, 3.0f), {}, options(0)};
  // Ties across threads and blocks' strides: the smallest id must win.
  for (int id : {200000, 70001, 131072, 70001 + 1024}) rows[0].logits[size_t(id)] = 50.0f;
  for (int id : {1029, 5, 6}) rows[1].logits[size_t(id)] = 50.0f;
  rows[2].logits.assign(kLargeVocab, kNegInf);  // the CPU's argmax answers 0
  rows[3].logits.back() = 60.0f;
  const auto ids = gpu_sample(sampler, rows, 0.0f);
  EXPECT_EQ(ids, (std::vector<int32_t>{70001, 5, 0, kLargeVocab - 1}));
  for (size_t r = 0; r < rows.size(); ++r) EXPECT_EQ(ids[r], argmax(rows[r].logits)) << "row " << r;
}

TEST_F(DeviceSamplerTest, PenaltyOncePerDistinctIdDividesPositiveMultipliesNegative) {
  GLINT_REQUIRE_GPU();
  DeviceSampler sampler(2, kSmallVocab);
  Row row{random_logits(kSmallVocab, 7, 1.0f), {}, options(0, 0, 1.0f, 0.0f, 1.5f)};
  row.logits[10] = 9.0f;    // the maximum, penalised below the runner-up
  row.logits[11] = 8.0f;    // the runner-up, not in the context
  row.logits[12] = -4.0f;   // negative: multiplied, once
  row.logits[13] = 0.25f;   // positive: divided, once
  // Repeats, and ids outside the vocabulary (ignored, as the CPU does).
  row.context = {10, 12, 12, 10, 13, 12, -3, kSmallVocab, 5000, 13};
  Row untouched{random_logits(kSmallVocab, 8, 2.0f), {10, 12}, options(0)};  // penalty 1: no change
  std::vector<float> processed;
  const auto ids = gpu_sample(sampler, {row, untouched}, 0.0f, &processed);
  EXPECT_EQ(ids[0], 11);
  EXPECT_EQ(ids[0], cpu_sample(row, 0.0f));
  EXPECT_EQ(ids[1], cpu_sample(untouched, 0.0f));
  std::vector<float> expected = row.logits;
  expected[10] = 9.0f / 1.5f;
  expected[12] = -4.0f * 1.5f;
  expected[13] = 0.25f / 1.5f;
  for (size_t i = 0; i < size_t(kSmallVocab); ++i) {
    ASSERT_EQ(processed[i], expected[i]) << "id " << i;  // bit for bit
    ASSERT_EQ(processed[size_t(kSmallVocab) + i], untouched.logits[i]) << "id " << i;
  }
}

// Option sets crossed with draws; one call per option set, one row per draw.
const std::vector<SamplingOptions> kOptionSets = {
    options(1.0f),                              // the whole vocabulary
    options(0.7f, 40),                          // top-k
    options(1.0f, 0, 0.9f),                     // top-p (a long prefix at this temperature)
    options(1.3f, 0, 1.0f, 0.05f),              // min-p
    options(0.8f, 50, 0.95f, 0.02f),            // all three
    options(1.0f, 1),                           // top-k 1 is greedy at the kept level
    options(2.0f, 0, 0.001f),                   // top-p keeps only the first
    options(1.0f, 5000000),                     // top-k beyond the vocabulary: off
    options(0.5f, 1000, 0.5f, 0.0f, 1.3f),      // with the penalty
    options(3.0f, 0, 0.999f, 1e-6f),            // long top-p prefix and a tiny min-p
};
const std::vector<double> kUniforms = {0.0, 0.1, 0.37, 0.5, 0.83, 0.999999};

// 300 context ids with repeats, plus two outside the vocabulary (ignored, as the CPU does).
void add_context(Row& row, int vocab, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int32_t> id(0, vocab - 1);
  for (size_t i = 0; i < 300; ++i) row.context.push_back(i % 8 == 7 ? row.context[i / 2] : id(rng));
  row.context.push_back(-1);
  row.context.push_back(vocab);
}

class DeviceSamplerVocab : public DeviceSamplerTest, public ::testing::WithParamInterface<int> {};

TEST_P(DeviceSamplerVocab, MatchesCpuSamplerAcrossOptionsAndDraws) {
  GLINT_REQUIRE_GPU();
  const int vocab = GetParam();
  DeviceSampler sampler(int(kUniforms.size()), vocab);  // one sampler reused across calls
  for (size_t s = 0; s < kOptionSets.size(); ++s) {
    std::vector<Row> rows;
    for (size_t u = 0; u < kUniforms.size(); ++u) {
      Row row{random_logits(size_t(vocab), 1000 * s + u, 3.0f), {}, kOptionSets[s], kUniforms[u]};
      if (row.options.repetition_penalty != 1.0f) add_context(row, vocab, s * 31 + u);
      rows.push_back(std::move(row));
    }
    expect_same_as_cpu(sampler, rows, 0.0f, "vocab " + std::to_string(vocab) + " option set " + std::to_string(s));
  }
}

TEST_P(DeviceSamplerVocab, BatchOfFiveMixedRowsWithSoftcap) {
  GLINT_REQUIRE_GPU();
  const int vocab = GetParam();
  DeviceSampler sampler(8, vocab);
  const std::vector<SamplingOptions> mixed = {options(0), options(0, 0, 1.0f, 0.0f, 1.4f), options(0.8f, 50),
                                              options(1.0f, 0, 0.95f, 0.02f, 1.3f), options(1.5f)};
  for (uint64_t trial = 0; trial < 4; ++trial) {
    std::vector<Row> rows;
    for (size_t r = 0; r < mixed.size(); ++r) {
      // Scale 12 so the softcap at 30 bends the largest logits noticeably.
      Row row{random_logits(size_t(vocab), 5000 + 10 * trial + r, 12.0f), {}, mixed[r], 0.15 + 0.2 * double(r)};
      add_context(row, vocab, 77 + trial * 5 + r);
      rows.push_back(std::move(row));
    }
    expect_same_as_cpu(sampler, rows, 30.0f, "vocab " + std::to_string(vocab) + " trial " + std::to_string(trial));
    // The same rows without a softcap.
    expect_same_as_cpu(sampler, rows, 0.0f, "vocab " + std::to_string(vocab) + " no softcap " + std::to_string(trial));
  }
}

TEST_P(DeviceSamplerVocab, ManyRowsTakeTheSegmentedSortAndMatchTheCpu) {
  GLINT_REQUIRE_GPU();
  // More sampled rows than the per-row sort takes (16), greedy rows among them.
  const int vocab = GetParam();
  DeviceSampler sampler(24, vocab);
  std::vector<Row> rows;
  for (size_t r = 0; r < 24; ++r) {
    const SamplingOptions o = r % 7 == 3 ? options(0) : kOptionSets[r % kOptionSets.size()];
    Row row{random_logits(size_t(vocab), 9000 + r, 3.0f), {}, o, kUniforms[r % kUniforms.size()]};
    add_context(row, vocab, 300 + r);
    rows.push_back(std::move(row));
  }
  expect_same_as_cpu(sampler, rows, 0.0f, "vocab " + std::to_string(vocab) + " 24 rows");
  expect_same_as_cpu(sampler, rows, 30.0f, "vocab " + std::to_string(vocab) + " 24 rows, softcap");
}

// greedy(): the CPU's argmax after the softcap, with ties and saturated rows, also when captured in a CUDA graph.
TEST_P(DeviceSamplerVocab, GreedyMatchesTheCpuAndReplaysInAGraph) {
  GLINT_REQUIRE_GPU();
  const int vocab = GetParam();
  DeviceSampler sampler(6, vocab);
  std::vector<Row> rows;
  for (size_t r = 0; r < 5; ++r) rows.push_back(Row{random_logits(size_t(vocab), 700 + r, 12.0f), {}, options(0)});
  for (int id : {vocab - 3, 7, vocab / 2}) rows[1].logits[size_t(id)] = 900.0f;  // ties, first wins
  // Without softcap the last id wins; the softcap saturates both to 30, and the tie goes to the first.
  rows[2].logits[size_t(vocab - 1)] = 1e4f + 1;
  rows[2].logits[size_t(vocab / 3)] = 1e4f;
  int32_t* host_ids = nullptr;
  GLINT_CUDA_CHECK(cudaMallocHost(&host_ids, rows.size() * sizeof(int32_t)));
  for (float softcap : {0.0f, 30.0f}) {
    std::vector<float> flat;
    for (const Row& r : rows) flat.insert(flat.end(), r.logits.begin(), r.logits.end());
    DeviceBuffer logits(flat.size() * sizeof(float));
    auto upload = [&] {
      GLINT_CUDA_CHECK(cudaMemcpyAsync(logits.get(), flat.data(), flat.size() * sizeof(float), cudaMemcpyHostToDevice,
                                       stream_));
    };
    upload();
    std::fill(host_ids, host_ids + rows.size(), -7);
    sampler.greedy(logits.as<float>(), int(rows.size()), softcap, host_ids, stream_);
    GLINT_CUDA_CHECK(cudaStreamSynchronize(stream_));
    for (size_t r = 0; r < rows.size(); ++r)
      EXPECT_EQ(host_ids[r], cpu_sample(rows[r], softcap)) << "row " << r << " softcap " << softcap;
    const std::vector<int32_t> eager(host_ids, host_ids + rows.size());

    cudaGraph_t graph = nullptr;
    GLINT_CUDA_CHECK(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal));
    sampler.greedy(logits.as<float>(), int(rows.size()), softcap, host_ids, stream_);
    GLINT_CUDA_CHECK(cudaStreamEndCapture(stream_, &graph));
    cudaGraphExec_t exec = nullptr;
    GLINT_CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
    for (int replay = 0; replay < 2; ++replay) {
      upload();  // the softcap worked in place
      std::fill(host_ids, host_ids + rows.size(), -7);
      GLINT_CUDA_CHECK(cudaGraphLaunch(exec, stream_));
      GLINT_CUDA_CHECK(cudaStreamSynchronize(stream_));
      EXPECT_EQ(std::vector<int32_t>(host_ids, host_ids + rows.size()), eager) << "replay " << replay;
    }
    cudaGraphExecDestroy(exec);
    cudaGraphDestroy(graph);
  }
  cudaFreeHost(host_ids);
  EXPECT_THROW(sampler.greedy(nullptr, 7, 0.0f, nullptr, stream_), Error);
}

INSTANTIATE_TEST_SUITE_P(Vocabularies, DeviceSamplerVocab, ::testing::Values(kSmallVocab, kLargeVocab));

TEST_F(DeviceSamplerTest, TopKKeepsEveryTokenTiedWithTheKth) {
  GLINT_REQUIRE_GPU();
  // Two above, then four tied at the k-th value (k = 3), the rest well below: six tokens can be drawn.
  std::vector<float> logits = random_logits(kSmallVocab, 21, 1.0f);
  for (auto& l : logits) l -= 20.0f;
  logits[700] = 5.4f;
  logits[3] = 5.2f;
  for (int id : {900, 20, 500, 10}) logits[size_t(id)] = 5.0f;
  DeviceSampler sampler(16, kSmallVocab);
  std::vector<Row> rows;
  for (int u = 0; u < 16; ++u) rows.push_back(Row{logits, {}, options(1.0f, 3), (u + 0.5) / 16.0});
  expect_same_as_cpu(sampler, rows, 0.0f, "ties");
  const auto ids = gpu_sample(sampler, rows, 0.0f);
  EXPECT_EQ(std::set<int32_t>(ids.begin(), ids.end()), (std::set<int32_t>{700, 3, 10, 20, 500, 900}));
  // Sorted descending with ties by ascending id, so the draws walk 700, 3, 10, 20, 500, 900 in that order.
  std::vector<int32_t> first_seen;
  for (int32_t id : ids)
    if (first_seen.empty() || first_seen.back() != id) first_seen.push_back(id);
  EXPECT_EQ(first_seen, (std::vector<int32_t>{700, 3, 10, 20, 500, 900}));
}

TEST_F(DeviceSamplerTest, InvalidOptionsThrowTheCpuSamplersMessage) {
  GLINT_REQUIRE_GPU();
  DeviceSampler sampler(1, kSmallVocab);
  const std::vector<SamplingOptions> invalid = {options(-1.0f), options(1.0f, -2), options(1.0f, 0, 0.0f),
                                                options(1.0f, 0, 1.5f), options(1.0f, 0, 1.0f, 2.0f),
                                                options(1.0f, 0, 1.0f, 0.0f, 0.0f)};
  for (const auto& o : invalid) {
    std::string cpu_message, gpu_message;
    try {
      Sampler cpu(o);
    } catch (const Error& e) {
      cpu_message = e.what();
    }
    try {
      gpu_sample(sampler, {Row{random_logits(kSmallVocab, 3, 1.0f), {}, o, 0.5}}, 0.0f);
    } catch (const Error& e) {
      gpu_message = e.what();
    }
    EXPECT_FALSE(cpu_message.empty());
    EXPECT_EQ(gpu_message, cpu_message);
  }
}

TEST_F(DeviceSamplerTest, RowWithoutAValidDistributionThrowsAndTheSamplerStaysUsable) {
  GLINT_REQUIRE_GPU();
  DeviceSampler sampler(2, kSmallVocab);
  Row masked{std::vector<float>(kSmallVocab, kNegInf), {}, options(1.0f), 0.5};
  Row fine{random_logits(kSmallVocab, 4, 2.0f), {}, options(1.0f), 0.5};
  std::string cpu_message, gpu_message;
  try {
    cpu_sample(masked, 0.0f);
  } catch (const Error& e) {
    cpu_message = e.what();
  }
  try {
    gpu_sample(sampler, {fine, masked}, 0.0f);
  } catch (const Error& e) {
    gpu_message = e.what();
  }
  EXPECT_FALSE(cpu_message.empty());
  EXPECT_EQ(gpu_message, cpu_message);
  expect_same_as_cpu(sampler, {fine, fine}, 0.0f, "after the error");
  EXPECT_THROW(gpu_sample(sampler, {fine, fine, fine}, 0.0f), Error);  // more rows than it was built for
}

// Timing, not a check: run with --gtest_also_run_disabled_tests on a GPU.
TEST_F(DeviceSamplerTest, DISABLED_Timing) {
  GLINT_REQUIRE_GPU();
  for (int rows_count : {1, 4, 8, 16, 32, 64}) {
    DeviceSampler sampler(rows_count, kLargeVocab);
    for (const auto& o : {options(0), options(0.8f, 50, 0.95f), options(1.0f, 0, 0.9f), options(1.0f)}) {
      std::vector<float> flat;
      for (int r = 0; r < rows_count; ++r) {
        auto l = random_logits(kLargeVocab, uint64_t(r), 3.0f);
        flat.insert(flat.end(), l.begin(), l.end());
      }
      DeviceBuffer logits(flat.size() * sizeof(float));
      std::vector<int32_t> context(2000, 17);
      std::vector<RowSampling> specs(size_t(rows_count), RowSampling{o, context, 0.5});
      std::vector<int32_t> ids(static_cast<size_t>(rows_count));
      double best = 1e9;
      for (int rep = 0; rep < 20; ++rep) {
        GLINT_CUDA_CHECK(cudaMemcpy(logits.get(), flat.data(), flat.size() * 4, cudaMemcpyHostToDevice));
        const auto start = std::chrono::steady_clock::now();
        sampler.sample(logits.as<float>(), specs, 30.0f, ids.data(), stream_);
        best = std::min(best, std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start)
                                  .count());
      }
      std::printf("rows %2d temperature %.1f top-k %4d top-p %.2f: %8.1f us per call\n", rows_count, o.temperature,
                  o.top_k, o.top_p, best);
    }
  }
}

}  // namespace
}  // namespace glint
