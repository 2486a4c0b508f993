// Text in, text out: `glint run` (one prompt) and `glint chat` (a conversation).
#include <chrono>
#include <cstdio>
#include <iostream>

#include "cli/command.h"
#include "cli/common.h"
#include "io/chat_template.h"
#include "io/model_config.h"
#include "io/tokenizer.h"
#include "runtime/generator.h"

namespace glint::cli {
namespace {

struct TextOptions {
  ModelOptions model;
  SamplingOptions sampling;
  int max_new_tokens = 256;
  std::string system;
  bool raw = false;
};

void add_text_options(CLI::App& app, TextOptions& o) {
  add_model_options(app, o.model);
  add_sampling_options(app, o.sampling);
  app.add_option("-n,--max-new-tokens", o.max_new_tokens, "most tokens to generate")->capture_default_str();
  app.add_option("--system", o.system, "system prompt");
  app.add_flag("--raw", o.raw, "no chat template: the prompt is fed as it is");
}

// Ends of generation: the model's EOS ids plus the chat template's end-of-turn token.
std::vector<int32_t> stop_ids(const ModelConfig& config, const Tokenizer& tokenizer) {
  std::vector<int32_t> ids = config.eos_token_ids();
  for (const char* token : {"<end_of_turn>", "<|eot_id|>", "<|eot|>", "<turn|>", "<|im_end|>", "<|end|>"})
    if (auto id = tokenizer.token_to_id(token)) ids.push_back(*id);
  return ids;
}

struct Session {
  std::unique_ptr<Transformer> model;
  Tokenizer tokenizer;
  std::optional<ChatTemplate> chat_template;
  GenerationOptions generation;
};

Session open_session(const TextOptions& o) {
  Tokenizer tokenizer = Tokenizer::from_dir(o.model.dir);
  auto chat_template = o.raw ? std::nullopt : ChatTemplate::from_dir(o.model.dir);
  auto model = load_model_for_cli(o.model);
  Session s{std::move(model), std::move(tokenizer), std::move(chat_template), {}};
  s.generation.max_new_tokens = o.max_new_tokens;
  s.generation.sampling = o.sampling;
  s.generation.stop_ids = stop_ids(load_model_config(o.model.dir), s.tokenizer);
  return s;
}

// Streams the reply to stdout; returns its ids (the stop token included when one ended it).
std::vector<int32_t> stream_reply(Session& s, KVCache& cache, std::vector<int32_t>& history,
                                  std::span<const int32_t> prompt, bool verbose) {
  StreamingDecoder decoder(s.tokenizer, true);
  Generator generator(*s.model);
  GenerationStats stats;
  auto on_token = [&](int32_t id) {
    const bool is_stop =
        std::find(s.generation.stop_ids.begin(), s.generation.stop_ids.end(), id) != s.generation.stop_ids.end();
    if (!is_stop) {
      std::string piece = decoder.push(id);
      std::fwrite(piece.data(), 1, piece.size(), stdout);
      std::fflush(stdout);
    }
    return true;
  };
  auto reply = generator.generate_with_cache(cache, history, prompt, s.generation, on_token, &stats);
  std::string rest = decoder.flush();
  std::fwrite(rest.data(), 1, rest.size(), stdout);
  std::printf("\n");
  std::fflush(stdout);
  if (verbose)
    std::fprintf(stderr, "[prompt %lld tokens, %.1f tok/s; generated %lld tokens, %.1f tok/s]\n",
                 (long long)stats.prompt_tokens, stats.prompt_tokens / std::max(1e-9, stats.prefill_seconds),
                 (long long)stats.generated_tokens,
                 std::max<int64_t>(0, stats.generated_tokens - 1) / std::max(1e-9, stats.decode_seconds));
  return reply;
}

nlohmann::json message(const std::string& role, const std::string& content) {
  return {{"role", role}, {"content", content}};
}

int run_run(int argc, char** argv) {
  CLI::App app("Generate a reply to a prompt, streaming text (applies the model's chat template)", "glint run");
  TextOptions o;
  std::string prompt;
  add_text_options(app, o);
  app.add_option("prompt", prompt, "the prompt (- reads stdin)")->required();
  CLI11_PARSE(app, argc, argv);
  if (prompt == "-") prompt.assign(std::istreambuf_iterator<char>(std::cin), {});
  Session s = open_session(o);
  std::vector<int32_t> ids;
  if (s.chat_template) {
    nlohmann::json messages = nlohmann::json::array();
    if (!o.system.empty()) messages.push_back(message("system", o.system));
    messages.push_back(message("user", prompt));
    // The template writes BOS itself, so the rendered text is tokenized without adding special tokens.
    ids = s.tokenizer.encode(s.chat_template->render(messages, true), false);
  } else {
    GLINT_CHECK(o.system.empty() || !o.raw, "--system needs the chat template (drop --raw)");
    ids = s.tokenizer.encode(prompt, true);
  }
  KVCache cache = s.model->new_cache();
  std::vector<int32_t> history;
  stream_reply(s, cache, history, ids, o.model.verbose);
  return 0;
}

int run_chat(int argc, char** argv) {
  CLI::App app("Interactive conversation (reads one user message per line; works when piped)", "glint chat");
  TextOptions o;
  add_text_options(app, o);
  CLI11_PARSE(app, argc, argv);
  Session s = open_session(o);
  GLINT_CHECK(s.chat_template || o.raw, o.model.dir, " has no chat template; use --raw for plain continuation");
  const bool interactive = stderr_is_terminal();
  nlohmann::json messages = nlohmann::json::array();
  if (!o.system.empty()) messages.push_back(message("system", o.system));
  KVCache cache = s.model->new_cache();
  std::vector<int32_t> history;
  std::string line;
  for (;;) {
    if (interactive) std::fprintf(stderr, "> ");
    if (!std::getline(std::cin, line)) break;
    if (line.empty()) continue;
    if (line == "/exit" || line == "/quit") break;
    std::vector<int32_t> ids;
    if (s.chat_template) {
      messages.push_back(message("user", line));
      ids = s.tokenizer.encode(s.chat_template->render(messages, true), false);
    } else {
      ids = s.tokenizer.encode(line, history.empty());
      ids.insert(ids.begin(), history.begin(), history.end());
    }
    // Reuse the cache for the longest common prefix of what it holds and the new prompt (a re-rendered
    // reply can tokenize differently at its end); start over when the cache cannot roll back that far.
    size_t keep = 0;
    const size_t cached = size_t(cache.length());
    while (keep < cached && keep < ids.size() && history[keep] == ids[keep]) ++keep;
    if (keep == ids.size() && keep > 0) --keep;  // at least one token must be fed to get logits
    if (!cache.rollback_to(int64_t(keep))) {
      cache.clear();
      keep = 0;
    }
    history.assign(ids.begin(), ids.begin() + long(keep));
    std::span<const int32_t> fresh(ids.data() + keep, ids.size() - keep);
    auto reply = stream_reply(s, cache, history, fresh, o.model.verbose);
    if (s.chat_template) {
      std::vector<int32_t> text_ids;
      for (int32_t id : reply)
        if (std::find(s.generation.stop_ids.begin(), s.generation.stop_ids.end(), id) == s.generation.stop_ids.end())
          text_ids.push_back(id);
      messages.push_back(message("assistant", s.tokenizer.decode(text_ids, true)));
    }
  }
  return 0;
}

}  // namespace

GLINT_COMMAND("run", "generate a reply to a prompt (chat template, streaming)", run_run);
GLINT_COMMAND("chat", "interactive conversation", run_chat);

}  // namespace glint::cli
