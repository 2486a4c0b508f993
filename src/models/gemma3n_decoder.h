// The Gemma 3n decoder (spec: shared/spec/gemma3n.md §3): four AltUp streams instead of one residual,
// LAuReL next to attention, per-layer embeddings injected into the non-active streams. gemma3n.cpp builds
// the plan and weights; this file's class runs them.
#pragma once
#include <memory>
#include <vector>

#include "models/transformer.h"

namespace glint {

// Names under which gemma3n.cpp stores the AltUp / LAuReL tensors in ModelWeights::extra and
// LayerWeights::extra (checkpoint names, relative to the text model / layer).
inline constexpr const char* kAltupProjection = "altup_projections.";                // + stream − 1
inline constexpr const char* kAltupUnembedProjection = "altup_unembed_projections.";  // + stream − 1

// ple_source_layers[k]: which P-wide column block of embed_tokens_per_layer feeds decoder layer k (its index
// in the unsliced checkpoint); ple_table_layers: how many blocks the table holds. They differ from the
// identity only for a MatFormer slice that skips layers.
std::unique_ptr<Transformer> make_gemma3n_decoder(ModelPlan plan, ModelWeights weights,
                                                  std::vector<int> ple_source_layers, int ple_table_layers);

}  // namespace glint
