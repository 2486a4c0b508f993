// The Gemma 3 reference fixtures on the GPU: the same goldens as parity_test.cpp (transformers 5.17), with the
// model placed on cuda:0. F32 fixtures must match within 1e-3 and decode greedily to the same ids; the BF16
// fixture within BF16 tolerance. Skipped, visibly, without a GPU.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "gpu_test_util.h"
#include "models/transformer.h"
#include "runtime/generator.h"
#include "test_util.h"

namespace glint {
namespace {

using test::Golden;

const std::vector<std::string> kGemma3F32 = {"gemma3_gqa", "gemma3_mqa", "gemma3_sharded", "gemma3_multimodal",
                                             "gemma3_multimodal_legacy"};

std::unique_ptr<Transformer> load_on_gpu(const std::string& name, DevicePlacement placement = {}) {
  auto model = load_model(test::fixture_dir(name));
  model->place_on(DeviceSpec{Device::CUDA, 0}, placement);
  return model;
}

double relative_error(const float* a, const float* b, size_t n) {
  double num = 0, den = 0;
  for (size_t i = 0; i < n; ++i) {
    num += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    den += double(b[i]) * b[i];
  }
  return std::sqrt(num / std::max(den, 1e-30));
}

// Each case: the fixture's goldens and its model on cuda:0 (skipped without a GPU or the fixture).
class ParityCuda : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    GLINT_REQUIRE_GPU();
    name = GetParam();
    if (!test::has_fixture(name)) GTEST_SKIP() << "skipped: fixture " << name << " not generated";
    golden = std::make_unique<Golden>(name);
    model = load_on_gpu(name);
  }
  std::string name;
  std::unique_ptr<Golden> golden;
  std::unique_ptr<Transformer> model;
};

TEST_P(ParityCuda, FullSequenceLogitsMatchReference) {
  auto ids = golden->ids("input_ids");
  auto expected = golden->floats("logits");
  KVCache cache = model->new_cache();
  ForwardRequest request{ids, &cache, true};
  Tensor logits = model->forward(std::span(&request, 1));
  ASSERT_EQ(size_t(logits.numel()), expected.size());
  EXPECT_LE(test::max_abs_diff(logits.f32(), expected.data(), expected.size()), 1e-3f) << name;
}

TEST_P(ParityCuda, GreedyDecodingMatchesReference) {
  auto prompt = golden->ids("greedy_prompt");
  auto expected = golden->ids("greedy_ids");
  GenerationOptions options;
  options.max_new_tokens = int(expected.size());
  options.prefill_chunk = 5;  // several passes per prompt: the window rings wrap
  Generator generator(*model);
  EXPECT_EQ(generator.generate(prompt, options), expected) << name;
}

TEST_P(ParityCuda, PrefillThenDecodeEqualsReference) {
  auto ids = golden->ids("input_ids");
  auto expected = golden->floats("logits");
  const int64_t vocab = model->plan().vocab;
  KVCache cache = model->new_cache(7);
  const size_t prefill = ids.size() / 3;
  ForwardRequest first{std::span<const int32_t>(ids).subspan(0, prefill), &cache, true};
  Tensor head = model->forward(std::span(&first, 1));
  EXPECT_LE(test::max_abs_diff(head.f32(), expected.data(), size_t(head.numel())), 1e-3f);
  // Decode steps run eagerly, then through a captured graph, then by replay: all must agree with the reference.
  for (size_t t = prefill; t < ids.size(); ++t) {
    ForwardRequest step{std::span<const int32_t>(ids).subspan(t, 1), &cache, false};
    Tensor logits = model->forward(std::span(&step, 1));
    ASSERT_LE(test::max_abs_diff(logits.f32(), expected.data() + int64_t(t) * vocab, size_t(vocab)), 1e-3f)
        << name << " position " << t;
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ParityCuda, ::testing::ValuesIn(kGemma3F32));

TEST(ParityCudaBatch, SequencesOfDifferentLengthsDecodeTogether) {
  GLINT_REQUIRE_GPU();
  if (!test::has_fixture("gemma3_gqa")) GTEST_SKIP() << "skipped: fixture gemma3_gqa not generated";
  Golden golden("gemma3_gqa");
  auto ids = golden.ids("input_ids");
  DevicePlacement placement;
  placement.max_sequences = 4;
  auto gpu = load_on_gpu("gemma3_gqa", placement);
  auto cpu = load_model(test::fixture_dir("gemma3_gqa"));
  const int64_t vocab = gpu->plan().vocab;
  const std::vector<size_t> lengths = {3, ids.size() / 2, ids.size() - 6};
  std::vector<KVCache> gpu_caches, cpu_caches;
  std::vector<ForwardRequest> gpu_requests, cpu_requests;
  for (size_t s = 0; s < lengths.size(); ++s) {
    gpu_caches.push_back(gpu->new_cache(4));
    cpu_caches.push_back(cpu->new_cache(4));
  }
  for (size_t s = 0; s < lengths.size(); ++s) {
    std::span<const int32_t> prompt(ids.data(), lengths[s]);
    gpu_requests.push_back({prompt, &gpu_caches[s], false});
    cpu_requests.push_back({prompt, &cpu_caches[s], false});
  }
  for (int step = 0; step < 6; ++step) {
    Tensor g = gpu->forward(gpu_requests);
    Tensor c = cpu->forward(cpu_requests);
    ASSERT_EQ(g.numel(), c.numel());
    EXPECT_LE(test::max_abs_diff(g.f32(), c.f32(), size_t(c.numel())), 1e-3f) << "step " << step;
    for (size_t s = 0; s < lengths.size(); ++s) {
      // Each sequence continues with its own next input token.
      std::span<const int32_t> next(ids.data() + (lengths[s] + size_t(step)) % ids.size(), 1);
      gpu_requests[s].tokens = next;
      cpu_requests[s].tokens = next;
    }
    (void)vocab;
  }
}

TEST(ParityCudaBatch, DeviceSamplingPicksTheCpuGreedyTokens) {
  GLINT_REQUIRE_GPU();
  if (!test::has_fixture("gemma3_mqa")) GTEST_SKIP() << "skipped: fixture gemma3_mqa not generated";
  Golden golden("gemma3_mqa");
  auto ids = golden.ids("input_ids");
  auto gpu = load_on_gpu("gemma3_mqa");
  auto cpu = load_model(test::fixture_dir("gemma3_mqa"));
  GenerationOptions options;
  options.max_new_tokens = 12;
  options.sampling.repetition_penalty = 1.3f;
  Generator on_gpu(*gpu), on_cpu(*cpu);
  EXPECT_EQ(on_gpu.generate(ids, options), on_cpu.generate(ids, options));
}

TEST(ParityCudaBf16, WithinBf16ToleranceOfTheReference) {
  GLINT_REQUIRE_GPU();
  if (!test::has_fixture("gemma3_bf16")) GTEST_SKIP() << "skipped: fixture gemma3_bf16 not generated";
  Golden golden("gemma3_bf16");
  auto model = load_on_gpu("gemma3_bf16");
  auto cpu = load_model(test::fixture_dir("gemma3_bf16"));
  auto ids = golden.ids("input_ids");
  auto expected = golden.floats("logits");  // transformers run in bf16
  KVCache cache = model->new_cache(), cpu_cache = cpu->new_cache();
  ForwardRequest request{ids, &cache, true}, cpu_request{ids, &cpu_cache, true};
  Tensor logits = model->forward(std::span(&request, 1));
  Tensor cpu_logits = cpu->forward(std::span(&cpu_request, 1));
  float max_ref = 0;
  for (float v : expected) max_ref = std::max(max_ref, std::fabs(v));
  EXPECT_LE(test::max_abs_diff(logits.f32(), expected.data(), expected.size()), 0.05f * std::max(1.0f, max_ref));
  EXPECT_LE(relative_error(logits.f32(), cpu_logits.f32(), expected.size()), 2e-2);
}

TEST(ParityCudaClassifier, ScoresOfLastNonPadToken) {
  GLINT_REQUIRE_GPU();
  if (!test::has_fixture("gemma3_classifier")) GTEST_SKIP() << "skipped: fixture gemma3_classifier not generated";
  Golden golden("gemma3_classifier");
  auto model = load_on_gpu("gemma3_classifier");
  auto ids = golden.ids("cls_input_ids");
  auto shape = golden.shape("cls_input_ids");
  auto expected = golden.floats("scores");
  const int64_t labels = model->plan().num_labels;
  const int32_t pad = golden.meta.value("pad_token_id", 0);
  for (int64_t r = 0; r < shape[0]; ++r) {
    std::span<const int32_t> row(ids.data() + r * shape[1], size_t(shape[1]));
    auto scores = model->classify(row, pad);
    EXPECT_LE(test::max_abs_diff(scores.data(), expected.data() + r * labels, size_t(labels)), 1e-3f) << "row " << r;
  }
}

TEST(CudaPlacement, ClearErrors) {
  GLINT_REQUIRE_GPU();
  if (!test::has_fixture("gemma4_moe")) GTEST_SKIP() << "skipped: fixture gemma4_moe not generated";
  auto model = load_model(test::fixture_dir("gemma4_moe"));
  try {
    model->place_on(DeviceSpec{Device::CUDA, 0});
    FAIL() << "gemma4 MoE should be refused on the GPU for now";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("does not run"), std::string::npos) << e.what();
  }
  EXPECT_THROW(model->place_on(DeviceSpec{Device::CUDA, 99}), Error);
  // The model still runs on the CPU after a refused placement.
  EXPECT_EQ(model->device().type, Device::CPU);
}

}  // namespace
}  // namespace glint
