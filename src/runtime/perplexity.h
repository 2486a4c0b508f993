// Perplexity over a token sequence with a sliding evaluation window (the Hugging Face recipe): windows
// start every `stride` tokens and span at most `context` tokens; each scores only the targets that the
// previous window did not; position 0 is never a target.
#pragma once
#include <functional>
#include <span>

#include "models/transformer.h"

namespace glint {

struct PerplexityResult {
  double total_nll = 0;
  int64_t scored_tokens = 0;
  double perplexity() const;
};

PerplexityResult perplexity(Transformer& model, std::span<const int32_t> ids, int64_t context, int64_t stride,
                            const std::function<void(int64_t done, int64_t total)>& progress = {});

}  // namespace glint
