#include "cli/common.h"

#include <unistd.h>

#include <cstdio>
#include <sstream>

#include "core/thread_pool.h"

namespace glint::cli {

bool stderr_is_terminal() { return isatty(STDERR_FILENO) == 1; }

void add_model_options(CLI::App& app, ModelOptions& o, bool required) {
  auto* model = app.add_option("-m,--model", o.dir, "Hugging Face checkpoint directory");
  if (required) model->required();
  app.add_option("--device", o.device, "cpu, cuda or cuda:N")->capture_default_str();
  app.add_option("--max-context", o.max_context, "GPU: longest sequence (tokens) the device KV cache holds")
      ->capture_default_str();
  app.add_option("-t,--threads", o.threads, "CPU threads (default: all cores)");
  app.add_option("--matformer", o.matformer_slice,
                 "Gemma 3n: slice.json with per-layer FFN widths and skipped layers (MatFormer)");
  app.add_flag("-v,--verbose", o.verbose, "print timings and tokens/s");
}

void add_sampling_options(CLI::App& app, SamplingOptions& s) {
  app.add_option("--temperature,--temp", s.temperature, "0 = greedy")->capture_default_str();
  app.add_option("--top-k", s.top_k, "keep the k most likely tokens (0 = off)")->capture_default_str();
  app.add_option("--top-p", s.top_p, "nucleus sampling mass (1 = off)")->capture_default_str();
  app.add_option("--min-p", s.min_p, "drop tokens below min-p × the top probability")->capture_default_str();
  app.add_option("--repetition-penalty", s.repetition_penalty, "1 = off")->capture_default_str();
  app.add_option("--seed", s.seed, "random seed for sampling")->capture_default_str();
}

void place_model(Transformer& model, const ModelOptions& o, const DevicePlacement& placement) {
  const DeviceSpec device = parse_device(o.device);
  if (device.type == Device::CPU) return;
  model.place_on(device, placement);
  if (o.verbose) std::fprintf(stderr, "device: %s\n", model.device_runner()->describe().c_str());
}

std::unique_ptr<Transformer> load_model_for_cli(const ModelOptions& o, DevicePlacement placement) {
  if (o.threads > 0) set_thread_count(o.threads);
  require_device(parse_device(o.device));  // before the load: a missing GPU is reported at once
  placement.max_context = o.max_context;
  LoadOptions load;
  load.matformer_slice = o.matformer_slice;
  auto model = load_model(o.dir, load);
  // Touch every weight page now, so the first token does not pay for page faults (and show progress).
  const auto& w = model->weights();
  std::vector<const Tensor*> tensors = {&w.embed, &w.lm_head};
  for (const auto& l : w.layers)
    for (const Tensor* t : {&l.attention.q, &l.attention.k, &l.attention.v, &l.attention.o, &l.mlp.gate, &l.mlp.up,
                            &l.mlp.down, &l.moe.gate_up, &l.moe.down})
      tensors.push_back(t);
  double total = 0;
  for (auto* t : tensors) total += t->defined() ? double(t->nbytes()) : 0;
  ProgressBar bar("loading " + o.dir, total);
  double done = 0;
  volatile uint8_t sink = 0;
  for (auto* t : tensors) {
    if (!t->defined()) continue;
    const auto* bytes = static_cast<const uint8_t*>(t->raw());
    for (size_t i = 0; i < t->nbytes(); i += 4096) sink = sink + bytes[i];
    done += double(t->nbytes());
    bar.update(done);
  }
  bar.finish();
  place_model(*model, o, placement);
  return model;
}

std::vector<int32_t> parse_ids(const std::string& text) {
  std::vector<int32_t> ids;
  std::string item;
  std::stringstream in(text);
  while (std::getline(in, item, ',')) {
    std::stringstream words(item);
    std::string word;
    while (words >> word) {
      try {
        size_t used = 0;
        long long v = std::stoll(word, &used);
        GLINT_CHECK(used == word.size() && v >= 0 && v < (1ll << 31), "bad token id '", word, "'");
        ids.push_back(int32_t(v));
      } catch (const std::logic_error&) {
        fail("bad token id '", word, "'");
      }
    }
  }
  return ids;
}

ProgressBar::ProgressBar(std::string label, double total)
    : label_(std::move(label)), total_(total), enabled_(stderr_is_terminal() && total > 0) {}

void ProgressBar::update(double done) {
  if (!enabled_) return;
  const int percent = int(100.0 * done / total_);
  if (percent == last_percent_) return;
  last_percent_ = percent;
  const int width = 30, filled = percent * width / 100;
  std::fprintf(stderr, "\r%s [%.*s%*s] %3d%%", label_.c_str(), filled, "##############################",
               width - filled, "", percent);
  std::fflush(stderr);
}

void ProgressBar::finish() {
  if (enabled_ && last_percent_ >= 0) std::fprintf(stderr, "\r\033[K");
}

}  // namespace glint::cli
