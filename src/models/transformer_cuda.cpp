// The CUDA runner: a Transformer's plan executed on one GPU. Weights are uploaded once in the compute dtype: BF16
// for BF16 checkpoints, F32 otherwise (F16 included, which the loader widens). Each sequence's K/V lives in a slot
// of per-layer device arrays. A pass is a fixed sequence of launches on one stream, and a decode step (every
// request one token) is captured once per batch size as a CUDA graph and replayed.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <set>

#include "core/cuda_runtime.h"
#include "models/transformer.h"
#include "ops/attention_cuda.h"
#include "ops/cuda_ops.h"
#include "ops/matmul_cuda.h"
#include "runtime/sampler_cuda.h"

namespace glint {
namespace {

using cuda::DeviceBuffer;
namespace kc = ops::cuda;

struct DeviceLayer {
  DeviceBuffer qkv, o, gate_up, down;  // compute dtype, [out, in]; qkv rows are q, then k and v when owning
  DeviceBuffer input_norm, post_attention_norm, pre_ffn_norm, post_ffn_norm, q_norm, k_norm;  // float
  DeviceBuffer k_cache, v_cache;  // owners only: [slots, capacity, kv_heads, head_dim]
  int64_t capacity = 0;
  int64_t qkv_rows = 0;
};

// Uploads the rows of `parts` one after another as `dtype` (converting on the host when the stored dtype differs).
DeviceBuffer upload_rows(std::initializer_list<const Tensor*> parts, DType dtype) {
  size_t elements = 0;
  for (const Tensor* t : parts) elements += size_t(t->numel());
  DeviceBuffer buffer(elements * dtype_size(dtype));
  size_t offset = 0;
  for (const Tensor* t : parts) {
    char* dst = buffer.as<char>() + offset;
    if (t->dtype() == dtype) {
      GLINT_CUDA_CHECK(cudaMemcpy(dst, t->raw(), t->nbytes(), cudaMemcpyHostToDevice));
    } else {
      Tensor wide = t->to_f32();
      if (dtype == DType::F32) {
        GLINT_CUDA_CHECK(cudaMemcpy(dst, wide.raw(), wide.nbytes(), cudaMemcpyHostToDevice));
      } else {
        std::vector<uint16_t> narrow(size_t(wide.numel()));
        for (size_t i = 0; i < narrow.size(); ++i) narrow[i] = f32_to_bf16(wide.f32()[i]);
        GLINT_CUDA_CHECK(cudaMemcpy(dst, narrow.data(), narrow.size() * 2, cudaMemcpyHostToDevice));
      }
    }
    offset += size_t(t->numel()) * dtype_size(dtype);
  }
  return buffer;
}

// Norm weights: float on the device; an absent tensor (a norm kind without weight) stays absent.
DeviceBuffer upload_f32(const Tensor& t) { return t.defined() ? upload_rows({&t}, DType::F32) : DeviceBuffer(); }

// Free slot indices, shared with the slots handed out so that a cache outliving its runner stays harmless.
using SlotPool = std::shared_ptr<std::vector<int>>;

class CudaSlot final : public DeviceCacheSlot {
 public:
  CudaSlot(SlotPool pool, int index, size_t bytes) : pool_(std::move(pool)), index_(index), bytes_(bytes) {}
  ~CudaSlot() override { pool_->push_back(index_); }
  int index() const override { return index_; }
  size_t bytes() const override { return bytes_; }

 private:
  SlotPool pool_;
  int index_;
  size_t bytes_;
};

// One group of requests run together: token range of each (its first token gives its slot and first position).
struct Group {
  std::vector<int32_t> tokens, positions, slots;  // per token
  std::vector<int64_t> begin, end;
  std::vector<int32_t> rows;  // selected token rows
  bool decode() const { return !begin.empty() && int64_t(tokens.size()) == int64_t(begin.size()); }
};

// GLINT_CUDA_PROFILE=1: device time per op kind, from events between launches (eager passes only; graphs are
// off while profiling). Printed to stderr when the runner goes away.
class OpTimes {
 public:
  OpTimes() {
    const char* env = std::getenv("GLINT_CUDA_PROFILE");
    enabled_ = env && std::string(env) == "1";
  }
  ~OpTimes() {
    for (auto& [event, _] : marks_) cudaEventDestroy(event);
    for (cudaEvent_t e : spare_) cudaEventDestroy(e);
  }
  bool enabled() const { return enabled_; }
  // Starts a pass; its ops are reported under `phase` ("decode", "prefill").
  void begin(cudaStream_t stream, const char* phase) {
    phase_ = phase;
    mark(stream, "start");
  }
  // The time since the previous mark belongs to `op`.
  void mark(cudaStream_t stream, const char* op) {
    if (!enabled_) return;
    cudaEvent_t event = nullptr;
    if (!spare_.empty()) {
      event = spare_.back();
      spare_.pop_back();
    } else {
      GLINT_CUDA_CHECK(cudaEventCreate(&event));
    }
    GLINT_CUDA_CHECK(cudaEventRecord(event, stream));
    marks_.emplace_back(event, op);
  }
  // Waits for the pass and adds up its intervals.
  void collect() {
    if (!enabled_ || marks_.empty()) return;
    GLINT_CUDA_CHECK(cudaEventSynchronize(marks_.back().first));
    for (size_t i = 1; i < marks_.size(); ++i) {
      float ms = 0;
      GLINT_CUDA_CHECK(cudaEventElapsedTime(&ms, marks_[i - 1].first, marks_[i].first));
      auto& [total, count] = totals_[phase_ + ": " + marks_[i].second];
      total += ms;
      ++count;
    }
    for (auto& [event, _] : marks_) spare_.push_back(event);
    marks_.clear();
  }
  void report() const {
    if (!enabled_ || totals_.empty()) return;
    double all = 0;
    for (auto& [_, t] : totals_) all += t.first;
    std::fprintf(stderr, "GLINT_CUDA_PROFILE: device time per op (eager passes, %.1f ms in all)\n", all);
    for (auto& [op, t] : totals_)
      std::fprintf(stderr, "  %-22s %10.3f ms %5.1f%%  %8ld calls  %8.2f us/call\n", op.c_str(), t.first,
                   100.0 * t.first / all, t.second, 1e3 * t.first / double(t.second));
  }

 private:
  bool enabled_ = false;
  std::string phase_;
  std::vector<std::pair<cudaEvent_t, const char*>> marks_;
  std::vector<cudaEvent_t> spare_;
  std::map<std::string, std::pair<double, long>> totals_;
};

// GLINT_CUDA_STEP_TIMES=1: for runs of decode graph replays, the device time of a step and the GPU's idle time
// between one step's end and the next one's start (host work, metadata upload, graph launch). Counted where the
// host waits for a replay's results (greedy picks, logits); steps sampled with other settings are not. Printed to
// stderr when the runner goes away.
class StepTimes {
 public:
  StepTimes() {
    const char* env = std::getenv("GLINT_CUDA_STEP_TIMES");
    enabled_ = env && std::string(env) == "1";
    if (!enabled_) return;
    for (cudaEvent_t* e : {&start_[0], &start_[1], &end_[0], &end_[1]}) GLINT_CUDA_CHECK(cudaEventCreate(e));
  }
  ~StepTimes() {
    if (!enabled_) return;
    if (steps_ > 0)
      std::fprintf(stderr, "GLINT_CUDA_STEP_TIMES: %ld decode graph steps, %.1f us device each; %ld gaps between "
                   "consecutive steps, %.1f us idle each\n", steps_, 1e3 * device_ms_ / double(steps_), gaps_,
                   gaps_ > 0 ? 1e3 * idle_ms_ / double(gaps_) : 0.0);
    for (cudaEvent_t e : {start_[0], start_[1], end_[0], end_[1]}) cudaEventDestroy(e);
  }
  // Around a graph launch; `replay` false for eager passes (which break a run of steps).
  void before(cudaStream_t stream, bool replay) {
    if (!enabled_) return;
    if (!replay) {
      pending_ = have_previous_ = false;
      return;
    }
    GLINT_CUDA_CHECK(cudaEventRecord(start_[current_], stream));
  }
  void after(cudaStream_t stream, bool replay) {
    if (!enabled_ || !replay) return;
    GLINT_CUDA_CHECK(cudaEventRecord(end_[current_], stream));
    pending_ = true;
  }
  // Once the step's results have been waited for.
  void collect() {
    if (!enabled_ || !pending_) return;
    GLINT_CUDA_CHECK(cudaEventSynchronize(end_[current_]));
    float ms = 0;
    GLINT_CUDA_CHECK(cudaEventElapsedTime(&ms, start_[current_], end_[current_]));
    device_ms_ += ms;
    ++steps_;
    if (have_previous_) {
      GLINT_CUDA_CHECK(cudaEventElapsedTime(&ms, end_[1 - current_], start_[current_]));
      idle_ms_ += ms;
      ++gaps_;
    }
    have_previous_ = true;
    pending_ = false;
    current_ = 1 - current_;
  }

 private:
  bool enabled_ = false, pending_ = false, have_previous_ = false;
  int current_ = 0;
  cudaEvent_t start_[2] = {}, end_[2] = {};
  double device_ms_ = 0, idle_ms_ = 0;
  long steps_ = 0, gaps_ = 0;
};

class CudaRunner final : public DeviceRunner {
 public:
  CudaRunner(const Transformer& model, int device, const DevicePlacement& placement);
  ~CudaRunner() override;
  std::string describe() const override { return description_; }
  std::unique_ptr<DeviceCacheSlot> new_slot(int64_t chunk_tokens) override;
  Tensor run_pass(const Pass& pass, std::span<const int64_t> rows, bool hidden_only) override;
  std::vector<int32_t> run_pass_sampled(const Pass& pass, std::span<const int64_t> rows,
                                        std::span<const SampleRequest> samples) override;

 private:
  void check_supported() const;
  void upload_weights();
  void allocate_work_buffers();
  // Splits a pass into groups of at most max_tokens_ tokens (whole requests) and runs each; `on_group` gets the
  // group and how many selected rows precede it.
  void for_each_group(const Pass& pass, std::span<const int64_t> rows,
                      const std::function<void(const Group&, size_t)>& on_group);
  // Uploads the group's ids and runs it: logits (or hidden states) of its selected rows end in logits_/hidden_.
  // greedy_ids: the greedy pick of every row also goes to pinned_ids_, inside the same graph (the caller
  // synchronises the stream before reading them).
  void run_group(const Group& group, bool hidden_only, bool greedy_ids = false);
  void record(const Group& group, bool hidden_only);
  kc::AttentionShape attention_shape(int layer) const;
  kc::QkvLayout qkv_layout(int layer) const;

  const Transformer& model_;
  const ModelPlan& plan_;
  DevicePlacement placement_;
  cuda::Context context_;
  kc::Linear linear_;
  DType dtype_;
  std::string description_;
  int64_t max_tokens_ = 0;

  std::vector<DeviceLayer> layers_;
  DeviceBuffer embed_, lm_head_, final_norm_;
  const void* lm_head_ptr_ = nullptr;
  std::vector<DeviceBuffer> rope_tables_;
  size_t weight_bytes_ = 0, cache_bytes_per_slot_ = 0;
  SlotPool free_slots_ = std::make_shared<std::vector<int>>();

  // Work buffers sized for max_tokens_ tokens.
  DeviceBuffer h_, x_, qkv_, q_, attended_, block_, mlp_, mlp_scratch_, selected_, normed_, hidden_out_;
  DeviceBuffer logits_, decode_workspace_, decode_counters_, meta_;
  int64_t logits_rows_ = 0;
  int32_t* pinned_meta_ = nullptr;
  int32_t* pinned_ids_ = nullptr;  // [max_sequences]: greedy picks
  cudaEvent_t meta_copied_ = nullptr;
  int32_t *d_tokens_ = nullptr, *d_positions_ = nullptr, *d_slots_ = nullptr, *d_rows_ = nullptr;

  std::unique_ptr<cuda::DeviceSampler> sampler_;
  OpTimes profile_;
  StepTimes step_times_;
  bool use_graphs_ = true;
  // GLINT_CUDA_FUSED_ATTENTION=1: decode attention with its q/k/v preparation in one launch (attention_decode_fused).
  // Off by default: on an H200 it measured slower than the two launches at 128 keys (13.9 vs 12.0 µs, 4B shapes)
  // and faster at 4000 (31.4 vs 35.2 µs); the model lost 2–4% at context 128.
  bool fused_attention_ = false;
  std::set<std::pair<int, bool>> warmed_batches_;
  std::map<std::pair<int, bool>, cudaGraphExec_t> graphs_;  // by (batch, greedy ids included)
};

CudaRunner::CudaRunner(const Transformer& model, int device, const DevicePlacement& placement)
    : model_(model), plan_(model.plan()), placement_(placement), context_(device), linear_(context_) {
  GLINT_CHECK(placement.max_sequences >= 1 && placement.max_context >= 1 && placement.max_chunk >= 1,
              "device placement needs at least one sequence, context and chunk");
  check_supported();
  const ModelWeights& w = model.weights();
  dtype_ = w.embed.dtype() == DType::F32 ? DType::F32 : DType::BF16;
  max_tokens_ = std::max<int64_t>(placement.max_chunk, placement.max_sequences);
  if (const char* env = std::getenv("GLINT_CUDA_GRAPHS")) use_graphs_ = std::string(env) != "0";
  if (const char* env = std::getenv("GLINT_CUDA_FUSED_ATTENTION")) fused_attention_ = std::string(env) == "1";
  if (profile_.enabled()) use_graphs_ = false;
  upload_weights();
  allocate_work_buffers();
  for (int s = placement.max_sequences - 1; s >= 0; --s) free_slots_->push_back(s);
  description_ = "cuda:" + std::to_string(device) + " " + cuda_device_description(device) + "; weights " +
                 std::to_string(weight_bytes_ >> 20) + " MiB " + dtype_name(dtype_) + "; KV cache " +
                 std::to_string((cache_bytes_per_slot_ * size_t(placement.max_sequences)) >> 20) + " MiB for " +
                 std::to_string(placement.max_sequences) + " sequence(s) of up to " +
                 std::to_string(placement.max_context) + " tokens";
}

CudaRunner::~CudaRunner() {
  profile_.report();
  for (auto& [_, exec] : graphs_) cudaGraphExecDestroy(exec);
  if (meta_copied_) cudaEventDestroy(meta_copied_);
  if (pinned_meta_) cudaFreeHost(pinned_meta_);
  if (pinned_ids_) cudaFreeHost(pinned_ids_);
}

void CudaRunner::check_supported() const {
  auto refuse = [&](const std::string& what) {
    fail("the CUDA backend does not run ", plan_.family, " models yet: ", what, " (use --device cpu)");
  };
  if (!model_.runs_generic_pass()) refuse("its own embedding or layer steps");
  if (plan_.altup_streams > 1 || plan_.laurel_rank > 0) refuse("AltUp / LAuReL layers");
  if (plan_.per_layer_input_width > 0) refuse("per-layer embeddings");
  if (plan_.hidden % 4 != 0 || plan_.hidden > kc::kMaxNormWidth)
    refuse("hidden size " + std::to_string(plan_.hidden) + " (the norm kernels take multiples of 4 up to " +
           std::to_string(kc::kMaxNormWidth) + ")");
  if (model_.weights().embed.dtype() != DType::F32 && model_.weights().embed.dtype() != DType::BF16 &&
      model_.weights().embed.dtype() != DType::F16)
    refuse(std::string("weights of dtype ") + dtype_name(model_.weights().embed.dtype()));
  for (size_t i = 0; i < plan_.layers.size(); ++i) {
    const LayerPlan& l = plan_.layers[i];
    const AttentionPlan& a = l.attention;
    const std::string at = " (layer " + std::to_string(i) + ")";
    if (l.ffn.moe) refuse("mixture-of-experts layers" + at);
    if (l.ffn.intermediate <= 0) refuse("a layer without a dense MLP" + at);
    if (l.ffn.activation_sparsity > 0) refuse("activation sparsity" + at);
    if (l.per_layer_input || l.layer_scalar) refuse("per-layer inputs / layer scalars" + at);
    if (a.k_eq_v || a.bias || a.temperature_tuning || a.qk_norm_after_rope)
      refuse("attention with shared K=V, biases, temperature tuning or norms after RoPE" + at);
    if (a.head_dim % 32 != 0 || a.head_dim > 256) refuse("head_dim " + std::to_string(a.head_dim) + at);
    if (a.kv_owner != int(i)) refuse("layers that read another layer's KV cache" + at);
  }
}

kc::QkvLayout CudaRunner::qkv_layout(int layer) const {
  const AttentionPlan& a = plan_.layers[size_t(layer)].attention;
  kc::QkvLayout layout;
  layout.n_heads = a.n_heads;
  layout.n_kv_heads = a.n_kv_heads;
  layout.head_dim = a.head_dim;
  layout.q_norm = a.q_norm;
  layout.k_norm = a.k_norm;
  layout.v_norm = a.v_norm;
  layout.eps = plan_.rms_eps;
  if (a.rope >= 0) {
    const auto& table = plan_.ropes[size_t(a.rope)];
    layout.inv_freq = rope_tables_[size_t(a.rope)].as<float>();
    layout.rope_style = table.style;
    layout.rope_factor = table.attention_factor;
  }
  return layout;
}

kc::AttentionShape CudaRunner::attention_shape(int layer) const {
  const AttentionPlan& a = plan_.layers[size_t(layer)].attention;
  kc::AttentionShape s;
  s.n_heads = a.n_heads;
  s.n_kv_heads = a.n_kv_heads;
  s.head_dim = a.head_dim;
  s.scale = a.scale;
  s.softcap = a.softcap;
  s.mask = a.mask;
  s.window = a.window;
  s.dtype = dtype_;
  return s;
}

void CudaRunner::upload_weights() {
  const ModelWeights& w = model_.weights();
  embed_ = upload_rows({&w.embed}, dtype_);
  weight_bytes_ += embed_.bytes();
  if (w.lm_head.raw() == w.embed.raw() && w.lm_head.dtype() == w.embed.dtype()) {
    lm_head_ptr_ = embed_.get();
  } else {
    lm_head_ = upload_rows({&w.lm_head}, dtype_);
    weight_bytes_ += lm_head_.bytes();
    lm_head_ptr_ = lm_head_.get();
  }
  final_norm_ = upload_f32(w.final_norm);
  for (const auto& rope : plan_.ropes) {
    DeviceBuffer table(rope.inv_freq.size() * sizeof(float));
    GLINT_CUDA_CHECK(cudaMemcpy(table.get(), rope.inv_freq.data(), table.bytes(), cudaMemcpyHostToDevice));
    rope_tables_.push_back(std::move(table));
  }
  layers_.resize(plan_.layers.size());
  for (size_t i = 0; i < plan_.layers.size(); ++i) {
    const LayerWeights& lw = w.layers[i];
    const AttentionPlan& a = plan_.layers[i].attention;
    DeviceLayer& d = layers_[i];
    d.qkv = upload_rows({&lw.attention.q, &lw.attention.k, &lw.attention.v}, dtype_);
    d.qkv_rows = int64_t(a.n_heads + 2 * a.n_kv_heads) * a.head_dim;
    d.o = upload_rows({&lw.attention.o}, dtype_);
    d.gate_up = upload_rows({&lw.mlp.gate, &lw.mlp.up}, dtype_);
    d.down = upload_rows({&lw.mlp.down}, dtype_);
    weight_bytes_ += d.qkv.bytes() + d.o.bytes() + d.gate_up.bytes() + d.down.bytes();
    d.input_norm = upload_f32(lw.input_norm);
    d.post_attention_norm = upload_f32(lw.post_attention_norm);
    d.pre_ffn_norm = upload_f32(lw.pre_ffn_norm);
    d.post_ffn_norm = upload_f32(lw.post_ffn_norm);
    d.q_norm = upload_f32(lw.attention.q_norm);
    d.k_norm = upload_f32(lw.attention.k_norm);
    // Windowed layers keep a ring: what a query still sees plus one chunk of new rows.
    d.capacity = a.mask == MaskKind::Causal ? placement_.max_context
                                            : std::min(a.window - 1 + placement_.max_chunk, placement_.max_context);
    const size_t cache_bytes = size_t(placement_.max_sequences) * size_t(d.capacity) * size_t(a.n_kv_heads) *
                               size_t(a.head_dim) * dtype_size(dtype_);
    d.k_cache = DeviceBuffer(cache_bytes);
    d.v_cache = DeviceBuffer(cache_bytes);
    // Attention tiles may read rows no token wrote yet (masked out); zeros keep 0 · row finite.
    GLINT_CUDA_CHECK(cudaMemset(d.k_cache.get(), 0, cache_bytes));
    GLINT_CUDA_CHECK(cudaMemset(d.v_cache.get(), 0, cache_bytes));
    cache_bytes_per_slot_ += 2 * cache_bytes / size_t(placement_.max_sequences);
  }
}

void CudaRunner::allocate_work_buffers() {
  int64_t qkv_width = 0, q_width = 0, intermediate = 0;
  size_t workspace = 0, counters = 0;
  for (size_t i = 0; i < plan_.layers.size(); ++i) {
    const AttentionPlan& a = plan_.layers[i].attention;
    qkv_width = std::max(qkv_width, layers_[i].qkv_rows);
    q_width = std::max(q_width, int64_t(a.n_heads) * a.head_dim);
    intermediate = std::max<int64_t>(intermediate, plan_.layers[i].ffn.intermediate);
    workspace = std::max(workspace, kc::decode_workspace_bytes(attention_shape(int(i)), placement_.max_sequences,
                                                               layers_[i].capacity));
    counters = std::max(counters, kc::decode_counter_count(attention_shape(int(i)), placement_.max_sequences));
  }
  const size_t n = size_t(max_tokens_), hidden = size_t(plan_.hidden), e = dtype_size(dtype_);
  h_ = DeviceBuffer(n * hidden * 4);
  block_ = DeviceBuffer(n * hidden * 4);
  x_ = DeviceBuffer(n * hidden * e);
  qkv_ = DeviceBuffer(n * size_t(qkv_width) * 4);
  q_ = DeviceBuffer(n * size_t(q_width) * e);
  attended_ = DeviceBuffer(n * size_t(q_width) * e);
  mlp_ = DeviceBuffer(n * size_t(intermediate) * e);
  mlp_scratch_ = DeviceBuffer(n * size_t(intermediate) * 2 * 4);
  selected_ = DeviceBuffer(n * hidden * 4);
  normed_ = DeviceBuffer(n * hidden * e);
  hidden_out_ = DeviceBuffer(n * hidden * 4);
  decode_workspace_ = DeviceBuffer(std::max<size_t>(workspace, 16));
  // Zeroed once: every fused decode launch leaves its arrival counters at zero again.
  decode_counters_ = DeviceBuffer(std::max<size_t>(counters, 1) * sizeof(unsigned));
  GLINT_CUDA_CHECK(cudaMemset(decode_counters_.get(), 0, decode_counters_.bytes()));
  logits_rows_ = placement_.max_sequences;
  logits_ = DeviceBuffer(size_t(logits_rows_) * size_t(plan_.vocab) * 4);
  // Per-pass ids in one block: tokens | positions | slots | rows.
  meta_ = DeviceBuffer(4 * n * sizeof(int32_t));
  d_tokens_ = meta_.as<int32_t>();
  d_positions_ = d_tokens_ + n;
  d_slots_ = d_positions_ + n;
  d_rows_ = d_slots_ + n;
  GLINT_CUDA_CHECK(cudaMallocHost(&pinned_meta_, 4 * n * sizeof(int32_t)));
  GLINT_CUDA_CHECK(cudaMallocHost(&pinned_ids_, size_t(placement_.max_sequences) * sizeof(int32_t)));
  GLINT_CUDA_CHECK(cudaEventCreateWithFlags(&meta_copied_, cudaEventDisableTiming));
  GLINT_CUDA_CHECK(cudaEventRecord(meta_copied_, context_.stream()));
  sampler_ = std::make_unique<cuda::DeviceSampler>(placement_.max_sequences, plan_.vocab);
}

std::unique_ptr<DeviceCacheSlot> CudaRunner::new_slot(int64_t chunk_tokens) {
  GLINT_CHECK(chunk_tokens <= placement_.max_chunk, "a KV cache with chunks of ", chunk_tokens,
              " tokens does not fit the GPU placement (chunks up to ", placement_.max_chunk, ")");
  GLINT_CHECK(!free_slots_->empty(), "all ", placement_.max_sequences, " GPU sequence slots are in use (the model "
              "was placed for ", placement_.max_sequences, " sequences)");
  const int index = free_slots_->back();
  free_slots_->pop_back();
  return std::make_unique<CudaSlot>(free_slots_, index, cache_bytes_per_slot_);
}

void CudaRunner::for_each_group(const Pass& pass, std::span<const int64_t> rows,
                                const std::function<void(const Group&, size_t)>& on_group) {
  Group group;
  size_t rows_before = 0, next_row = 0;
  auto flush = [&] {
    if (group.begin.empty()) return;
    on_group(group, rows_before);
    rows_before += group.rows.size();
    group = Group();
  };
  for (size_t r = 0; r < pass.begin.size(); ++r) {
    const int64_t b = pass.begin[r], e = pass.end[r];
    if (!group.begin.empty() && int64_t(group.tokens.size()) + (e - b) > max_tokens_) flush();
    const DeviceCacheSlot* slot = pass.caches[r]->device_slot();
    GLINT_CHECK(slot, "the GPU model was given a CPU KV cache");
    GLINT_CHECK(pass.positions[size_t(e - 1)] < placement_.max_context, "the sequence reaches ",
                pass.positions[size_t(e - 1)] + 1, " tokens, past the GPU cache's ", placement_.max_context,
                " (raise --max-context)");
    const int64_t offset = int64_t(group.tokens.size());
    group.begin.push_back(offset);
    group.end.push_back(offset + (e - b));
    for (int64_t t = b; t < e; ++t) {
      const int32_t token = pass.tokens[size_t(t)];
      GLINT_CHECK(token >= 0 && token < plan_.vocab, "token id ", token, " is outside the vocabulary (", plan_.vocab,
                  ")");
      group.tokens.push_back(token);
      group.positions.push_back(int32_t(pass.positions[size_t(t)]));
      group.slots.push_back(slot->index());
    }
    while (next_row < rows.size() && rows[next_row] < e) {
      GLINT_CHECK(rows[next_row] >= b, "selected rows must be in pass order");
      group.rows.push_back(int32_t(offset + rows[next_row] - b));
      ++next_row;
    }
  }
  flush();
}

void CudaRunner::run_group(const Group& group, bool hidden_only, bool greedy_ids) {
  cudaStream_t stream = context_.stream();
  const size_t n = size_t(max_tokens_), count = group.tokens.size();
  if (int64_t(group.rows.size()) > logits_rows_ && !hidden_only) {
    // More logits rows than ever before: a bigger buffer (graphs captured the old one).
    GLINT_CUDA_CHECK(cudaStreamSynchronize(stream));
    logits_rows_ = int64_t(group.rows.size());
    logits_ = DeviceBuffer(size_t(logits_rows_) * size_t(plan_.vocab) * 4);
    for (auto& [_, exec] : graphs_) cudaGraphExecDestroy(exec);
    graphs_.clear();
    warmed_batches_.clear();
  }
  GLINT_CUDA_CHECK(cudaEventSynchronize(meta_copied_));  // the previous pass's upload has left the staging block
  std::copy(group.tokens.begin(), group.tokens.end(), pinned_meta_);
  std::copy(group.positions.begin(), group.positions.end(), pinned_meta_ + n);
  std::copy(group.slots.begin(), group.slots.end(), pinned_meta_ + 2 * n);
  std::copy(group.rows.begin(), group.rows.end(), pinned_meta_ + 3 * n);
  GLINT_CUDA_CHECK(cudaMemcpyAsync(meta_.get(), pinned_meta_, 4 * n * sizeof(int32_t), cudaMemcpyHostToDevice, stream));
  GLINT_CUDA_CHECK(cudaEventRecord(meta_copied_, stream));

  auto run = [&] {
    record(group, hidden_only);
    if (greedy_ids)
      sampler_->greedy(logits_.as<float>(), int(group.rows.size()), plan_.final_softcap, pinned_ids_, stream);
  };
  const bool graphable = use_graphs_ && group.decode() && !hidden_only && group.rows.size() == count;
  const std::pair<int, bool> key{int(count), greedy_ids};
  const auto cached = graphable ? graphs_.find(key) : graphs_.end();
  step_times_.before(stream, cached != graphs_.end());
  if (!graphable) {
    run();
    return;
  }
  if (cached != graphs_.end()) {
    GLINT_CUDA_CHECK(cudaGraphLaunch(cached->second, stream));
    step_times_.after(stream, true);
    return;
  }
  if (!warmed_batches_.count(key)) {
    // First step at this batch size runs eagerly: one-time setup (cuBLASLt heuristics, kernel attributes) stays
    // out of the capture.
    run();
    warmed_batches_.insert(key);
    return;
  }
  cudaGraph_t graph = nullptr;
  GLINT_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
  try {
    run();
  } catch (...) {
    cudaStreamEndCapture(stream, &graph);
    if (graph) cudaGraphDestroy(graph);
    throw;
  }
  GLINT_CUDA_CHECK(cudaStreamEndCapture(stream, &graph));
  cudaGraphExec_t exec = nullptr;
  GLINT_CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
  cudaGraphDestroy(graph);
  graphs_[key] = exec;
  GLINT_CUDA_CHECK(cudaGraphLaunch(exec, stream));
}

// The pass itself, launch by launch; in decode groups it depends only on the batch size (graph capture).
void CudaRunner::record(const Group& group, bool hidden_only) {
  cudaStream_t stream = context_.stream();
  const int64_t count = int64_t(group.tokens.size()), hidden = plan_.hidden;
  const size_t e = dtype_size(dtype_);
  const int layer_count = int(plan_.layers.size());

  profile_.begin(stream, group.decode() ? "decode" : "prefill");
  kc::embedding(embed_.get(), dtype_, d_tokens_, count, hidden, plan_.embed_scale, h_.as<float>(), stream);
  kc::rms_norm(h_.as<float>(), count, hidden, layers_[0].input_norm.as<float>(), plan_.layers[0].norm, plan_.rms_eps,
               x_.get(), dtype_, stream);
  profile_.mark(stream, "embedding + norm");
  for (int i = 0; i < layer_count; ++i) {
    const LayerPlan& lp = plan_.layers[size_t(i)];
    const AttentionPlan& a = lp.attention;
    DeviceLayer& d = layers_[size_t(i)];
    const int64_t q_width = int64_t(a.n_heads) * a.head_dim;

    linear_.run(x_.get(), count, d.qkv.get(), d.qkv_rows, hidden, dtype_, qkv_.as<float>(), stream);
    profile_.mark(stream, "qkv linear");
    const kc::AttentionShape shape = attention_shape(i);
    if (group.decode() && fused_attention_) {
      // One launch: q/k norms, RoPE, the new K/V rows and the attention (decode rows have distinct slots).
      kc::attention_decode_fused(shape, qkv_layout(i), qkv_.as<float>(), d.q_norm.as<float>(), d.k_norm.as<float>(),
                                 int(count), d_slots_, d_positions_, d.k_cache.get(), d.v_cache.get(), d.capacity,
                                 attended_.get(), decode_workspace_.get(), decode_counters_.as<unsigned>(), stream);
    } else {
      kc::qkv_rope_cache_write(qkv_layout(i), qkv_.as<float>(), count, d_positions_, d_slots_, d.q_norm.as<float>(),
                               d.k_norm.as<float>(), true, q_.get(), d.k_cache.get(), d.v_cache.get(), d.capacity,
                               dtype_, stream);
      profile_.mark(stream, "qk norm + rope + kv");
      const kc::CacheView view{d.k_cache.get(), d.v_cache.get(), d.capacity};
      if (group.decode()) {
        kc::attention_decode(shape, q_.get(), int(count), d_slots_, d_positions_, view, attended_.get(),
                             decode_workspace_.get(), stream);
      } else {
        for (size_t r = 0; r < group.begin.size(); ++r) {
          const int64_t b = group.begin[r], t = group.end[r] - b;
          kc::attention_prefill(shape, q_.as<char>() + size_t(b * q_width) * e, t, group.positions[size_t(b)], view,
                                group.slots[size_t(b)], attended_.as<char>() + size_t(b * q_width) * e, stream);
        }
      }
    }
    profile_.mark(stream, group.decode() ? "attention decode" : "attention prefill");
    linear_.run(attended_.get(), count, d.o.get(), hidden, q_width, dtype_, block_.as<float>(), stream);
    profile_.mark(stream, "o linear");
    const NormKind sandwich = lp.sandwich_norms ? lp.norm : NormKind::None;
    kc::residual_norm(h_.as<float>(), block_.as<float>(), count, hidden, d.post_attention_norm.as<float>(), sandwich,
                      d.pre_ffn_norm.as<float>(), lp.norm, plan_.rms_eps, x_.get(), dtype_, stream);
    profile_.mark(stream, "residual + norms");

    const int64_t intermediate = lp.ffn.intermediate;
    linear_.run_gated(x_.get(), count, d.gate_up.get(), intermediate, hidden, lp.ffn.activation, dtype_, mlp_.get(),
                      mlp_scratch_.as<float>(), stream);
    profile_.mark(stream, "gate/up linear + act");
    linear_.run(mlp_.get(), count, d.down.get(), hidden, intermediate, dtype_, block_.as<float>(), stream);
    profile_.mark(stream, "down linear");
    const bool last = i + 1 == layer_count;
    const DeviceLayer* next = last ? nullptr : &layers_[size_t(i) + 1];
    kc::residual_norm(h_.as<float>(), block_.as<float>(), count, hidden, d.post_ffn_norm.as<float>(), sandwich,
                      next ? next->input_norm.as<float>() : nullptr,
                      next ? plan_.layers[size_t(i) + 1].norm : NormKind::None, plan_.rms_eps,
                      next ? x_.get() : nullptr, dtype_, stream);
    profile_.mark(stream, "residual + norms");
  }

  const int64_t selected = int64_t(group.rows.size());
  if (selected == 0) {
    profile_.collect();
    return;
  }
  kc::gather_rows(h_.as<float>(), d_rows_, selected, hidden, selected_.as<float>(), stream);
  if (hidden_only) {
    kc::rms_norm(selected_.as<float>(), selected, hidden, final_norm_.as<float>(), plan_.final_norm, plan_.rms_eps,
                 hidden_out_.get(), DType::F32, stream);
    profile_.mark(stream, "final norm");
    profile_.collect();
    return;
  }
  kc::rms_norm(selected_.as<float>(), selected, hidden, final_norm_.as<float>(), plan_.final_norm, plan_.rms_eps,
               normed_.get(), dtype_, stream);
  profile_.mark(stream, "final norm");
  linear_.run(normed_.get(), selected, lm_head_ptr_, plan_.vocab, hidden, dtype_, logits_.as<float>(), stream);
  profile_.mark(stream, "lm head");
  profile_.collect();
}

Tensor CudaRunner::run_pass(const Pass& pass, std::span<const int64_t> rows, bool hidden_only) {
  const int64_t width = hidden_only ? plan_.hidden : plan_.vocab;
  Tensor out = rows.empty() ? Tensor() : Tensor::empty({int64_t(rows.size()), width});
  for_each_group(pass, rows, [&](const Group& group, size_t rows_before) {
    run_group(group, hidden_only);
    if (group.rows.empty()) return;
    const int64_t n = int64_t(group.rows.size());
    cudaStream_t stream = context_.stream();
    float* src = hidden_only ? hidden_out_.as<float>() : logits_.as<float>();
    if (!hidden_only && plan_.final_softcap > 0) kc::softcap(src, n * width, plan_.final_softcap, stream);
    GLINT_CUDA_CHECK(cudaMemcpyAsync(out.f32() + rows_before * size_t(width), src, size_t(n * width) * 4,
                                     cudaMemcpyDeviceToHost, stream));
    GLINT_CUDA_CHECK(cudaStreamSynchronize(stream));
    step_times_.collect();
  });
  // A pass with no wanted rows (a prompt chunk before the last) returns at once: the next pass queues behind it
  // on the same stream, and the staging block is guarded by meta_copied_.
  return out;
}

std::vector<int32_t> CudaRunner::run_pass_sampled(const Pass& pass, std::span<const int64_t> rows,
                                                  std::span<const SampleRequest> samples) {
  GLINT_CHECK(rows.size() == samples.size(), "run_pass_sampled: ", samples.size(), " samplers for ", rows.size(),
              " rows");
  std::vector<int32_t> ids(rows.size(), -1);
  for_each_group(pass, rows, [&](const Group& group, size_t rows_before) {
    // All greedy (the common case, and every benchmark): the picks come with the pass, in the same graph.
    bool all_greedy = !group.rows.empty() && int64_t(group.rows.size()) <= placement_.max_sequences;
    for (size_t i = 0; i < group.rows.size() && all_greedy; ++i) {
      const SamplingOptions& o = samples[rows_before + i].sampler->options();
      all_greedy = o.greedy() && o.repetition_penalty == 1.0f;
    }
    run_group(group, false, all_greedy);
    if (group.rows.empty()) return;
    if (all_greedy) {
      GLINT_CUDA_CHECK(cudaStreamSynchronize(context_.stream()));
      step_times_.collect();
      std::copy(pinned_ids_, pinned_ids_ + group.rows.size(), ids.begin() + std::ptrdiff_t(rows_before));
      return;
    }
    std::vector<cuda::RowSampling> row_sampling(group.rows.size());
    for (size_t i = 0; i < group.rows.size(); ++i) {
      const SampleRequest& s = samples[rows_before + i];
      row_sampling[i].options = s.sampler->options();
      row_sampling[i].context = s.context;
      row_sampling[i].uniform = s.sampler->options().greedy() ? 0.0 : s.sampler->next_uniform();
    }
    profile_.begin(context_.stream(), "sampling");
    sampler_->sample(logits_.as<float>(), row_sampling, plan_.final_softcap, ids.data() + rows_before,
                     context_.stream());
    profile_.mark(context_.stream(), "device sampler (to ids on host)");
    profile_.collect();
  });
  return ids;
}

}  // namespace

std::unique_ptr<DeviceRunner> make_cuda_runner(const Transformer& model, int device, const DevicePlacement& placement) {
  return std::make_unique<CudaRunner>(model, device, placement);
}

}  // namespace glint
