// glint perplexity: how well a model predicts a text file.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "cli/command.h"
#include "cli/common.h"
#include "io/tokenizer.h"
#include "runtime/perplexity.h"

namespace glint::cli {
namespace {

int run_perplexity(int argc, char** argv) {
  CLI::App app("Perplexity of a text file under a sliding evaluation window", "glint perplexity");
  ModelOptions model_options;
  add_model_options(app, model_options);
  std::string file;
  int64_t context = 512, stride = 256;
  app.add_option("-f,--file", file, "text file (UTF-8)")->required();
  app.add_option("--ctx", context, "tokens per evaluation window")->capture_default_str();
  app.add_option("--stride", stride, "tokens the window advances each step")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  std::ifstream in(file, std::ios::binary);
  GLINT_CHECK(in.good(), "cannot read ", file);
  std::stringstream buffer;
  buffer << in.rdbuf();
  Tokenizer tokenizer = Tokenizer::from_dir(model_options.dir);
  auto ids = tokenizer.encode(buffer.str(), true);
  auto model = load_model_for_cli(model_options);
  ProgressBar bar("perplexity", double(ids.size()));
  const auto start = std::chrono::steady_clock::now();
  auto result = perplexity(*model, ids, context, stride, [&](int64_t done, int64_t) { bar.update(double(done)); });
  bar.finish();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("perplexity %.4f over %lld tokens (ctx %lld, stride %lld); %.1f tokens/s\n", result.perplexity(),
              (long long)result.scored_tokens, (long long)context, (long long)stride, double(ids.size()) / seconds);
  return 0;
}

}  // namespace

GLINT_COMMAND("perplexity", "perplexity of a text file (sliding window)", run_perplexity);

}  // namespace glint::cli
