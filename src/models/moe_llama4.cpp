// Llama 4 mixture-of-experts feed-forward (spec §3.3): router logits, top-k of the raw logits, the
// sigmoid of each chosen logit scales that expert's INPUT; the shared expert always runs; outputs add up.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "core/error.h"
#include "models/blocks.h"
#include "ops/matmul.h"

namespace glint {

void llama4_moe_feed_forward(const ModelPlan& plan, int layer, const LayerWeights& w, const Tensor& x, const Tensor&,
                             Tensor& out) {
  const MoePlan& moe = *plan.layers[size_t(layer)].ffn.moe;
  const int64_t n = x.rows(), experts = moe.num_experts;
  GLINT_CHECK(moe.top_k >= 1 && moe.top_k <= experts, "layer ", layer, ": top-", moe.top_k, " of ", experts,
              " experts");

  Tensor logits = Tensor::empty({n, experts});
  ops::matmul(x, w.moe.router, logits);
  std::vector<ExpertChoice> choices;
  choices.reserve(size_t(n * moe.top_k));
  std::vector<int32_t> order(static_cast<size_t>(experts));
  for (int64_t t = 0; t < n; ++t) {
    const float* row = logits.f32() + t * experts;
    std::iota(order.begin(), order.end(), 0);
    // Highest logits first; equal logits keep the lower expert index (a stable choice).
    std::partial_sort(order.begin(), order.begin() + moe.top_k, order.end(), [&](int32_t a, int32_t b) {
      return row[a] > row[b] || (row[a] == row[b] && a < b);
    });
    for (int k = 0; k < moe.top_k; ++k) {
      const float logit = row[order[size_t(k)]];
      GLINT_CHECK(std::isfinite(logit), "layer ", layer, ": router logit of token ", t, " is not finite");
      choices.push_back({int32_t(t), order[size_t(k)], 1.0f / (1.0f + std::exp(-logit))});
    }
  }

  FeedForwardPlan shared;
  shared.intermediate = moe.shared_expert_intermediate;
  shared.activation = plan.layers[size_t(layer)].ffn.activation;
  if (shared.intermediate > 0) {
    gated_mlp(w.moe.shared, shared, shared.intermediate, x, out);
  } else {
    std::fill(out.f32(), out.f32() + out.numel(), 0.0f);
  }
  run_experts(x, choices, w.moe.gate_up, w.moe.down, moe.expert_intermediate, shared.activation,
              /*weight_scales_input=*/true, out);
}

}  // namespace glint
