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
  float uniform = 0;                 // the row's random draw in [0, 1), from the caller's seeded generator
};

class DeviceSampler {
 public:
  // Scratch for up to max_rows rows of `vocab` logits (sort buffers, per-row parameters).
  DeviceSampler(int max_rows, int vocab);
  // logits: device float [rows, vocab], modified in place. Writes one id per row to `ids` (host) and
  // synchronises `stream`. softcap > 0 applies softcap · tanh(x / softcap) first.
  void sample(float* logits, std::span<const RowSampling> rows, float softcap, int32_t* ids, cudaStream_t stream);

 private:
  int max_rows_, vocab_;
  // Implementation buffers (sorted keys/values, CUB scratch, per-row parameters, penalty ids, output ids).
  DeviceBuffer sorted_logits_, sorted_ids_, iota_ids_, offsets_, cub_scratch_, row_params_, penalty_ids_,
      penalty_offsets_, out_ids_;
  std::vector<int32_t> host_penalty_ids_;
};

}  // namespace glint::cuda
