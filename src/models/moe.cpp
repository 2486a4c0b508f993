#include "core/error.h"
#include "models/blocks.h"

namespace glint {

void moe_feed_forward(const ModelPlan& plan, int layer, const LayerWeights& w, const Tensor& x,
                      const Tensor& residual, Tensor& out) {
  fail("layer ", layer, ": mixture-of-experts feed-forward is not implemented for ", plan.family, " yet");
}

}  // namespace glint
