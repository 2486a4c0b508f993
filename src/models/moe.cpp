#include <algorithm>
#include <cstring>
#include <vector>

#include "core/error.h"
#include "models/blocks.h"
#include "ops/matmul.h"

namespace glint {

void run_experts(const Tensor& x, std::span<const ExpertChoice> choices, const Tensor& gate_up, const Tensor& down,
                 int intermediate, Activation activation, bool weight_scales_input, Tensor& out) {
  GLINT_CHECK(gate_up.dims() == 3 && down.dims() == 3, "experts: fused weights must be 3-D");
  const int64_t experts = gate_up.size(0), hidden = x.cols(), inter = intermediate;
  GLINT_CHECK(gate_up.size(1) == 2 * inter && gate_up.size(2) == hidden, "experts: gate_up ",
              gate_up.shape_string(), " does not match hidden ", hidden, " and intermediate ", inter);
  GLINT_CHECK(down.size(0) == experts && down.size(1) == hidden && down.size(2) == inter, "experts: down ",
              down.shape_string(), " does not match");
  const size_t elem = dtype_size(gate_up.dtype());
  std::vector<std::vector<const ExpertChoice*>> by_expert(static_cast<size_t>(experts));
  for (const auto& c : choices) {
    GLINT_CHECK(c.expert >= 0 && c.expert < experts, "router chose expert ", c.expert, " of ", experts);
    by_expert[size_t(c.expert)].push_back(&c);
  }
  const float* xp = x.f32();
  float* op = out.f32();
  for (int64_t e = 0; e < experts; ++e) {
    const auto& picks = by_expert[size_t(e)];
    if (picks.empty()) continue;
    const int64_t m = int64_t(picks.size());
    std::vector<float> in(static_cast<size_t>(m * hidden)), gu(static_cast<size_t>(m * 2 * inter)),
        act(static_cast<size_t>(m * inter)), y(static_cast<size_t>(m * hidden));
    for (int64_t r = 0; r < m; ++r) {
      const float scale = weight_scales_input ? picks[size_t(r)]->weight : 1.0f;
      const float* src = xp + int64_t(picks[size_t(r)]->token) * hidden;
      for (int64_t j = 0; j < hidden; ++j) in[size_t(r * hidden + j)] = src[j] * scale;
    }
    const char* gu_base = static_cast<const char*>(gate_up.raw()) + size_t(e) * size_t(2 * inter * hidden) * elem;
    ops::matmul_raw(in.data(), m, hidden, gu_base, gate_up.dtype(), hidden, 2 * inter, gu.data(), false);
    for (int64_t r = 0; r < m; ++r)
      for (int64_t j = 0; j < inter; ++j) {
        const float g = gu[size_t(r * 2 * inter + j)], u = gu[size_t(r * 2 * inter + inter + j)];
        act[size_t(r * inter + j)] = (activation == Activation::GeluTanh ? ops::gelu_tanh(g) : ops::silu(g)) * u;
      }
    const char* down_base = static_cast<const char*>(down.raw()) + size_t(e) * size_t(hidden * inter) * elem;
    ops::matmul_raw(act.data(), m, inter, down_base, down.dtype(), inter, hidden, y.data(), false);
    for (int64_t r = 0; r < m; ++r) {
      const float scale = weight_scales_input ? 1.0f : picks[size_t(r)]->weight;
      float* dst = op + int64_t(picks[size_t(r)]->token) * hidden;
      for (int64_t j = 0; j < hidden; ++j) dst[j] += y[size_t(r * hidden + j)] * scale;
    }
  }
}

void moe_feed_forward(const ModelPlan& plan, int layer, const LayerWeights& w, const Tensor& x,
                      const Tensor& residual, Tensor& out) {
  const auto& moe = plan.layers[size_t(layer)].ffn.moe;
  GLINT_CHECK(moe.has_value(), "layer ", layer, " has no MoE plan");
  switch (moe->router) {
    case MoePlan::Router::SoftmaxTopKRenormalised:
      return gemma4_moe_feed_forward(plan, layer, w, x, residual, out);
    case MoePlan::Router::SigmoidTopKScalesInput:
      return llama4_moe_feed_forward(plan, layer, w, x, residual, out);
  }
}

}  // namespace glint
