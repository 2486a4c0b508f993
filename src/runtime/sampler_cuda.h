// Picking next tokens on the GPU, so a step's [rows, vocab] logits never cross to the host: only the chosen ids
// do. Same processors and order as the CPU Sampler (runtime/sampler.h): final softcap, repetition penalty,
// temperature, top-k, top-p, min-p; greedy takes the first maximum as torch.argmax does.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <span>
#include <vector>

#include "core/cuda_runtime.h"
#include "runtime/sampler.h"

namespace glint::cuda {

struct RowSampling {
  SamplingOptions options;           // per row: temperature, top_k, top_p, min_p, repetition_penalty
  std::span<const int32_t> context;  // ids seen so far (for the repetition penalty; may repeat)
  // The row's draw in [0, 1), from the caller's seeded generator (Sampler::next_uniform(), drawn only for sampled
  // rows, as Sampler::sample() does). Double, so the GPU sees the very draw the CPU Sampler would use.
  double uniform = 0;
};

// Agreement with the CPU Sampler fed the same uniform (Sampler::sample_with_uniform): the processed logits are
// bit-identical (IEEE division and multiplication; softcap uses tanhf, within 2 ulp of the CPU's), the sort order
// is the same (stable radix sort, ties by ascending id, -0 == +0), and probabilities are summed in double in
// another order (relative error ~1e-15). So the ids agree except when a top-p / min-p threshold or the draw
// falls within that rounding of a boundary between two tokens (or, with softcap, within ~1e-6 relative).
class DeviceSampler {
 public:
  // Scratch for up to max_rows rows of `vocab` logits, allocated once: three int32/float [max_rows, vocab]
  // buffers (sorted logits, sorted ids, id template) plus CUB's sort scratch (about as much again).
  DeviceSampler(int max_rows, int vocab);
  // logits: device float [rows, vocab], modified in place. Writes one id per row to `ids` (host) and
  // synchronises `stream`. softcap > 0 applies softcap · tanh(x / softcap) first. Options are checked as the CPU
  // Sampler checks them; a sampled row with no valid distribution throws the CPU Sampler's error.
  void sample(float* logits, std::span<const RowSampling> rows, float softcap, int32_t* ids, cudaStream_t stream);
  // What sample() picks for rows that are all greedy without repetition penalty, with no host work in between, so
  // that a CUDA graph can hold it: the ids go to `host_ids` (pinned memory) once `stream` gets there; the caller
  // synchronises.
  void greedy(float* logits, int rows, float softcap, int32_t* host_ids, cudaStream_t stream);

  struct RowParams;  // one row's processors on the device (sampler_cuda.cu)

 private:
  void launch_argmax(const float* logits, int rows, const RowParams* params, int32_t* out, cudaStream_t stream);

  int max_rows_, vocab_;
  // sorted_ids_ doubles as the upload area of the penalty ids: they are used before the sort overwrites it.
  DeviceBuffer sorted_logits_, sorted_ids_, iota_ids_, cub_scratch_, uploads_, out_ids_, all_greedy_;
  std::vector<unsigned char> host_uploads_;  // per-row parameters and sort segments, one copy per call
  std::vector<int32_t> host_penalty_ids_;    // each row's distinct in-range context ids, concatenated
  std::vector<uint32_t> seen_stamp_;         // [vocab]: == stamp_ when the id was already taken for this row
  uint32_t stamp_ = 0;
};

}  // namespace glint::cuda
