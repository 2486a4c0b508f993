// Gemma 4 mixture-of-experts feed-forward (spec §3.3): the dense MLP and the routed experts run side by
// side and each gets its own post-norm before they are added:
//   m1 = post_feedforward_layernorm_1( mlp(x) )                       x = pre_feedforward_layernorm(r)
//   z  = rmsnorm_noscale(r) · router.scale · H^-1/2;  p = softmax(router.proj(z))
//   top-k of p, renormalised to sum 1, times per_expert_scale[expert]
//   m2 = post_feedforward_layernorm_2( Σ_k w_k · expert_k( pre_feedforward_layernorm_2(r) ) )
//   out = m1 + m2                                                    (the decoder then applies post_feedforward_layernorm)
// The router reads the raw residual r, not the normed x.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "core/error.h"
#include "models/blocks.h"
#include "ops/matmul.h"
#include "ops/rms_norm.h"

namespace glint {
namespace {

const Tensor& extra_tensor(const LayerWeights& w, int layer, const char* name) {
  auto it = w.extra.find(name);
  GLINT_CHECK(it != w.extra.end() && it->second.defined(), "layer ", layer, ": the gemma4 MoE block has no ", name);
  return it->second;
}

// Routing of every token: softmax over experts (fp32), top-k, renormalised, per-expert scale.
std::vector<ExpertChoice> route(const MoePlan& moe, int layer, const Tensor& residual, const Tensor& router,
                                const Tensor& scale, const Tensor& per_expert_scale, int hidden, float eps) {
  const int64_t n = residual.rows(), experts = moe.num_experts;
  Tensor z = Tensor::empty({n, int64_t(hidden)});
  ops::rms_norm_rows(residual.f32(), n, hidden, nullptr, NormKind::RmsNoWeight, eps, z.f32());
  const float root = float(1.0 / std::sqrt(double(hidden)));
  const float* s = scale.f32();
  float* zp = z.f32();
  for (int64_t t = 0; t < n; ++t)
    for (int64_t j = 0; j < hidden; ++j) zp[t * hidden + j] = zp[t * hidden + j] * s[j] * root;
  Tensor logits = Tensor::empty({n, experts});
  ops::matmul(z, router, logits);

  std::vector<ExpertChoice> choices;
  choices.reserve(size_t(n * moe.top_k));
  std::vector<int32_t> order(static_cast<size_t>(experts));
  std::vector<float> probs(static_cast<size_t>(experts));
  const float* expert_scale = per_expert_scale.f32();
  for (int64_t t = 0; t < n; ++t) {
    const float* row = logits.f32() + t * experts;
    float top = row[0];
    for (int64_t e = 0; e < experts; ++e) {
      GLINT_CHECK(std::isfinite(row[e]), "layer ", layer, ": router logit of token ", t, " is not finite");
      top = std::max(top, row[e]);
    }
    float sum = 0;
    for (int64_t e = 0; e < experts; ++e) sum += probs[size_t(e)] = std::exp(row[e] - top);
    for (auto& p : probs) p /= sum;
    std::iota(order.begin(), order.end(), 0);
    // Highest probability first; ties keep the lower expert index.
    std::partial_sort(order.begin(), order.begin() + moe.top_k, order.end(), [&](int32_t a, int32_t b) {
      return probs[size_t(a)] > probs[size_t(b)] || (probs[size_t(a)] == probs[size_t(b)] && a < b);
    });
    float chosen = 0;
    for (int k = 0; k < moe.top_k; ++k) chosen += probs[size_t(order[size_t(k)])];
    for (int k = 0; k < moe.top_k; ++k) {
      const int32_t e = order[size_t(k)];
      choices.push_back({int32_t(t), e, probs[size_t(e)] / chosen * expert_scale[e]});
    }
  }
  return choices;
}

}  // namespace

void gemma4_moe_feed_forward(const ModelPlan& plan, int layer, const LayerWeights& w, const Tensor& x,
                             const Tensor& residual, Tensor& out) {
  const LayerPlan& lp = plan.layers[size_t(layer)];
  const MoePlan& moe = *lp.ffn.moe;
  const int64_t n = x.rows(), hidden = plan.hidden;
  GLINT_CHECK(moe.top_k >= 1 && moe.top_k <= moe.num_experts, "layer ", layer, ": top-", moe.top_k, " of ",
              moe.num_experts, " experts");

  // Dense branch.
  gated_mlp(w.mlp, lp.ffn, lp.ffn.intermediate, x, out);
  ops::rms_norm(out, extra_tensor(w, layer, "post_feedforward_layernorm_1"), NormKind::Rms, plan.rms_eps, out);

  // Routed experts on their own normalisation of the residual.
  const auto choices = route(moe, layer, residual, w.moe.router, extra_tensor(w, layer, "router.scale"),
                             extra_tensor(w, layer, "router.per_expert_scale"), plan.hidden, plan.rms_eps);
  Tensor expert_in = Tensor::empty({n, hidden});
  ops::rms_norm(residual, extra_tensor(w, layer, "pre_feedforward_layernorm_2"), NormKind::Rms, plan.rms_eps,
                expert_in);
  Tensor experts = Tensor::empty({n, hidden});
  std::fill(experts.f32(), experts.f32() + experts.numel(), 0.0f);
  run_experts(expert_in, choices, w.moe.gate_up, w.moe.down, moe.expert_intermediate, lp.ffn.activation,
              /*weight_scales_input=*/false, experts);
  ops::rms_norm(experts, extra_tensor(w, layer, "post_feedforward_layernorm_2"), NormKind::Rms, plan.rms_eps,
                experts);

  float* o = out.f32();
  const float* e = experts.f32();
  for (int64_t k = 0; k < n * hidden; ++k) o[k] += e[k];
}

}  // namespace glint
