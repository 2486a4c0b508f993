// Each family turns config.json into a ModelPlan and names its tensors; see models/<family>.cpp.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "io/model_config.h"
#include "models/transformer.h"
#include "models/weights.h"

namespace glint {

std::unique_ptr<Transformer> build_gemma3(const ModelConfig& config, WeightLoader& loader, const LoadOptions& options);
std::unique_ptr<Transformer> build_gemma4(const ModelConfig& config, WeightLoader& loader, const LoadOptions& options);
std::unique_ptr<Transformer> build_gemma3n(const ModelConfig& config, WeightLoader& loader, const LoadOptions& options);
std::unique_ptr<Transformer> build_llama4(const ModelConfig& config, WeightLoader& loader, const LoadOptions& options);

// Helpers shared by the family files.
// layer_types from config, else derived: full every `pattern`-th layer (i+1) % pattern == 0.
std::vector<std::string> read_layer_types(const ModelConfig& config, int layers, int default_pattern);
// The rope parameters of a layer type: rope_parameters[type] (or rope_parameters itself when it is flat).
nlohmann::json rope_parameters_for(const ModelConfig& config, const std::string& layer_type);
// Gemma 3 / 3n RoPE: appends table 0 for sliding layers (rope_parameters["sliding_attention"], else the legacy
// rope_local_base_freq, never scaled) and table 1 for full layers (rope_parameters["full_attention"], else the
// legacy rope_theta with rope_scaling merged in).
void add_gemma_rope_tables(const ModelConfig& config, int head_dim, int64_t max_positions, ModelPlan& plan);
ops::Activation read_activation(const ModelConfig& config, const char* fallback);
bool read_tie_embeddings(const ModelConfig& config, bool fallback);
// Loads the standard attention projections (+ q/k norms when present in the plan) of layer i.
void load_attention(WeightLoader& loader, const std::string& prefix, const ModelPlan& plan, int layer,
                    AttentionWeights& w);
void load_mlp(WeightLoader& loader, const std::string& prefix, int hidden, int intermediate, MlpWeights& w);

}  // namespace glint
