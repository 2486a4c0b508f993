// Feed-forward blocks shared by the families: the gated MLP and mixture-of-experts layers.
#pragma once
#include <span>

#include "core/tensor.h"
#include "models/layer_plan.h"
#include "models/weights.h"

namespace glint {

// out = down(act(gate(x)) ⊙ up(x)), with Gemma 3n activation sparsity when the plan asks for it.
void gated_mlp(const MlpWeights& w, const FeedForwardPlan& ffn, int intermediate, const Tensor& x, Tensor& out);

// One routing decision: token row `token` goes to `expert` with `weight`.
struct ExpertChoice {
  int32_t token;
  int32_t expert;
  float weight;
};

// Routed experts with fused weights: gate_up [E, 2·I, H] (gate rows first), down [E, H, I], both stored
// [out, in]. For every choice: y = expert(x[token]) · weight, or expert(x[token] · weight) when
// `weight_scales_input` (Llama 4). Results are added to out[token] (out is not cleared).
// Tokens are grouped by expert so each expert's weights are read once per call, and only chosen experts
// are read at all.
void run_experts(const Tensor& x, std::span<const ExpertChoice> choices, const Tensor& gate_up, const Tensor& down,
                 int intermediate, Activation activation, bool weight_scales_input, Tensor& out);

// The whole feed-forward of a MoE layer: routed experts plus the family's dense or shared path.
// `x` is the pre-feed-forward-normed input, `residual` the stream before the block.
// Dispatches on plan.layers[layer].ffn.moe->router.
void moe_feed_forward(const ModelPlan& plan, int layer, const LayerWeights& w, const Tensor& x,
                      const Tensor& residual, Tensor& out);

// Family routers (moe_<family>.cpp), called by moe_feed_forward.
void gemma4_moe_feed_forward(const ModelPlan& plan, int layer, const LayerWeights& w, const Tensor& x,
                             const Tensor& residual, Tensor& out);
void llama4_moe_feed_forward(const ModelPlan& plan, int layer, const LayerWeights& w, const Tensor& x,
                             const Tensor& residual, Tensor& out);

}  // namespace glint
