// Token sampling on the GPU, reproducing runtime/sampler.cpp step by step (see sampler_cuda.h for how closely):
//   softcap → repetition penalty → greedy argmax, or temperature → segmented sort (descending, stable)
//   → per row: top-k (ties with the k-th stay) → softmax in double → top-p → min-p → the draw.
#include "runtime/sampler_cuda.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstring>
#include <cub/block/block_reduce.cuh>
#include <cub/block/block_scan.cuh>
#include <cub/device/device_radix_sort.cuh>
#include <cub/device/device_segmented_radix_sort.cuh>

#include "core/error.h"
#include "ops/cuda_ops.h"

namespace glint::cuda {

// One row's processors, uploaded with the sort segments in one copy per call.
struct DeviceSampler::RowParams {
  double uniform;
  float temperature, top_p, min_p, repetition_penalty;
  int32_t top_k;
  int32_t greedy;
  int32_t penalty_begin, penalty_end;  // this row's distinct context ids within the uploaded penalty list
};

namespace {

using RowParams = DeviceSampler::RowParams;

constexpr int kElementwiseThreads = 256;
constexpr int kPenaltyThreads = 256;
constexpr int kArgmaxThreads = 1024;
constexpr int kSampleThreads = 512;
constexpr int kChunkItems = 8;  // items per thread in each chunk of the block-wide searches and scans
constexpr int32_t kNoValidDistribution = -1;
// Up to this many sampled rows, each row gets its own device-wide radix sort (every multiprocessor on one row,
// ~75 us per 262144-entry row on an H200); past it, one segmented sort (a block per row: ~1.5 ms for 1 row,
// ~2.2 ms for 64) wins. Both are stable with -0 == +0, so the order is the same either way.
constexpr int kRowSortLimit = 16;
constexpr char kNoValidDistributionMessage[] =
    "sampling: the logits give no valid distribution (all -inf, or NaN/+inf present)";

// Where each part of the per-call upload sits: RowParams[max_rows], then int32 segment begins and ends.
size_t params_bytes(int max_rows) { return size_t(max_rows) * sizeof(RowParams); }
size_t uploads_bytes(int max_rows) { return params_bytes(max_rows) + 2 * size_t(max_rows) * sizeof(int32_t); }

__global__ void fill_row_ids_kernel(int32_t* ids, int64_t n, int vocab) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    ids[i] = int32_t(i % vocab);
}

// Block per row; the ids of a row are distinct, so no two threads touch the same logit.
__global__ void penalty_kernel(float* logits, int vocab, const RowParams* params, const int32_t* penalty_ids) {
  const RowParams& p = params[blockIdx.x];
  float* row = logits + int64_t(blockIdx.x) * vocab;
  for (int i = p.penalty_begin + int(threadIdx.x); i < p.penalty_end; i += blockDim.x) {
    float& l = row[penalty_ids[i]];
    l = l < 0 ? l * p.repetition_penalty : __fdiv_rn(l, p.repetition_penalty);
  }
}

struct Candidate {
  float value;
  int32_t index;
};
// The larger value; on equal values the smaller index (the first maximum, as torch.argmax and glint::argmax).
struct FirstMaximum {
  __device__ Candidate operator()(const Candidate& a, const Candidate& b) const {
    return (b.value > a.value || (b.value == a.value && b.index < a.index)) ? b : a;
  }
};

// Greedy rows in two steps, so a 262k-entry row is read by many multiprocessors rather than one: each of
// kArgmaxChunks blocks per row leaves its chunk's first maximum in `scratch` (value, index bits), then one block
// per row picks the first maximum of those. Per-thread seeding and ties follow argmax_kernel exactly.
constexpr int kArgmaxChunks = 64;
constexpr int kArgmaxChunkThreads = 256;

__global__ void __launch_bounds__(kArgmaxChunkThreads)
    argmax_chunk_kernel(const float* logits, int vocab, const RowParams* params, float* scratch) {
  const int r = blockIdx.y;
  if (!params[r].greedy) return;
  const int per_chunk = (vocab + kArgmaxChunks - 1) / kArgmaxChunks;
  const int begin = int(blockIdx.x) * per_chunk;
  const int end = begin + per_chunk < vocab ? begin + per_chunk : vocab;
  const float* row = logits + int64_t(r) * vocab;
  Candidate best{-INFINITY, INT_MAX};
  for (int i = begin + int(threadIdx.x); i < end; i += blockDim.x)
    if (best.index == INT_MAX || row[i] > best.value) best = Candidate{row[i], i};
  using BlockReduce = cub::BlockReduce<Candidate, kArgmaxChunkThreads>;
  __shared__ typename BlockReduce::TempStorage storage;
  const Candidate winner = BlockReduce(storage).Reduce(best, FirstMaximum());
  if (threadIdx.x == 0) {
    scratch[int64_t(r) * vocab + 2 * blockIdx.x] = winner.value;
    scratch[int64_t(r) * vocab + 2 * blockIdx.x + 1] = __int_as_float(winner.index);
  }
}

__global__ void __launch_bounds__(kArgmaxChunks)
    argmax_final_kernel(const float* scratch, int vocab, const RowParams* params, int32_t* out_ids) {
  const int r = blockIdx.x;
  if (!params[r].greedy) return;
  const float* chunks = scratch + int64_t(r) * vocab;
  const Candidate mine{chunks[2 * threadIdx.x], __float_as_int(chunks[2 * threadIdx.x + 1])};
  using BlockReduce = cub::BlockReduce<Candidate, kArgmaxChunks>;
  __shared__ typename BlockReduce::TempStorage storage;
  const Candidate winner = BlockReduce(storage).Reduce(mine, FirstMaximum());
  if (threadIdx.x == 0) out_ids[r] = winner.index;
}

__global__ void __launch_bounds__(kArgmaxThreads)
    argmax_kernel(const float* logits, int vocab, const RowParams* params, int32_t* out_ids) {
  if (!params[blockIdx.x].greedy) return;
  const float* row = logits + int64_t(blockIdx.x) * vocab;
  // Each thread's first element seeds its candidate, so a row of -inf still answers 0 as the CPU does.
  Candidate best{-INFINITY, INT_MAX};
  for (int i = threadIdx.x; i < vocab; i += blockDim.x)
    if (best.index == INT_MAX || row[i] > best.value) best = Candidate{row[i], i};
  using BlockReduce = cub::BlockReduce<Candidate, kArgmaxThreads>;
  __shared__ typename BlockReduce::TempStorage storage;
  const Candidate winner = BlockReduce(storage).Reduce(best, FirstMaximum());
  if (threadIdx.x == 0) out_ids[blockIdx.x] = winner.index;
}

// Sampled rows only; IEEE division as the CPU's `l /= temperature` (not a multiplication by the reciprocal).
__global__ void temperature_kernel(float* logits, int vocab, const RowParams* params) {
  const RowParams& p = params[blockIdx.y];
  if (p.greedy) return;
  float* row = logits + int64_t(blockIdx.y) * vocab;
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < vocab; i += gridDim.x * blockDim.x)
    row[i] = __fdiv_rn(row[i], p.temperature);
}

struct SampleShared {
  union {
    typename cub::BlockReduce<double, kSampleThreads>::TempStorage reduce;
    typename cub::BlockScan<double, kSampleThreads>::TempStorage scan;
  } cub;
  double total;
  int first;
};

// The first index in [begin, end) where pred holds, or end. Chunks of blockDim · kChunkItems, stopping at the
// first chunk with a hit. Every thread of the block must call it; every thread gets the answer.
template <typename Pred>
__device__ int first_index_where(int begin, int end, Pred pred, SampleShared& shared) {
  for (int base = begin; base < end; base += int(blockDim.x) * kChunkItems) {
    if (threadIdx.x == 0) shared.first = INT_MAX;
    __syncthreads();
    for (int j = 0; j < kChunkItems; ++j) {
      const int i = base + j * int(blockDim.x) + int(threadIdx.x);
      if (i < end && pred(i)) {
        atomicMin(&shared.first, i);
        break;  // this thread's later items have larger indices
      }
    }
    __syncthreads();
    const int found = shared.first;
    __syncthreads();  // everyone has read it before the next chunk resets it
    if (found != INT_MAX) return found;
  }
  return end;
}

// Sum of prob(i) over [0, count), in double; every thread gets it.
template <typename Prob>
__device__ double block_total(int count, Prob prob, SampleShared& shared) {
  double sum = 0;
  for (int i = threadIdx.x; i < count; i += blockDim.x) sum += prob(i);
  sum = cub::BlockReduce<double, kSampleThreads>(shared.cub.reduce).Sum(sum);
  if (threadIdx.x == 0) shared.total = sum;
  __syncthreads();
  const double total = shared.total;
  __syncthreads();  // the reduce storage and `total` may be reused at once
  return total;
}

// The first i in [0, count) with prob(0) + … + prob(i) >= target, or -1 when the whole sum stays below it.
// Each thread takes kChunkItems consecutive items; a block scan gives each its running sum; chunks stop early.
template <typename Prob>
__device__ int first_reaching(int count, double target, Prob prob, SampleShared& shared) {
  double carry = 0;  // mass of the chunks before this one
  for (int base = 0; base < count; base += kSampleThreads * kChunkItems) {
    const int first = base + int(threadIdx.x) * kChunkItems;
    double item[kChunkItems];
    double thread_sum = 0;
#pragma unroll
    for (int j = 0; j < kChunkItems; ++j) {
      item[j] = first + j < count ? prob(first + j) : 0.0;
      thread_sum += item[j];
    }
    double before = 0, chunk_total = 0;
    cub::BlockScan<double, kSampleThreads>(shared.cub.scan).ExclusiveSum(thread_sum, before, chunk_total);
    if (threadIdx.x == 0) shared.first = INT_MAX;
    __syncthreads();
    double cumulative = carry + before;
#pragma unroll
    for (int j = 0; j < kChunkItems; ++j) {
      cumulative += item[j];
      if (first + j < count && cumulative >= target) {
        atomicMin(&shared.first, first + j);
        break;
      }
    }
    __syncthreads();
    const int found = shared.first;
    __syncthreads();  // scan storage and `first` are reused by the next chunk
    if (found != INT_MAX) return found;
    carry += chunk_total;
  }
  return -1;
}

// Block per row over the row's logits sorted descending (ids alongside). The CPU's steps, in its order.
__global__ void __launch_bounds__(kSampleThreads)
    sample_sorted_kernel(const float* sorted_logits, const int32_t* sorted_ids, int vocab, const RowParams* params,
                         int32_t* out_ids) {
  const RowParams p = params[blockIdx.x];
  if (p.greedy) return;
  __shared__ SampleShared shared;
  const float* logits = sorted_logits + int64_t(blockIdx.x) * vocab;
  const int32_t* ids = sorted_ids + int64_t(blockIdx.x) * vocab;

  // Top-k keeps everything equal to the k-th value too: the kept list ends at the first value below it.
  int keep = vocab;
  if (p.top_k > 0 && p.top_k < vocab) {
    const float kth = logits[p.top_k - 1];
    keep = first_index_where(p.top_k, vocab, [&](int i) { return logits[i] != kth; }, shared);
  }
  // exp(x − max) of the float difference, in double, as the CPU computes it; -inf weighs 0.
  const float max_logit = logits[0];
  auto weight = [&](int i) {
    const float x = logits[i];
    return x == -INFINITY ? 0.0 : exp(double(x - max_logit));
  };
  const double total = block_total(keep, weight, shared);
  if (!(total > 0 && isfinite(total))) {
    if (threadIdx.x == 0) out_ids[blockIdx.x] = kNoValidDistribution;
    return;
  }
  auto prob = [&](int i) { return weight(i) / total; };
  if (p.top_p < 1.0f) {
    // Smallest prefix whose mass reaches top_p.
    const int reached = first_reaching(keep, double(p.top_p), prob, shared);
    if (reached >= 0) keep = reached + 1;
  }
  if (p.min_p > 0) {
    // Probabilities fall along the sorted list, so the kept ones are a prefix: cut at the first one below.
    const double threshold = prob(0) * double(p.min_p);
    keep = first_index_where(1, keep, [&](int i) { return !(prob(i) >= threshold); }, shared);
  }
  // The CPU walk `r -= p_i; if (r <= 0) pick i` picks the first i whose cumulative mass reaches r.
  const double mass = block_total(keep, prob, shared);
  const int picked = first_reaching(keep, p.uniform * mass, prob, shared);
  if (threadIdx.x == 0) out_ids[blockIdx.x] = ids[picked >= 0 ? picked : keep - 1];
}

unsigned grid_stride_blocks(int64_t n, int threads) {
  return unsigned(std::min<int64_t>((n + threads - 1) / threads, 4096));
}

}  // namespace

DeviceSampler::DeviceSampler(int max_rows, int vocab) : max_rows_(max_rows), vocab_(vocab) {
  GLINT_CHECK(max_rows > 0 && vocab > 0, "DeviceSampler needs rows and a vocabulary (got ", max_rows, " x ", vocab,
              ")");
  // CUB's segmented sort counts items in int.
  GLINT_CHECK(int64_t(max_rows) * vocab <= INT_MAX, "DeviceSampler: ", max_rows, " x ", vocab,
              " logits exceed the sort's int range");
  const int64_t cells = int64_t(max_rows) * vocab;
  sorted_logits_ = DeviceBuffer(size_t(cells) * sizeof(float));
  sorted_ids_ = DeviceBuffer(size_t(cells) * sizeof(int32_t));
  iota_ids_ = DeviceBuffer(size_t(cells) * sizeof(int32_t));
  uploads_ = DeviceBuffer(uploads_bytes(max_rows));
  out_ids_ = DeviceBuffer(size_t(max_rows) * sizeof(int32_t));
  host_uploads_.resize(uploads_bytes(max_rows));
  seen_stamp_.assign(size_t(vocab), 0);

  const int32_t* segment_begins = reinterpret_cast<const int32_t*>(uploads_.as<unsigned char>() + params_bytes(max_rows));
  size_t scratch_bytes = 0;
  GLINT_CUDA_CHECK(cub::DeviceSegmentedRadixSort::SortPairsDescending(
      nullptr, scratch_bytes, sorted_logits_.as<float>(), sorted_logits_.as<float>(), iota_ids_.as<int32_t>(),
      sorted_ids_.as<int32_t>(), int(cells), max_rows, segment_begins, segment_begins + max_rows));
  size_t row_scratch_bytes = 0;
  GLINT_CUDA_CHECK(cub::DeviceRadixSort::SortPairsDescending(nullptr, row_scratch_bytes, sorted_logits_.as<float>(),
                                                             sorted_logits_.as<float>(), iota_ids_.as<int32_t>(),
                                                             sorted_ids_.as<int32_t>(), vocab));
  cub_scratch_ = DeviceBuffer(std::max<size_t>({scratch_bytes, row_scratch_bytes, 1}));

  // The sort's values: every row's ids 0..vocab-1, written once.
  fill_row_ids_kernel<<<grid_stride_blocks(cells, kElementwiseThreads), kElementwiseThreads>>>(
      iota_ids_.as<int32_t>(), cells, vocab);
  GLINT_CUDA_LAUNCHED();
  // The parameters of greedy(): every row greedy, nothing else read.
  std::vector<RowParams> all_greedy(size_t(max_rows), RowParams{});
  for (RowParams& p : all_greedy) p.greedy = 1;
  all_greedy_ = DeviceBuffer(params_bytes(max_rows));
  GLINT_CUDA_CHECK(cudaMemcpy(all_greedy_.get(), all_greedy.data(), params_bytes(max_rows), cudaMemcpyHostToDevice));
  GLINT_CUDA_CHECK(cudaDeviceSynchronize());  // callers may use non-blocking streams
}

void DeviceSampler::launch_argmax(const float* logits, int n_rows, const RowParams* params, int32_t* out,
                                  cudaStream_t stream) {
  if (vocab_ >= 2 * kArgmaxChunks) {
    // Scratch: a greedy row's own stretch of the sort buffer, which only sampled rows use.
    argmax_chunk_kernel<<<dim3(kArgmaxChunks, unsigned(n_rows)), kArgmaxChunkThreads, 0, stream>>>(
        logits, vocab_, params, sorted_logits_.as<float>());
    GLINT_CUDA_LAUNCHED();
    argmax_final_kernel<<<n_rows, kArgmaxChunks, 0, stream>>>(sorted_logits_.as<float>(), vocab_, params, out);
  } else {
    argmax_kernel<<<n_rows, kArgmaxThreads, 0, stream>>>(logits, vocab_, params, out);
  }
  GLINT_CUDA_LAUNCHED();
}

void DeviceSampler::greedy(float* logits, int n_rows, float softcap, int32_t* host_ids, cudaStream_t stream) {
  GLINT_CHECK(n_rows >= 0 && n_rows <= max_rows_, "DeviceSampler: ", n_rows, " rows exceed the ", max_rows_,
              " it was built for");
  if (n_rows == 0) return;
  if (softcap > 0) ops::cuda::softcap(logits, int64_t(n_rows) * vocab_, softcap, stream);
  launch_argmax(logits, n_rows, all_greedy_.as<const RowParams>(), out_ids_.as<int32_t>(), stream);
  GLINT_CUDA_CHECK(cudaMemcpyAsync(host_ids, out_ids_.get(), size_t(n_rows) * sizeof(int32_t),
                                   cudaMemcpyDeviceToHost, stream));
}

void DeviceSampler::sample(float* logits, std::span<const RowSampling> rows, float softcap, int32_t* ids,
                           cudaStream_t stream) {
  const int n_rows = int(rows.size());
  GLINT_CHECK(n_rows <= max_rows_, "DeviceSampler: ", n_rows, " rows exceed the ", max_rows_, " it was built for");
  if (n_rows == 0) return;

  auto* params = reinterpret_cast<RowParams*>(host_uploads_.data());
  auto* segment_begins = reinterpret_cast<int32_t*>(host_uploads_.data() + params_bytes(max_rows_));
  int32_t* segment_ends = segment_begins + max_rows_;
  host_penalty_ids_.clear();
  int segments = 0;
  bool any_greedy = false;
  for (int r = 0; r < n_rows; ++r) {
    const RowSampling& row = rows[size_t(r)];
    const SamplingOptions& o = row.options;
    (void)Sampler(o);  // the CPU Sampler's own checks and messages
    GLINT_CHECK(row.uniform >= 0 && row.uniform <= 1, "DeviceSampler: row ", r, "'s uniform ", row.uniform,
                " is not in [0, 1]");
    RowParams& p = params[r];
    p = RowParams{row.uniform, o.temperature, o.top_p, o.min_p, o.repetition_penalty, o.top_k, o.greedy() ? 1 : 0,
                  int32_t(host_penalty_ids_.size()), 0};
    if (o.repetition_penalty != 1.0f) {
      // Each distinct in-range id once (the CPU skips ids outside the vocabulary). A stamp per row instead of a
      // sort keeps this linear in the context length.
      if (++stamp_ == 0) {
        std::fill(seen_stamp_.begin(), seen_stamp_.end(), 0u);
        stamp_ = 1;
      }
      for (int32_t id : row.context) {
        if (id < 0 || id >= vocab_ || seen_stamp_[size_t(id)] == stamp_) continue;
        seen_stamp_[size_t(id)] = stamp_;
        host_penalty_ids_.push_back(id);
      }
    }
    p.penalty_end = int32_t(host_penalty_ids_.size());
    if (o.greedy()) {
      any_greedy = true;
    } else {
      segment_begins[segments] = r * vocab_;
      segment_ends[segments] = (r + 1) * vocab_;
      ++segments;
    }
  }
  // Segment ends follow the begins at max_rows_, so one copy of the whole (small) upload area.
  GLINT_CUDA_CHECK(cudaMemcpyAsync(uploads_.get(), host_uploads_.data(), host_uploads_.size(), cudaMemcpyHostToDevice,
                                   stream));
  const auto* device_params = uploads_.as<const RowParams>();
  const auto* device_begins = reinterpret_cast<const int32_t*>(uploads_.as<unsigned char>() + params_bytes(max_rows_));
  const int64_t cells = int64_t(n_rows) * vocab_;

  if (softcap > 0) {
    ops::cuda::softcap(logits, cells, softcap, stream);
  }
  if (!host_penalty_ids_.empty()) {
    // At most vocab distinct ids per row, so they fit in sorted_ids_, which the sort overwrites only afterwards.
    int32_t* device_penalty_ids = sorted_ids_.as<int32_t>();
    GLINT_CUDA_CHECK(cudaMemcpyAsync(device_penalty_ids, host_penalty_ids_.data(),
                                     host_penalty_ids_.size() * sizeof(int32_t), cudaMemcpyHostToDevice, stream));
    penalty_kernel<<<n_rows, kPenaltyThreads, 0, stream>>>(logits, vocab_, device_params, device_penalty_ids);
    GLINT_CUDA_LAUNCHED();
  }
  int32_t* device_out = out_ids_.as<int32_t>();
  if (any_greedy) launch_argmax(logits, n_rows, device_params, device_out, stream);
  if (segments > 0) {
    const dim3 grid(unsigned((vocab_ + kElementwiseThreads * 8 - 1) / (kElementwiseThreads * 8)), unsigned(n_rows));
    temperature_kernel<<<grid, kElementwiseThreads, 0, stream>>>(logits, vocab_, device_params);
    GLINT_CUDA_LAUNCHED();
    if (segments <= kRowSortLimit) {
      for (int s = 0; s < segments; ++s) {
        const int64_t offset = segment_begins[s];
        size_t scratch_bytes = cub_scratch_.bytes();
        GLINT_CUDA_CHECK(cub::DeviceRadixSort::SortPairsDescending(
            cub_scratch_.get(), scratch_bytes, logits + offset, sorted_logits_.as<float>() + offset,
            iota_ids_.as<const int32_t>() + offset, sorted_ids_.as<int32_t>() + offset, vocab_, 0, 32, stream));
      }
    } else {
      // Only the sampled rows are sorted; items outside the segments are neither read nor written.
      const int sorted_items = segment_ends[segments - 1];
      size_t scratch_bytes = 0;
      GLINT_CUDA_CHECK(cub::DeviceSegmentedRadixSort::SortPairsDescending(
          nullptr, scratch_bytes, logits, sorted_logits_.as<float>(), iota_ids_.as<const int32_t>(),
          sorted_ids_.as<int32_t>(), sorted_items, segments, device_begins, device_begins + max_rows_, 0, 32,
          stream));
      GLINT_CHECK(scratch_bytes <= cub_scratch_.bytes(), "DeviceSampler: the sort wants ", scratch_bytes,
                  " bytes of scratch, more than the ", cub_scratch_.bytes(), " reserved");
      GLINT_CUDA_CHECK(cub::DeviceSegmentedRadixSort::SortPairsDescending(
          cub_scratch_.get(), scratch_bytes, logits, sorted_logits_.as<float>(), iota_ids_.as<const int32_t>(),
          sorted_ids_.as<int32_t>(), sorted_items, segments, device_begins, device_begins + max_rows_, 0, 32,
          stream));
    }
    sample_sorted_kernel<<<n_rows, kSampleThreads, 0, stream>>>(sorted_logits_.as<float>(), sorted_ids_.as<int32_t>(),
                                                                vocab_, device_params, device_out);
    GLINT_CUDA_LAUNCHED();
  }
  GLINT_CUDA_CHECK(cudaMemcpyAsync(ids, device_out, size_t(n_rows) * sizeof(int32_t), cudaMemcpyDeviceToHost, stream));
  GLINT_CUDA_CHECK(cudaStreamSynchronize(stream));
  for (int r = 0; r < n_rows; ++r) GLINT_CHECK(ids[r] != kNoValidDistribution, kNoValidDistributionMessage);
}

}  // namespace glint::cuda
