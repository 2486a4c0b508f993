// The generic decoder: runs any ModelPlan with its ModelWeights over a batch of sequences.
#pragma once
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "core/device.h"
#include "core/tensor.h"
#include "models/layer_plan.h"
#include "models/weights.h"
#include "runtime/kv_cache.h"
#include "runtime/sampler.h"

namespace glint {

struct ForwardRequest {
  std::span<const int32_t> tokens;  // appended after what `cache` already holds
  KVCache* cache = nullptr;
  bool all_logits = false;  // logits for every token, else for the last one only
};

// How a request's next token is picked: the request's sampler (options and random state) and the ids seen so far.
struct SampleRequest {
  Sampler* sampler = nullptr;
  std::span<const int32_t> context;
};

// Sizes the device side of a model is built for (caches and work buffers are allocated once, up front).
struct DevicePlacement {
  int max_sequences = 1;      // sequences decoded together (KV cache slots)
  int64_t max_context = 8192; // longest sequence (rows of the full-attention caches)
  int64_t max_chunk = 512;    // most tokens a sequence appends in one pass (prompt chunk)
};

// One forward pass over a batch: every request contributes at most its cache's chunk_tokens tokens.
struct Pass {
  std::vector<int32_t> tokens;      // all tokens, request after request
  std::vector<int64_t> positions;   // absolute position of each token in its sequence
  std::vector<int64_t> begin, end;  // token range of each request
  std::vector<KVCache*> caches;
  int64_t count() const { return int64_t(tokens.size()); }
};

// A model's forward pass on a device other than the CPU (the CUDA backend). It holds the device copy of the
// weights and the device side of every cache made while it is attached.
class DeviceRunner {
 public:
  virtual ~DeviceRunner() = default;
  virtual std::string describe() const = 0;
  virtual std::unique_ptr<DeviceCacheSlot> new_slot(int64_t chunk_tokens) = 0;
  // Runs the pass (appending to the caches); returns float host rows for `rows`: logits (softcapped) or, when
  // hidden_only, final-normed hidden states.
  virtual Tensor run_pass(const Pass& pass, std::span<const int64_t> rows, bool hidden_only) = 0;
  // Runs the pass and picks one token per selected row on the device (samples[i] for rows[i]).
  virtual std::vector<int32_t> run_pass_sampled(const Pass& pass, std::span<const int64_t> rows,
                                                std::span<const SampleRequest> samples) = 0;
};

class Transformer {
 public:
  Transformer(ModelPlan plan, ModelWeights weights);
  virtual ~Transformer() = default;
  const ModelPlan& plan() const { return plan_; }
  // For tools and tests that adjust a loaded plan (e.g. to emulate a quirk of how a reference was run).
  ModelPlan& mutable_plan() { return plan_; }
  const ModelWeights& weights() const { return weights_; }

  // chunk_tokens: longest piece of a prompt processed in one pass (bounds ring-buffer caches). On a device the
  // cache lives there (one of the placement's sequence slots).
  KVCache new_cache(int64_t chunk_tokens = 256) const;

  // Moves the model to `device` (weights uploaded once; caches made afterwards live there). The CPU is the
  // default; asking for CUDA where it is missing throws a clear error.
  void place_on(const DeviceSpec& device, const DevicePlacement& placement = {});
  const DeviceSpec& device() const { return device_; }
  const DeviceRunner* device_runner() const { return runner_.get(); }

  // Runs every request's tokens through the model (long prompts in chunks), appending to the caches.
  // Returns logits [rows, vocab]: for each request in order, all its positions or only its last.
  Tensor forward(std::span<ForwardRequest> requests);
  // Like forward (last-token logits), then picks each request's next token with samples[i]: on the device
  // where the model runs, so that logits never leave it.
  std::vector<int32_t> forward_and_sample(std::span<ForwardRequest> requests, std::span<const SampleRequest> samples);
  // Final-normed hidden state of the last token of each request ([requests, hidden]).
  Tensor last_hidden(std::span<ForwardRequest> requests);
  // Sequence classification scores [num_labels] of a token sequence (last non-pad token).
  std::vector<float> classify(std::span<const int32_t> tokens, int32_t pad_id);

  // Bytes of weights (all tensors) and the bytes one decode step must read (active parameters).
  size_t weight_bytes() const;
  int64_t parameter_count() const;
  // Calls visit on every weight tensor once (a tied head is the embedding, visited once).
  void for_each_weight(const std::function<void(const Tensor&)>& visit) const;
  size_t active_weight_bytes_per_token() const;
  // Whether a pass is exactly the generic embed → layers → head, which device runners reproduce. Families that
  // replace a step (Gemma 3n's AltUp streams, Gemma 4's placeholder embedding) say no.
  virtual bool runs_generic_pass() const { return true; }

 protected:
  // Embeds the pass's tokens into h [N, hidden]; families with per-layer inputs also prepare them.
  virtual void embed(Pass& pass, Tensor& h);
  // Runs the decoder layers over h in place. Gemma 3n replaces this (AltUp streams).
  virtual void run_layers(Pass& pass, Tensor& h);
  // h → final hidden states [N, hidden] before the final norm. Gemma 3n replaces this.
  virtual void finish_layers(Pass& pass, Tensor& h) {}

  // Shared blocks.
  void standard_layer(int layer, Pass& pass, Tensor& h);
  // out[N, hidden] = o_proj(attention(x)); appends this pass's K/V to the owning caches.
  void attention_block(int layer, Pass& pass, const Tensor& x, Tensor& out);
  // out = feed-forward(x); `residual` is the stream before the block (Gemma 4 routes on it).
  void feed_forward_block(int layer, const Tensor& x, const Tensor& residual, Tensor& out);
  void norm(const Tensor& x, const Tensor& weight, NormKind kind, Tensor& out) const;
  // Per-layer embedding input of the pass: [N, layers, width] (Gemma 3n / 4), empty otherwise.
  void compute_per_layer_inputs(Pass& pass, const Tensor& h);
  Tensor per_layer_inputs_;

  ModelPlan plan_;
  ModelWeights weights_;

 private:
  Tensor run_pass(Pass& pass, std::vector<int64_t>& rows_out, bool hidden_only);
  // Each cache of the pass now holds its request's tokens of this pass.
  static void advance_caches(const Pass& pass);
  // forward() and forward_and_sample(): passes in chunks; with samples, the final pass of every request picks
  // its next token into `ids` instead of returning logits.
  Tensor run_requests(std::span<ForwardRequest> requests, std::span<const SampleRequest> samples,
                      std::vector<int32_t>* ids);

  DeviceSpec device_;
  std::unique_ptr<DeviceRunner> runner_;
};

// The CUDA runner for a model (models/transformer_cuda.cpp); throws when the build or machine lacks CUDA or the
// plan uses something the CUDA backend does not run yet.
std::unique_ptr<DeviceRunner> make_cuda_runner(const Transformer& model, int device, const DevicePlacement& placement);

// Builds the model for a checkpoint directory: reads config.json, picks the family by model_type,
// loads and validates the weights.
struct LoadOptions {
  std::string matformer_slice;  // Gemma 3n: path to a slice.json (per-layer FFN widths, skipped layers)
};
std::unique_ptr<Transformer> load_model(const std::string& dir, const LoadOptions& options = {});
std::vector<std::string> supported_model_types();
// A model with made-up weights at the shapes of a config (benchmarks): configs/synthetic/<name>.json
// in the source tree, or a path to any config.json. `layers` > 0 keeps only the first layers.
std::unique_ptr<Transformer> load_synthetic_model(const std::string& name_or_path, DType dtype, int layers = 0);

}  // namespace glint
