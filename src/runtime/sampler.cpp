#include "runtime/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "core/error.h"

namespace glint {

int32_t argmax(std::span<const float> values) {
  GLINT_CHECK(!values.empty(), "argmax of empty logits");
  int32_t best = 0;
  for (size_t i = 1; i < values.size(); ++i)
    if (values[i] > values[size_t(best)]) best = int32_t(i);
  return best;
}

Sampler::Sampler(SamplingOptions options) : options_(options), rng_(options.seed) {
  GLINT_CHECK(options_.temperature >= 0, "temperature must be >= 0 (got ", options_.temperature, ")");
  GLINT_CHECK(options_.top_k >= 0, "top-k must be >= 0 (got ", options_.top_k, ")");
  GLINT_CHECK(options_.top_p > 0 && options_.top_p <= 1, "top-p must be in (0, 1] (got ", options_.top_p, ")");
  GLINT_CHECK(options_.min_p >= 0 && options_.min_p <= 1, "min-p must be in [0, 1] (got ", options_.min_p, ")");
  GLINT_CHECK(options_.repetition_penalty > 0, "repetition penalty must be > 0");
}

int32_t Sampler::sample(std::span<const float> logits, std::span<const int32_t> context) {
  // Greedy draws nothing, so the generator advances only for sampled tokens (as before).
  // uniform_real_distribution(0, 1)(rng) · mass is bit for bit the former uniform_real_distribution(0, mass)(rng):
  // both compute canonical · (b − a) + a, and · 1 and + 0 are exact.
  if (options_.greedy()) return sample_with_uniform(logits, context, 0.0);
  return sample_with_uniform(logits, context, next_uniform());
}

int32_t Sampler::sample_with_uniform(std::span<const float> logits, std::span<const int32_t> context,
                                     double uniform01) {
  const size_t n = logits.size();
  work_.assign(logits.begin(), logits.end());
  if (options_.repetition_penalty != 1.0f) {
    // Each distinct id is penalised once, however often it occurs (as the reference's gather/scatter).
    std::vector<int32_t> unique(context.begin(), context.end());
    std::sort(unique.begin(), unique.end());
    unique.erase(std::unique(unique.begin(), unique.end()), unique.end());
    for (int32_t id : unique) {
      if (id < 0 || size_t(id) >= n) continue;
      float& l = work_[size_t(id)];
      l = l < 0 ? l * options_.repetition_penalty : l / options_.repetition_penalty;
    }
  }
  if (options_.greedy()) return argmax(work_);

  const float neg_inf = -std::numeric_limits<float>::infinity();
  for (auto& l : work_) l /= options_.temperature;
  order_.resize(n);
  std::iota(order_.begin(), order_.end(), 0);
  size_t keep = n;
  if (options_.top_k > 0 && size_t(options_.top_k) < n) keep = size_t(options_.top_k);
  // Sort the candidates by logit, descending (stable, so ties keep id order).
  std::partial_sort(order_.begin(), order_.begin() + long(keep), order_.end(), [&](int32_t a, int32_t b) {
    return work_[size_t(a)] > work_[size_t(b)] || (work_[size_t(a)] == work_[size_t(b)] && a < b);
  });
  if (keep < n) {
    // Hugging Face removes only logits below the k-th largest, so tokens tied with it stay too.
    const float kth = work_[size_t(order_[keep - 1])];
    auto tied_end = std::partition(order_.begin() + long(keep), order_.end(),
                                   [&](int32_t id) { return work_[size_t(id)] == kth; });
    std::sort(order_.begin() + long(keep), tied_end);
    keep = size_t(tied_end - order_.begin());
  }
  order_.resize(keep);
  // Probabilities of the kept candidates.
  const float max_logit = work_[size_t(order_[0])];
  std::vector<double> probs(keep);
  double total = 0;
  for (size_t i = 0; i < keep; ++i) {
    probs[i] = work_[size_t(order_[i])] == neg_inf ? 0.0 : std::exp(double(work_[size_t(order_[i])] - max_logit));
    total += probs[i];
  }
  // As torch.multinomial does, refuse a distribution that does not exist (every logit masked, NaN or +inf).
  GLINT_CHECK(total > 0 && std::isfinite(total), "sampling: the logits give no valid distribution (all -inf, or "
              "NaN/+inf present)");
  for (auto& p : probs) p /= total;
  if (options_.top_p < 1.0f) {
    // Smallest prefix whose mass reaches top_p (always at least one token).
    double cumulative = 0;
    size_t cut = keep;
    for (size_t i = 0; i < keep; ++i) {
      cumulative += probs[i];
      if (cumulative >= options_.top_p) {
        cut = i + 1;
        break;
      }
    }
    keep = cut;
  }
  if (options_.min_p > 0) {
    const double threshold = probs[0] * options_.min_p;
    size_t cut = 1;
    while (cut < keep && probs[cut] >= threshold) ++cut;
    keep = cut;
  }
  double mass = 0;
  for (size_t i = 0; i < keep; ++i) mass += probs[i];
  double r = uniform01 * mass;
  for (size_t i = 0; i < keep; ++i) {
    r -= probs[i];
    if (r <= 0) return order_[i];
  }
  return order_[keep - 1];
}

}  // namespace glint
