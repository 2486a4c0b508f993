// The CUDA ops the GPU decoder composes, each against a plain float64 (or CPU-op) reference on random data.
// Outputs are poisoned with NaN first so an unwritten element fails. Skipped, visibly, without a GPU.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "core/cuda_runtime.h"
#include "gpu_test_util.h"
#include "ops/cuda_ops.h"
#include "ops/matmul_cuda.h"
#include "ops/rms_norm.h"
#include "ops/rope.h"

namespace glint {
namespace {

using cuda::DeviceBuffer;

std::vector<float> random_floats(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-scale, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = u(rng);
  return v;
}

using test::download;
using test::nan_filled;

// Rounds the values to the dtype first (host references then see exactly what the device sees).
DeviceBuffer upload(std::vector<float>& values, DType dtype) {
  test::round_in_place(values, dtype);
  return test::upload(values, dtype);
}

double relative_error(const std::vector<float>& out, const std::vector<double>& ref) {
  double num = 0, den = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    if (!std::isfinite(out[i])) return INFINITY;
    num += (out[i] - ref[i]) * (out[i] - ref[i]);
    den += ref[i] * ref[i];
  }
  return std::sqrt(num / std::max(den, 1e-300));
}

class LinearCuda : public ::testing::TestWithParam<std::tuple<DType, int64_t>> {};

TEST_P(LinearCuda, MatchesFloat64Reference) {
  GLINT_REQUIRE_GPU();
  const auto [dtype, rows] = GetParam();
  cuda::Context context(0);
  // Shapes that leave partial blocks, split ranges of unequal length and rows shorter than one chunk per lane, and
  // a 4B-like shape whose row is not a multiple of the split's chunk ranges.
  for (const auto& [out, in] : {std::pair<int64_t, int64_t>{777, 1152}, {37, 4104}, {3000, 96}, {9001, 64},
                                {2050, 2568}, {20, 8}, {1031, 40}}) {
    auto x = random_floats(size_t(rows * in), 1), w = random_floats(size_t(out * in), 2);
    DeviceBuffer dx = upload(x, dtype), dw = upload(w, dtype);
    std::vector<double> ref(size_t(rows * out));
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t o = 0; o < out; ++o) {
        double s = 0;
        for (int64_t k = 0; k < in; ++k) s += double(x[size_t(r * in + k)]) * w[size_t(o * in + k)];
        ref[size_t(r * out + o)] = s;
      }
    // The gated form: out = gelu_tanh(x·Gᵀ) ⊙ (x·Uᵀ) with W = [G; U].
    const int64_t width = out / 2;
    std::vector<double> gref(size_t(rows * width));
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t i = 0; i < width; ++i) {
        const double g = ref[size_t(r * out + i)], u = ref[size_t(r * out + width + i)];
        gref[size_t(r * width + i)] = 0.5 * g * (1 + std::tanh(0.7978845608028654 * (g + 0.044715 * g * g * g))) * u;
      }
    // Every GEMV kernel must be right for every row count it can take (the default picks by row count); the
    // tensor-core one takes BF16 only. The streaming kernel has no split setting: there "split" 1 caps its grid at
    // one block an SM instead (more features a block).
    using ops::cuda::GemvKernel;
    for (const auto kernel : {GemvKernel::ByRows, GemvKernel::Scalar, GemvKernel::Streaming, GemvKernel::TensorCores})
    for (int split : {0, 1, 2, 4, 8}) {  // 0: the split the shape picks
      if (kernel != GemvKernel::ByRows && rows > ops::cuda::kMaxGemvRows) break;
      if (kernel == GemvKernel::TensorCores && dtype != DType::BF16) break;
      if (kernel == GemvKernel::Streaming && split > 1) break;
      SCOPED_TRACE(::testing::Message() << dtype_name(dtype) << " rows " << rows << " out " << out << " in " << in
                                        << " split " << split << " kernel " << int(kernel));
      ops::cuda::Linear linear(context);
      linear.set_gemv_split(kernel == GemvKernel::Streaming ? 0 : split);
      linear.set_stream_blocks_per_sm(kernel == GemvKernel::Streaming ? split : 0);
      linear.set_gemv_kernel(kernel);
      DeviceBuffer dy = nan_filled(size_t(rows * out), DType::F32);
      linear.run(dx.get(), rows, dw.get(), out, in, dtype, dy.as<float>(), context.stream());
      context.synchronize();
      const std::vector<float> first = download(dy, ref.size(), DType::F32);
      EXPECT_LT(relative_error(first, ref), 1e-5);
      if (rows <= ops::cuda::kMaxGemvRows) {  // again, bit for bit: the GEMV adds its split parts in a fixed order
        linear.run(dx.get(), rows, dw.get(), out, in, dtype, dy.as<float>(), context.stream());
        context.synchronize();
        EXPECT_EQ(download(dy, ref.size(), DType::F32), first);
      }

      DeviceBuffer gated = nan_filled(size_t(rows * width), dtype), scratch(size_t(rows * 2 * width) * 4);
      linear.run_gated(dx.get(), rows, dw.get(), width, in, ops::Activation::GeluTanh, dtype, gated.get(),
                       scratch.as<float>(), context.stream());
      context.synchronize();
      EXPECT_LT(relative_error(download(gated, gref.size(), dtype), gref), dtype == DType::BF16 ? 8e-3 : 1e-5);
      if (rows > ops::cuda::kMaxGemvRows) break;  // cuBLASLt: the split does not apply
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, LinearCuda,
                         ::testing::Combine(::testing::Values(DType::F32, DType::BF16),
                                            ::testing::Values(int64_t(1), int64_t(2), int64_t(3), int64_t(4),
                                                              int64_t(8), int64_t(9), int64_t(64))));

TEST(NormCuda, ResidualNormMatchesCpuNorms) {
  GLINT_REQUIRE_GPU();
  cuda::Context context(0);
  const int64_t rows = 5, d = 1152;
  auto h = random_floats(size_t(rows * d), 3), block = random_floats(size_t(rows * d), 4, 3.0f);
  auto post = random_floats(size_t(d), 5), next = random_floats(size_t(d), 6);
  DeviceBuffer dh = upload(h, DType::F32), db = upload(block, DType::F32), dp = upload(post, DType::F32),
               dn = upload(next, DType::F32), dx = nan_filled(size_t(rows * d), DType::F32);
  ops::cuda::residual_norm(dh.as<float>(), db.as<float>(), rows, d, dp.as<float>(), ops::NormKind::RmsPlusOne,
                           dn.as<float>(), ops::NormKind::RmsPlusOne, 1e-6f, dx.get(), DType::F32, context.stream());
  context.synchronize();
  // CPU: block = norm(block); h += block; x = norm(h).
  std::vector<float> normed(block.size()), x(h.size());
  ops::rms_norm_rows(block.data(), rows, d, post.data(), ops::NormKind::RmsPlusOne, 1e-6f, normed.data());
  for (size_t i = 0; i < h.size(); ++i) h[i] += normed[i];
  ops::rms_norm_rows(h.data(), rows, d, next.data(), ops::NormKind::RmsPlusOne, 1e-6f, x.data());
  auto gpu_h = download(dh, h.size(), DType::F32), gpu_x = download(dx, x.size(), DType::F32);
  EXPECT_LT(relative_error(gpu_h, std::vector<double>(h.begin(), h.end())), 1e-6);
  EXPECT_LT(relative_error(gpu_x, std::vector<double>(x.begin(), x.end())), 1e-6);
  // A row width the kernel does not take is refused before anything is launched.
  EXPECT_THROW(ops::cuda::residual_norm(dh.as<float>(), db.as<float>(), rows, 1150, dp.as<float>(),
                                        ops::NormKind::RmsPlusOne, dn.as<float>(), ops::NormKind::RmsPlusOne, 1e-6f,
                                        dx.get(), DType::F32, context.stream()),
               Error);
}

TEST(QkvCuda, NormsRopeAndCacheRowsMatchCpu) {
  GLINT_REQUIRE_GPU();
  cuda::Context context(0);
  const int H = 4, KVH = 2, D = 64, tokens = 3;
  const int64_t capacity = 5;  // ring: positions wrap
  const int64_t width = int64_t(H + 2 * KVH) * D;
  auto qkv = random_floats(size_t(tokens * width), 7, 2.0f);
  auto qw = random_floats(size_t(D), 8), kw = random_floats(size_t(D), 9);
  ops::RopeTable rope = ops::make_rope_table({{"rope_type", "default"}, {"rope_theta", 10000.0}}, D, 4096,
                                             ops::RopeStyle::RotateHalf);
  std::vector<int32_t> positions = {6, 7, 8}, slots = {1, 1, 1};
  DeviceBuffer dqkv = upload(qkv, DType::F32), dqw = upload(qw, DType::F32), dkw = upload(kw, DType::F32);
  DeviceBuffer dpos(12), dslots(12), dfreq(rope.inv_freq.size() * 4);
  GLINT_CUDA_CHECK(cudaMemcpy(dpos.get(), positions.data(), 12, cudaMemcpyHostToDevice));
  GLINT_CUDA_CHECK(cudaMemcpy(dslots.get(), slots.data(), 12, cudaMemcpyHostToDevice));
  GLINT_CUDA_CHECK(cudaMemcpy(dfreq.get(), rope.inv_freq.data(), dfreq.bytes(), cudaMemcpyHostToDevice));
  const size_t cache_elems = size_t(2 * capacity * KVH * D);
  DeviceBuffer dq = nan_filled(size_t(tokens * H * D), DType::F32), dk = nan_filled(cache_elems, DType::F32),
               dv = nan_filled(cache_elems, DType::F32);
  ops::cuda::QkvLayout layout;
  layout.n_heads = H;
  layout.n_kv_heads = KVH;
  layout.head_dim = D;
  layout.q_norm = layout.k_norm = ops::NormKind::RmsPlusOne;
  layout.v_norm = true;
  layout.inv_freq = dfreq.as<float>();
  ops::cuda::qkv_rope_cache_write(layout, dqkv.as<float>(), tokens, dpos.as<int32_t>(), dslots.as<int32_t>(),
                                  dqw.as<float>(), dkw.as<float>(), true, dq.get(), dk.get(), dv.get(), capacity,
                                  DType::F32, context.stream());
  context.synchronize();
  auto gq = download(dq, size_t(tokens * H * D), DType::F32);
  auto gk = download(dk, cache_elems, DType::F32), gv = download(dv, cache_elems, DType::F32);
  std::vector<int64_t> pos64(positions.begin(), positions.end());
  for (int t = 0; t < tokens; ++t) {
    const float* row = qkv.data() + t * width;
    std::vector<float> q(row, row + H * D), k(row + H * D, row + (H + KVH) * D), v(row + (H + KVH) * D, row + width);
    ops::rms_norm_rows(q.data(), H, D, qw.data(), ops::NormKind::RmsPlusOne, 1e-6f, q.data());
    ops::rms_norm_rows(k.data(), KVH, D, kw.data(), ops::NormKind::RmsPlusOne, 1e-6f, k.data());
    ops::rms_norm_rows(v.data(), KVH, D, nullptr, ops::NormKind::RmsNoWeight, 1e-6f, v.data());
    ops::apply_rope_rows(q.data(), 1, H, D, rope, &pos64[size_t(t)]);
    ops::apply_rope_rows(k.data(), 1, KVH, D, rope, &pos64[size_t(t)]);
    const size_t cache_row = size_t((1 * capacity + positions[size_t(t)] % capacity) * KVH * D);
    for (int i = 0; i < H * D; ++i) EXPECT_NEAR(gq[size_t(t * H * D + i)], q[size_t(i)], 1e-4f) << "q " << t << "," << i;
    for (int i = 0; i < KVH * D; ++i) {
      EXPECT_NEAR(gk[cache_row + size_t(i)], k[size_t(i)], 1e-4f) << "k " << t << "," << i;
      EXPECT_NEAR(gv[cache_row + size_t(i)], v[size_t(i)], 1e-5f) << "v " << t << "," << i;
    }
  }
}

}  // namespace
}  // namespace glint
