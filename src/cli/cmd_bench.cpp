// glint bench: prefill and decode speed of a model (real or synthetic at real shapes), with each figure as a
// fraction of what this machine can do: memory read bandwidth for decode (every weight byte read once per
// step), measured matrix throughput for prefill.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <span>
#include <random>
#include <vector>

#include "cli/command.h"
#include "cli/common.h"
#include "core/thread_pool.h"
#include "ops/matmul.h"
#ifdef GLINT_HAVE_CUDA
#include "core/cuda_runtime.h"
#include "ops/matmul_cuda.h"
#endif

namespace glint::cli {
namespace {

// Read bandwidth: sum a buffer much larger than the caches, on all threads; best of several runs.
double measure_read_bandwidth() {
  const size_t n = size_t(1) << 28;  // 1 GiB of floats
  std::vector<float> buffer(n, 1.0f);
  double best = 0;
  for (int rep = 0; rep < 4; ++rep) {
    std::vector<double> partial(256, 0.0);
    auto t = Clock::now();
    parallel_for(int64_t(n), 1 << 20, [&](int64_t b, int64_t e) {
      float s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
      for (int64_t i = b; i + 8 <= e; i += 8) {
        s0 += buffer[size_t(i)]; s1 += buffer[size_t(i + 1)]; s2 += buffer[size_t(i + 2)]; s3 += buffer[size_t(i + 3)];
        s4 += buffer[size_t(i + 4)]; s5 += buffer[size_t(i + 5)]; s6 += buffer[size_t(i + 6)]; s7 += buffer[size_t(i + 7)];
      }
      partial[size_t(b / (1 << 20)) % partial.size()] += s0 + s1 + s2 + s3 + s4 + s5 + s6 + s7;
    });
    const double secs = seconds_since(t);
    if (partial[0] < 0) std::printf(" ");  // keeps the sums alive
    best = std::max(best, double(n * sizeof(float)) / secs);
  }
  return best;
}

// Matrix throughput of glint's own F32-activation GEMM on BF16 weights at a prefill-like shape.
double measure_gemm_flops(int64_t m, int64_t k, int64_t n) {
  Tensor x = Tensor::empty({m, k}), w = Tensor::empty({n, k}, DType::BF16), y = Tensor::empty({m, n});
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> u(-1, 1);
  for (int64_t i = 0; i < x.numel(); ++i) x.f32()[i] = u(rng);
  for (int64_t i = 0; i < w.numel(); ++i) w.data<uint16_t>()[i] = f32_to_bf16(u(rng));
  ops::matmul(x, w, y);
  double best = 0;
  for (int rep = 0; rep < 3; ++rep) {
    auto t = Clock::now();
    ops::matmul(x, w, y);
    best = std::max(best, 2.0 * double(m * n * k) / seconds_since(t));
  }
  return best;
}

// Fills a cache with `context` made-up positions so decode can be timed at that depth without a prefill.
void fill_cache(const ModelPlan& plan, KVCache& cache, int64_t context) {
  std::vector<float> rows;
  std::vector<int64_t> positions;
  for (size_t i = 0; i < plan.layers.size(); ++i) {
    LayerKVCache* layer = cache.layer(int(i));
    if (!layer) continue;
    const auto& a = plan.layers[i].attention;
    const int64_t keep = a.mask == ops::MaskKind::Causal ? context : std::min<int64_t>(context, a.window - 1);
    rows.assign(size_t(keep * a.n_kv_heads * a.head_dim), 0.01f);
    positions.resize(size_t(keep));
    for (int64_t p = 0; p < keep; ++p) positions[size_t(p)] = context - keep + p;
    layer->append(rows.data(), rows.data(), positions.data(), keep);
  }
  cache.advance(context);
}

// What a device can do (measured), and what a model costs per token.
struct Limits {
  double bandwidth = 0;  // bytes per second that decode is compared against
  double gemm = 0;       // FLOP/s that prefill and compute-bound decode are compared against
  std::string bandwidth_label, gemm_label;
};

struct ModelCosts {
  // 2 FLOPs per weight: a decode step multiplies by every active weight; a prefill token by every layer
  // weight, while the LM head runs once per prompt.
  explicit ModelCosts(const Transformer& model) {
    active_bytes = double(model.active_weight_bytes_per_token());
    const double weight_size = double(dtype_size(model.weights().lm_head.dtype()));
    head_flops = 2.0 * double(model.weights().lm_head.nbytes()) / weight_size;
    flops_per_token = 2.0 * active_bytes / weight_size;
  }
  double active_bytes = 0, head_flops = 0, flops_per_token = 0;
  double layer_flops_per_token() const { return flops_per_token - head_flops; }
};

struct BenchSetup {
  std::string synthetic;
  int layers = 0;
  std::vector<int64_t> prefill_lengths, decode_contexts, batches;
  int decode_steps = 8;
};

struct Row {
  std::string what;
  double tokens_per_second;
  double fraction;
  std::string limit;
};

// How one device times the two phases: a prefill of `ids` (seconds), and decode tokens/s of `batch` sequences
// that already hold `context` tokens.
struct Timers {
  std::function<double(std::span<const int32_t> ids)> prefill_seconds;
  std::function<double(int64_t batch, int64_t context)> decode_tokens_per_second;
};

// Token ids for timing runs (the common part of the vocabulary, as real text mostly uses).
std::vector<int32_t> random_ids(std::mt19937& rng, int64_t n, int vocab) {
  std::vector<int32_t> ids(static_cast<size_t>(n));
  for (auto& id : ids) id = int32_t(rng() % uint32_t(std::min(vocab, 32000)));
  return ids;
}

// Runs every measurement of the setup and prints the table, each figure as a fraction of the device's limits.
void run_measurements(const Transformer& model, const std::string& name, double load_seconds, const Limits& limits,
                      const BenchSetup& setup, const Timers& timers) {
  const ModelCosts costs(model);
  std::printf("model: %s, %zu layers, weights %.2f GB, read per token %.2f GB (loaded in %.1f s)\n", name.c_str(),
              model.plan().layers.size(), double(model.weight_bytes()) / 1e9, costs.active_bytes / 1e9,
              load_seconds);
  if (model.device_runner()) std::printf("%s\n", model.device_runner()->describe().c_str());
  std::mt19937 rng(7);
  std::vector<Row> rows;
  for (int64_t length : setup.prefill_lengths) {
    const double secs = timers.prefill_seconds(random_ids(rng, length, model.plan().vocab));
    const double flops = costs.layer_flops_per_token() * double(length) + costs.head_flops;
    rows.push_back({"prefill " + std::to_string(length), double(length) / secs, flops / secs / limits.gemm,
                    limits.gemm_label});
  }
  for (int64_t context : setup.decode_contexts) {
    const double tps = timers.decode_tokens_per_second(1, context);
    rows.push_back({"decode b1 ctx " + std::to_string(context), tps, tps * costs.active_bytes / limits.bandwidth,
                    limits.bandwidth_label});
  }
  for (int64_t batch : setup.batches) {
    const double tps = timers.decode_tokens_per_second(batch, 128);
    // A batched step reads the weights once for all sequences, so the bandwidth limit scales with the batch;
    // past the point where compute dominates, GEMM rate is the limit that matters.
    const double bw_fraction = tps / double(batch) * costs.active_bytes / limits.bandwidth;
    const double flop_fraction = tps * costs.flops_per_token / limits.gemm;
    const bool compute_bound = flop_fraction > bw_fraction;
    rows.push_back({"decode b" + std::to_string(batch) + " ctx 128", tps, compute_bound ? flop_fraction : bw_fraction,
                    compute_bound ? limits.gemm_label : limits.bandwidth_label});
  }
  std::printf("\n%-22s %12s %10s\n", "", "tokens/s", "fraction");
  for (const auto& r : rows)
    std::printf("%-22s %12.1f %9.1f%%  %s\n", r.what.c_str(), r.tokens_per_second, 100 * r.fraction, r.limit.c_str());
}

// On the CPU: read bandwidth and glint's own GEMM rate; decode contexts are filled with made-up rows.
int run_cpu_bench(const ModelOptions& model_options, const BenchSetup& setup) {
  std::printf("measuring machine limits...\n");
  Limits limits{measure_read_bandwidth(),
                std::max(measure_gemm_flops(256, 2048, 2048), measure_gemm_flops(256, 1152, 6912)),
                "of read bandwidth", "of GEMM rate"};
  std::printf("machine: %d threads, read bandwidth %.1f GB/s, GEMM (F32 x BF16) %.1f GFLOP/s\n", thread_count(),
              limits.bandwidth / 1e9, limits.gemm / 1e9);

  auto load_start = Clock::now();
  std::unique_ptr<Transformer> model = setup.synthetic.empty()
                                           ? load_model_for_cli(model_options)
                                           : load_synthetic_model(setup.synthetic, DType::BF16, setup.layers);
  const double load_seconds = seconds_since(load_start);
  const auto& plan = model->plan();
  std::mt19937 rng(11);
  Timers timers;
  timers.prefill_seconds = [&](std::span<const int32_t> ids) {
    KVCache cache = model->new_cache(std::min<int64_t>(int64_t(ids.size()), 512));
    ForwardRequest request{ids, &cache, false};
    auto t = Clock::now();
    model->forward(std::span(&request, 1));
    return seconds_since(t);
  };
  timers.decode_tokens_per_second = [&](int64_t batch, int64_t context) {
    std::vector<KVCache> caches;
    caches.reserve(size_t(batch));
    for (int64_t b = 0; b < batch; ++b) {
      caches.push_back(model->new_cache());
      fill_cache(plan, caches.back(), context);
    }
    std::vector<int32_t> tokens = random_ids(rng, batch, plan.vocab);
    std::vector<ForwardRequest> requests;
    for (int64_t b = 0; b < batch; ++b)
      requests.push_back({std::span<const int32_t>(&tokens[size_t(b)], 1), &caches[size_t(b)], false});
    model->forward(requests);  // warm-up
    auto t = Clock::now();
    for (int s = 0; s < setup.decode_steps; ++s) model->forward(requests);
    return double(batch * setup.decode_steps) / seconds_since(t);
  };
  run_measurements(*model, setup.synthetic.empty() ? model_options.dir : setup.synthetic, load_seconds, limits, setup,
                   timers);
  return 0;
}

#ifdef GLINT_HAVE_CUDA
// On a GPU: the limits are the card's measured copy bandwidth, bytes read plus written per second, over the
// weight bytes a decode step reads (as issue #4 counts it), and its cuBLASLt BF16 GEMM rate. Decode contexts are
// real prefills, and decode steps sample greedily on the device, as generation does.
int run_gpu_bench(const ModelOptions& model_options, const BenchSetup& setup) {
  const DeviceSpec device = parse_device(model_options.device);
  Limits limits{0, 0, "of copy bandwidth", "of cuBLASLt GEMM rate"};
  {
    cuda::Context probe(device.index);
    std::printf("measuring %s...\n", cuda_device_description(device.index).c_str());
    limits.bandwidth = ops::cuda::measure_copy_bandwidth(probe);
    limits.gemm = ops::cuda::measure_blas_flops(probe, 8192, 8192, 8192);
  }
  std::printf("device: copy bandwidth %.0f GB/s (read + write), cuBLASLt BF16 GEMM %.0f TFLOP/s\n",
              limits.bandwidth / 1e9, limits.gemm / 1e12);
  DevicePlacement placement;
  placement.max_sequences = 1;
  for (int64_t b : setup.batches) placement.max_sequences = std::max<int>(placement.max_sequences, int(b));
  placement.max_chunk = 512;
  for (int64_t p : setup.prefill_lengths) placement.max_chunk = std::max(placement.max_chunk, p);
  placement.max_context = placement.max_chunk;
  for (int64_t c : setup.decode_contexts) placement.max_context = std::max(placement.max_context, c);
  placement.max_context += setup.decode_steps + 8;

  auto load_start = Clock::now();
  std::unique_ptr<Transformer> model;
  if (setup.synthetic.empty()) {
    ModelOptions cpu_load = model_options;
    cpu_load.device = "cpu";
    model = load_model_for_cli(cpu_load);
  } else {
    model = load_synthetic_model(setup.synthetic, DType::BF16, setup.layers);
  }
  model->place_on(device, placement);
  const double load_seconds = seconds_since(load_start);
  std::mt19937 rng(11);
  Sampler greedy(SamplingOptions{});
  Timers timers;
  timers.prefill_seconds = [&](std::span<const int32_t> ids) {
    double best = 1e30;
    for (int rep = 0; rep < 4; ++rep) {  // the first run pays one-time setup (cuBLASLt plans)
      KVCache cache = model->new_cache(int64_t(ids.size()));
      ForwardRequest request{ids, &cache, false};
      auto t = Clock::now();
      model->forward(std::span(&request, 1));
      if (rep > 0) best = std::min(best, seconds_since(t));
    }
    return best;
  };
  timers.decode_tokens_per_second = [&](int64_t batch, int64_t context) {
    std::vector<KVCache> caches;
    std::vector<std::vector<int32_t>> prompts;
    std::vector<ForwardRequest> requests;
    caches.reserve(size_t(batch));
    for (int64_t b = 0; b < batch; ++b) {
      caches.push_back(model->new_cache(placement.max_chunk));
      prompts.push_back(random_ids(rng, context, model->plan().vocab));
    }
    for (int64_t b = 0; b < batch; ++b) requests.push_back({prompts[size_t(b)], &caches[size_t(b)], false});
    model->forward(requests);  // the context, as a real prefill
    std::vector<int32_t> next = random_ids(rng, batch, model->plan().vocab);
    std::vector<SampleRequest> samples(size_t(batch), SampleRequest{&greedy, {}});
    auto step = [&] {
      for (int64_t b = 0; b < batch; ++b) requests[size_t(b)].tokens = std::span<const int32_t>(&next[size_t(b)], 1);
      next = model->forward_and_sample(requests, samples);
    };
    step();  // eager warm-up
    step();  // graph capture
    auto t = Clock::now();
    for (int s = 0; s < setup.decode_steps; ++s) step();
    return double(batch * setup.decode_steps) / seconds_since(t);
  };
  run_measurements(*model, setup.synthetic.empty() ? model_options.dir : setup.synthetic, load_seconds, limits, setup,
                   timers);
  return 0;
}
#endif

int run_bench(int argc, char** argv) {
  CLI::App app("Prefill and decode speed, as fractions of this machine's limits", "glint bench");
  ModelOptions model_options;
  add_model_options(app, model_options, false);
  BenchSetup setup;
  setup.prefill_lengths = {512};
  setup.decode_contexts = {128, 4096};
  setup.batches = {8, 32, 64};
  app.add_option("--synthetic", setup.synthetic, "random weights at the shapes of configs/synthetic/NAME.json");
  app.add_option("--layers", setup.layers, "keep only the first N layers (models too large for memory)");
  app.add_option("--prefill", setup.prefill_lengths, "prompt lengths to time")->delimiter(',')->capture_default_str();
  app.add_option("--context", setup.decode_contexts, "decode contexts (batch 1)")->delimiter(',')->capture_default_str();
  app.add_option("--batch", setup.batches, "decode batch sizes (context 128)")->delimiter(',')->capture_default_str();
  app.add_option("--steps", setup.decode_steps, "decode steps per measurement")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  GLINT_CHECK(!setup.synthetic.empty() || !model_options.dir.empty(), "give --model DIR or --synthetic NAME");
  if (model_options.threads > 0) set_thread_count(model_options.threads);
  const DeviceSpec device = parse_device(model_options.device);
  require_device(device);
#ifdef GLINT_HAVE_CUDA
  if (device.type == Device::CUDA) {
    // On a GPU, 2048-token prompts are timed too unless --prefill says otherwise (issue #4's figures).
    if (app.count("--prefill") == 0) setup.prefill_lengths = {512, 2048};
    return run_gpu_bench(model_options, setup);
  }
#endif
  return run_cpu_bench(model_options, setup);
}

}  // namespace

GLINT_COMMAND("bench", "prefill/decode speed vs the machine's limits", run_bench);

}  // namespace glint::cli
