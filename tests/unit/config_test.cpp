// config.json / generation_config.json: text_config nesting, typed field access with clear errors,
// eos ids given as an int or a list, and layer_types given or derived (per family).
#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "io/model_config.h"
#include "models/families.h"
#include "models/transformer.h"
#include "safetensors_writer.h"
#include "test_util.h"

namespace glint {
namespace {

using json = nlohmann::json;
using test::TempDir;

std::string message_of(const std::function<void()>& body) {
  try {
    body();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no glint::Error thrown";
  return "";
}

#define EXPECT_MENTIONS(message, part) \
  EXPECT_NE((message).find(part), std::string::npos) << "message: " << (message) << "\nexpected to mention: " << (part)

TEST(ModelConfig, TextConfigNestingForConditionalGeneration) {
  const json raw = {{"model_type", "gemma3"},
                    {"architectures", {"Gemma3ForConditionalGeneration"}},
                    {"image_token_index", 262144},
                    {"text_config", {{"model_type", "gemma3_text"}, {"hidden_size", 64}, {"eos_token_id", 106}}},
                    {"vision_config", {{"hidden_size", 1152}}}};
  const ModelConfig c = model_config_from_json(raw, "wrapped");
  EXPECT_EQ(c.model_type, "gemma3");  // the wrapper's type picks the family
  EXPECT_EQ(c.architectures, (std::vector<std::string>{"Gemma3ForConditionalGeneration"}));
  EXPECT_EQ(c.get<int>("hidden_size"), 64);  // read from text_config, not vision_config
  EXPECT_FALSE(c.has("image_token_index"));
  EXPECT_TRUE(c.raw.contains("image_token_index"));
  EXPECT_EQ(c.eos_token_ids(), (std::vector<int32_t>{106}));
}

TEST(ModelConfig, FlatConfigIsItsOwnTextConfig) {
  const ModelConfig c = model_config_from_json({{"model_type", "gemma3_text"}, {"hidden_size", 32}}, "flat");
  EXPECT_EQ(c.get<int>("hidden_size"), 32);
  EXPECT_EQ(c.text, c.raw);
  // A text_config that is not an object is ignored rather than dereferenced.
  const ModelConfig odd = model_config_from_json({{"model_type", "x"}, {"text_config", nullptr}, {"a", 1}}, "odd");
  EXPECT_EQ(odd.get<int>("a"), 1);
}

TEST(ModelConfig, TypedAccessNamesTheFieldAndTheFile) {
  const ModelConfig c = model_config_from_json(
      {{"model_type", "gemma3_text"}, {"hidden_size", "big"}, {"sliding_window", nullptr}, {"eps", 1e-6}}, "/m");
  std::string m = message_of([&] { c.get<int>("num_hidden_layers"); });
  EXPECT_MENTIONS(m, "/m/config.json");
  EXPECT_MENTIONS(m, "'num_hidden_layers'");
  EXPECT_MENTIONS(m, "missing");
  m = message_of([&] { c.get<int>("hidden_size"); });
  EXPECT_MENTIONS(m, "'hidden_size'");
  EXPECT_MENTIONS(m, "wrong type");
  EXPECT_MENTIONS(m, "\"big\"");
  // null counts as absent: the fallback applies.
  EXPECT_FALSE(c.has("sliding_window"));
  EXPECT_EQ(c.get<int>("sliding_window", 512), 512);
  EXPECT_EQ(c.get<int>("num_hidden_layers", 7), 7);
  EXPECT_FLOAT_EQ(c.get<float>("eps", 1.0f), 1e-6f);
  EXPECT_MENTIONS(message_of([&] { c.get<int>("hidden_size", 3); }), "'hidden_size'");
}

TEST(ModelConfig, NotAnObjectOrNoModelType) {
  EXPECT_MENTIONS(message_of([] { model_config_from_json(json::array({1}), "/a"); }), "not a JSON object");
  EXPECT_MENTIONS(message_of([] { model_config_from_json({{"hidden_size", 1}}, "/b"); }), "model_type");
  EXPECT_MENTIONS(message_of([] { model_config_from_json({{"model_type", 3}}, "/c"); }), "model_type");
}

// A directory with config.json and, when given, generation_config.json.
struct ConfigDir {
  TempDir dir{"config"};
  ConfigDir(const json& config, const json* generation = nullptr) {
    test::write_text(dir / "config.json", config.dump());
    if (generation) test::write_text(dir / "generation_config.json", generation->dump());
  }
  ModelConfig load() const { return load_model_config(dir.str()); }
};

TEST(ModelConfig, EosIdsAsIntOrListFromGenerationConfig) {
  const json base = {{"model_type", "gemma3_text"}, {"eos_token_id", 1}, {"bos_token_id", 2}, {"pad_token_id", 0}};
  {
    const json gen = {{"eos_token_id", 106}};
    const ModelConfig c = ConfigDir(base, &gen).load();
    EXPECT_EQ(c.eos_token_ids(), (std::vector<int32_t>{1, 106}));
  }
  {
    const json gen = {{"eos_token_id", {1, 106}}, {"bos_token_id", 5}};
    const ModelConfig c = ConfigDir(base, &gen).load();
    EXPECT_EQ(c.eos_token_ids(), (std::vector<int32_t>{1, 106}));  // no duplicate 1
    EXPECT_EQ(c.bos_token_id(), 5);                                // generation_config first
    EXPECT_EQ(c.pad_token_id(), 0);
  }
  {
    const ModelConfig c = ConfigDir(base).load();  // no generation_config.json
    EXPECT_TRUE(c.generation.is_object() && c.generation.empty());
    EXPECT_EQ(c.eos_token_ids(), (std::vector<int32_t>{1}));
    EXPECT_EQ(c.bos_token_id(), 2);
  }
  {
    // eos only inside text_config, given as a list; a list with a null in it keeps the integers.
    const json nested = {{"model_type", "gemma3"}, {"text_config", {{"eos_token_id", {1, nullptr, 106}}}}};
    const ModelConfig c = ConfigDir(nested).load();
    EXPECT_EQ(c.eos_token_ids(), (std::vector<int32_t>{1, 106}));
    EXPECT_FALSE(c.bos_token_id().has_value());
  }
  {
    const json none = {{"model_type", "gemma3_text"}};
    EXPECT_TRUE(ConfigDir(none).load().eos_token_ids().empty());
  }
}

TEST(ModelConfig, FileErrorsNameTheFile) {
  TempDir dir("config_errors");
  std::string m = message_of([&] { load_model_config(dir.str()); });
  EXPECT_MENTIONS(m, "config.json");
  EXPECT_MENTIONS(m, dir.str());
  test::write_text(dir / "config.json", "{\"model_type\": ");
  m = message_of([&] { load_model_config(dir.str()); });
  EXPECT_MENTIONS(m, "config.json");
  EXPECT_MENTIONS(m, "invalid JSON");
  test::write_text(dir / "config.json", R"({"model_type": "gemma3_text"})");
  test::write_text(dir / "generation_config.json", "[1, 2");
  m = message_of([&] { load_model_config(dir.str()); });
  EXPECT_MENTIONS(m, "generation_config.json");
  EXPECT_MENTIONS(message_of([&] { load_model_config(dir.str() + "/missing"); }), "missing");
}

// ---------------------------------------------------------------------------------------------------
// layer_types

ModelConfig text_config(const json& fields) {
  json raw = fields;
  raw["model_type"] = "gemma3_text";
  return model_config_from_json(raw, "/lt");
}

TEST(LayerTypes, GivenListIsCheckedAgainstTheLayerCount) {
  const json list = {"sliding_attention", "full_attention", "chunked_attention"};
  EXPECT_EQ(read_layer_types(text_config({{"layer_types", list}}), 3, 6),
            (std::vector<std::string>{"sliding_attention", "full_attention", "chunked_attention"}));
  std::string m = message_of([&] { read_layer_types(text_config({{"layer_types", list}}), 4, 6); });
  EXPECT_MENTIONS(m, "layer_types has 3 entries but num_hidden_layers is 4");
  m = message_of([&] { read_layer_types(text_config({{"layer_types", {"sliding_attention", "linear"}}}), 2, 6); });
  EXPECT_MENTIONS(m, "unknown layer type 'linear'");
  m = message_of([&] { read_layer_types(text_config({{"layer_types", "full_attention"}}), 1, 6); });
  EXPECT_MENTIONS(m, "'layer_types'");
}

TEST(LayerTypes, DerivedFromTheSlidingWindowPattern) {
  auto full_layers = [](const std::vector<std::string>& types) {
    std::vector<int> out;
    for (size_t i = 0; i < types.size(); ++i)
      if (types[i] == "full_attention") out.push_back(int(i));
      else EXPECT_EQ(types[i], "sliding_attention");
    return out;
  };
  EXPECT_EQ(full_layers(read_layer_types(text_config({}), 13, 6)), (std::vector<int>{5, 11}));
  EXPECT_EQ(full_layers(read_layer_types(text_config({{"sliding_window_pattern", 4}}), 9, 6)),
            (std::vector<int>{3, 7}));
  EXPECT_EQ(full_layers(read_layer_types(text_config({}), 10, 5)), (std::vector<int>{4, 9}));
  EXPECT_EQ(full_layers(read_layer_types(text_config({{"sliding_window_pattern", 1}}), 3, 6)),
            (std::vector<int>{0, 1, 2}));
  // An explicit null layer_types is the same as absent.
  EXPECT_EQ(full_layers(read_layer_types(text_config({{"layer_types", nullptr}}), 6, 6)), (std::vector<int>{5}));
}

// The families derive their masks from configs without layer_types.
std::vector<MaskKind> masks_of_fixture_without_layer_types(const std::string& fixture, int layers,
                                                           const json& extra = json::object()) {
  std::ifstream in(test::fixture_dir(fixture) + "/config.json");
  json config = json::parse(in);
  json& text = config.contains("text_config") ? config["text_config"] : config;
  text.erase("layer_types");
  text["num_hidden_layers"] = layers;
  for (auto& [k, v] : extra.items()) text[k] = v;
  TempDir dir("derive_" + fixture);
  test::write_text(dir / "config.json", config.dump());
  auto model = load_synthetic_model((dir / "config.json").string(), DType::F32);
  std::vector<MaskKind> masks;
  for (const auto& l : model->plan().layers) masks.push_back(l.attention.mask);
  return masks;
}

std::vector<MaskKind> pattern(const std::string& letters) {
  std::vector<MaskKind> out;
  for (char c : letters) out.push_back(c == 'S' ? MaskKind::Sliding : MaskKind::Causal);
  return out;
}

TEST(LayerTypes, Gemma3DerivesEverySixthLayerFull) {
  if (!test::has_fixture("gemma3_gqa")) GTEST_SKIP() << "fixture gemma3_gqa not generated";
  EXPECT_EQ(masks_of_fixture_without_layer_types("gemma3_gqa", 12), pattern("SSSSSFSSSSSF"));
  EXPECT_EQ(masks_of_fixture_without_layer_types("gemma3_gqa", 7, {{"sliding_window_pattern", 3}}),
            pattern("SSFSSFS"));
}

TEST(LayerTypes, Gemma3nDerivesEveryFifthLayerFull) {
  if (!test::has_fixture("gemma3n")) GTEST_SKIP() << "fixture gemma3n not generated";
  EXPECT_EQ(masks_of_fixture_without_layer_types(
                "gemma3n", 10,
                {{"num_kv_shared_layers", 0}, {"intermediate_size", 96}, {"activation_sparsity_pattern", nullptr}}),
            pattern("SSSSFSSSSF"));
}

TEST(LayerTypes, Gemma4ForcesTheLastLayerFull) {
  if (!test::has_fixture("gemma4_dense")) GTEST_SKIP() << "fixture gemma4_dense not generated";
  EXPECT_EQ(masks_of_fixture_without_layer_types("gemma4_dense", 8, {{"num_kv_shared_layers", 0}}),
            pattern("SSSSSFSF"));
}

}  // namespace
}  // namespace glint

namespace glint {
namespace {

TEST(ConfigHelpers, RopeParametersPerLayerTypeFlatOrLegacy) {
  const json per_type = {{"full_attention", {{"rope_type", "linear"}, {"factor", 8.0}, {"rope_theta", 1e6}}},
                         {"sliding_attention", {{"rope_type", "default"}, {"rope_theta", 1e4}}}};
  const ModelConfig a = text_config({{"rope_parameters", per_type}});
  EXPECT_EQ(rope_parameters_for(a, "full_attention"), per_type["full_attention"]);
  EXPECT_EQ(rope_parameters_for(a, "sliding_attention"), per_type["sliding_attention"]);
  // One dict for every layer type (Llama 4).
  const json flat = {{"rope_type", "llama3"}, {"rope_theta", 5e5}, {"factor", 16.0}};
  const ModelConfig b = text_config({{"rope_parameters", flat}});
  EXPECT_EQ(rope_parameters_for(b, "chunked_attention"), flat);
  // Legacy keys: rope_theta plus a rope_scaling dict merged in.
  const ModelConfig c = text_config({{"rope_theta", 1e6}, {"rope_scaling", {{"rope_type", "linear"}, {"factor", 8.0}}}});
  const json legacy = rope_parameters_for(c, "full_attention");
  EXPECT_EQ(legacy["rope_type"], "linear");
  EXPECT_EQ(legacy["factor"], 8.0);
  EXPECT_EQ(legacy["rope_theta"], 1e6);
  // Nothing at all: default rotation with theta 10000.
  const json none = rope_parameters_for(text_config({}), "full_attention");
  EXPECT_EQ(none["rope_type"], "default");
  EXPECT_EQ(none["rope_theta"], 10000.0);
}

TEST(ConfigHelpers, ActivationAndTiedEmbeddings) {
  EXPECT_EQ(read_activation(text_config({{"hidden_activation", "gelu_pytorch_tanh"}}), "silu"),
            ops::Activation::GeluTanh);
  EXPECT_EQ(read_activation(text_config({{"hidden_act", "silu"}}), "gelu_pytorch_tanh"), ops::Activation::Silu);
  EXPECT_EQ(read_activation(text_config({}), "silu"), ops::Activation::Silu);
  const std::string m = message_of([] { read_activation(text_config({{"hidden_act", "relu2"}}), "silu"); });
  EXPECT_MENTIONS(m, "'relu2'");
  EXPECT_MENTIONS(m, "config.json");
  // The wrapper's tie_word_embeddings wins over the text config's.
  const ModelConfig wrapped = model_config_from_json(
      {{"model_type", "gemma3"}, {"tie_word_embeddings", false}, {"text_config", {{"tie_word_embeddings", true}}}},
      "/w");
  EXPECT_FALSE(read_tie_embeddings(wrapped, true));
  EXPECT_TRUE(read_tie_embeddings(text_config({}), true));
  EXPECT_FALSE(read_tie_embeddings(text_config({{"tie_word_embeddings", false}}), true));
}

}  // namespace
}  // namespace glint
