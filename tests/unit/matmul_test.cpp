// matmul against a double-precision reference, on every kernel family this CPU runs.
#include "ops/matmul.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "core/cpu_features.h"
#include "isa_test_util.h"
#include "core/dtype.h"

namespace glint {
namespace {

using test::ForcedIsa;
using test::runnable_isas;
using test::test_seed;

struct Weights {
  DType dtype;
  std::vector<uint16_t> half;  // BF16 / F16 bits
  std::vector<float> full;     // F32 values
  std::vector<double> exact;   // the values the kernel must use, as doubles
  const void* data() const { return dtype == DType::F32 ? static_cast<const void*>(full.data()) : half.data(); }
};

Weights random_weights(DType dtype, int64_t rows, int64_t stride, std::mt19937_64& rng) {
  std::normal_distribution<float> dist(0.0f, 1.0f);
  Weights w{dtype, {}, {}, {}};
  const size_t count = size_t(rows * stride);
  w.exact.resize(count);
  if (dtype == DType::F32) w.full.resize(count);
  else w.half.resize(count);
  for (size_t i = 0; i < count; ++i) {
    float v = dist(rng);
    if (dtype == DType::F32) {
      w.full[i] = v;
      w.exact[i] = v;
    } else if (dtype == DType::BF16) {
      w.half[i] = f32_to_bf16(v);
      w.exact[i] = bf16_to_f32(w.half[i]);
    } else {
      w.half[i] = f32_to_f16(v);
      w.exact[i] = f16_to_f32(w.half[i]);
    }
  }
  return w;
}

std::vector<float> random_floats(size_t count, std::mt19937_64& rng) {
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(count);
  for (auto& f : v) f = dist(rng);
  return v;
}

// Runs matmul_raw and checks every output against Σ in double, with a bound scaled by Σ|x·w| (the float32
// rounding of a K-term sum is relative to that, not to the possibly cancelled result).
void check_matmul(int64_t m, int64_t k, int64_t n, DType dtype, bool accumulate, std::mt19937_64& rng,
                  int64_t extra_stride = 0) {
  const int64_t stride = k + extra_stride;
  Weights w = random_weights(dtype, n, stride, rng);
  std::vector<float> x = random_floats(size_t(m * k), rng);
  std::vector<float> y = random_floats(size_t(m * n), rng);
  const std::vector<float> y_before = y;
  ops::matmul_raw(x.data(), m, k, w.data(), dtype, stride, n, y.data(), accumulate);
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double sum = 0, magnitude = 0;
      for (int64_t kk = 0; kk < k; ++kk) {
        double term = double(x[size_t(i * k + kk)]) * w.exact[size_t(j * stride + kk)];
        sum += term;
        magnitude += std::fabs(term);
      }
      double start = accumulate ? y_before[size_t(i * n + j)] : 0.0;
      double expected = start + sum;
      double bound = 1e-5 * (magnitude + std::fabs(start)) + 1e-30;
      ASSERT_NEAR(y[size_t(i * n + j)], expected, bound)
          << "m=" << m << " k=" << k << " n=" << n << " dtype=" << dtype_name(dtype) << " accumulate=" << accumulate
          << " at (" << i << ", " << j << ") isa=" << isa_name(active_isa());
    }
  }
}

class MatmulTest : public ::testing::TestWithParam<Isa> {
 protected:
  void SetUp() override {
    seed_ = test_seed();
    rng_.seed(seed_);
  }
  uint64_t seed_ = 0;
  std::mt19937_64 rng_;
};

TEST_P(MatmulTest, OddShapesMatchReference) {
  SCOPED_TRACE("GLINT_TEST_SEED=" + std::to_string(seed_));
  ForcedIsa forced(GetParam());
  const int64_t ks[] = {1, 5, 15, 16, 17, 31, 33, 100, 255, 257, 600};
  const int64_t ns[] = {1, 3, 8, 17, 31, 33, 70};
  std::uniform_int_distribution<int64_t> pick_m(1, 37);
  for (DType dtype : {DType::F32, DType::BF16, DType::F16}) {
    for (int64_t k : ks) {
      for (int64_t n : ns) {
        const int64_t m = pick_m(rng_);
        check_matmul(m, k, n, dtype, /*accumulate=*/(k + n) % 2 == 0, rng_);
        if (HasFatalFailure()) return;
      }
    }
  }
}

TEST_P(MatmulTest, EveryRowCountUpTo37) {
  SCOPED_TRACE("GLINT_TEST_SEED=" + std::to_string(seed_));
  ForcedIsa forced(GetParam());
  for (int64_t m = 1; m <= 37; ++m) {
    for (DType dtype : {DType::BF16, DType::F32}) {
      check_matmul(m, 67, 45, dtype, /*accumulate=*/m % 3 == 0, rng_);
      if (HasFatalFailure()) return;
    }
  }
}

// Enough rows (or rows × k) for the packed-panel GEMM instead of the matrix-vector tiles; k beyond one packed
// panel (2048) and odd column counts.
TEST_P(MatmulTest, ManyRowsMatchReference) {
  SCOPED_TRACE("GLINT_TEST_SEED=" + std::to_string(seed_));
  ForcedIsa forced(GetParam());
  struct Shape { int64_t m, k, n; };
  for (DType dtype : {DType::BF16, DType::F32, DType::F16}) {
    for (Shape s : {Shape{260, 1, 33}, Shape{257, 17, 45}, Shape{300, 70, 1}, Shape{263, 2100, 7},
                    Shape{130, 8200, 9}}) {
      check_matmul(s.m, s.k, s.n, dtype, /*accumulate=*/s.k % 2 == 0, rng_);
      if (HasFatalFailure()) return;
    }
  }
}

TEST_P(MatmulTest, AccumulateAddsToOutput) {
  SCOPED_TRACE("GLINT_TEST_SEED=" + std::to_string(seed_));
  ForcedIsa forced(GetParam());
  for (int64_t m : {1, 2, 5, 13}) {
    check_matmul(m, 300, 40, DType::BF16, true, rng_);
    check_matmul(m, 300, 40, DType::F16, true, rng_);
    if (HasFatalFailure()) return;
  }
}

TEST_P(MatmulTest, LongRowsStayWithinFloatRounding) {
  SCOPED_TRACE("GLINT_TEST_SEED=" + std::to_string(seed_));
  ForcedIsa forced(GetParam());
  check_matmul(1, 8192, 24, DType::BF16, false, rng_);
  check_matmul(3, 8192, 9, DType::F32, true, rng_);
  check_matmul(20, 8192, 33, DType::BF16, false, rng_);
}

TEST_P(MatmulTest, WeightRowStrideLongerThanK) {
  SCOPED_TRACE("GLINT_TEST_SEED=" + std::to_string(seed_));
  ForcedIsa forced(GetParam());
  for (DType dtype : {DType::F32, DType::BF16, DType::F16}) {
    check_matmul(1, 40, 13, dtype, false, rng_, /*extra_stride=*/9);
    check_matmul(19, 70, 35, dtype, true, rng_, /*extra_stride=*/3);
  }
}

TEST_P(MatmulTest, TensorInterfaceFlattensLeadingDims) {
  SCOPED_TRACE("GLINT_TEST_SEED=" + std::to_string(seed_));
  ForcedIsa forced(GetParam());
  Tensor x = Tensor::empty({2, 3, 20});
  Tensor w = Tensor::empty({7, 20}, DType::BF16);
  Tensor y = Tensor::empty({2, 3, 7});
  std::normal_distribution<float> dist;
  for (int64_t i = 0; i < x.numel(); ++i) x.f32()[i] = dist(rng_);
  for (int64_t i = 0; i < w.numel(); ++i) w.data<uint16_t>()[i] = f32_to_bf16(dist(rng_));
  ops::matmul(x, w, y);
  for (int64_t i = 0; i < 6; ++i)
    for (int64_t j = 0; j < 7; ++j) {
      double expected = 0, magnitude = 0;
      for (int64_t kk = 0; kk < 20; ++kk) {
        double term = double(x.f32()[i * 20 + kk]) * bf16_to_f32(w.data<uint16_t>()[j * 20 + kk]);
        expected += term;
        magnitude += std::fabs(term);
      }
      EXPECT_NEAR(y.f32()[i * 7 + j], expected, 1e-5 * magnitude);
    }
}

TEST_P(MatmulTest, NanInInputReachesOnlyItsRow) {
  ForcedIsa forced(GetParam());
  for (int64_t m : {1, 9, 300}) {  // matvec, matvec tiles, packed GEMM
    std::vector<float> x(size_t(m * 33), 1.0f), y(size_t(m * 5), 0.0f);
    std::vector<float> w(5 * 33, 0.5f);
    x[5] = std::nanf("");
    ops::matmul_raw(x.data(), m, 33, w.data(), DType::F32, 33, 5, y.data(), false);
    for (int64_t j = 0; j < 5; ++j) EXPECT_TRUE(std::isnan(y[size_t(j)]));
    for (int64_t i = 1; i < m; ++i)
      for (int64_t j = 0; j < 5; ++j) EXPECT_FLOAT_EQ(y[size_t(i * 5 + j)], 16.5f);
  }
}

// GLINT_BF16_DOT: activations rounded to bf16, then exact products; compared with a reference that rounds the same.
TEST(MatmulBf16Dot, MatchesReferenceWithBf16Activations) {
  if (!cpu_features().avx512_bf16) GTEST_SKIP() << "CPU lacks AVX512_BF16";
  ForcedIsa forced(Isa::Avx512);
  struct Bf16DotOn {
    Bf16DotOn() { set_bf16_dot(true); }
    ~Bf16DotOn() { set_bf16_dot(false); }
  } bf16_dot_on;
  ASSERT_TRUE(bf16_dot_enabled());
  const uint64_t seed = test_seed();
  SCOPED_TRACE("GLINT_TEST_SEED=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  struct Shape { int64_t m, k, n; bool accumulate; };
  for (Shape s : {Shape{9, 31, 33, false}, Shape{37, 300, 70, true}, Shape{64, 2049, 40, false},
                  Shape{13, 1, 5, true}, Shape{20, 4200, 17, false}}) {
    Weights w = random_weights(DType::BF16, s.n, s.k, rng);
    std::vector<float> x = random_floats(size_t(s.m * s.k), rng);
    std::vector<float> y = random_floats(size_t(s.m * s.n), rng);
    const std::vector<float> y_before = y;
    ops::matmul_raw(x.data(), s.m, s.k, w.data(), DType::BF16, s.k, s.n, y.data(), s.accumulate);
    double worst_vs_f32 = 0;
    for (int64_t i = 0; i < s.m; ++i) {
      for (int64_t j = 0; j < s.n; ++j) {
        double sum = 0, exact_f32 = 0, magnitude = 0;
        for (int64_t kk = 0; kk < s.k; ++kk) {
          const float xv = x[size_t(i * s.k + kk)];
          sum += double(round_to_bf16(xv)) * w.exact[size_t(j * s.k + kk)];
          exact_f32 += double(xv) * w.exact[size_t(j * s.k + kk)];
          magnitude += std::fabs(double(xv) * w.exact[size_t(j * s.k + kk)]);
        }
        const double start = s.accumulate ? y_before[size_t(i * s.n + j)] : 0.0;
        const float got = y[size_t(i * s.n + j)];
        ASSERT_NEAR(got, start + sum, 1e-5 * (magnitude + std::fabs(start)))
            << "m=" << s.m << " k=" << s.k << " n=" << s.n << " at (" << i << ", " << j << ")";
        worst_vs_f32 = std::max(worst_vs_f32, std::fabs(got - (start + exact_f32)) / (magnitude + 1e-30));
      }
    }
    if (s.k > 100) {
      EXPECT_GT(worst_vs_f32, 1e-5) << "expected bf16 rounding of the activations to show";
    }
  }
}

TEST(MatmulBf16Dot, OffByDefault) {
  if (std::getenv("GLINT_BF16_DOT")) GTEST_SKIP() << "GLINT_BF16_DOT is set";
  EXPECT_FALSE(bf16_dot_enabled());
}

INSTANTIATE_TEST_SUITE_P(Isas, MatmulTest, ::testing::ValuesIn(runnable_isas()),
                         [](const ::testing::TestParamInfo<Isa>& info) { return std::string(isa_name(info.param)); });

TEST(Matmul, EmptyKGivesZerosOrLeavesAccumulator) {
  std::vector<float> y(6, 3.0f);
  float x_dummy = 0, w_dummy = 0;
  ops::matmul_raw(&x_dummy, 2, 0, &w_dummy, DType::F32, 0, 3, y.data(), true);
  for (float v : y) EXPECT_EQ(v, 3.0f);
  ops::matmul_raw(&x_dummy, 2, 0, &w_dummy, DType::F32, 0, 3, y.data(), false);
  for (float v : y) EXPECT_EQ(v, 0.0f);
}

TEST(Matmul, RejectsBadArguments) {
  Tensor x = Tensor::empty({2, 8});
  Tensor y = Tensor::empty({2, 4});
  Tensor w_int = Tensor::empty({4, 8}, DType::I32);
  EXPECT_THROW(ops::matmul(x, w_int, y), Error);
  Tensor w_wrong_k = Tensor::empty({4, 9});
  EXPECT_THROW(ops::matmul(x, w_wrong_k, y), Error);
  Tensor w = Tensor::empty({5, 8});
  EXPECT_THROW(ops::matmul(x, w, y), Error);  // y has 4 columns, w gives 5
  Tensor w3 = Tensor::empty({1, 4, 8});
  EXPECT_THROW(ops::matmul(x, w3, y), Error);
  float buffer[64] = {};
  EXPECT_THROW(ops::matmul_raw(buffer, 2, 8, buffer, DType::F32, 4, 2, buffer + 32, false), Error);  // stride < k
  EXPECT_THROW(ops::matmul_raw(buffer, 2, 8, nullptr, DType::BF16, 8, 2, buffer + 32, false), Error);
  try {
    ops::matmul(x, w_int, y);
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("I32"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace glint
