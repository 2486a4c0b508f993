// Kernel benchmarks: the machine's limits (memory read bandwidth, peak FMA rate) and matmul / vec against them.
// Run: build-*/glint_kernel_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
// Matmul arguments: isa (0 portable, 1 avx2, 2 avx512), m rows, k, n, dtype (0 F32, 1 BF16, 2 F16), threads.
#include <benchmark/benchmark.h>
// GCC 12's reduce intrinsics start from _mm512_undefined_ps(), which -Wuninitialized misreads.
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include <chrono>
#include <cstring>
#include <random>
#include <vector>

#include "core/cpu_features.h"
#include "core/tensor.h"
#include "core/thread_pool.h"
#include "ops/matmul.h"
#include "ops/matmul_kernels.h"
#include "ops/vec.h"

namespace glint {
namespace {

// Skips (rather than crashes) when the CPU lacks the asked-for kernels.
bool use_isa(benchmark::State& state, int64_t isa) {
  if (isa > int64_t(detected_isa())) {
    state.SkipWithError("CPU lacks this instruction set");
    return false;
  }
  set_active_isa(Isa(isa));
  return true;
}

void use_threads(int64_t threads) {
  if (thread_count() != threads) set_thread_count(int(threads));
}

// ---- machine limits ----

// Streaming read of 1 GiB with every thread: the ceiling for a memory-bound matrix-vector product.
void BM_MemoryRead(benchmark::State& state) {
  use_threads(state.range(0));
  set_active_isa(detected_isa());
  const int64_t floats = int64_t(1) << 28;  // 1 GiB
  std::vector<float> data(size_t(floats), 1.0f);
  for (auto _ : state) {
    std::vector<float> partial(64, 0.0f);
    parallel_for(floats, floats / 64, [&](int64_t begin, int64_t end) {
      partial[size_t(begin * 64 / floats)] = vec::sum(data.data() + begin, end - begin);
    });
    benchmark::DoNotOptimize(partial.data());
  }
  state.SetBytesProcessed(state.iterations() * floats * 4);
}
BENCHMARK(BM_MemoryRead)->ArgName("threads")->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond);

// Independent FMA chains in registers: the compute ceiling. Built for AVX-512 by a target attribute because this
// file is compiled for the baseline; only called when the CPU has it.
__attribute__((target("avx512f,fma"))) float fma_chains_avx512(int64_t steps) {
  __m512 acc[16];
  for (int i = 0; i < 16; ++i) acc[i] = _mm512_set1_ps(float(i));
  const __m512 a = _mm512_set1_ps(0.999f), b = _mm512_set1_ps(0.001f);
  for (int64_t s = 0; s < steps; ++s)
#pragma GCC unroll 16
    for (int i = 0; i < 16; ++i) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
  __m512 total = acc[0];
  for (int i = 1; i < 16; ++i) total = _mm512_add_ps(total, acc[i]);
  return _mm512_reduce_add_ps(total);
}

__attribute__((target("avx2,fma"))) float fma_chains_avx2(int64_t steps) {
  __m256 acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = _mm256_set1_ps(float(i));
  const __m256 a = _mm256_set1_ps(0.999f), b = _mm256_set1_ps(0.001f);
  for (int64_t s = 0; s < steps; ++s)
#pragma GCC unroll 12
    for (int i = 0; i < 12; ++i) acc[i] = _mm256_fmadd_ps(acc[i], a, b);
  __m256 total = acc[0];
  for (int i = 1; i < 12; ++i) total = _mm256_add_ps(total, acc[i]);
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, total);
  return lanes[0] + lanes[7];
}

void BM_PeakFma(benchmark::State& state) {
  const int64_t isa = state.range(0);
  if (!use_isa(state, isa)) return;
  use_threads(state.range(1));
  const int64_t steps = 1 << 22;
  const int64_t flops_per_call = isa == 2 ? steps * 16 * 16 * 2 : steps * 12 * 8 * 2;
  const int64_t threads = state.range(1);
  for (auto _ : state) {
    std::vector<float> out(static_cast<size_t>(threads));
    parallel_for(threads, 1, [&](int64_t begin, int64_t end) {
      for (int64_t t = begin; t < end; ++t)
        out[size_t(t)] = isa == 2 ? fma_chains_avx512(steps) : fma_chains_avx2(steps);
    });
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["FLOP/s"] =
      benchmark::Counter(double(flops_per_call * threads * state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_PeakFma)
    ->ArgNames({"isa", "threads"})
    ->Args({2, 1})
    ->Args({2, 2})
    ->Args({1, 1})
    ->Args({1, 2})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// ---- matmul ----

DType dtype_arg(int64_t code) { return code == 0 ? DType::F32 : code == 1 ? DType::BF16 : DType::F16; }

// Enough copies of the weight matrix to exceed the last-level cache, cycled so that every call reads weights
// from memory as decode does when it walks all layers.
struct WeightSet {
  std::vector<Tensor> copies;
  WeightSet(int64_t n, int64_t k, DType dtype, int64_t min_total_bytes) {
    Tensor first = Tensor::empty({n, k}, dtype);
    std::mt19937 rng(7);
    std::normal_distribution<float> dist(0.0f, 0.05f);
    std::vector<float> row(static_cast<size_t>(k));
    for (int64_t j = 0; j < n; ++j) {
      // One random row reused with a shift keeps set-up fast for the 600 MB LM head.
      if (j < 64) for (auto& v : row) v = dist(rng);
      for (int64_t i = 0; i < k; ++i) {
        float v = row[size_t((i + j) % k)];
        if (dtype == DType::F32) first.data<float>()[j * k + i] = v;
        else if (dtype == DType::BF16) first.data<uint16_t>()[j * k + i] = f32_to_bf16(v);
        else first.data<uint16_t>()[j * k + i] = f32_to_f16(v);
      }
    }
    copies.push_back(first);
    while (int64_t(copies.size()) * int64_t(first.nbytes()) < min_total_bytes) copies.push_back(first.clone());
  }
};

void BM_Matmul(benchmark::State& state) {
  if (!use_isa(state, state.range(0))) return;
  const int64_t m = state.range(1), k = state.range(2), n = state.range(3);
  const DType dtype = dtype_arg(state.range(4));
  use_threads(state.range(5));
  WeightSet weights(n, k, dtype, int64_t(256) << 20);
  Tensor x = Tensor::empty({m, k});
  std::mt19937 rng(1);
  std::normal_distribution<float> dist;
  for (int64_t i = 0; i < x.numel(); ++i) x.f32()[i] = dist(rng);
  Tensor y = Tensor::empty({m, n});
  size_t next = 0;
  for (auto _ : state) {
    ops::matmul(x, weights.copies[next], y);
    next = (next + 1) % weights.copies.size();
    benchmark::ClobberMemory();
  }
  const double calls = double(state.iterations());
  state.SetBytesProcessed(int64_t(calls * double(weights.copies[0].nbytes())));  // weight bytes read
  state.counters["FLOP/s"] = benchmark::Counter(calls * 2.0 * double(m * k * n), benchmark::Counter::kIsRate);
}

// Decode against the memory limit measured in the same moments: each iteration runs the matrix-vector product and
// then a streaming read of as many (uncached) bytes, so load from other processes hits both alike. Counters: GB/s
// of each and their ratio (1.0 = the matmul reads weights as fast as a plain sum reads memory).
void BM_DecodeVsRead(benchmark::State& state) {
  set_active_isa(detected_isa());
  const int64_t m = state.range(0), k = state.range(1), n = state.range(2);
  const DType dtype = dtype_arg(state.range(3));
  use_threads(state.range(4));
  WeightSet weights(n, k, dtype, int64_t(256) << 20);
  const int64_t bytes = int64_t(weights.copies[0].nbytes());
  const int64_t chunk_floats = bytes / 4;
  const int64_t chunks = std::max<int64_t>(2, (int64_t(256) << 20) / bytes + 1);
  std::vector<float> stream(static_cast<size_t>(chunk_floats * chunks), 1.0f);
  Tensor x = Tensor::empty({m, k}), y = Tensor::empty({m, n});
  for (int64_t i = 0; i < x.numel(); ++i) x.f32()[i] = 0.25f;
  double matmul_seconds = 0, read_seconds = 0;
  size_t next = 0;
  int64_t next_chunk = 0;
  for (auto _ : state) {
    auto t0 = std::chrono::steady_clock::now();
    ops::matmul(x, weights.copies[next], y);
    auto t1 = std::chrono::steady_clock::now();
    const float* base = stream.data() + next_chunk * chunk_floats;
    std::vector<float> partial(64, 0.0f);
    parallel_for(chunk_floats, std::max<int64_t>(1, chunk_floats / 64), [&](int64_t begin, int64_t end) {
      partial[size_t(begin * 64 / chunk_floats)] = vec::sum(base + begin, end - begin);
    });
    benchmark::DoNotOptimize(partial.data());
    auto t2 = std::chrono::steady_clock::now();
    matmul_seconds += std::chrono::duration<double>(t1 - t0).count();
    read_seconds += std::chrono::duration<double>(t2 - t1).count();
    next = (next + 1) % weights.copies.size();
    next_chunk = (next_chunk + 1) % chunks;
  }
  const double total = double(bytes) * double(state.iterations());
  state.counters["matmul_GB/s"] = total / matmul_seconds / 1e9;
  state.counters["read_GB/s"] = total / read_seconds / 1e9;
  state.counters["fraction"] = read_seconds / matmul_seconds;
}
BENCHMARK(BM_DecodeVsRead)
    ->ArgNames({"m", "k", "n", "dtype", "threads"})
    ->Args({1, 1152, 6912, 1, 2})
    ->Args({1, 2560, 10240, 1, 2})
    ->Args({1, 1152, 262144, 1, 2})
    ->Args({1, 1152, 6912, 0, 2})
    ->Args({4, 2560, 10240, 1, 2})
    ->Args({8, 2560, 10240, 1, 2})
    ->Args({1, 2560, 10240, 1, 1})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// Gemma 3 1B: hidden 1152, MLP 6912; Gemma 3 4B: hidden 2560, MLP 10240; LM head: vocabulary 262144.
void decode_shapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"isa", "m", "k", "n", "dtype", "threads"});
  for (int64_t isa : {2, 1}) {
    b->Args({isa, 1, 1152, 6912, 1, 2});
    b->Args({isa, 1, 6912, 1152, 1, 2});
    b->Args({isa, 1, 2560, 10240, 1, 2});
    b->Args({isa, 1, 1152, 262144, 1, 2});
  }
  b->Args({2, 1, 1152, 6912, 0, 2});
  b->Args({2, 1, 1152, 6912, 2, 2});
  b->Args({2, 1, 1152, 6912, 1, 1});
  b->Args({0, 1, 1152, 6912, 1, 2});
  for (int64_t m : {2, 3, 4, 5, 6, 8, 12, 16}) b->Args({2, m, 1152, 6912, 1, 2});
}
BENCHMARK(BM_Matmul)->Name("BM_MatmulDecode")->Apply(decode_shapes)->UseRealTime()->Unit(benchmark::kMillisecond);

void prefill_shapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"isa", "m", "k", "n", "dtype", "threads"});
  for (int64_t m : {64, 128, 512}) b->Args({2, m, 1152, 6912, 1, 2});
  b->Args({2, 512, 6912, 1152, 1, 2});
  b->Args({2, 512, 2560, 10240, 1, 2});
  b->Args({2, 128, 1152, 6912, 0, 2});
  b->Args({2, 128, 1152, 6912, 1, 1});
  b->Args({1, 128, 1152, 6912, 1, 2});
}
BENCHMARK(BM_Matmul)->Name("BM_MatmulPrefill")->Apply(prefill_shapes)->UseRealTime()->Unit(benchmark::kMillisecond);

// Opt-in GLINT_BF16_DOT path (activations rounded to bf16, VDPBF16PS).
void BM_MatmulBf16Dot(benchmark::State& state) {
  if (!cpu_features().avx512_bf16) {
    state.SkipWithError("CPU lacks AVX512_BF16");
    return;
  }
  set_bf16_dot(true);
  BM_Matmul(state);
  set_bf16_dot(false);
}
void bf16_dot_shapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"isa", "m", "k", "n", "dtype", "threads"});
  b->Args({2, 128, 1152, 6912, 1, 2});
  b->Args({2, 512, 2560, 10240, 1, 2});
}
BENCHMARK(BM_MatmulBf16Dot)->Apply(bf16_dot_shapes)->UseRealTime()->Unit(benchmark::kMillisecond);

// The two AVX-512 kernel shapes on one thread, without the dispatcher, to place matmul.cpp's switch-over row
// rule (prefer_matvec). Arguments: path (0 matvec, 1 gemm), m, k, n; BF16 weights.
void BM_MatmulPath(benchmark::State& state) {
  if (!use_isa(state, 2)) return;
  const int64_t m = state.range(1), k = state.range(2), n = state.range(3);
  WeightSet weights(n, k, DType::BF16, int64_t(256) << 20);
  Tensor x_tensor = Tensor::empty({m, k}), y_tensor = Tensor::empty({m, n});  // 64-byte aligned, as in the model
  float* x = x_tensor.f32();
  float* y = y_tensor.f32();
  for (int64_t i = 0; i < m * k; ++i) x[i] = 0.5f;
  const auto& kernels = ops::detail::avx512_matmul_kernels;
  std::vector<float> scratch(static_cast<size_t>(kernels.scratch_floats + 16));
  float* aligned = reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(scratch.data()) + 63) & ~uintptr_t(63));
  size_t next = 0;
  for (auto _ : state) {
    ops::detail::WeightView w{weights.copies[next].raw(), ops::detail::WeightType::BF16, k};
    if (state.range(0) == 0) kernels.matvec(x, m, k, w, 0, n, y, n, false);
    else kernels.gemm(x, m, k, w, 0, n, y, n, false, aligned);
    next = (next + 1) % weights.copies.size();
    benchmark::ClobberMemory();
  }
  state.counters["FLOP/s"] = benchmark::Counter(double(state.iterations()) * 2.0 * double(m * k * n),
                                                benchmark::Counter::kIsRate);
}
BENCHMARK(BM_MatmulPath)
    ->ArgNames({"path", "m", "k", "n"})
    ->ArgsProduct({{0, 1}, {1, 2, 3, 4, 8, 16, 32, 64, 128, 256, 512}, {1152}, {6912}})
    ->ArgsProduct({{0, 1}, {16, 32, 64, 128}, {6912}, {1152}})
    ->ArgsProduct({{0}, {1, 2, 4, 8}, {2560}, {10240}})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// ---- vec ----

void BM_Softmax(benchmark::State& state) {
  if (!use_isa(state, state.range(0))) return;
  const int64_t n = state.range(1);
  std::vector<float> x(static_cast<size_t>(n)), scratch(static_cast<size_t>(n));
  std::mt19937 rng(3);
  std::normal_distribution<float> dist(0.0f, 3.0f);
  for (auto& v : x) v = dist(rng);
  for (auto _ : state) {
    std::memcpy(scratch.data(), x.data(), size_t(n) * 4);
    vec::softmax(scratch.data(), n);
    benchmark::DoNotOptimize(scratch.data());
  }
  state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK(BM_Softmax)->ArgNames({"isa", "n"})->ArgsProduct({{0, 1, 2}, {4096}});

void BM_Dot(benchmark::State& state) {
  if (!use_isa(state, state.range(0))) return;
  const int64_t n = state.range(1);
  std::vector<float> a(static_cast<size_t>(n), 0.5f), b(static_cast<size_t>(n), 0.25f);
  for (auto _ : state) benchmark::DoNotOptimize(vec::dot(a.data(), b.data(), n));
  state.SetBytesProcessed(state.iterations() * n * 8);
}
BENCHMARK(BM_Dot)->ArgNames({"isa", "n"})->ArgsProduct({{0, 1, 2}, {256, 4096}});

}  // namespace
}  // namespace glint

BENCHMARK_MAIN();
