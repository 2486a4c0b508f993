#include <filesystem>
#include <fstream>
#include <cstdlib>
#include <map>

#include "io/safetensors.h"
#include "models/families.h"

namespace glint {
namespace {

using Builder = std::unique_ptr<Transformer> (*)(const ModelConfig&, WeightLoader&, const LoadOptions&);

const std::map<std::string, Builder>& builders() {
  static const std::map<std::string, Builder> table = {
      {"gemma3", build_gemma3},   {"gemma3_text", build_gemma3},   {"gemma4", build_gemma4},
      {"gemma4_text", build_gemma4}, {"gemma3n", build_gemma3n}, {"gemma3n_text", build_gemma3n},
      {"llama4", build_llama4},   {"llama4_text", build_llama4},
  };
  return table;
}

}  // namespace

std::vector<std::string> supported_model_types() {
  std::vector<std::string> types;
  for (auto& [k, _] : builders()) types.push_back(k);
  return types;
}

std::unique_ptr<Transformer> load_model(const std::string& dir, const LoadOptions& options) {
  ModelConfig config = load_model_config(dir);
  auto it = builders().find(config.model_type);
  if (it == builders().end()) {
    std::string list;
    for (auto& t : supported_model_types()) list += (list.empty() ? "" : ", ") + t;
    fail(dir, "/config.json: unsupported model_type '", config.model_type, "' (supported: ", list, ")");
  }
  Checkpoint checkpoint = Checkpoint::open(dir);
  WeightLoader loader(checkpoint);
  std::unique_ptr<Transformer> model;
  try {
    model = it->second(config, loader, options);
  } catch (const Error&) {
    // A builder that trips over a missing or misshapen tensor: the loader's list names the cause.
    if (loader.has_problems()) loader.finish();
    throw;
  }
  loader.finish();
  return model;
}

std::unique_ptr<Transformer> load_synthetic_model(const std::string& name_or_path, DType dtype, int layers) {
  namespace fs = std::filesystem;
  fs::path path = name_or_path;
  if (!fs::exists(path)) {
    const char* roots[] = {std::getenv("GLINT_CONFIGS"), GLINT_CONFIG_DIR};
    for (const char* root : roots)
      if (root && fs::exists(fs::path(root) / (name_or_path + ".json"))) path = fs::path(root) / (name_or_path + ".json");
  }
  GLINT_CHECK(fs::exists(path), "unknown synthetic model '", name_or_path, "' (no ", GLINT_CONFIG_DIR, "/",
              name_or_path, ".json)");
  std::ifstream in(path);
  nlohmann::json json = nlohmann::json::parse(in);
  nlohmann::json& text = json.contains("text_config") ? json["text_config"] : json;
  if (layers > 0) {
    text["num_hidden_layers"] = layers;
    if (text.contains("layer_types") && text["layer_types"].is_array() && int(text["layer_types"].size()) > layers)
      text["layer_types"].erase(text["layer_types"].begin() + layers, text["layer_types"].end());
  }
  ModelConfig config = model_config_from_json(json, "synthetic:" + name_or_path);
  auto it = builders().find(config.model_type);
  GLINT_CHECK(it != builders().end(), path.string(), ": unsupported model_type '", config.model_type, "'");
  static const Checkpoint empty = Checkpoint::empty("synthetic:" + name_or_path);
  WeightLoader loader = WeightLoader::synthetic(empty, dtype, 1234);
  return it->second(config, loader, LoadOptions{});
}

std::vector<std::string> read_layer_types(const ModelConfig& config, int layers, int default_pattern) {
  std::vector<std::string> types;
  if (config.has("layer_types")) {
    types = config.get<std::vector<std::string>>("layer_types");
    GLINT_CHECK(int(types.size()) == layers, config.dir, "/config.json: layer_types has ", types.size(),
                " entries but num_hidden_layers is ", layers);
    for (auto& t : types)
      GLINT_CHECK(t == "full_attention" || t == "sliding_attention" || t == "chunked_attention", config.dir,
                  "/config.json: unknown layer type '", t, "'");
    return types;
  }
  const int pattern = config.get<int>("sliding_window_pattern", default_pattern);
  for (int i = 0; i < layers; ++i)
    types.push_back(pattern > 0 && (i + 1) % pattern == 0 ? "full_attention" : "sliding_attention");
  return types;
}

nlohmann::json rope_parameters_for(const ModelConfig& config, const std::string& layer_type) {
  if (config.has("rope_parameters")) {
    const auto& rp = config.text["rope_parameters"];
    if (rp.contains(layer_type) && rp[layer_type].is_object()) return rp[layer_type];
    if (rp.contains("rope_type") || rp.contains("rope_theta")) return rp;
  }
  nlohmann::json params = {{"rope_type", "default"}, {"rope_theta", config.get<double>("rope_theta", 10000.0)}};
  if (config.has("rope_scaling") && config.text["rope_scaling"].is_object())
    for (auto& [k, v] : config.text["rope_scaling"].items()) params[k] = v;
  return params;
}

void add_gemma_rope_tables(const ModelConfig& c, int head_dim, int64_t max_positions, ModelPlan& plan) {
  nlohmann::json sliding_rope, full_rope;
  if (c.has("rope_parameters") && c.text["rope_parameters"].contains("sliding_attention")) {
    sliding_rope = rope_parameters_for(c, "sliding_attention");
    full_rope = rope_parameters_for(c, "full_attention");
  } else {
    sliding_rope = {{"rope_type", "default"}, {"rope_theta", c.get<double>("rope_local_base_freq", 10000.0)}};
    full_rope = {{"rope_type", "default"}, {"rope_theta", c.get<double>("rope_theta", 1000000.0)}};
    if (c.has("rope_scaling") && c.text["rope_scaling"].is_object())
      for (auto& [k, v] : c.text["rope_scaling"].items()) full_rope[k] = v;
  }
  plan.ropes.push_back(ops::make_rope_table(sliding_rope, head_dim, max_positions, ops::RopeStyle::RotateHalf));
  plan.ropes.push_back(ops::make_rope_table(full_rope, head_dim, max_positions, ops::RopeStyle::RotateHalf));
}

ops::Activation read_activation(const ModelConfig& config, const char* fallback) {
  std::string name = config.get<std::string>("hidden_activation", config.get<std::string>("hidden_act", fallback));
  if (name == "gelu_pytorch_tanh" || name == "gelu_tanh" || name == "gelu_new") return ops::Activation::GeluTanh;
  if (name == "silu" || name == "swish") return ops::Activation::Silu;
  fail(config.dir, "/config.json: unsupported activation '", name, "' (supported: gelu_pytorch_tanh, silu)");
}

bool read_tie_embeddings(const ModelConfig& config, bool fallback) {
  if (config.raw.contains("tie_word_embeddings") && config.raw["tie_word_embeddings"].is_boolean())
    return config.raw["tie_word_embeddings"].get<bool>();
  return config.get<bool>("tie_word_embeddings", fallback);
}

void load_attention(WeightLoader& loader, const std::string& p, const ModelPlan& plan, int layer,
                    AttentionWeights& w) {
  const AttentionPlan& a = plan.layers[size_t(layer)].attention;
  const int64_t h = plan.hidden, q = int64_t(a.n_heads) * a.head_dim, kv = int64_t(a.n_kv_heads) * a.head_dim;
  w.q = loader.matrix(p + "q_proj.weight", {q, h});
  w.o = loader.matrix(p + "o_proj.weight", {h, q});
  if (a.bias) {
    w.q_bias = loader.vector_f32(p + "q_proj.bias", {q});
    w.o_bias = loader.vector_f32(p + "o_proj.bias", {h});
  }
  if (a.q_norm == NormKind::Rms || a.q_norm == NormKind::RmsPlusOne)
    w.q_norm = loader.vector_f32(p + "q_norm.weight", {a.head_dim});
  if (a.kv_owner != layer) {
    for (const char* name : {"k_proj.weight", "v_proj.weight", "k_norm.weight", "v_norm.weight"})
      loader.ignore(p + name);
    return;
  }
  w.k = loader.matrix(p + "k_proj.weight", {kv, h});
  if (!a.k_eq_v) w.v = loader.matrix(p + "v_proj.weight", {kv, h});
  if (a.bias) {
    w.k_bias = loader.vector_f32(p + "k_proj.bias", {kv});
    if (!a.k_eq_v) w.v_bias = loader.vector_f32(p + "v_proj.bias", {kv});
  }
  if (a.k_norm == NormKind::Rms || a.k_norm == NormKind::RmsPlusOne)
    w.k_norm = loader.vector_f32(p + "k_norm.weight", {a.head_dim});
}

void load_mlp(WeightLoader& loader, const std::string& p, int hidden, int intermediate, MlpWeights& w) {
  w.gate = loader.matrix(p + "gate_proj.weight", {intermediate, hidden});
  w.up = loader.matrix(p + "up_proj.weight", {intermediate, hidden});
  w.down = loader.matrix(p + "down_proj.weight", {hidden, intermediate});
}

}  // namespace glint
