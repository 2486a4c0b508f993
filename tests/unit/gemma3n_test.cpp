// Gemma 3n behaviour beyond the logit parity of tests/unit/parity_test.cpp: the plan built from the config
// (KV sharing, per-layer sparsity and widths), MatFormer slicing of the full checkpoint against the
// gemma3n_matformer goldens, KV memory of shared / sliding layers at long context, config and slice errors,
// and the synthetic benchmark configs.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "models/transformer.h"
#include "runtime/generator.h"
#include "runtime/kv_cache.h"
#include "test_util.h"

namespace glint {
namespace {

const char* kFull = "gemma3n";
const char* kSliced = "gemma3n_matformer";

std::string slice_path() { return test::fixture_dir(kSliced) + "/slice.json"; }

std::filesystem::path temp_dir(const std::string& tag) {
  const auto dir = std::filesystem::temp_directory_path() / ("glint_gemma3n_test_" + tag);
  std::filesystem::create_directories(dir);
  return dir;
}

std::string write_json(const nlohmann::json& j, const std::string& tag, const std::string& file) {
  const auto path = temp_dir(tag) / file;
  std::ofstream(path) << j.dump(1);
  return path.string();
}

nlohmann::json fixture_config() {
  std::ifstream in(test::fixture_dir(kFull) + "/config.json");
  return nlohmann::json::parse(in);
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

std::string synthetic_error(const nlohmann::json& config, const std::string& tag) {
  return error_of([&] { load_synthetic_model(write_json(config, tag, "config.json"), DType::F32); });
}

std::vector<int> kv_owners(const ModelPlan& plan) {
  std::vector<int> owners;
  for (const auto& l : plan.layers) owners.push_back(l.attention.kv_owner);
  return owners;
}

Tensor all_logits(Transformer& model, const std::vector<int32_t>& ids) {
  KVCache cache = model.new_cache();
  ForwardRequest req{ids, &cache, true};
  return model.forward(std::span(&req, 1));
}

TEST(Gemma3nPlan, FollowsTheConfigLists) {
  if (!test::has_fixture(kFull)) GTEST_SKIP() << "fixture not generated";
  auto model = load_model(test::fixture_dir(kFull));
  const ModelPlan& plan = model->plan();
  ASSERT_EQ(plan.layers.size(), 6u);
  EXPECT_EQ(plan.altup_streams, 4);
  EXPECT_EQ(plan.laurel_rank, 4);
  EXPECT_EQ(plan.per_layer_input_width, 8);
  EXPECT_FLOAT_EQ(plan.final_softcap, 30.0f);
  // first_shared = 6 − 2 = 4: consumer 4 (sliding) reads producer 3, consumer 5 (full) reads producer 2.
  EXPECT_EQ(kv_owners(plan), (std::vector<int>{0, 1, 2, 3, 3, 2}));
  const std::vector<float> sparsity = {0.95f, 0.95f, 0, 0, 0, 0};
  for (size_t i = 0; i < 6; ++i) {
    const auto& l = plan.layers[i];
    EXPECT_FLOAT_EQ(l.ffn.activation_sparsity, sparsity[i]) << i;
    EXPECT_EQ(l.ffn.intermediate, 96);
    EXPECT_FLOAT_EQ(l.attention.scale, 1.0f);
    EXPECT_TRUE(l.attention.v_norm);
    EXPECT_EQ(l.attention.q_norm, NormKind::Rms);
    EXPECT_EQ(l.attention.mask, i == 2 || i == 5 ? MaskKind::Causal : MaskKind::Sliding) << i;
    EXPECT_TRUE(l.per_layer_input);
  }
  // Consumers carry no K/V projections; only the four producers own a cache.
  EXPECT_FALSE(model->weights().layers[4].attention.k.defined());
  EXPECT_FALSE(model->weights().layers[5].attention.v.defined());
  EXPECT_EQ(model->new_cache().owning_layers(), 4);
  const std::string described = plan.describe();
  EXPECT_NE(described.find("AltUp 4 streams"), std::string::npos) << described;
  EXPECT_NE(described.find("layer 3"), std::string::npos) << described;
  EXPECT_NE(described.find("sparsity 0.95"), std::string::npos) << described;
}

TEST(Gemma3nParity, LogitsWithinTheGoldenTolerance) {
  if (!test::has_fixture(kFull)) GTEST_SKIP() << "fixture not generated";
  test::Golden golden(kFull);
  auto model = load_model(test::fixture_dir(kFull));
  auto expected = golden.floats("logits");
  Tensor logits = all_logits(*model, golden.ids("input_ids"));
  ASSERT_EQ(size_t(logits.numel()), expected.size());
  const float diff = test::max_abs_diff(logits.f32(), expected.data(), expected.size());
  RecordProperty("max_abs_diff", std::to_string(diff));
  EXPECT_LE(diff, 1e-4f);
}

TEST(Gemma3nMatformer, SlicedFullCheckpointMatchesTheSlicedGoldens) {
  if (!test::has_fixture(kFull) || !test::has_fixture(kSliced)) GTEST_SKIP() << "fixtures not generated";
  test::Golden golden(kSliced);
  auto model = load_model(test::fixture_dir(kFull), LoadOptions{slice_path()});
  const ModelPlan& plan = model->plan();
  ASSERT_EQ(plan.layers.size(), 5u);
  // Original layers 0,2,3,4,5 remain; sharing re-indexed: consumer 3 ← 2 (sliding), consumer 4 ← 1 (full).
  EXPECT_EQ(kv_owners(plan), (std::vector<int>{0, 1, 2, 2, 1}));
  const std::vector<int> widths = {96, 64, 96, 48, 96};
  const std::vector<float> sparsity = {0.95f, 0, 0, 0, 0};
  for (size_t k = 0; k < 5; ++k) {
    EXPECT_EQ(plan.layers[k].ffn.intermediate, widths[k]) << k;
    EXPECT_FLOAT_EQ(plan.layers[k].ffn.activation_sparsity, sparsity[k]) << k;
    const auto& mlp = model->weights().layers[k].mlp;
    EXPECT_EQ(mlp.gate.shape(), (std::vector<int64_t>{widths[k], 64}));
    EXPECT_EQ(mlp.down.shape(), (std::vector<int64_t>{64, widths[k]}));
  }

  auto expected = golden.floats("logits");
  Tensor logits = all_logits(*model, golden.ids("input_ids"));
  ASSERT_EQ(size_t(logits.numel()), expected.size());
  const float diff = test::max_abs_diff(logits.f32(), expected.data(), expected.size());
  RecordProperty("max_abs_diff", std::to_string(diff));
  EXPECT_LE(diff, 1e-4f);

  auto expected_ids = golden.ids("greedy_ids");
  GenerationOptions options;
  options.max_new_tokens = int(expected_ids.size());
  options.prefill_chunk = 5;
  Generator generator(*model);
  EXPECT_EQ(generator.generate(golden.ids("greedy_prompt"), options), expected_ids);
}

TEST(Gemma3nMatformer, SliceEqualsTheSlicedCheckpointWeightForWeight) {
  if (!test::has_fixture(kFull) || !test::has_fixture(kSliced)) GTEST_SKIP() << "fixtures not generated";
  auto sliced_here = load_model(test::fixture_dir(kFull), LoadOptions{slice_path()});
  auto sliced_there = load_model(test::fixture_dir(kSliced));
  EXPECT_EQ(kv_owners(sliced_here->plan()), kv_owners(sliced_there->plan()));
  auto same = [](const Tensor& a, const Tensor& b) {
    return a.shape() == b.shape() && a.dtype() == b.dtype() && std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0;
  };
  const auto& a = sliced_here->weights();
  const auto& b = sliced_there->weights();
  EXPECT_TRUE(same(a.ple_model_projection, b.ple_model_projection));
  for (size_t k = 0; k < a.layers.size(); ++k) {
    EXPECT_TRUE(same(a.layers[k].mlp.gate, b.layers[k].mlp.gate)) << k;
    EXPECT_TRUE(same(a.layers[k].mlp.up, b.layers[k].mlp.up)) << k;
    EXPECT_TRUE(same(a.layers[k].mlp.down, b.layers[k].mlp.down)) << k;
    EXPECT_TRUE(same(a.layers[k].attention.q, b.layers[k].attention.q)) << k;
  }
  // The sliced checkpoint loaded on its own reproduces the same goldens (its PLE table is already cut).
  test::Golden golden(kSliced);
  auto ids = golden.ids("input_ids");
  Tensor here = all_logits(*sliced_here, ids), there = all_logits(*sliced_there, ids);
  EXPECT_LE(test::max_abs_diff(here.f32(), there.f32(), size_t(here.numel())), 1e-5f);
}

TEST(Gemma3nMatformer, NoSkipFullWidthSliceIsTheFullModel) {
  if (!test::has_fixture(kFull)) GTEST_SKIP() << "fixture not generated";
  const std::string path =
      write_json({{"ffn_widths", {96, 96, 96, 96, 96, 96}}, {"skip_layers", nlohmann::json::array()}}, "identity",
                 "slice.json");
  auto sliced = load_model(test::fixture_dir(kFull), LoadOptions{path});
  auto full = load_model(test::fixture_dir(kFull));
  test::Golden golden(kFull);
  auto ids = golden.ids("input_ids");
  Tensor a = all_logits(*sliced, ids), b = all_logits(*full, ids);
  EXPECT_EQ(test::max_abs_diff(a.f32(), b.f32(), size_t(a.numel())), 0.0f);
}

TEST(Gemma3nMatformer, SkippingAProducerHandsSharingToAnEarlierLayer) {
  if (!test::has_fixture(kFull)) GTEST_SKIP() << "fixture not generated";
  // Skip layer 3 (sliding producer of consumer 4): the last kept sliding layer before 4 is layer 1.
  const std::string path = write_json({{"ffn_widths", {96, 96, 96, 96, 96, 96}}, {"skip_layers", {3}}},
                                      "skip_producer", "slice.json");
  auto model = load_model(test::fixture_dir(kFull), LoadOptions{path});
  // Kept originals 0,1,2,4,5 → consumer 4 (new 3) ← 1, consumer 5 (new 4) ← 2.
  EXPECT_EQ(kv_owners(model->plan()), (std::vector<int>{0, 1, 2, 1, 2}));
  // Skipping a consumer shortens the shared tail instead.
  const std::string consumer = write_json({{"ffn_widths", {96, 96, 96, 96, 96, 96}}, {"skip_layers", {4}}},
                                          "skip_consumer", "slice.json");
  auto model2 = load_model(test::fixture_dir(kFull), LoadOptions{consumer});
  EXPECT_EQ(kv_owners(model2->plan()), (std::vector<int>{0, 1, 2, 3, 2}));
  test::Golden golden(kFull);
  Tensor logits = all_logits(*model2, golden.ids("input_ids"));
  for (int64_t i = 0; i < logits.numel(); ++i) ASSERT_TRUE(std::isfinite(logits.f32()[i]));
}

TEST(Gemma3nMatformer, BadSlicesAreRejectedClearly) {
  if (!test::has_fixture(kFull)) GTEST_SKIP() << "fixture not generated";
  auto load_with = [](const nlohmann::json& slice, const std::string& tag) {
    const std::string path = write_json(slice, tag, "slice.json");
    return error_of([&] { load_model(test::fixture_dir(kFull), LoadOptions{path}); });
  };
  EXPECT_NE(load_with({{"ffn_widths", {96, 96, 96}}}, "short").find("ffn_widths has 3 entries"), std::string::npos);
  EXPECT_NE(load_with({{"ffn_widths", {96, 96, 128, 96, 96, 96}}}, "wide").find("layer 2 FFN width 128"),
            std::string::npos);
  EXPECT_NE(load_with({{"ffn_widths", {96, 96, 96, 96, 96, 96}}, {"skip_layers", {6}}}, "range").find("names layer 6"),
            std::string::npos);
  EXPECT_NE(load_with({{"ffn_widths", {96, 96, 96, 96, 96, 96}}, {"skip_layers", {1, 1}}}, "twice").find("twice"),
            std::string::npos);
  EXPECT_NE(load_with({{"skip_layers", {1}}}, "nowidths").find("ffn_widths"), std::string::npos);
  // Without any full layer before the shared tail, the full consumer has no producer.
  EXPECT_NE(load_with({{"ffn_widths", {96, 96, 96, 96, 96, 96}}, {"skip_layers", {2}}}, "noproducer")
                .find("no kept layer of that type"),
            std::string::npos);
  const std::string missing = error_of(
      [] { load_model(test::fixture_dir(kFull), LoadOptions{"/nonexistent/slice.json"}); });
  EXPECT_NE(missing.find("cannot open"), std::string::npos) << missing;
}

TEST(Gemma3nConfig, InvalidConfigsNameTheProblem) {
  if (!test::has_fixture(kFull)) GTEST_SKIP() << "fixture not generated";
  auto c = fixture_config();
  c["activation_sparsity_pattern"] = {0.95, 0.0};
  EXPECT_NE(synthetic_error(c, "sparsity").find("activation_sparsity_pattern has 2 entries"), std::string::npos);
  c = fixture_config();
  c["intermediate_size"] = {96, 96};
  EXPECT_NE(synthetic_error(c, "widths").find("intermediate_size has 2 entries"), std::string::npos);
  c = fixture_config();
  c["layer_types"] = {"sliding_attention", "sliding_attention", "sliding_attention", "sliding_attention",
                      "full_attention", "full_attention"};
  EXPECT_NE(synthetic_error(c, "producer").find("no layer of that type before layer 4"), std::string::npos);
  c = fixture_config();
  c["altup_active_idx"] = 1;
  EXPECT_NE(synthetic_error(c, "active").find("altup_active_idx 1"), std::string::npos);
  c = fixture_config();
  c["num_kv_shared_layers"] = -1;
  EXPECT_NE(synthetic_error(c, "shared").find("num_kv_shared_layers"), std::string::npos);
  // A scalar intermediate_size applies to every layer; all layers shared (first_shared 0) means no sharing.
  c = fixture_config();
  c["intermediate_size"] = 80;
  c["num_kv_shared_layers"] = 6;
  auto model = load_synthetic_model(write_json(c, "scalar", "config.json"), DType::F32);
  for (const auto& l : model->plan().layers) EXPECT_EQ(l.ffn.intermediate, 80);
  EXPECT_EQ(kv_owners(model->plan()), (std::vector<int>{0, 1, 2, 3, 4, 5}));
}

TEST(Gemma3nConfig, TokensOutsideThePerLayerVocabularyAreRejected) {
  if (!test::has_fixture(kFull)) GTEST_SKIP() << "fixture not generated";
  auto c = fixture_config();
  c["vocab_size_per_layer_input"] = 256;  // ids 256..511 exist in the main table only (vision/audio rows)
  auto model = load_synthetic_model(write_json(c, "ple_vocab", "config.json"), DType::F32);
  std::vector<int32_t> ids = {5, 300};
  const std::string error = error_of([&] { all_logits(*model, ids); });
  EXPECT_NE(error.find("token id 300"), std::string::npos) << error;
}

// The goldens pin the sparsity cutoff: mean + std · Φ⁻¹(0.95) with the float32 quantile 1.6448536.
// The bf16-rounded multiplier 1.6484375 (what a bf16 run uses; emulated by the sparsity whose quantile it
// is) or no sparsity at all move the logits far outside the tolerance.
TEST(Gemma3nParity, ActivationSparsityCutoffIsPinnedByTheGoldens) {
  if (!test::has_fixture(kFull)) GTEST_SKIP() << "fixture not generated";
  test::Golden golden(kFull);
  auto expected = golden.floats("logits");
  auto diff_with = [&](float sparsity) {
    auto model = load_model(test::fixture_dir(kFull));
    for (int i = 0; i < 2; ++i) model->mutable_plan().layers[size_t(i)].ffn.activation_sparsity = sparsity;
    Tensor logits = all_logits(*model, golden.ids("input_ids"));
    return test::max_abs_diff(logits.f32(), expected.data(), expected.size());
  };
  EXPECT_LE(diff_with(0.95f), 1e-4f);
  EXPECT_GT(diff_with(0.9503685369f), 1e-2f);  // Φ(1.6484375)
  EXPECT_GT(diff_with(0.0f), 1.0f);
}

// E4B structure (35 layers, full every 5th, 15 shared) at a tiny width: the KV memory of a long context.
TEST(Gemma3nKvCache, SharedAndSlidingLayersBoundLongContextMemory) {
  std::ifstream in(test::source_dir() + "/configs/synthetic/gemma3n-e4b.json");
  ASSERT_TRUE(in.good());
  nlohmann::json c = nlohmann::json::parse(in);
  auto& t = c["text_config"];
  t["hidden_size"] = 32;
  t["hidden_size_per_layer_input"] = 4;
  t["intermediate_size"] = 16;
  t["vocab_size"] = 64;
  t["vocab_size_per_layer_input"] = 64;
  t["laurel_rank"] = 2;
  auto model = load_synthetic_model(write_json(c, "e4b_small", "config.json"), DType::F32);
  const ModelPlan& plan = model->plan();
  ASSERT_EQ(plan.layers.size(), 35u);
  for (int i = 20; i < 35; ++i)
    EXPECT_EQ(plan.layers[size_t(i)].attention.kv_owner, (i + 1) % 5 == 0 ? 19 : 18) << i;
  EXPECT_EQ(model->new_cache().owning_layers(), 20);

  const int64_t context = 32768, chunk = 256;
  const size_t row = 2 * 256 * 2 * sizeof(float) + sizeof(int64_t);  // K + V of 2 kv heads × 256, position
  const size_t bytes = kv_cache_bytes_for_context(plan, context, chunk);
  RecordProperty("kv_bytes_32k", std::to_string(bytes));
  // 4 full producers (4, 9, 14, 19) keep every position; 16 sliding producers keep a window-sized ring.
  EXPECT_GE(bytes, 4 * size_t(context) * row);
  EXPECT_LE(bytes, 4 * size_t(context) * row + 16 * size_t(512 + chunk) * row * 2);
  // Without sharing all 35 layers would own caches: 7 full ones alone would need more.
  EXPECT_LT(bytes, 7 * size_t(context) * row);
}

// The benchmark configs at their published shapes; the vocabulary is cut so the test does not build 1 GB
// embedding tables, everything per layer keeps its real size.
TEST(Gemma3nSynthetic, PublishedShapesBuildAndRun) {
  for (const std::string name : {"gemma3n-e2b", "gemma3n-e4b"}) {
    std::ifstream in(test::source_dir() + "/configs/synthetic/" + name + ".json");
    ASSERT_TRUE(in.good()) << name;
    nlohmann::json c = nlohmann::json::parse(in);
    auto& t = c["text_config"];
    EXPECT_EQ(t["vocab_size"], 262400);
    EXPECT_EQ(t["vocab_size_per_layer_input"], 262144);
    t["vocab_size"] = 600;
    t["vocab_size_per_layer_input"] = 512;
    auto model = load_synthetic_model(write_json(c, name, "config.json"), DType::BF16, 1);
    const ModelPlan& plan = model->plan();
    EXPECT_EQ(plan.hidden, 2048) << name;
    EXPECT_EQ(plan.per_layer_input_width, 256) << name;
    EXPECT_EQ(plan.laurel_rank, 64) << name;
    EXPECT_FLOAT_EQ(plan.embed_scale, 45.25f) << name;
    ASSERT_EQ(plan.layers.size(), 1u);
    EXPECT_EQ(plan.layers[0].ffn.intermediate, name == "gemma3n-e2b" ? 8192 : 16384);
    EXPECT_FLOAT_EQ(plan.layers[0].ffn.activation_sparsity, 0.95f);
    EXPECT_EQ(plan.layers[0].attention.kv_owner, 0);
    EXPECT_EQ(plan.layers[0].attention.head_dim, 256);
    std::vector<int32_t> ids = {2, 105, 511};
    Tensor logits = all_logits(*model, ids);
    ASSERT_EQ(logits.numel(), 3 * 600);
    for (int64_t i = 0; i < logits.numel(); ++i) ASSERT_TRUE(std::isfinite(logits.f32()[i])) << name;
  }
  // Cut to 25 layers the sharing still counts from the full depth: layers 20..24 read 18 / 19.
  std::ifstream in(test::source_dir() + "/configs/synthetic/gemma3n-e4b.json");
  nlohmann::json c = nlohmann::json::parse(in);
  auto& t = c["text_config"];
  t["hidden_size"] = 32;
  t["hidden_size_per_layer_input"] = 4;
  t["vocab_size"] = 64;
  t["vocab_size_per_layer_input"] = 64;
  t["intermediate_size"] = 16;
  t["laurel_rank"] = 2;
  auto model = load_synthetic_model(write_json(c, "e4b_cut", "config.json"), DType::F32, 25);
  const auto owners = kv_owners(model->plan());
  ASSERT_EQ(owners.size(), 25u);
  EXPECT_EQ(owners[19], 19);
  EXPECT_EQ(owners[20], 18);
  EXPECT_EQ(owners[24], 19);
}

}  // namespace
}  // namespace glint
