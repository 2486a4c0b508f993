// Feed-forward blocks shared by the families: the gated MLP and mixture-of-experts layers.
#pragma once
#include "core/tensor.h"
#include "models/layer_plan.h"
#include "models/weights.h"

namespace glint {

// out = down(act(gate(x)) ⊙ up(x)), with Gemma 3n activation sparsity when the plan asks for it.
void gated_mlp(const MlpWeights& w, const FeedForwardPlan& ffn, int intermediate, const Tensor& x, Tensor& out);

// The whole feed-forward of a MoE layer: routed experts plus the family's dense or shared path.
// `x` is the pre-feed-forward-normed input, `residual` the stream before the block.
void moe_feed_forward(const ModelPlan& plan, int layer, const LayerWeights& w, const Tensor& x,
                      const Tensor& residual, Tensor& out);

}  // namespace glint
