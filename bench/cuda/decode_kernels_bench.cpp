// glint_cuda_bench: the decode kernels alone on the GPU, at the real Gemma 3 1B / 4B shapes, timed by CUDA-graph
// replay so that launch costs stay out, each as bytes moved per second against the measured copy bandwidth.
// Weights rotate over copies larger than L2 together, so every launch reads DRAM as a real decode step does.
//   glint_cuda_bench [--split N] [--rows R] [--only "4b down" | "4b layer" | attention | sync]
// (defaults: by shape; rows 1, 2, 3, 4 and 8; all)
#include <cuda_runtime.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "core/cuda_runtime.h"
#include "core/device.h"
#include "ops/attention_cuda.h"
#include "ops/cuda_ops.h"
#include "ops/matmul_cuda.h"
#include "graph_timer.h"
#include "sync_bench.h"

namespace {

using glint::DType;
using glint::cuda::DeviceBuffer;
using glint::bench::time_graph;
namespace kc = glint::ops::cuda;

constexpr size_t kRotateBytes = size_t(256) << 20;  // well past L2 (50 MiB on an H100/H200)

struct GemvShape {
  const char* name;
  int64_t out, in;
  bool gated;  // out = width; the matrix holds 2·width rows
};

// One launch of `shape` (BF16) on `rows` rows of x into y (float, or BF16 when gated).
void run_gemv(kc::Linear& linear, const GemvShape& shape, int64_t rows, const void* w, const void* x, void* y,
              cudaStream_t stream) {
  if (shape.gated)
    linear.run_gated(x, rows, w, shape.out, shape.in, glint::ops::Activation::GeluTanh, DType::BF16, y, nullptr,
                     stream);
  else
    linear.run(x, rows, w, shape.out, shape.in, DType::BF16, static_cast<float*>(y), stream);
}

const char* kernel_name(kc::GemvKernel kernel) {
  switch (kernel) {
    case kc::GemvKernel::Scalar: return "scalar";
    case kc::GemvKernel::Streaming: return "stream";
    case kc::GemvKernel::TensorCores: return "tensor";
    case kc::GemvKernel::ByRows: break;
  }
  return "default";
}

}  // namespace

int main(int argc, char** argv) {
  int split = 0;
  int64_t only_rows = 0;  // one row count of the GEMV lines, e.g. for a profiler
  std::string only;  // one GEMV shape by name ("4b down") or "attention", e.g. for a profiler
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--split") == 0) split = std::atoi(argv[i + 1]);
    else if (std::strcmp(argv[i], "--only") == 0) only = argv[i + 1];
    else if (std::strcmp(argv[i], "--rows") == 0) only_rows = std::atoll(argv[i + 1]);

  }
  if (glint::cuda_device_count() == 0) {
    std::printf("skipped: no GPU\n");
    return 0;
  }
  try {
    glint::cuda::Context context(0);
    cudaStream_t stream = context.stream();
    const double bandwidth = kc::measure_copy_bandwidth(context);
    std::printf("%s; copy bandwidth %.0f GB/s; GEMV split %d (0: by shape)\n",
                glint::cuda_device_description(0).c_str(), bandwidth / 1e9, split);
    const GemvShape shapes[] = {
        {"1b qkv", 1536, 1152, false},   {"1b o", 1152, 1024, false},         {"1b gate_up", 6912, 1152, true},
        {"1b down", 1152, 6912, false},  {"1b lm_head", 262144, 1152, false}, {"4b qkv", 4096, 2560, false},
        {"4b o", 2560, 2048, false},     {"4b gate_up", 10240, 2560, true},   {"4b down", 2560, 10240, false},
        {"4b lm_head", 262144, 2560, false},
    };
    std::printf("%-12s %5s %7s %10s %10s %8s\n", "gemv", "rows", "kernel", "us", "GB/s", "of copy");
    for (const GemvShape& s : shapes) {
      if (!only.empty() && only != s.name) continue;
      const int64_t rows_of_w = s.gated ? 2 * s.out : s.out;
      const size_t bytes = size_t(rows_of_w * s.in) * 2;
      const int copies = int(std::max<size_t>(1, (kRotateBytes + bytes - 1) / bytes));
      std::vector<DeviceBuffer> weights;
      for (int c = 0; c < copies; ++c) {
        weights.emplace_back(bytes);
        GLINT_CUDA_CHECK(cudaMemset(weights.back().get(), 0x3c, bytes));  // small finite bf16 values
      }
      DeviceBuffer x(size_t(8 * s.in) * 2), y(size_t(8 * rows_of_w) * 4);
      GLINT_CUDA_CHECK(cudaMemset(x.get(), 0x3c, x.bytes()));
      kc::Linear linear(context);
      linear.set_gemv_split(split);
      for (int64_t rows : {1, 2, 3, 4, 8}) {
        if (only_rows != 0 && rows != only_rows) continue;
        for (const kc::GemvKernel kernel :
             {kc::GemvKernel::Scalar, kc::GemvKernel::Streaming, kc::GemvKernel::TensorCores}) {
          if (rows == 1 && kernel == kc::GemvKernel::TensorCores) continue;
          linear.set_gemv_kernel(kernel);
          const int launches = std::max(copies, 8);
          const double us = time_graph(stream, launches, 20, [&](int i) {
            run_gemv(linear, s, rows, weights[size_t(i % copies)].get(), x.get(), y.get(), stream);
          });
          const double gbps = double(bytes) / (us * 1e-6) / 1e9;
          std::printf("%-12s %5lld %7s %10.2f %10.0f %7.1f%%\n", s.name, (long long)rows,
                      kernel_name(kernel), us, gbps, 100.0 * gbps * 1e9 / bandwidth);
        }
      }
      linear.set_gemv_kernel(kc::GemvKernel::ByRows);
    }

    // A decoder layer's four GEMVs back to back (qkv, o, gate/up, down), as decode chains them, layers rotating:
    // the sum of the lines above less what chaining different shapes hides.
    for (int model = 0; model < 2; ++model) {
      const GemvShape* layer = &shapes[model * 5];
      const char* name = model == 0 ? "1b layer" : "4b layer";
      if (!only.empty() && only != name) continue;
      size_t layer_bytes = 0;
      for (int g = 0; g < 4; ++g) layer_bytes += size_t((layer[g].gated ? 2 : 1) * layer[g].out * layer[g].in) * 2;
      const int copies = int(std::max<size_t>(1, (kRotateBytes + layer_bytes - 1) / layer_bytes));
      std::vector<DeviceBuffer> weights;
      for (int c = 0; c < copies * 4; ++c) {
        const GemvShape& g = layer[c % 4];
        weights.emplace_back(size_t((g.gated ? 2 : 1) * g.out * g.in) * 2);
        GLINT_CUDA_CHECK(cudaMemset(weights.back().get(), 0x3c, weights.back().bytes()));
      }
      DeviceBuffer x(size_t(8 * 16384) * 2), y(size_t(8 * 16384) * 4);
      GLINT_CUDA_CHECK(cudaMemset(x.get(), 0x3c, x.bytes()));
      kc::Linear linear(context);
      linear.set_gemv_split(split);
      // The streaming kernel also with its grid capped at 3 and 2 blocks an SM ("stream/3"), which lets the next
      // GEMV's blocks start loading during this one's end.
      for (const int cap : {-1, 0, 3, 2}) {
        const kc::GemvKernel kernel = cap < 0 ? kc::GemvKernel::Scalar : kc::GemvKernel::Streaming;
        linear.set_gemv_kernel(kernel);
        linear.set_stream_blocks_per_sm(std::max(cap, 0));
        const std::string label = cap > 0 ? std::string(kernel_name(kernel)) + "/" + std::to_string(cap)
                                          : std::string(kernel_name(kernel));
        const double us = 4 * time_graph(stream, copies * 4, 20, [&](int i) {
          run_gemv(linear, layer[i % 4], 1, weights[size_t(i)].get(), x.get(), y.get(), stream);
        });
        const double gbps = double(layer_bytes) / (us * 1e-6) / 1e9;
        std::printf("%-12s %5d %8s %9.2f %10.0f %7.1f%%\n", name, 1, label.c_str(), us, gbps,
                    100.0 * gbps * 1e9 / bandwidth);
      }
    }

    if (only.empty() || only == "sync") {
      glint::bench::time_phase_sync(stream, context.properties().multiProcessorCount);
      if (!only.empty()) return 0;
    }
    if (!only.empty() && only != "attention") return 0;
    // Decode attention (Gemma 3 4B: 8 heads, 4 kv heads, head_dim 256) over a full-attention cache: the attention
    // alone, with the q/k/v preparation before it (qkv_rope_cache_write), and both fused in one launch.
    std::printf("%-28s %10s %10s %10s\n", "attention decode (4b), us", "decode", "qkv+dec", "fused");
    for (int64_t capacity : {int64_t(2120), int64_t(8192)}) {
      for (int position : {128, 4000}) {
        if (position >= capacity) continue;
        kc::AttentionShape shape;
        shape.n_heads = 8;
        shape.n_kv_heads = 4;
        shape.head_dim = 256;
        shape.scale = 1.0f / 16.0f;
        shape.mask = glint::ops::MaskKind::Causal;
        shape.dtype = DType::BF16;
        const size_t cache_bytes = size_t(capacity) * 4 * 256 * 2;
        DeviceBuffer k(cache_bytes), v(cache_bytes), q(8 * 256 * 2), out(8 * 256 * 2), meta(8);
        DeviceBuffer qkv(16 * 256 * 4), norm_weights(2 * 256 * 4), inv_freq(128 * 4), counters(4 * 4);
        GLINT_CUDA_CHECK(cudaMemset(k.get(), 0, cache_bytes));
        GLINT_CUDA_CHECK(cudaMemset(v.get(), 0, cache_bytes));
        GLINT_CUDA_CHECK(cudaMemset(q.get(), 0, q.bytes()));
        GLINT_CUDA_CHECK(cudaMemset(qkv.get(), 0, qkv.bytes()));
        GLINT_CUDA_CHECK(cudaMemset(norm_weights.get(), 0, norm_weights.bytes()));
        GLINT_CUDA_CHECK(cudaMemset(inv_freq.get(), 0, inv_freq.bytes()));
        GLINT_CUDA_CHECK(cudaMemset(counters.get(), 0, counters.bytes()));
        const int32_t host_meta[2] = {0, position};
        GLINT_CUDA_CHECK(cudaMemcpy(meta.get(), host_meta, 8, cudaMemcpyHostToDevice));
        const int32_t* slots = meta.as<int32_t>();
        const int32_t* positions = meta.as<int32_t>() + 1;
        DeviceBuffer workspace(kc::decode_workspace_bytes(shape, 1, capacity));
        const kc::CacheView view{k.get(), v.get(), capacity};
        kc::QkvLayout layout;
        layout.n_heads = 8;
        layout.n_kv_heads = 4;
        layout.head_dim = 256;
        layout.q_norm = layout.k_norm = glint::ops::NormKind::RmsPlusOne;
        layout.inv_freq = inv_freq.as<float>();
        const float* q_weight = norm_weights.as<float>();
        const float* k_weight = q_weight + 256;
        auto decode = [&] {
          kc::attention_decode(shape, q.get(), 1, slots, positions, view, out.get(), workspace.get(), stream);
        };
        const double alone = time_graph(stream, 20, 20, [&](int) { decode(); });
        const double separate = time_graph(stream, 20, 20, [&](int) {
          kc::qkv_rope_cache_write(layout, qkv.as<float>(), 1, positions, slots, q_weight, k_weight, true, q.get(),
                                   k.get(), v.get(), capacity, DType::BF16, stream);
          decode();
        });
        const double fused = time_graph(stream, 20, 20, [&](int) {
          kc::attention_decode_fused(shape, layout, qkv.as<float>(), q_weight, k_weight, 1, slots, positions, k.get(),
                                     v.get(), capacity, out.get(), workspace.get(), counters.as<unsigned>(), stream);
        });
        std::printf("capacity %5lld position %5d  %10.2f %10.2f %10.2f\n", (long long)capacity, position, alone,
                    separate, fused);
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "glint_cuda_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
