// Element-wise activations and the gated products of feed-forward blocks.
#pragma once
#include <cstdint>

namespace glint::ops {

enum class Activation : uint8_t { GeluTanh, Silu };
const char* activation_name(Activation a);

float gelu_tanh(float x);
float silu(float x);

// gate[i] = act(gate[i]) · up[i]   (n elements)
void gated_activation(Activation act, float* gate, const float* up, int64_t n);
// x[i] = c · tanh(x[i] / c)
void softcap(float* x, int64_t n, float cap);

}  // namespace glint::ops
