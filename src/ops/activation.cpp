#include "ops/activation.h"

#include <cmath>

#include "core/thread_pool.h"

namespace glint::ops {

const char* activation_name(Activation a) { return a == Activation::GeluTanh ? "gelu_tanh" : "silu"; }

float gelu_tanh(float x) {
  const float k = 0.7978845608028654f;  // sqrt(2/pi)
  return 0.5f * x * (1.0f + std::tanh(k * (x + 0.044715f * x * x * x)));
}

float silu(float x) { return x / (1.0f + std::exp(-x)); }

void gated_activation(Activation act, float* gate, const float* up, int64_t n) {
  parallel_for(n, 16384, [&](int64_t b, int64_t e) {
    if (act == Activation::GeluTanh) {
      for (int64_t i = b; i < e; ++i) gate[i] = gelu_tanh(gate[i]) * up[i];
    } else {
      for (int64_t i = b; i < e; ++i) gate[i] = silu(gate[i]) * up[i];
    }
  });
}

void softcap(float* x, int64_t n, float cap) {
  parallel_for(n, 16384, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) x[i] = cap * std::tanh(x[i] / cap);
  });
}

}  // namespace glint::ops
