#include "models/blocks.h"

#include <algorithm>
#include <cmath>

#include "ops/matmul.h"

namespace glint {

void gated_mlp(const MlpWeights& w, const FeedForwardPlan& ffn, int intermediate, const Tensor& x, Tensor& out) {
  const int64_t n = x.rows();
  Tensor gate = Tensor::empty({n, intermediate});
  Tensor up = Tensor::empty({n, intermediate});
  ops::matmul(x, w.gate, gate);
  ops::matmul(x, w.up, up);
  if (ffn.activation_sparsity > 0) {
    // Gaussian top-k: keep gate values above mean + std · Φ⁻¹(sparsity) of each row.
    const double p = ffn.activation_sparsity;
    // Φ⁻¹(p) = √2 · erf⁻¹(2p − 1), by Newton steps on erf.
    double guess = 0;
    for (int it = 0; it < 60; ++it) {
      double err = std::erf(guess) - (2 * p - 1);
      guess -= err / (2.0 / std::sqrt(M_PI) * std::exp(-guess * guess));
    }
    const float multiplier = float(std::sqrt(2.0) * guess);
    float* g = gate.f32();
    for (int64_t r = 0; r < n; ++r) {
      float* row = g + r * intermediate;
      double mean = 0;
      for (int j = 0; j < intermediate; ++j) mean += row[j];
      mean /= intermediate;
      double var = 0;
      for (int j = 0; j < intermediate; ++j) var += (row[j] - mean) * (row[j] - mean);
      const float cutoff = float(mean + std::sqrt(var / intermediate) * multiplier);
      for (int j = 0; j < intermediate; ++j) row[j] = std::max(row[j] - cutoff, 0.0f);
    }
  }
  ops::gated_activation(ffn.activation, gate.f32(), up.f32(), gate.numel());
  ops::matmul(gate, w.down, out);
}

}  // namespace glint
