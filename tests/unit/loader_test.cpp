// Loading broken checkpoints fails with a glint::Error that names the problem and the file or tensor,
// never a crash: safetensors files, sharded indexes, config.json and the tensors a family asks for.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/error.h"
#include "io/safetensors.h"
#include "models/transformer.h"
#include "safetensors_writer.h"
#include "test_util.h"

namespace glint {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using test::TempDir;
using test::TensorBytes;

// Runs `body`, which must throw glint::Error; returns its message (empty and a test failure otherwise).
std::string error_of(const std::function<void()>& body) {
  try {
    body();
  } catch (const Error& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "threw a non-glint exception: " << e.what();
    return "";
  }
  ADD_FAILURE() << "no error was thrown";
  return "";
}

#define EXPECT_MENTIONS(message, part) \
  EXPECT_NE((message).find(part), std::string::npos) << "message: " << (message) << "\nexpected to mention: " << (part)

std::vector<TensorBytes> two_tensors() {
  return {test::f32_tensor("a", {2, 3}, 1.5f), test::f32_tensor("b", {4}, -2.0f)};
}

// ---------------------------------------------------------------------------------------------------
// Single safetensors files

TEST(SafetensorsFile, WellFormedFileRoundTrips) {
  TempDir dir("st_ok");
  test::write_safetensors(dir / "x.safetensors", two_tensors(), {{"format", "pt"}});
  auto file = SafetensorsFile::open((dir / "x.safetensors").string());
  ASSERT_EQ(file->tensors().size(), 2u);
  EXPECT_EQ(file->tensors().at("a").shape, (std::vector<int64_t>{2, 3}));
  Tensor a = file->get("a"), b = file->get("b");
  for (int i = 0; i < 6; ++i) EXPECT_EQ(a.f32()[i], 1.5f);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(b.f32()[i], -2.0f);
  EXPECT_EQ(file->metadata().at("format"), "pt");
  EXPECT_MENTIONS(error_of([&] { file->get("c"); }), "'c'");
}

TEST(SafetensorsFile, TooShortFile) {
  TempDir dir("st_short");
  test::write_bytes(dir / "x.safetensors", {1, 2, 3});
  const std::string m = error_of([&] { SafetensorsFile::open((dir / "x.safetensors").string()); });
  EXPECT_MENTIONS(m, "x.safetensors");
  EXPECT_MENTIONS(m, "too short");
}

TEST(SafetensorsFile, MissingFile) {
  TempDir dir("st_missing");
  const std::string m = error_of([&] { SafetensorsFile::open((dir / "nope.safetensors").string()); });
  EXPECT_MENTIONS(m, "nope.safetensors");
}

TEST(SafetensorsFile, TruncatedDataSection) {
  TempDir dir("st_trunc");
  auto bytes = test::safetensors_bytes(two_tensors());
  bytes.resize(bytes.size() - 5);  // cut inside the last tensor
  test::write_bytes(dir / "x.safetensors", bytes);
  const std::string m = error_of([&] { SafetensorsFile::open((dir / "x.safetensors").string()); });
  EXPECT_MENTIONS(m, "x.safetensors");
  EXPECT_MENTIONS(m, "'b'");
  EXPECT_MENTIONS(m, "truncated");
}

TEST(SafetensorsFile, TruncatedInsideTheHeader) {
  TempDir dir("st_trunc_header");
  auto bytes = test::safetensors_bytes(two_tensors());
  bytes.resize(20);
  test::write_bytes(dir / "x.safetensors", bytes);
  const std::string m = error_of([&] { SafetensorsFile::open((dir / "x.safetensors").string()); });
  EXPECT_MENTIONS(m, "x.safetensors");
  EXPECT_MENTIONS(m, "truncated");
}

TEST(SafetensorsFile, HeaderLengthPastTheEnd) {
  TempDir dir("st_hlen");
  auto bytes = test::safetensors_bytes(two_tensors());
  for (uint64_t declared : {uint64_t(bytes.size()), uint64_t(1) << 62, ~uint64_t(0)}) {
    for (int i = 0; i < 8; ++i) bytes[size_t(i)] = uint8_t(declared >> (8 * i));
    test::write_bytes(dir / "x.safetensors", bytes);
    const std::string m = error_of([&] { SafetensorsFile::open((dir / "x.safetensors").string()); });
    EXPECT_MENTIONS(m, "x.safetensors");
    EXPECT_MENTIONS(m, std::to_string(declared));
  }
}

TEST(SafetensorsFile, CorruptJsonHeader) {
  TempDir dir("st_json");
  for (const std::string header : {"{\"a\": {\"dtype\": \"F32\", ", "not json at all", "{\"a\": [1, 2,]}"}) {
    test::write_bytes(dir / "x.safetensors", test::safetensors_bytes(header, std::vector<uint8_t>(24)));
    const std::string m = error_of([&] { SafetensorsFile::open((dir / "x.safetensors").string()); });
    EXPECT_MENTIONS(m, "x.safetensors");
    EXPECT_MENTIONS(m, "corrupt safetensors header");
  }
  test::write_bytes(dir / "x.safetensors", test::safetensors_bytes("[1, 2]", {}));
  EXPECT_MENTIONS(error_of([&] { SafetensorsFile::open((dir / "x.safetensors").string()); }), "not a JSON object");
}

// Writes a file whose header entry for "a" is `entry` (data: 24 bytes) and returns the open error.
std::string entry_error(const TempDir& dir, const json& entry) {
  json header = {{"a", entry}};
  test::write_bytes(dir / "x.safetensors", test::safetensors_bytes(header.dump(), std::vector<uint8_t>(24)));
  return error_of([&] { SafetensorsFile::open((dir / "x.safetensors").string()); });
}

TEST(SafetensorsFile, TensorOffsetsOutOfRange) {
  TempDir dir("st_offsets");
  std::string m = entry_error(dir, {{"dtype", "F32"}, {"shape", {8}}, {"data_offsets", {16, 48}}});
  EXPECT_MENTIONS(m, "x.safetensors");
  EXPECT_MENTIONS(m, "'a'");
  EXPECT_MENTIONS(m, "ends at byte 48");
  m = entry_error(dir, {{"dtype", "F32"}, {"shape", {2}}, {"data_offsets", {16, 8}}});
  EXPECT_MENTIONS(m, "'a'");
  EXPECT_MENTIONS(m, "data_offsets");
  m = entry_error(dir, {{"dtype", "F32"}, {"shape", {2}}, {"data_offsets", {8}}});
  EXPECT_MENTIONS(m, "'a'");
  m = entry_error(dir, {{"dtype", "F32"}, {"shape", {2}}, {"data_offsets", {-8, 0}}});
  EXPECT_MENTIONS(m, "'a'");
}

TEST(SafetensorsFile, DtypeShapeSizeMismatch) {
  TempDir dir("st_size");
  std::string m = entry_error(dir, {{"dtype", "F32"}, {"shape", {2, 2}}, {"data_offsets", {0, 24}}});
  EXPECT_MENTIONS(m, "x.safetensors");
  EXPECT_MENTIONS(m, "'a'");
  EXPECT_MENTIONS(m, "has 24 bytes but its shape and dtype need 16");
  m = entry_error(dir, {{"dtype", "BF16"}, {"shape", {6}}, {"data_offsets", {0, 24}}});
  EXPECT_MENTIONS(m, "need 12");
  // A shape whose element count overflows 64 bits must not wrap around to a matching size.
  // (2^62 + 6) · 4 bytes is 24 modulo 2^64.
  m = entry_error(dir, {{"dtype", "F32"}, {"shape", {(int64_t(1) << 62) + 6}}, {"data_offsets", {0, 24}}});
  EXPECT_MENTIONS(m, "'a'");
  m = entry_error(dir, {{"dtype", "F32"}, {"shape", {int64_t(1) << 31, int64_t(1) << 31, 4}}, {"data_offsets", {0, 24}}});
  EXPECT_MENTIONS(m, "'a'");
  m = entry_error(dir, {{"dtype", "F32"}, {"shape", {-2, -3}}, {"data_offsets", {0, 24}}});
  EXPECT_MENTIONS(m, "'a'");
}

TEST(SafetensorsFile, UnknownDtypeAndMalformedEntries) {
  TempDir dir("st_dtype");
  std::string m = entry_error(dir, {{"dtype", "F8_E9M9"}, {"shape", {6}}, {"data_offsets", {0, 24}}});
  EXPECT_MENTIONS(m, "'a'");
  EXPECT_MENTIONS(m, "F8_E9M9");
  m = entry_error(dir, {{"shape", {6}}, {"data_offsets", {0, 24}}});
  EXPECT_MENTIONS(m, "'a'");
  m = entry_error(dir, json::array({1, 2}));
  EXPECT_MENTIONS(m, "'a'");
  m = entry_error(dir, {{"dtype", 5}, {"shape", "six"}, {"data_offsets", {0, 24}}});
  EXPECT_MENTIONS(m, "'a'");
}

TEST(SafetensorsFile, ZeroSizedTensorIsFine) {
  TempDir dir("st_zero");
  test::write_safetensors(dir / "x.safetensors", {test::f32_tensor("empty", {0, 4}), test::f32_tensor("b", {2})});
  auto file = SafetensorsFile::open((dir / "x.safetensors").string());
  EXPECT_EQ(file->get("empty").numel(), 0);
  EXPECT_EQ(file->get("b").f32()[1], 0.5f);
}

// ---------------------------------------------------------------------------------------------------
// Checkpoint directories

TEST(Checkpoint, MissingOrEmptyDirectory) {
  TempDir dir("ck_empty");
  EXPECT_MENTIONS(error_of([&] { Checkpoint::open(dir.str()); }), "no *.safetensors");
  EXPECT_MENTIONS(error_of([&] { Checkpoint::open(dir.str() + "/absent"); }), "absent");
}

json index_for(const std::map<std::string, std::string>& where) {
  json map = json::object();
  for (auto& [name, file] : where) map[name] = file;
  return {{"metadata", {{"total_size", 0}}}, {"weight_map", map}};
}

TEST(Checkpoint, ShardedIndexNamingAMissingShard) {
  TempDir dir("ck_shard");
  test::write_safetensors(dir / "model-00001-of-00002.safetensors", {test::f32_tensor("a", {2})});
  test::write_text(dir / "model.safetensors.index.json",
                   index_for({{"a", "model-00001-of-00002.safetensors"}, {"b", "model-00002-of-00002.safetensors"}})
                       .dump());
  const std::string m = error_of([&] { Checkpoint::open(dir.str()); });
  EXPECT_MENTIONS(m, "model.safetensors.index.json");
  EXPECT_MENTIONS(m, "model-00002-of-00002.safetensors");
  EXPECT_MENTIONS(m, "missing");
}

TEST(Checkpoint, ShardedIndexProblems) {
  TempDir dir("ck_index");
  test::write_safetensors(dir / "s1.safetensors", {test::f32_tensor("a", {2})});
  test::write_safetensors(dir / "s2.safetensors", {test::f32_tensor("b", {2}), test::f32_tensor("a", {2})});
  const auto index = dir / "model.safetensors.index.json";
  // Tensor listed in a shard that does not hold it.
  test::write_text(index, index_for({{"a", "s1.safetensors"}, {"c", "s1.safetensors"}}).dump());
  std::string m = error_of([&] { Checkpoint::open(dir.str()); });
  EXPECT_MENTIONS(m, "'c'");
  EXPECT_MENTIONS(m, "s1.safetensors");
  // The same tensor in two shards.
  test::write_text(index, index_for({{"a", "s1.safetensors"}, {"b", "s2.safetensors"}}).dump());
  m = error_of([&] { Checkpoint::open(dir.str()); });
  EXPECT_MENTIONS(m, "'a'");
  EXPECT_MENTIONS(m, "two files");
  // Not JSON, no weight_map, a shard name that is not a string.
  test::write_text(index, "{ weight_map: ");
  m = error_of([&] { Checkpoint::open(dir.str()); });
  EXPECT_MENTIONS(m, "model.safetensors.index.json");
  test::write_text(index, R"({"metadata": {}})");
  EXPECT_MENTIONS(error_of([&] { Checkpoint::open(dir.str()); }), "weight_map");
  test::write_text(index, R"({"weight_map": {"a": 3}})");
  m = error_of([&] { Checkpoint::open(dir.str()); });
  EXPECT_MENTIONS(m, "model.safetensors.index.json");
  EXPECT_MENTIONS(m, "'a'");
}

TEST(Checkpoint, BrokenShardNamesItsFile) {
  TempDir dir("ck_broken_shard");
  test::write_safetensors(dir / "s1.safetensors", {test::f32_tensor("a", {2})});
  test::write_bytes(dir / "s2.safetensors", {9, 9, 9});
  test::write_text(dir / "model.safetensors.index.json",
                   index_for({{"a", "s1.safetensors"}, {"b", "s2.safetensors"}}).dump());
  EXPECT_MENTIONS(error_of([&] { Checkpoint::open(dir.str()); }), "s2.safetensors");
}

// ---------------------------------------------------------------------------------------------------
// Whole models: a fixture checkpoint rewritten with one thing wrong

class BrokenModel : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!test::has_fixture("gemma3_gqa")) GTEST_SKIP() << "fixture gemma3_gqa not generated";
    source_ = test::fixture_dir("gemma3_gqa");
    tensors_ = test::read_all_tensors(source_ + "/model.safetensors");
    std::ifstream in(source_ + "/config.json");
    config_ = json::parse(in);
  }
  // Writes config + tensors into a fresh dir and loads it; returns the error message.
  std::string load_error(const json& config, const std::vector<TensorBytes>& tensors) {
    TempDir dir("model");
    test::write_text(dir / "config.json", config.dump(2));
    test::write_safetensors(dir / "model.safetensors", tensors);
    return error_of([&] { load_model(dir.str()); });
  }
  std::vector<TensorBytes> without(const std::string& name) const {
    std::vector<TensorBytes> out;
    for (const auto& t : tensors_)
      if (t.name != name) out.push_back(t);
    EXPECT_EQ(out.size() + 1, tensors_.size()) << name << " is not in the fixture";
    return out;
  }
  TensorBytes& find(std::vector<TensorBytes>& tensors, const std::string& name) {
    for (auto& t : tensors)
      if (t.name == name) return t;
    throw std::runtime_error("no tensor " + name);
  }
  std::string source_;
  std::vector<TensorBytes> tensors_;
  json config_;
};

TEST(UnalignedCheckpoint, LoadsAndRunsLikeTheAlignedOne) {
  // Safetensors does not promise aligned data: a header of odd length puts every tensor at an odd address.
  const std::vector<int32_t> ids = {2, 17, 301, 5, 88};
  auto logits_of = [&](const std::string& dir) {
    auto model = load_model(dir);
    KVCache cache = model->new_cache();
    ForwardRequest request{ids, &cache, true};
    Tensor logits = model->forward(std::span(&request, 1));
    return std::vector<float>(logits.f32(), logits.f32() + logits.numel());
  };
  for (const char* fixture : {"gemma3_gqa", "gemma3_bf16", "gemma4_moe", "llama4"}) {
    if (!test::has_fixture(fixture)) continue;
    const std::string source = test::fixture_dir(fixture);
    const auto tensors = test::read_all_tensors(source + "/model.safetensors");
    const auto expected = logits_of(source);
    for (size_t pad : {1, 2, 3}) {
      TempDir dir("unaligned");
      fs::copy_file(fs::path(source) / "config.json", dir / "config.json");
      json header = test::safetensors_header(tensors, {{"pad", std::string(pad, 'x')}});
      std::vector<uint8_t> data;
      for (const auto& t : tensors) data.insert(data.end(), t.data.begin(), t.data.end());
      test::write_bytes(dir / "model.safetensors", test::safetensors_bytes(header.dump(), data));
      const auto got = logits_of(dir.str());
      EXPECT_EQ(got, expected) << fixture << " with header padding " << pad;
    }
  }
}

TEST_F(BrokenModel, MissingTensor) {
  const std::string m = load_error(config_, without("model.layers.3.mlp.up_proj.weight"));
  EXPECT_MENTIONS(m, "missing tensor model.layers.3.mlp.up_proj.weight");
  EXPECT_MENTIONS(m, "[64, 64]");
}

TEST_F(BrokenModel, MissingEmbeddingNamesWhatWasLookedFor) {
  const std::string m = load_error(config_, without("model.embed_tokens.weight"));
  EXPECT_MENTIONS(m, "embed_tokens.weight");
}

TEST_F(BrokenModel, WrongShape) {
  auto tensors = tensors_;
  auto& t = find(tensors, "model.layers.1.self_attn.k_proj.weight");  // [kv·D, H] = [64, 64]
  t.shape = {32, 128};
  const std::string m = load_error(config_, tensors);
  EXPECT_MENTIONS(m, "model.layers.1.self_attn.k_proj.weight has shape [32, 128], expected [64, 64]");
}

TEST_F(BrokenModel, ConfigDisagreesWithTheTensors) {
  json config = config_;
  config["intermediate_size"] = 96;
  const std::string m = load_error(config, tensors_);
  EXPECT_MENTIONS(m, "mlp.gate_proj.weight has shape [64, 64], expected [96, 64]");
}

TEST_F(BrokenModel, UnexpectedTensor) {
  auto tensors = tensors_;
  tensors.push_back(test::f32_tensor("model.layers.2.self_attn.surprise.weight", {4}));
  const std::string m = load_error(config_, tensors);
  EXPECT_MENTIONS(m, "unexpected tensor model.layers.2.self_attn.surprise.weight");
  // Extra layers beyond num_hidden_layers are unexpected too.
  json fewer = config_;
  fewer["num_hidden_layers"] = 5;
  fewer["layer_types"].erase(5);
  EXPECT_MENTIONS(load_error(fewer, tensors_), "unexpected tensor model.layers.5.");
}

TEST_F(BrokenModel, WrongDtype) {
  auto tensors = tensors_;
  auto& t = find(tensors, "model.norm.weight");
  t.dtype = "I32";
  const std::string m = load_error(config_, tensors);
  EXPECT_MENTIONS(m, "model.norm.weight");
  EXPECT_MENTIONS(m, "dtype");
}

TEST_F(BrokenModel, EveryProblemIsListedAtOnce) {
  auto tensors = without("model.layers.0.input_layernorm.weight");
  find(tensors, "model.layers.4.mlp.down_proj.weight").shape = {32, 128};
  tensors.push_back(test::f32_tensor("model.extra", {1}));
  const std::string m = load_error(config_, tensors);
  EXPECT_MENTIONS(m, "model.layers.0.input_layernorm.weight");
  EXPECT_MENTIONS(m, "model.layers.4.mlp.down_proj.weight");
  EXPECT_MENTIONS(m, "model.extra");
}

TEST_F(BrokenModel, UnknownModelTypeListsTheSupportedOnes) {
  json config = config_;
  config["model_type"] = "mistral";
  const std::string m = load_error(config, tensors_);
  EXPECT_MENTIONS(m, "config.json");
  EXPECT_MENTIONS(m, "'mistral'");
  for (const auto& type : supported_model_types()) EXPECT_MENTIONS(m, type);
  EXPECT_MENTIONS(m, "gemma3");
  EXPECT_MENTIONS(m, "llama4");
}

TEST_F(BrokenModel, MissingOrCorruptConfig) {
  TempDir dir("model_noconfig");
  test::write_safetensors(dir / "model.safetensors", tensors_);
  std::string m = error_of([&] { load_model(dir.str()); });
  EXPECT_MENTIONS(m, "config.json");
  EXPECT_MENTIONS(m, dir.str());
  test::write_text(dir / "config.json", "{\"model_type\": \"gemma3_text\", ");
  m = error_of([&] { load_model(dir.str()); });
  EXPECT_MENTIONS(m, "config.json");
  EXPECT_MENTIONS(m, "invalid JSON");
  test::write_text(dir / "config.json", R"({"hidden_size": 64})");
  EXPECT_MENTIONS(error_of([&] { load_model(dir.str()); }), "model_type");
  // A required field missing, or of the wrong type.
  json config = config_;
  config.erase("hidden_size");
  EXPECT_MENTIONS(load_error(config, tensors_), "'hidden_size'");
  config = config_;
  config["num_attention_heads"] = "four";
  EXPECT_MENTIONS(load_error(config, tensors_), "'num_attention_heads'");
  EXPECT_MENTIONS(error_of([&] { load_model(dir.str() + "/nowhere"); }), "nowhere");
}

TEST_F(BrokenModel, NoWeightsAtAll) {
  TempDir dir("model_noweights");
  test::write_text(dir / "config.json", config_.dump());
  EXPECT_MENTIONS(error_of([&] { load_model(dir.str()); }), "no *.safetensors");
}

// Every fixture family: removing any one tensor, or giving it a wrong shape, is an error naming that
// tensor (or, for tensors the text model does not use, no error) — never a crash. Each tensor goes in its
// own shard so that a variant only rewrites the index.
void sweep_fixture(const std::string& name, int stride) {
  if (!test::has_fixture(name)) return;
  SCOPED_TRACE(name);
  const std::string source = test::fixture_dir(name);
  std::vector<TensorBytes> tensors;
  for (const auto& entry : fs::directory_iterator(source)) {
    const std::string file = entry.path().filename().string();
    if (file.rfind("model", 0) == 0 && entry.path().extension() == ".safetensors") {
      auto part = test::read_all_tensors(entry.path().string());
      tensors.insert(tensors.end(), part.begin(), part.end());
    }
  }
  TempDir dir("sweep_" + name);
  for (const char* extra : {"config.json", "slice.json"})
    if (fs::exists(fs::path(source) / extra)) fs::copy_file(fs::path(source) / extra, dir / extra);
  std::map<std::string, std::string> where;
  for (size_t i = 0; i < tensors.size(); ++i) {
    where[tensors[i].name] = "t" + std::to_string(i) + ".safetensors";
    test::write_safetensors(dir / where[tensors[i].name], {tensors[i]});
  }
  const auto index = dir / "model.safetensors.index.json";
  test::write_text(index, index_for(where).dump());
  ASSERT_NO_THROW(load_model(dir.str()));
  for (size_t i = 0; i < tensors.size(); i += size_t(stride)) {
    const TensorBytes& t = tensors[i];
    SCOPED_TRACE(t.name);
    // Missing.
    auto fewer = where;
    fewer.erase(t.name);
    test::write_text(index, index_for(fewer).dump());
    try {
      load_model(dir.str());
    } catch (const Error& e) {
      // Without the embedding the text model's prefix is unknown: the error names what was looked for.
      const bool embedding = t.name.ends_with("embed_tokens.weight");
      EXPECT_MENTIONS(std::string(e.what()), embedding ? "embed_tokens.weight" : t.name);
    }
    // Wrong shape: one more element in the last dimension.
    TensorBytes wrong = t;
    int64_t old_numel = 1;
    for (int64_t d : t.shape) old_numel *= d;
    if (wrong.shape.empty()) wrong.shape.push_back(1);
    wrong.shape.back() += 1;
    int64_t new_numel = 1;
    for (int64_t d : wrong.shape) new_numel *= d;
    const size_t element = old_numel > 0 ? t.data.size() / size_t(old_numel) : 4;
    wrong.data.assign(size_t(new_numel) * element, 0);
    test::write_safetensors(dir / "wrong.safetensors", {wrong});
    auto misshapen = where;
    misshapen[t.name] = "wrong.safetensors";
    test::write_text(index, index_for(misshapen).dump());
    try {
      load_model(dir.str());
    } catch (const Error& e) {
      EXPECT_MENTIONS(std::string(e.what()), t.name);
    }
  }
}

TEST(BrokenFixtures, AnyMissingOrMisshapenTensorIsAnErrorNamingIt) {
  // Strides keep the test fast while still touching every kind of tensor of each family.
  sweep_fixture("gemma3_gqa", 9);
  sweep_fixture("gemma3_multimodal", 11);
  sweep_fixture("gemma3n", 5);
  sweep_fixture("gemma4_dense", 7);
  sweep_fixture("gemma4_moe", 5);
  sweep_fixture("llama4", 3);
}

}  // namespace
}  // namespace glint
