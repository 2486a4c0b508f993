// Options and helpers shared by the subcommands.
#pragma once
#include <CLI/CLI.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "models/transformer.h"
#include "runtime/sampler.h"

namespace glint::cli {

struct ModelOptions {
  std::string dir;
  std::string device = "cpu";
  int threads = 0;
  std::string matformer_slice;
  bool verbose = false;
  int64_t max_context = 8192;  // GPU: longest sequence the device cache holds
};

void add_model_options(CLI::App& app, ModelOptions& options, bool required = true);
void add_sampling_options(CLI::App& app, SamplingOptions& options);
// Loads the model (progress bar on a terminal), applying --threads, and places it on --device. `placement`
// sizes the device caches (its max_context comes from --max-context).
std::unique_ptr<Transformer> load_model_for_cli(const ModelOptions& options, DevicePlacement placement = {});
// Places an already loaded model on --device (the CPU needs nothing); prints where with --verbose.
void place_model(Transformer& model, const ModelOptions& options, const DevicePlacement& placement);
// Wall-clock timing for the benchmark commands.
using Clock = std::chrono::steady_clock;
inline double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}
// "1,2,3" or "1 2 3" → ids; errors name the bad entry.
std::vector<int32_t> parse_ids(const std::string& text);
bool stderr_is_terminal();

// A one-line progress bar on stderr, drawn only on a terminal.
class ProgressBar {
 public:
  ProgressBar(std::string label, double total);
  void update(double done);
  void finish();

 private:
  std::string label_;
  double total_;
  bool enabled_;
  int last_percent_ = -1;
};

}  // namespace glint::cli
