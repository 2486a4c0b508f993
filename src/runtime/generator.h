// Prefill a prompt, then decode one token at a time until a stop condition.
#pragma once
#include <functional>
#include <vector>

#include "models/transformer.h"
#include "runtime/sampler.h"

namespace glint {

struct GenerationOptions {
  int max_new_tokens = 128;
  SamplingOptions sampling;
  std::vector<int32_t> stop_ids;  // generation ends after emitting one of these (it is returned too)
  int64_t prefill_chunk = 256;
};

struct GenerationStats {
  int64_t prompt_tokens = 0;
  int64_t generated_tokens = 0;
  double prefill_seconds = 0;
  double decode_seconds = 0;
  bool stopped_by_stop_id = false;
};

class Generator {
 public:
  explicit Generator(Transformer& model) : model_(model) {}
  // Calls on_token for every new token; returning false stops early. Returns the new tokens.
  std::vector<int32_t> generate(std::span<const int32_t> prompt, const GenerationOptions& options,
                                const std::function<bool(int32_t)>& on_token = {},
                                GenerationStats* stats = nullptr);
  // Continues a conversation: `cache` already holds `history`; `prompt` is appended.
  std::vector<int32_t> generate_with_cache(KVCache& cache, std::vector<int32_t>& history,
                                           std::span<const int32_t> prompt, const GenerationOptions& options,
                                           const std::function<bool(int32_t)>& on_token = {},
                                           GenerationStats* stats = nullptr);

 private:
  Transformer& model_;
};

}  // namespace glint
