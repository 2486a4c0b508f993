#include "core/error.h"
#include "models/blocks.h"

namespace glint {

void llama4_moe_feed_forward(const ModelPlan& plan, int layer, const LayerWeights&, const Tensor&, const Tensor&,
                           Tensor&) {
  fail("layer ", layer, ": the llama4 mixture-of-experts block is not built yet");
}

}  // namespace glint
