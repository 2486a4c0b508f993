#include "models/layer_plan.h"

#include <sstream>

namespace glint {

std::string ModelPlan::describe() const {
  std::ostringstream out;
  out << family << " (" << architecture << "): " << layers.size() << " layers, hidden " << hidden << ", vocab "
      << vocab << ", embed scale " << embed_scale << ", final norm " << ops::norm_kind_name(final_norm)
      << (final_softcap > 0 ? ", final softcap " + std::to_string(final_softcap) : std::string())
      << (tied_embeddings ? ", tied head" : ", separate head");
  if (per_layer_input_width) out << ", per-layer inputs " << per_layer_input_width;
  if (altup_streams > 1) out << ", AltUp " << altup_streams << " streams";
  if (laurel_rank) out << ", LAuReL rank " << laurel_rank;
  if (num_labels) out << ", classifier " << num_labels << " labels";
  out << "\n";
  for (size_t r = 0; r < ropes.size(); ++r) out << "  rope " << r << ": " << ropes[r].describe() << "\n";
  out << "  layer  attention        heads  kv  hdim  scale     rope  kv-cache   ffn\n";
  for (size_t i = 0; i < layers.size(); ++i) {
    const auto& l = layers[i];
    const auto& a = l.attention;
    std::string kind = a.mask == MaskKind::Causal    ? "full"
                       : a.mask == MaskKind::Sliding ? "sliding " + std::to_string(a.window)
                                                     : "chunked " + std::to_string(a.window);
    std::string cache = a.kv_owner == int(i) ? "own" : "layer " + std::to_string(a.kv_owner);
    std::string ffn;
    if (l.ffn.intermediate) ffn = std::string("mlp ") + std::to_string(l.ffn.intermediate) + " " +
                                  ops::activation_name(l.ffn.activation);
    if (l.ffn.activation_sparsity > 0) ffn += " sparsity " + std::to_string(l.ffn.activation_sparsity).substr(0, 4);
    if (l.ffn.moe)
      ffn += std::string(ffn.empty() ? "" : " + ") + "moe " + std::to_string(l.ffn.moe->num_experts) + "x" +
             std::to_string(l.ffn.moe->expert_intermediate) + " top-" + std::to_string(l.ffn.moe->top_k) +
             (l.ffn.moe->shared_expert_intermediate ? " + shared" : "");
    // Q/K normalisation, and whether it follows the rotation (Llama 4) or precedes it (Gemma).
    std::string qk_norm;
    if (a.q_norm != NormKind::None)
      qk_norm = std::string(" qk-norm ") + ops::norm_kind_name(a.q_norm) + (a.qk_norm_after_rope ? " after rope" : "");
    char line[320];
    std::snprintf(line, sizeof line, "  %5zu  %-15s  %5d  %2d  %4d  %-8.5g  %-4s  %-9s  %s%s%s%s%s\n", i, kind.c_str(),
                  a.n_heads, a.n_kv_heads, a.head_dim, double(a.scale), a.rope < 0 ? "none" : std::to_string(a.rope).c_str(),
                  cache.c_str(), ffn.c_str(), a.k_eq_v ? " k=v" : "", l.per_layer_input ? " ple" : "",
                  a.temperature_tuning ? " temp-tuning" : "", qk_norm.c_str());
    out << line;
  }
  return out.str();
}

}  // namespace glint
