// perplexity(): the sliding-window recipe against negative log-likelihoods computed from a fixture's golden
// (transformers) logits, and its bookkeeping (every target scored once, whatever the stride).
#include <gtest/gtest.h>

#include <cmath>

#include "runtime/perplexity.h"
#include "test_util.h"

namespace glint {
namespace {

using test::Golden;

TEST(Perplexity, OneWindowEqualsTheReferenceLogits) {
  if (!test::has_fixture("gemma3_gqa")) GTEST_SKIP() << "skipped: fixture gemma3_gqa not generated";
  Golden golden("gemma3_gqa");
  auto model = load_model(test::fixture_dir("gemma3_gqa"));
  auto ids = golden.ids("input_ids");
  auto logits = golden.floats("logits");
  const int64_t vocab = model->plan().vocab, n = int64_t(ids.size());
  double nll = 0;
  for (int64_t j = 1; j < n; ++j) {
    const float* row = logits.data() + (j - 1) * vocab;
    double max_logit = row[0], sum = 0;
    for (int64_t v = 1; v < vocab; ++v) max_logit = std::max(max_logit, double(row[v]));
    for (int64_t v = 0; v < vocab; ++v) sum += std::exp(double(row[v]) - max_logit);
    nll += std::log(sum) + max_logit - row[ids[size_t(j)]];
  }
  const auto result = perplexity(*model, ids, n, n);
  EXPECT_EQ(result.scored_tokens, n - 1);
  EXPECT_NEAR(result.total_nll, nll, 1e-4 * std::fabs(nll));
  EXPECT_NEAR(result.perplexity(), std::exp(nll / double(n - 1)), 1e-4 * std::exp(nll / double(n - 1)));
}

TEST(Perplexity, OverlappingWindowsScoreEveryTargetOnce) {
  if (!test::has_fixture("gemma3_gqa")) GTEST_SKIP() << "skipped: fixture gemma3_gqa not generated";
  auto model = load_model(test::fixture_dir("gemma3_gqa"));
  Golden golden("gemma3_gqa");
  auto ids = golden.ids("input_ids");
  const int64_t n = int64_t(ids.size());
  const auto full = perplexity(*model, ids, n, n);
  for (auto [context, stride] : {std::pair<int64_t, int64_t>{8, 3}, {8, 8}, {5, 1}}) {
    const auto r = perplexity(*model, ids, context, stride);
    // As in the Hugging Face recipe, a window's first token is never a target (nothing before it in the window),
    // so windows that do not overlap (stride == context) leave one token per window unscored.
    const int64_t windows = (n + stride - 1) / stride;
    EXPECT_EQ(r.scored_tokens, stride == context ? n - windows : n - 1) << context << "/" << stride;
    EXPECT_TRUE(std::isfinite(r.total_nll));
    // Shorter windows see less context, so the score differs from the full-context one.
    EXPECT_NE(r.total_nll, full.total_nll) << context << "/" << stride;
  }
}

TEST(Perplexity, RejectsBadArguments) {
  if (!test::has_fixture("gemma3_gqa")) GTEST_SKIP() << "skipped: fixture gemma3_gqa not generated";
  auto model = load_model(test::fixture_dir("gemma3_gqa"));
  std::vector<int32_t> ids = {1, 2, 3, 4};
  EXPECT_THROW(perplexity(*model, ids, 1, 1), Error);
  EXPECT_THROW(perplexity(*model, ids, 4, 5), Error);
  EXPECT_THROW(perplexity(*model, std::vector<int32_t>{1}, 4, 2), Error);
  EXPECT_THROW(perplexity(*model, std::vector<int32_t>{1, 1 << 30}, 4, 2), Error);
}

}  // namespace
}  // namespace glint
