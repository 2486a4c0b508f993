// Generation on a committed fixture: stop ids, token limits, seeded sampling, and continuing a conversation
// from a cache equals generating from the whole history.
#include <gtest/gtest.h>

#include "models/transformer.h"
#include "runtime/generator.h"
#include "test_util.h"

namespace glint {
namespace {

std::unique_ptr<Transformer> fixture_model() { return load_model(test::fixture_dir("gemma3_gqa")); }

TEST(Generation, StopsAfterTheFirstStopId) {
  auto model = fixture_model();
  test::Golden golden("gemma3_gqa");
  auto prompt = golden.ids("greedy_prompt");
  auto greedy = golden.ids("greedy_ids");
  GenerationOptions options;
  options.max_new_tokens = int(greedy.size());
  options.stop_ids = {greedy[3]};
  Generator generator(*model);
  GenerationStats stats;
  auto out = generator.generate(prompt, options, {}, &stats);
  const auto first = std::find(greedy.begin(), greedy.end(), greedy[3]) - greedy.begin();
  ASSERT_EQ(out.size(), size_t(first + 1));
  EXPECT_EQ(out.back(), greedy[3]);
  EXPECT_TRUE(stats.stopped_by_stop_id);
}

TEST(Generation, MaxNewTokensAndCallbackStop) {
  auto model = fixture_model();
  std::vector<int32_t> prompt = {2, 17, 33, 4};
  Generator generator(*model);
  GenerationOptions options;
  options.max_new_tokens = 5;
  EXPECT_EQ(generator.generate(prompt, options).size(), 5u);
  int calls = 0;
  auto out = generator.generate(prompt, options, [&](int32_t) { return ++calls < 2; });
  EXPECT_EQ(out.size(), 2u);
  options.max_new_tokens = 0;
  EXPECT_TRUE(generator.generate(prompt, options).empty());
}

TEST(Generation, SeededSamplingIsReproducible) {
  auto model = fixture_model();
  std::vector<int32_t> prompt = {2, 100, 200, 300};
  Generator generator(*model);
  GenerationOptions options;
  options.max_new_tokens = 12;
  options.sampling.temperature = 1.5f;
  options.sampling.top_p = 0.95f;
  options.sampling.seed = 42;
  auto a = generator.generate(prompt, options);
  auto b = generator.generate(prompt, options);
  EXPECT_EQ(a, b);
  options.sampling.seed = 43;
  auto c = generator.generate(prompt, options);
  options.sampling.seed = 44;
  auto d = generator.generate(prompt, options);
  EXPECT_TRUE(a != c || a != d) << "different seeds gave identical samples";
}

TEST(Generation, ContinuingFromACacheEqualsGeneratingFromTheWholeHistory) {
  auto model = fixture_model();
  Generator generator(*model);
  GenerationOptions options;
  options.max_new_tokens = 6;
  options.prefill_chunk = 4;
  std::vector<int32_t> first_turn = {2, 10, 20, 30, 40, 50, 60, 70, 80, 90, 11, 12};
  std::vector<int32_t> second_turn = {7, 8, 9, 13, 14};
  KVCache cache = model->new_cache(options.prefill_chunk);
  std::vector<int32_t> history;
  auto reply1 = generator.generate_with_cache(cache, history, first_turn, options);
  auto reply2 = generator.generate_with_cache(cache, history, second_turn, options);
  std::vector<int32_t> whole = first_turn;
  whole.insert(whole.end(), reply1.begin(), reply1.end());
  whole.insert(whole.end(), second_turn.begin(), second_turn.end());
  EXPECT_EQ(generator.generate(whole, options), reply2);
}

}  // namespace
}  // namespace glint

namespace glint {
namespace {

TEST(Generation, RollbackThenContinueEqualsAFreshPass) {
  auto model = fixture_model();
  test::Golden golden("gemma3_gqa");
  auto ids = golden.ids("input_ids");  // longer than the sliding window of 8
  const int64_t vocab = model->plan().vocab;
  KVCache fresh = model->new_cache(int64_t(ids.size()));
  ForwardRequest all{ids, &fresh, true};
  Tensor reference = model->forward(std::span(&all, 1));

  KVCache cache = model->new_cache(6);
  ForwardRequest first{std::span<const int32_t>(ids).subspan(0, 30), &cache, false};
  model->forward(std::span(&first, 1));
  std::vector<int32_t> detour = {5, 6, 7, 8};
  ForwardRequest wrong{detour, &cache, false};
  model->forward(std::span(&wrong, 1));
  ASSERT_FALSE(cache.rollback_to(20)) << "a rollback beyond the ring's slack must be refused";
  ASSERT_TRUE(cache.rollback_to(30));
  for (size_t t = 30; t < ids.size(); ++t) {
    ForwardRequest step{std::span<const int32_t>(ids).subspan(t, 1), &cache, false};
    Tensor logits = model->forward(std::span(&step, 1));
    ASSERT_LE(test::max_abs_diff(logits.f32(), reference.f32() + int64_t(t) * vocab, size_t(vocab)), 1e-4f)
        << "position " << t;
  }
}

}  // namespace
}  // namespace glint
