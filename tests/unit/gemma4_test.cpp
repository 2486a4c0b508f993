// Gemma 4 behaviour beyond the logit parity of tests/unit/parity_test.cpp: the plan resolved from the config
// (per-layer head dims, KV owners, proportional RoPE, double-wide MLP, k_eq_v), the KV memory of shared and
// sliding layers over a long context, the hub config form (global_head_dim) and the multimodal checkpoint
// layout against the same goldens, and config errors.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "models/transformer.h"
#include "test_util.h"

namespace glint {
namespace {

namespace fs = std::filesystem;

nlohmann::json fixture_config(const std::string& fixture) {
  std::ifstream in(test::fixture_dir(fixture) + "/config.json");
  return nlohmann::json::parse(in);
}

fs::path temp_dir(const std::string& tag) {
  const auto dir = fs::temp_directory_path() / ("glint_gemma4_test_" + tag);
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

// A checkpoint directory with `config` and the fixture's weights (linked, not copied).
std::string fixture_with_config(const std::string& fixture, const nlohmann::json& config, const std::string& tag) {
  const auto dir = temp_dir(tag);
  std::ofstream(dir / "config.json") << config.dump(1);
  fs::create_symlink(fs::absolute(test::fixture_dir(fixture) + "/model.safetensors"), dir / "model.safetensors");
  return dir.string();
}

std::string load_error(const std::string& fixture, const nlohmann::json& config, const std::string& tag) {
  try {
    load_model(fixture_with_config(fixture, config, tag));
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// Synthetic (random-weight) model from a config object.
std::unique_ptr<Transformer> synthetic(const nlohmann::json& config, const std::string& tag) {
  const auto dir = temp_dir(tag);
  std::ofstream(dir / "config.json") << config.dump(1);
  return load_synthetic_model((dir / "config.json").string(), DType::F32);
}

// Writes F32/BF16 tensors as a safetensors file (header, then the bytes in order).
void write_safetensors(const fs::path& path, const std::vector<std::pair<std::string, Tensor>>& tensors) {
  nlohmann::json header = nlohmann::json::object();
  size_t offset = 0;
  for (const auto& [name, t] : tensors) {
    std::vector<int64_t> shape;
    for (int d = 0; d < t.dims(); ++d) shape.push_back(t.size(d));
    header[name] = {{"dtype", dtype_name(t.dtype())}, {"shape", shape}, {"data_offsets", {offset, offset + t.nbytes()}}};
    offset += t.nbytes();
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  std::ofstream out(path, std::ios::binary);
  const uint64_t length = text.size();
  out.write(reinterpret_cast<const char*>(&length), 8);
  out.write(text.data(), std::streamsize(text.size()));
  for (const auto& [_, t] : tensors) out.write(static_cast<const char*>(t.raw()), std::streamsize(t.nbytes()));
}

float logits_error_against_golden(Transformer& model, const std::string& fixture) {
  test::Golden golden(fixture);
  auto ids = golden.ids("input_ids");
  auto expected = golden.floats("logits");
  KVCache cache = model.new_cache();
  ForwardRequest req{ids, &cache, true};
  Tensor logits = model.forward(std::span(&req, 1));
  if (size_t(logits.numel()) != expected.size()) return INFINITY;
  return test::max_abs_diff(logits.f32(), expected.data(), expected.size());
}

// The hub form of a text config: global_head_dim / num_global_key_value_heads instead of per_layer_config.
nlohmann::json hub_form(nlohmann::json text, int global_kv_heads) {
  text.erase("per_layer_config");
  text["global_head_dim"] = 32;
  if (global_kv_heads > 0) text["num_global_key_value_heads"] = global_kv_heads;
  return text;
}

#define REQUIRE_FIXTURE(name) \
  if (!test::has_fixture(name)) GTEST_SKIP() << "fixture " << name << " not generated"

TEST(Gemma4Plan, DenseFixtureLayerRoles) {
  REQUIRE_FIXTURE("gemma4_dense");
  auto model = load_model(test::fixture_dir("gemma4_dense"));
  const ModelPlan& plan = model->plan();
  ASSERT_EQ(plan.layers.size(), 6u);
  EXPECT_EQ(plan.family, "gemma4");
  EXPECT_EQ(plan.final_norm, NormKind::Rms);
  EXPECT_FLOAT_EQ(plan.final_softcap, 30.0f);
  EXPECT_FLOAT_EQ(plan.embed_scale, 8.0f);
  EXPECT_EQ(plan.per_layer_input_width, 8);
  // layer_types S,F,S,S,S,F with num_kv_shared_layers 3: consumers 3,4 read sliding layer 2, 5 reads full 1.
  const std::vector<int> owners = {0, 1, 2, 2, 2, 1}, head_dims = {16, 32, 16, 16, 16, 32};
  const std::vector<int> widths = {64, 64, 64, 128, 128, 128};  // double-wide on the consumers
  for (int i = 0; i < 6; ++i) {
    SCOPED_TRACE("layer " + std::to_string(i));
    const auto& l = plan.layers[size_t(i)];
    const auto& a = l.attention;
    const bool full = i == 1 || i == 5;
    EXPECT_EQ(a.mask, full ? MaskKind::Causal : MaskKind::Sliding);
    EXPECT_EQ(a.window, full ? 0 : 8);
    EXPECT_EQ(a.kv_owner, owners[size_t(i)]);
    EXPECT_EQ(a.head_dim, head_dims[size_t(i)]);
    EXPECT_EQ(a.n_kv_heads, 2);  // num_global_key_value_heads is ignored without attention_k_eq_v
    EXPECT_EQ(a.scale, 1.0f);
    EXPECT_EQ(a.q_norm, NormKind::Rms);
    EXPECT_TRUE(a.v_norm);
    EXPECT_FALSE(a.k_eq_v);
    EXPECT_EQ(l.ffn.intermediate, widths[size_t(i)]);
    EXPECT_FALSE(l.ffn.moe.has_value());
    EXPECT_TRUE(l.per_layer_input && l.layer_scalar && l.sandwich_norms);
    // Consumers own no K/V projections.
    EXPECT_EQ(model->weights().layers[size_t(i)].attention.k.defined(), i < 3);
  }
  KVCache cache = model->new_cache();
  EXPECT_EQ(cache.owning_layers(), 3);
}

TEST(Gemma4Plan, ProportionalRopeOnFullLayersDefaultOnSliding) {
  REQUIRE_FIXTURE("gemma4_dense");
  auto model = load_model(test::fixture_dir("gemma4_dense"));
  const ModelPlan& plan = model->plan();
  const auto& sliding = plan.ropes[size_t(plan.layers[0].attention.rope)].inv_freq;
  const auto& full = plan.ropes[size_t(plan.layers[1].attention.rope)].inv_freq;
  ASSERT_EQ(sliding.size(), 8u);
  ASSERT_EQ(full.size(), 16u);
  for (int k = 0; k < 8; ++k) EXPECT_NEAR(sliding[size_t(k)], std::pow(1e4, -2.0 * k / 16), 1e-6) << k;
  // partial_rotary_factor 0.25 of head_dim 32: 4 rotated pairs, exponent over the full head dim, rest identity.
  for (int k = 0; k < 16; ++k)
    EXPECT_NEAR(full[size_t(k)], k < 4 ? std::pow(1e6, -2.0 * k / 32) : 0.0, 1e-6) << k;
}

TEST(Gemma4Plan, MoeFixtureKeyEqualsValueAndExperts) {
  REQUIRE_FIXTURE("gemma4_moe");
  auto model = load_model(test::fixture_dir("gemma4_moe"));
  const ModelPlan& plan = model->plan();
  ASSERT_EQ(plan.layers.size(), 6u);
  EXPECT_EQ(plan.per_layer_input_width, 0);
  for (int i = 0; i < 6; ++i) {
    SCOPED_TRACE("layer " + std::to_string(i));
    const auto& l = plan.layers[size_t(i)];
    const bool full = i == 2 || i == 5;
    EXPECT_EQ(l.attention.k_eq_v, full);
    EXPECT_EQ(l.attention.n_kv_heads, full ? 1 : 2);
    EXPECT_EQ(l.attention.head_dim, full ? 32 : 16);
    EXPECT_EQ(l.attention.kv_owner, i);
    EXPECT_EQ(model->weights().layers[size_t(i)].attention.v.defined(), !full);
    ASSERT_TRUE(l.ffn.moe.has_value());
    EXPECT_EQ(l.ffn.moe->router, MoePlan::Router::SoftmaxTopKRenormalised);
    EXPECT_EQ(l.ffn.moe->num_experts, 4);
    EXPECT_EQ(l.ffn.moe->top_k, 2);
    EXPECT_EQ(l.ffn.moe->expert_intermediate, 32);
    EXPECT_EQ(l.ffn.intermediate, 64);  // the dense MLP beside the experts
  }
}

// Hub config.json files carry global_head_dim / num_global_key_value_heads (transformers derives
// per_layer_config from them): same plan, same logits.
TEST(Gemma4Config, HubFormWithGlobalHeadDimMatchesGoldens) {
  REQUIRE_FIXTURE("gemma4_dense");
  REQUIRE_FIXTURE("gemma4_moe");
  auto dense = load_model(fixture_with_config("gemma4_dense", hub_form(fixture_config("gemma4_dense"), 1), "hub_dense"));
  EXPECT_EQ(dense->plan().layers[5].attention.n_kv_heads, 2);  // global kv heads apply only with k_eq_v
  const float dense_error = logits_error_against_golden(*dense, "gemma4_dense");
  EXPECT_LE(dense_error, 1e-4f);
  std::printf("gemma4_dense max |logit - golden| = %.3g\n", double(dense_error));
  auto moe = load_model(fixture_with_config("gemma4_moe", hub_form(fixture_config("gemma4_moe"), 1), "hub_moe"));
  EXPECT_EQ(moe->plan().layers[5].attention.n_kv_heads, 1);
  const float moe_error = logits_error_against_golden(*moe, "gemma4_moe");
  EXPECT_LE(moe_error, 1e-4f);
  std::printf("gemma4_moe max |logit - golden| = %.3g\n", double(moe_error));
}

// Gemma4ForConditionalGeneration: text config under text_config, tensors under model.language_model., other
// towers present, and K/V tensors on consumer layers (the reference ignores them).
TEST(Gemma4Config, ConditionalGenerationLayoutMatchesGoldens) {
  REQUIRE_FIXTURE("gemma4_dense");
  const auto dir = temp_dir("multimodal");
  nlohmann::json text = fixture_config("gemma4_dense");
  text["model_type"] = "gemma4_text";
  nlohmann::json config = {{"architectures", {"Gemma4ForConditionalGeneration"}}, {"model_type", "gemma4"},
                           {"text_config", hub_form(text, 0)}, {"tie_word_embeddings", true},
                           {"image_token_id", 500}, {"video_token_id", 501}, {"audio_token_id", 502}};
  std::ofstream(dir / "config.json") << config.dump(1);
  auto file = SafetensorsFile::open(test::fixture_dir("gemma4_dense") + "/model.safetensors");
  std::vector<std::pair<std::string, Tensor>> tensors;
  for (const auto& [name, info] : file->tensors()) {
    GLINT_CHECK(name.rfind("model.", 0) == 0, "unexpected fixture tensor ", name);
    tensors.emplace_back("model.language_model." + name.substr(6), file->get(name));
  }
  Tensor vision = Tensor::empty({4, 768});
  std::memset(vision.raw(), 0, vision.nbytes());
  tensors.emplace_back("model.vision_tower.patch_embedder.input_proj.weight", vision);
  tensors.emplace_back("model.language_model.layers.4.self_attn.k_proj.weight",
                       file->get("model.layers.2.self_attn.k_proj.weight"));
  write_safetensors(dir / "model.safetensors", tensors);
  auto model = load_model(dir.string());
  EXPECT_EQ(model->plan().architecture, "Gemma4ForConditionalGeneration");
  EXPECT_FLOAT_EQ(model->plan().final_softcap, 30.0f);
  EXPECT_LE(logits_error_against_golden(*model, "gemma4_dense"), 1e-4f);

  // Media placeholder ids embed as <pad> (id 0) in the multimodal class, as raw ids in the causal LM.
  auto last_logits = [](Transformer& m, const std::vector<int32_t>& ids) {
    KVCache cache = m.new_cache();
    ForwardRequest req{ids, &cache, false};
    Tensor t = m.forward(std::span(&req, 1));
    return std::vector<float>(t.f32(), t.f32() + t.numel());
  };
  const std::vector<int32_t> with_media = {2, 40, 500, 501, 502, 77, 9}, with_pad = {2, 40, 0, 0, 0, 77, 9};
  auto media = last_logits(*model, with_media), pad = last_logits(*model, with_pad);
  EXPECT_LE(test::max_abs_diff(media.data(), pad.data(), pad.size()), 1e-6f);
  auto causal = load_model(test::fixture_dir("gemma4_dense"));
  auto raw = last_logits(*causal, with_media);
  EXPECT_GT(test::max_abs_diff(raw.data(), pad.data(), pad.size()), 1e-3f);
}

// The reference forces the last layer to full attention whatever layer_types says.
TEST(Gemma4Config, LastLayerIsForcedToFullAttention) {
  REQUIRE_FIXTURE("gemma4_dense");
  auto config = fixture_config("gemma4_dense");
  config["layer_types"].back() = "sliding_attention";
  auto model = load_model(fixture_with_config("gemma4_dense", config, "forced_full"));
  EXPECT_EQ(model->plan().layers[5].attention.mask, MaskKind::Causal);
  EXPECT_LE(logits_error_against_golden(*model, "gemma4_dense"), 1e-4f);
}

TEST(Gemma4Config, VisionBidirectionalLeavesTextCausal) {
  REQUIRE_FIXTURE("gemma4_moe");
  auto config = fixture_config("gemma4_moe");
  config["use_bidirectional_attention"] = "vision";
  auto model = load_model(fixture_with_config("gemma4_moe", config, "vision"));
  EXPECT_LE(logits_error_against_golden(*model, "gemma4_moe"), 1e-4f);
}

TEST(Gemma4Config, InvalidConfigsFailWithClearMessages) {
  REQUIRE_FIXTURE("gemma4_dense");
  const auto base = fixture_config("gemma4_dense");
  auto expect_error = [&](const std::function<void(nlohmann::json&)>& edit, const std::string& tag,
                          const std::string& needle) {
    auto config = base;
    edit(config);
    const std::string message = load_error("gemma4_dense", config, tag);
    EXPECT_NE(message.find(needle), std::string::npos) << tag << ": '" << message << "' lacks '" << needle << "'";
  };
  expect_error([](auto& c) { c["use_bidirectional_attention"] = "all"; }, "bidir_all",
               "use_bidirectional_attention \"all\"");
  expect_error([](auto& c) { c["use_bidirectional_attention"] = "text"; }, "bidir_bad",
               "use_bidirectional_attention must be");
  // Trailing full layer shared while no earlier full layer exists.
  expect_error(
      [](auto& c) {
        c["layer_types"] = {"sliding_attention", "sliding_attention", "sliding_attention", "sliding_attention",
                            "sliding_attention", "full_attention"};
        c["num_kv_shared_layers"] = 1;
      },
      "no_producer", "no earlier layer of type full_attention");
  expect_error([](auto& c) { c["num_kv_shared_layers"] = 6; }, "all_shared", "num_kv_shared_layers 6");
  expect_error([](auto& c) { c["per_layer_config"]["1"]["sliding_window"] = 4; }, "plc_key",
               "per_layer_config[1] sets 'sliding_window'");
  expect_error([](auto& c) { c["per_layer_config"]["9"] = {{"head_dim", 32}}; }, "plc_index",
               "per_layer_config names layer 9");
  expect_error([](auto& c) { c["enable_moe_block"] = true; }, "moe_fields", "enable_moe_block needs num_experts");
  expect_error(
      [](auto& c) {
        c["enable_moe_block"] = true;
        c["num_experts"] = 4;
        c["top_k_experts"] = 5;
        c["moe_intermediate_size"] = 32;
      },
      "moe_topk", "top_k_experts 5");
  expect_error([](auto& c) { c["layer_types"][0] = "chunked_attention"; }, "chunked", "no chunked_attention");
  expect_error([](auto& c) { c["num_key_value_heads"] = 3; }, "kv_heads", "not a multiple of its 3 key/value heads");
  expect_error([](auto& c) { c["per_layer_config"]["5"]["head_dim"] = 16; }, "consumer_shape",
               "layer 5 reads the K/V of layer 1");
  expect_error([](auto& c) { c["layer_types"].erase(0); }, "types_length", "layer_types has 5 entries");
}

// A long context over the dense fixture's structure: consumer layers hold nothing, sliding layers keep a
// ring of window − 1 + chunk rows whatever the length, full layers keep every position; and the chunked
// long run gives the same last logits as one pass.
TEST(Gemma4KVCache, LongContextSkipsSharedLayersAndBoundsSlidingLayers) {
  REQUIRE_FIXTURE("gemma4_dense");
  auto config = fixture_config("gemma4_dense");
  config["max_position_embeddings"] = 4096;
  auto model = synthetic(config, "long");
  std::mt19937 rng(5);
  std::vector<int32_t> ids(1400);
  for (auto& id : ids) id = int32_t(3 + rng() % 509);
  const int64_t chunk = 64, window = 8;

  KVCache cache = model->new_cache(chunk);
  EXPECT_EQ(cache.owning_layers(), 3);
  for (int i : {3, 4, 5}) EXPECT_EQ(cache.layer(i), nullptr) << i;
  ForwardRequest first{std::span<const int32_t>(ids).subspan(0, 700), &cache, false};
  model->forward(std::span(&first, 1));
  const size_t sliding_bytes = cache.layer(0)->bytes() + cache.layer(2)->bytes();
  const size_t full_bytes_700 = cache.layer(1)->bytes();
  for (int i : {0, 2}) EXPECT_EQ(cache.layer(i)->view().n, window - 1 + chunk) << i;
  EXPECT_EQ(cache.layer(1)->view().n, 700);

  ForwardRequest second{std::span<const int32_t>(ids).subspan(700), &cache, false};
  Tensor chunked = model->forward(std::span(&second, 1));
  EXPECT_EQ(cache.layer(0)->bytes() + cache.layer(2)->bytes(), sliding_bytes);  // bounded by the window
  EXPECT_EQ(cache.layer(1)->view().n, 1400);
  EXPECT_GT(cache.layer(1)->bytes(), full_bytes_700);
  const size_t full_row = 2 * 32 * 2 * sizeof(float);  // kv heads · head dim · (K and V)
  EXPECT_GE(cache.layer(1)->bytes(), 1400 * full_row);
  EXPECT_EQ(cache.bytes(), cache.layer(0)->bytes() + cache.layer(1)->bytes() + cache.layer(2)->bytes());

  KVCache one_pass = model->new_cache(int64_t(ids.size()));
  ForwardRequest whole{ids, &one_pass, false};
  Tensor reference = model->forward(std::span(&whole, 1));
  EXPECT_LE(test::max_abs_diff(chunked.f32(), reference.f32(), size_t(reference.numel())), 1e-4f);
}

// Everything at once (MoE, k_eq_v full layers whose K/V a consumer reads, PLE, double-wide MLP, "vision"),
// which no single fixture combines: prompt chunks and batching must not change the logits.
TEST(Gemma4KVCache, CombinedFeaturesAreChunkAndBatchInvariant) {
  REQUIRE_FIXTURE("gemma4_moe");
  auto config = fixture_config("gemma4_moe");
  config["num_hidden_layers"] = 8;
  config["layer_types"] = {"sliding_attention", "full_attention", "sliding_attention", "sliding_attention",
                           "full_attention", "sliding_attention", "sliding_attention", "full_attention"};
  config.erase("per_layer_config");
  config["global_head_dim"] = 32;
  config["num_global_key_value_heads"] = 1;
  config["num_kv_shared_layers"] = 3;
  config["use_double_wide_mlp"] = true;
  config["hidden_size_per_layer_input"] = 8;
  config["vocab_size_per_layer_input"] = 512;
  config["use_bidirectional_attention"] = "vision";
  auto model = synthetic(config, "combined");
  const auto& plan = model->plan();
  EXPECT_EQ(plan.layers[7].attention.kv_owner, 4);
  EXPECT_TRUE(plan.layers[7].attention.k_eq_v);
  EXPECT_EQ(plan.layers[5].attention.kv_owner, 3);
  std::mt19937 rng(11);
  std::vector<int32_t> a(90), b(37);
  for (auto& id : a) id = int32_t(3 + rng() % 509);
  for (auto& id : b) id = int32_t(3 + rng() % 509);
  auto run = [&](const std::vector<int32_t>& ids, int64_t chunk) {
    KVCache cache = model->new_cache(chunk);
    ForwardRequest req{ids, &cache, true};
    Tensor t = model->forward(std::span(&req, 1));
    return std::vector<float>(t.f32(), t.f32() + t.numel());
  };
  const auto whole_a = run(a, 90), whole_b = run(b, 37);
  const auto chunked_a = run(a, 6);
  EXPECT_LE(test::max_abs_diff(whole_a.data(), chunked_a.data(), whole_a.size()), 1e-4f);
  KVCache cache_a = model->new_cache(16), cache_b = model->new_cache(16);
  ForwardRequest batch[2] = {{a, &cache_a, true}, {b, &cache_b, true}};
  Tensor both = model->forward(std::span(batch, 2));
  ASSERT_EQ(size_t(both.numel()), whole_a.size() + whole_b.size());
  EXPECT_LE(test::max_abs_diff(both.f32(), whole_a.data(), whole_a.size()), 1e-4f);
  EXPECT_LE(test::max_abs_diff(both.f32() + whole_a.size(), whole_b.data(), whole_b.size()), 1e-4f);
}

// E2B's published structure (35 layers S,S,S,S,F ×7, 20 shared layers, window 512, kv heads 1, head dims
// 256 / 512) with small hidden sizes: sliding consumers read layer 13, full consumers layer 14, and the KV
// memory at a 32K context is what only the 15 owners need.
TEST(Gemma4KVCache, E2BStructureSharesAndBoundsTheCache) {
  std::ifstream in(test::source_dir() + "/configs/synthetic/gemma4-e2b.json");
  auto config = nlohmann::json::parse(in);
  auto& text = config["text_config"];
  text["hidden_size"] = 64;
  text["intermediate_size"] = 32;
  text["vocab_size"] = 512;
  text["vocab_size_per_layer_input"] = 512;
  text["hidden_size_per_layer_input"] = 4;
  auto model = synthetic(config, "e2b");
  const ModelPlan& plan = model->plan();
  ASSERT_EQ(plan.layers.size(), 35u);
  for (int i = 0; i < 35; ++i) {
    SCOPED_TRACE("layer " + std::to_string(i));
    const auto& a = plan.layers[size_t(i)].attention;
    const bool full = (i + 1) % 5 == 0;
    EXPECT_EQ(a.kv_owner, i < 15 ? i : (full ? 14 : 13));
    EXPECT_EQ(a.head_dim, full ? 512 : 256);
    EXPECT_EQ(a.n_kv_heads, 1);
    EXPECT_EQ(plan.layers[size_t(i)].ffn.intermediate, i < 15 ? 32 : 64);
  }
  const int64_t context = 32768, chunk = 256;
  const size_t sliding_row = 256 * 2 * sizeof(float) + 8, full_row = 512 * 2 * sizeof(float) + 8;
  const size_t expected = 12 * size_t(512 - 1 + chunk) * sliding_row + 3 * size_t(context) * full_row;
  EXPECT_EQ(kv_cache_bytes_for_context(plan, context, chunk), expected);
  // It runs: a short prompt gives finite logits.
  KVCache cache = model->new_cache(chunk);
  std::vector<int32_t> ids = {2, 17, 99, 4, 311, 25, 8};
  ForwardRequest req{ids, &cache, false};
  Tensor logits = model->forward(std::span(&req, 1));
  for (int64_t v = 0; v < logits.numel(); ++v) ASSERT_TRUE(std::isfinite(logits.f32()[v]));
  EXPECT_LE(std::fabs(logits.f32()[0]), 30.0f);  // final softcap
}

// Every synthetic benchmark config builds (at reduced widths so the test stays small) with the structure
// of its variant.
TEST(Gemma4Synthetic, BenchmarkConfigsBuild) {
  struct Expect {
    const char* name;
    int layers, owners, full_kv_heads;
    bool k_eq_v, moe;
  };
  for (const Expect& e : {Expect{"gemma4-e2b", 35, 15, 1, false, false}, Expect{"gemma4-e4b", 42, 24, 2, false, false},
                          Expect{"gemma4-31b", 60, 60, 4, true, false}, Expect{"gemma4-26b-a4b", 30, 30, 2, true, true}}) {
    SCOPED_TRACE(e.name);
    std::ifstream in(test::source_dir() + "/configs/synthetic/" + e.name + ".json");
    ASSERT_TRUE(in) << e.name;
    auto config = nlohmann::json::parse(in);
    auto& text = config["text_config"];
    text["hidden_size"] = 32;
    text["intermediate_size"] = 16;
    text["vocab_size"] = 64;
    text["vocab_size_per_layer_input"] = 64;
    if (text["hidden_size_per_layer_input"].get<int>() > 0) text["hidden_size_per_layer_input"] = 4;
    if (e.moe) text["moe_intermediate_size"] = 8;
    text["sliding_window"] = 16;  // F32 rings of 1024 rows over 16 kv heads would take gigabytes
    auto model = synthetic(config, e.name);
    const ModelPlan& plan = model->plan();
    ASSERT_EQ(int(plan.layers.size()), e.layers);
    KVCache cache = model->new_cache(8);
    EXPECT_EQ(cache.owning_layers(), e.owners);
    const auto& last = plan.layers.back();
    EXPECT_EQ(last.attention.mask, MaskKind::Causal);
    EXPECT_EQ(last.attention.n_kv_heads, e.full_kv_heads);
    EXPECT_EQ(last.attention.k_eq_v, e.k_eq_v);
    EXPECT_EQ(last.ffn.moe.has_value(), e.moe);
    if (e.moe) {
      EXPECT_EQ(last.ffn.moe->num_experts, 128);
      EXPECT_EQ(last.ffn.moe->top_k, 8);
    }
    std::vector<int32_t> ids = {2, 5, 9, 11};
    ForwardRequest req{ids, &cache, false};
    Tensor logits = model->forward(std::span(&req, 1));
    EXPECT_TRUE(std::isfinite(logits.f32()[0]));
  }
}

// glint bench --layers N keeps the first N layers of a benchmark config; those own their caches in the full
// model, so a sharing count that leaves no producer in the cut is dropped instead of failing.
TEST(Gemma4Synthetic, CutDownBenchmarkModelDropsImpossibleSharing) {
  std::ifstream in(test::source_dir() + "/configs/synthetic/gemma4-e4b.json");
  auto config = nlohmann::json::parse(in);
  auto& text = config["text_config"];
  text["hidden_size"] = 32;
  text["intermediate_size"] = 16;
  text["vocab_size"] = 64;
  text["vocab_size_per_layer_input"] = 64;
  text["hidden_size_per_layer_input"] = 4;
  const auto dir = temp_dir("cut");
  std::ofstream(dir / "config.json") << config.dump();
  auto model = load_synthetic_model((dir / "config.json").string(), DType::F32, 4);
  ASSERT_EQ(model->plan().layers.size(), 4u);
  EXPECT_EQ(model->new_cache(8).owning_layers(), 4);
  EXPECT_EQ(model->plan().layers[3].attention.mask, MaskKind::Causal);  // the cut's last layer is full
}

}  // namespace
}  // namespace glint
