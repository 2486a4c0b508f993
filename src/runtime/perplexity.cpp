#include "runtime/perplexity.h"

#include <algorithm>
#include <cmath>

namespace glint {

double PerplexityResult::perplexity() const {
  return scored_tokens ? std::exp(total_nll / double(scored_tokens)) : NAN;
}

PerplexityResult perplexity(Transformer& model, std::span<const int32_t> ids, int64_t context, int64_t stride,
                            const std::function<void(int64_t, int64_t)>& progress) {
  GLINT_CHECK(context >= 2, "perplexity: context must be at least 2 tokens (got ", context, ")");
  GLINT_CHECK(stride >= 1 && stride <= context, "perplexity: stride must be in [1, context] (got ", stride, ")");
  GLINT_CHECK(ids.size() >= 2, "perplexity: the text has fewer than 2 tokens");
  const int64_t n = int64_t(ids.size()), vocab = model.plan().vocab;
  PerplexityResult result;
  int64_t previous_end = 0;
  for (int64_t begin = 0; begin < n; begin += stride) {
    const int64_t end = std::min(begin + context, n);
    const int64_t fresh = end - previous_end;  // targets not scored by an earlier window
    KVCache cache = model.new_cache(std::min<int64_t>(end - begin, 512));
    ForwardRequest request{ids.subspan(size_t(begin), size_t(end - begin)), &cache, true};
    Tensor logits = model.forward(std::span(&request, 1));
    const int64_t length = end - begin;
    for (int64_t j = std::max<int64_t>(1, length - fresh); j < length; ++j) {
      const float* row = logits.f32() + (j - 1) * vocab;
      const float max_logit = *std::max_element(row, row + vocab);
      double sum = 0;
      for (int64_t v = 0; v < vocab; ++v) sum += std::exp(double(row[v] - max_logit));
      const int32_t target = ids[size_t(begin + j)];
      GLINT_CHECK(target >= 0 && target < vocab, "token id ", target, " is outside the model's vocabulary");
      result.total_nll += std::log(sum) + double(max_logit) - double(row[target]);
      result.scored_tokens++;
    }
    previous_end = end;
    if (progress) progress(end, n);
    if (end == n) break;
  }
  return result;
}

}  // namespace glint
