// Commands that work on token ids: info, logits, generate, classify.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "cli/common.h"
#include "io/model_config.h"
#include "io/npy.h"
#include "runtime/generator.h"

namespace glint::cli {
namespace {

int run_info(int argc, char** argv) {
  CLI::App app("Print the layer plan of a model, its weight sizes and KV-cache sizes", "glint info");
  ModelOptions model_options;
  add_model_options(app, model_options);
  int64_t context = 4096;
  app.add_option("--context", context, "context length for the KV-cache figures")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  auto model = load_model(model_options.dir, LoadOptions{model_options.matformer_slice});
  const auto& plan = model->plan();
  std::printf("%s", plan.describe().c_str());
  std::printf("parameters: %lld (%.3f B); weight dtype %s\n", (long long)model->parameter_count(),
              double(model->parameter_count()) / 1e9, dtype_name(model->weights().embed.dtype()));
  KVCache cache = model->new_cache();
  const double kv_bytes = double(kv_cache_bytes_for_context(plan, context, cache.chunk_tokens()));
  std::printf("weights: %.2f MB; read per decoded token: %.2f MB\n", double(model->weight_bytes()) / 1e6,
              double(model->active_weight_bytes_per_token()) / 1e6);
  std::printf("kv cache: %d of %zu layers own a cache; %.2f MB per sequence at context %lld (F32)\n",
              cache.owning_layers(), plan.layers.size(), kv_bytes / 1e6, (long long)context);
  std::printf("memory needed: %.2f MB (weights + one sequence's KV cache at context %lld)\n",
              (double(model->weight_bytes()) + kv_bytes) / 1e6, (long long)context);
  return 0;
}

int run_logits(int argc, char** argv) {
  CLI::App app("Print the logits of a token sequence as JSON (for checks against other implementations)",
               "glint logits");
  ModelOptions model_options;
  add_model_options(app, model_options);
  std::string ids_text, out_path;
  bool all = false;
  int top = 0;
  app.add_option("--prompt-ids,--ids", ids_text, "token ids, comma separated")->required();
  app.add_option("--out", out_path, "write float32 logits [T, V] of every position to a NumPy .npy file");
  app.add_flag("--all", all, "print logits of every position (default: last position only)");
  app.add_option("--top", top, "print only the top-N (id, logit) pairs per position");
  CLI11_PARSE(app, argc, argv);
  auto model = load_model_for_cli(model_options);
  auto ids = parse_ids(ids_text);
  GLINT_CHECK(!ids.empty(), "--prompt-ids is empty");
  KVCache cache = model->new_cache();
  ForwardRequest req{ids, &cache, all || !out_path.empty()};
  Tensor logits = model->forward(std::span(&req, 1));
  if (!out_path.empty()) {
    write_npy(out_path, logits);
    return 0;
  }
  const int64_t vocab = model->plan().vocab;
  nlohmann::json out = nlohmann::json::array();
  for (int64_t r = 0; r < logits.size(0); ++r) {
    const float* row = logits.f32() + r * vocab;
    if (top > 0) {
      std::vector<int32_t> order(static_cast<size_t>(vocab));
      for (int32_t i = 0; i < vocab; ++i) order[size_t(i)] = i;
      const size_t k = std::min<size_t>(size_t(top), order.size());
      std::partial_sort(order.begin(), order.begin() + long(k), order.end(),
                        [&](int32_t a, int32_t b) { return row[a] > row[b]; });
      nlohmann::json pairs = nlohmann::json::array();
      for (size_t i = 0; i < k; ++i) pairs.push_back(nlohmann::json::array({order[i], row[order[i]]}));
      out.push_back(pairs);
    } else {
      out.push_back(std::vector<float>(row, row + vocab));
    }
  }
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

int run_generate(int argc, char** argv) {
  CLI::App app("Generate token ids from prompt ids (no tokenizer needed)", "glint generate");
  ModelOptions model_options;
  add_model_options(app, model_options);
  SamplingOptions sampling;
  add_sampling_options(app, sampling);
  std::string ids_text;
  int max_new = 32;
  bool ignore_eos = false, ids_only = false;
  app.add_option("--prompt-ids,--ids", ids_text, "prompt token ids, comma separated")->required();
  app.add_option("-n,--max-new-tokens", max_new, "tokens to generate")->capture_default_str();
  app.add_flag("--ignore-eos", ignore_eos, "do not stop at the model's end-of-sequence ids");
  app.add_flag("--ids-only", ids_only, "print only the generated ids, space separated (the default output)");
  CLI11_PARSE(app, argc, argv);
  auto model = load_model_for_cli(model_options);
  GenerationOptions options;
  options.max_new_tokens = max_new;
  options.sampling = sampling;
  if (!ignore_eos) options.stop_ids = load_model_config(model_options.dir).eos_token_ids();
  Generator generator(*model);
  GenerationStats stats;
  auto ids = parse_ids(ids_text);
  auto out = generator.generate(ids, options, {}, &stats);
  for (size_t i = 0; i < out.size(); ++i) std::printf("%s%d", i ? " " : "", out[i]);
  std::printf("\n");
  if (model_options.verbose)
    std::fprintf(stderr, "prefill %lld tokens %.1f tok/s, decode %lld tokens %.1f tok/s\n",
                 (long long)stats.prompt_tokens, stats.prompt_tokens / std::max(1e-9, stats.prefill_seconds),
                 (long long)stats.generated_tokens,
                 std::max<int64_t>(0, stats.generated_tokens - 1) / std::max(1e-9, stats.decode_seconds));
  return 0;
}

int run_classify(int argc, char** argv) {
  CLI::App app("Sequence classification scores (ForSequenceClassification checkpoints)", "glint classify");
  ModelOptions model_options;
  add_model_options(app, model_options);
  std::string ids_text;
  app.add_option("--prompt-ids,--ids", ids_text, "token ids, comma separated")->required();
  CLI11_PARSE(app, argc, argv);
  auto model = load_model_for_cli(model_options);
  auto pad = load_model_config(model_options.dir).pad_token_id().value_or(0);
  auto scores = model->classify(parse_ids(ids_text), pad);
  for (size_t i = 0; i < scores.size(); ++i) std::printf("%s%.9g", i ? " " : "", double(scores[i]));
  std::printf("\n");
  return 0;
}

}  // namespace

GLINT_COMMAND("info", "show a model's layer plan, weight and KV-cache sizes", run_info);
GLINT_COMMAND("logits", "logits of token ids, as JSON", run_logits);
GLINT_COMMAND("generate", "generate token ids from prompt ids", run_generate);
GLINT_COMMAND("classify", "sequence-classification scores of token ids", run_classify);

}  // namespace glint::cli
