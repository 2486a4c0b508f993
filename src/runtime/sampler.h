// Picks the next token from logits: greedy, or sampling with the usual Hugging Face processors
// applied in the same order (repetition penalty, temperature, top-k, top-p, min-p). Seeded.
#pragma once
#include <cstdint>
#include <random>
#include <span>
#include <vector>

namespace glint {

struct SamplingOptions {
  float temperature = 0.0f;  // 0: greedy
  int top_k = 0;             // 0: off
  float top_p = 1.0f;        // 1: off
  float min_p = 0.0f;        // 0: off
  float repetition_penalty = 1.0f;  // 1: off; >1 discourages tokens already in the context
  uint64_t seed = 0;
  bool greedy() const { return temperature <= 0.0f; }
};

class Sampler {
 public:
  explicit Sampler(SamplingOptions options);
  // `context` holds the ids seen so far (prompt + generated) for the repetition penalty.
  int32_t sample(std::span<const float> logits, std::span<const int32_t> context);
  // The same as sample() with the draw given: r = uniform01 · (kept mass), uniform01 in [0, 1). sample() calls
  // it with next_uniform(), so a GPU sampler fed the same uniform can be checked against this one.
  int32_t sample_with_uniform(std::span<const float> logits, std::span<const int32_t> context, double uniform01);
  const SamplingOptions& options() const { return options_; }
  // A draw in [0, 1) from this sampler's seeded generator, for samplers that run elsewhere (the GPU).
  double next_uniform() { return std::uniform_real_distribution<double>(0.0, 1.0)(rng_); }

 private:
  SamplingOptions options_;
  std::mt19937_64 rng_;
  std::vector<float> work_;
  std::vector<int32_t> order_;
};

// Index of the largest value (the first one on ties, as torch.argmax).
int32_t argmax(std::span<const float> values);

}  // namespace glint
