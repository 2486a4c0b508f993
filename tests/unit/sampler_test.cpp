// Sampler against the Hugging Face logits processors (transformers generation/logits_process.py):
// repetition penalty, then temperature, top-k, top-p, min-p, then a draw from the softmax of what is left.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <set>
#include <vector>

#include "core/error.h"
#include "runtime/sampler.h"

namespace glint {
namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

// The processors as Hugging Face defines them, in double precision, returning the final distribution.
std::vector<double> reference_distribution(const std::vector<float>& logits, const std::vector<int32_t>& context,
                                           const SamplingOptions& o) {
  const size_t n = logits.size();
  std::vector<double> s(logits.begin(), logits.end());
  // RepetitionPenaltyLogitsProcessor: gather the scores of the context ids, scale, scatter back (each
  // distinct id once, since the scatter writes the same value for repeats).
  std::set<int32_t> distinct(context.begin(), context.end());
  for (int32_t id : distinct) {
    double& x = s[size_t(id)];
    x = x < 0 ? x * o.repetition_penalty : x / o.repetition_penalty;
  }
  for (double& x : s) x /= o.temperature;  // TemperatureLogitsWarper
  if (o.top_k > 0) {  // TopKLogitsWarper: remove scores below the k-th largest (ties with it stay)
    std::vector<double> sorted = s;
    std::sort(sorted.begin(), sorted.end(), std::greater<>());
    const double kth = sorted[std::min(size_t(o.top_k), n) - 1];
    for (double& x : s)
      if (x < kth) x = kNegInf;
  }
  auto softmax = [&](const std::vector<double>& v) {
    double m = *std::max_element(v.begin(), v.end()), total = 0;
    std::vector<double> p(v.size());
    for (size_t i = 0; i < v.size(); ++i) total += p[i] = v[i] == kNegInf ? 0.0 : std::exp(v[i] - m);
    for (double& x : p) x /= total;
    return p;
  };
  if (o.top_p < 1.0f) {  // TopPLogitsWarper: ascending sort, drop while cumulative mass <= 1 - p, keep ≥ 1
    std::vector<size_t> order(n);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return s[a] < s[b]; });
    const auto p = softmax(s);
    double cumulative = 0;
    for (size_t r = 0; r + 1 < n; ++r) {
      cumulative += p[order[r]];
      if (cumulative <= 1.0 - double(o.top_p)) s[order[r]] = kNegInf;
    }
  }
  if (o.min_p > 0) {  // MinPLogitsWarper: drop probabilities below min_p · (top probability)
    const auto p = softmax(s);
    const double threshold = double(o.min_p) * *std::max_element(p.begin(), p.end());
    for (size_t i = 0; i < n; ++i)
      if (p[i] < threshold) s[i] = kNegInf;
  }
  return softmax(s);
}

std::vector<int> histogram(Sampler& sampler, const std::vector<float>& logits, const std::vector<int32_t>& context,
                           int draws) {
  std::vector<int> counts(logits.size(), 0);
  for (int i = 0; i < draws; ++i) counts[size_t(sampler.sample(logits, context))]++;
  return counts;
}

// Pearson's statistic over the tokens with non-zero expected probability; tokens with zero probability
// must never be drawn. The bound is far in the tail (df + 8·sqrt(2·df)), and the seed is fixed.
void expect_matches_distribution(const std::vector<int>& counts, const std::vector<double>& expected, int draws,
                                 const std::string& label) {
  double chi2 = 0;
  int df = -1;
  for (size_t i = 0; i < counts.size(); ++i) {
    if (expected[i] == 0) {
      EXPECT_EQ(counts[i], 0) << label << ": token " << i << " has probability 0 but was drawn";
      continue;
    }
    const double e = expected[i] * draws;
    chi2 += (counts[i] - e) * (counts[i] - e) / e;
    ++df;
  }
  if (df <= 0) return;
  EXPECT_LT(chi2, df + 8 * std::sqrt(2.0 * df)) << label << ": chi-square " << chi2 << " with " << df << " dof";
}

const std::vector<float> kLogits = {1.2f, -0.3f, 2.5f, 0.7f, 2.5f, -1.8f, 0.1f, 1.9f, -0.6f, 0.4f};

TEST(Sampler, ArgmaxTakesTheFirstOfTiedMaxima) {
  EXPECT_EQ(argmax(std::vector<float>{1, 3, 3, 2}), 1);
  EXPECT_EQ(argmax(std::vector<float>{5, 5, 5}), 0);
  EXPECT_EQ(argmax(std::vector<float>{-INFINITY, -2, -1}), 2);
  EXPECT_EQ(argmax(std::vector<float>{0.5f}), 0);
  EXPECT_THROW(argmax(std::vector<float>{}), Error);
}

TEST(Sampler, GreedyIsArgmaxWhateverTheOtherOptions) {
  SamplingOptions o;  // temperature 0
  o.top_k = 2;
  o.top_p = 0.5f;
  o.seed = 99;
  Sampler sampler(o);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(sampler.sample(kLogits, {}), 2);  // 2 and 4 tie: first wins
}

TEST(Sampler, RepetitionPenaltyDividesPositiveAndMultipliesNegativeOncePerDistinctId) {
  SamplingOptions o;
  o.repetition_penalty = 2.0f;
  Sampler sampler(o);
  // Token 0 (2.0) appears three times: penalised once it becomes 1.0 and ties with token 1, which then
  // loses on index; penalised three times (0.25) it would lose outright.
  EXPECT_EQ(sampler.sample(std::vector<float>{2.0f, 1.0f, 0.5f}, std::vector<int32_t>{0, 0, 0}), 0);
  EXPECT_EQ(sampler.sample(std::vector<float>{2.0f, 1.01f, 0.5f}, std::vector<int32_t>{0, 0, 0}), 1);
  // A negative logit is multiplied: -1 → -2 falls below -1.5.
  EXPECT_EQ(sampler.sample(std::vector<float>{-1.0f, -1.5f}, std::vector<int32_t>{0}), 1);
  // Dividing a negative logit would have raised it to -0.5 and kept it on top.
  EXPECT_EQ(sampler.sample(std::vector<float>{-1.0f, -0.8f}, std::vector<int32_t>{1}), 0);
  // Ids outside the vocabulary in the context are ignored rather than written out of bounds.
  EXPECT_EQ(sampler.sample(std::vector<float>{0.0f, 1.0f}, std::vector<int32_t>{-3, 7}), 1);
}

TEST(Sampler, SameSeedSameSamplesDifferentSeedsDiffer) {
  std::vector<float> flat(64, 0.0f);
  SamplingOptions o;
  o.temperature = 1.0f;
  o.seed = 7;
  Sampler a(o), b(o);
  o.seed = 8;
  Sampler c(o);
  std::vector<int32_t> xa, xb, xc;
  for (int i = 0; i < 50; ++i) {
    xa.push_back(a.sample(flat, {}));
    xb.push_back(b.sample(flat, {}));
    xc.push_back(c.sample(flat, {}));
  }
  EXPECT_EQ(xa, xb);
  EXPECT_NE(xa, xc);
}

struct Case {
  const char* label;
  SamplingOptions options;
  std::vector<int32_t> context;
};

SamplingOptions make(float temperature, int top_k, float top_p, float min_p, float penalty) {
  SamplingOptions o;
  o.temperature = temperature;
  o.top_k = top_k;
  o.top_p = top_p;
  o.min_p = min_p;
  o.repetition_penalty = penalty;
  o.seed = 12345;
  return o;
}

TEST(Sampler, EmpiricalFrequenciesMatchTheHuggingFaceDistribution) {
  const std::vector<Case> cases = {
      {"temperature 1", make(1.0f, 0, 1.0f, 0, 1), {}},
      {"temperature 0.6", make(0.6f, 0, 1.0f, 0, 1), {}},
      {"temperature 1.7", make(1.7f, 0, 1.0f, 0, 1), {}},
      {"top-k 4", make(1.0f, 4, 1.0f, 0, 1), {}},
      {"top-k 2 (tied maxima)", make(1.0f, 2, 1.0f, 0, 1), {}},
      {"top-p 0.7", make(1.0f, 0, 0.7f, 0, 1), {}},
      {"top-p 0.9 after temperature 0.5", make(0.5f, 0, 0.9f, 0, 1), {}},
      {"min-p 0.3", make(1.0f, 0, 1.0f, 0.3f, 1), {}},
      {"min-p 0.1 after temperature 2", make(2.0f, 0, 1.0f, 0.1f, 1), {}},
      {"top-k 6 + top-p 0.8 + min-p 0.2", make(0.8f, 6, 0.8f, 0.2f, 1), {}},
      {"penalty 1.5", make(1.0f, 0, 1.0f, 0, 1.5f), {2, 2, 5, 7, 1}},
      {"everything", make(0.9f, 7, 0.95f, 0.05f, 1.3f), {4, 0, 8, 4}},
  };
  const int draws = 20000;
  for (const auto& c : cases) {
    Sampler sampler(c.options);
    const auto expected = reference_distribution(kLogits, c.context, c.options);
    expect_matches_distribution(histogram(sampler, kLogits, c.context, draws), expected, draws, c.label);
  }
}

// Logits whose softmax is exactly the given probabilities (up to float rounding).
std::vector<float> logits_of(const std::vector<double>& probs) {
  std::vector<float> out;
  for (double p : probs) out.push_back(float(std::log(p)));
  return out;
}

std::set<int32_t> support(const SamplingOptions& options, const std::vector<float>& logits, int draws = 4000) {
  Sampler sampler(options);
  std::set<int32_t> seen;
  for (int i = 0; i < draws; ++i) seen.insert(sampler.sample(logits, {}));
  return seen;
}

TEST(Sampler, TopPKeepsTheSmallestPrefixReachingP) {
  const auto logits = logits_of({0.05, 0.5, 0.15, 0.3});  // sorted: 1 (.5), 3 (.3), 2 (.15), 0 (.05)
  EXPECT_EQ(support(make(1, 0, 0.45f, 0, 1), logits), (std::set<int32_t>{1}));
  EXPECT_EQ(support(make(1, 0, 0.55f, 0, 1), logits), (std::set<int32_t>{1, 3}));
  EXPECT_EQ(support(make(1, 0, 0.75f, 0, 1), logits), (std::set<int32_t>{1, 3}));
  EXPECT_EQ(support(make(1, 0, 0.85f, 0, 1), logits), (std::set<int32_t>{1, 3, 2}));
  EXPECT_EQ(support(make(1, 0, 0.99f, 0, 1), logits), (std::set<int32_t>{1, 3, 2, 0}));
  // However small p is, the most likely token stays.
  EXPECT_EQ(support(make(1, 0, 1e-6f, 0, 1), logits), (std::set<int32_t>{1}));
}

TEST(Sampler, MinPIsRelativeToTheTopProbability) {
  const auto logits = logits_of({0.05, 0.5, 0.15, 0.3});
  // Threshold 0.25 · 0.5 = 0.125: 0.15 stays, 0.05 goes.
  EXPECT_EQ(support(make(1, 0, 1, 0.25f, 1), logits), (std::set<int32_t>{1, 3, 2}));
  // Threshold 0.65 · 0.5 = 0.325: only the top token.
  EXPECT_EQ(support(make(1, 0, 1, 0.65f, 1), logits), (std::set<int32_t>{1}));
  // Threshold 0.09 · 0.5 = 0.045: everything.
  EXPECT_EQ(support(make(1, 0, 1, 0.09f, 1), logits), (std::set<int32_t>{0, 1, 2, 3}));
  // min-p 1 keeps exactly the maximum.
  EXPECT_EQ(support(make(1, 0, 1, 1.0f, 1), logits), (std::set<int32_t>{1}));
}

TEST(Sampler, TopKKeepsTheKLargestAndTokensTiedWithTheKth) {
  const std::vector<float> logits = {0.0f, 1.0f, 3.0f, 2.0f, 2.0f, -1.0f};
  EXPECT_EQ(support(make(1, 1, 1, 0, 1), logits), (std::set<int32_t>{2}));
  // The 2nd largest value (2.0) is shared by ids 3 and 4: Hugging Face removes only scores below it.
  EXPECT_EQ(support(make(1, 2, 1, 0, 1), logits), (std::set<int32_t>{2, 3, 4}));
  EXPECT_EQ(support(make(1, 3, 1, 0, 1), logits), (std::set<int32_t>{2, 3, 4}));
  EXPECT_EQ(support(make(1, 4, 1, 0, 1), logits), (std::set<int32_t>{1, 2, 3, 4}));
  // k beyond the vocabulary keeps everything.
  EXPECT_EQ(support(make(1, 100, 1, 0, 1), logits).size(), 6u);
}

TEST(Sampler, MaskedLogitsAreNeverDrawn) {
  const float ninf = -std::numeric_limits<float>::infinity();
  const std::vector<float> logits = {ninf, 0.0f, ninf, 0.5f, ninf};
  EXPECT_EQ(support(make(1, 0, 1, 0, 1), logits), (std::set<int32_t>{1, 3}));
  EXPECT_EQ(support(make(3, 0, 0.99f, 0, 1), logits), (std::set<int32_t>{1, 3}));
}

TEST(Sampler, LogitsWithoutADistributionAreAnErrorNotAGuess) {
  const float ninf = -std::numeric_limits<float>::infinity();
  Sampler sampler(make(1, 0, 1, 0, 1));
  EXPECT_THROW(sampler.sample(std::vector<float>{ninf, ninf, ninf}, {}), Error);
  EXPECT_THROW(sampler.sample(std::vector<float>{0.0f, std::nanf(""), 1.0f}, {}), Error);
  EXPECT_THROW(sampler.sample(std::vector<float>{0.0f, INFINITY, 1.0f}, {}), Error);
  Sampler top_k(make(1, 2, 0.9f, 0.1f, 1));
  EXPECT_THROW(top_k.sample(std::vector<float>{ninf, ninf, ninf}, {}), Error);
  // Greedy still picks the first maximum of whatever it is given.
  Sampler greedy(SamplingOptions{});
  EXPECT_EQ(greedy.sample(std::vector<float>{ninf, ninf, ninf}, {}), 0);
}

TEST(Sampler, InvalidOptionsAreRejectedWithTheirName) {
  auto message_of = [](SamplingOptions o) -> std::string {
    try {
      Sampler s(o);
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_NE(message_of(make(-1, 0, 1, 0, 1)).find("temperature"), std::string::npos);
  EXPECT_NE(message_of(make(1, -2, 1, 0, 1)).find("top-k"), std::string::npos);
  EXPECT_NE(message_of(make(1, 0, 0, 0, 1)).find("top-p"), std::string::npos);
  EXPECT_NE(message_of(make(1, 0, 1.5f, 0, 1)).find("top-p"), std::string::npos);
  EXPECT_NE(message_of(make(1, 0, 1, -0.1f, 1)).find("min-p"), std::string::npos);
  EXPECT_NE(message_of(make(1, 0, 1, 0, 0)).find("repetition penalty"), std::string::npos);
  EXPECT_EQ(message_of(make(0.7f, 40, 0.95f, 0.05f, 1.1f)), "");
}

}  // namespace
}  // namespace glint
