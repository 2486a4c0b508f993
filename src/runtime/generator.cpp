#include "runtime/generator.h"

#include <algorithm>
#include <chrono>

namespace glint {
namespace {
double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}
}  // namespace

std::vector<int32_t> Generator::generate(std::span<const int32_t> prompt, const GenerationOptions& options,
                                         const std::function<bool(int32_t)>& on_token, GenerationStats* stats) {
  KVCache cache = model_.new_cache(options.prefill_chunk);
  std::vector<int32_t> history;
  return generate_with_cache(cache, history, prompt, options, on_token, stats);
}

std::vector<int32_t> Generator::generate_with_cache(KVCache& cache, std::vector<int32_t>& history,
                                                    std::span<const int32_t> prompt,
                                                    const GenerationOptions& options,
                                                    const std::function<bool(int32_t)>& on_token,
                                                    GenerationStats* stats) {
  GLINT_CHECK(!prompt.empty() || !history.empty(), "generate: empty prompt");
  GLINT_CHECK(options.max_new_tokens >= 0, "max_new_tokens must be >= 0");
  Sampler sampler(options.sampling);
  std::vector<int32_t> generated;
  GenerationStats local;
  local.prompt_tokens = int64_t(prompt.size());
  history.insert(history.end(), prompt.begin(), prompt.end());
  if (options.max_new_tokens == 0) {
    if (stats) *stats = local;
    return generated;
  }

  auto start = std::chrono::steady_clock::now();
  // Tokens the cache has not seen: the previous turn's last sampled token, then the new prompt.
  GLINT_CHECK(cache.length() <= int64_t(history.size()), "generate: the cache holds ", cache.length(),
              " tokens but the history only ", history.size());
  std::span<const int32_t> pending(history.data() + cache.length(), history.size() - size_t(cache.length()));
  ForwardRequest request{pending, &cache, false};
  // The model picks each token where it runs (on a GPU the logits stay there).
  SampleRequest sample{&sampler, history};
  int32_t token = model_.forward_and_sample(std::span(&request, 1), std::span(&sample, 1))[0];
  local.prefill_seconds = seconds_since(start);

  start = std::chrono::steady_clock::now();
  for (int step = 0; step < options.max_new_tokens; ++step) {
    generated.push_back(token);
    history.push_back(token);
    const bool stop = std::find(options.stop_ids.begin(), options.stop_ids.end(), token) != options.stop_ids.end();
    const bool keep_going = on_token ? on_token(token) : true;
    if (stop) local.stopped_by_stop_id = true;
    if (stop || !keep_going || step + 1 == options.max_new_tokens) break;
    ForwardRequest next{std::span<const int32_t>(&history.back(), 1), &cache, false};
    sample.context = history;
    token = model_.forward_and_sample(std::span(&next, 1), std::span(&sample, 1))[0];
  }
  // The last sampled token is in the history but not yet in the cache; the next turn feeds it first.
  local.decode_seconds = seconds_since(start);
  local.generated_tokens = int64_t(generated.size());
  if (stats) *stats = local;
  return generated;
}

}  // namespace glint
