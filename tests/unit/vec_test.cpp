// Vector primitives and CPU feature detection, on every kernel family this CPU runs.
#include "ops/vec.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "core/cpu_features.h"
#include "isa_test_util.h"
#include "core/error.h"

namespace glint {
namespace {

using test::ForcedIsa;
using test::runnable_isas;
using test::test_seed;

const int64_t kSizes[] = {0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 47, 63, 64, 65, 100, 1000, 4097};
constexpr float kInf = std::numeric_limits<float>::infinity();

class VecTest : public ::testing::TestWithParam<Isa> {
 protected:
  void SetUp() override {
    seed_ = test_seed();
    rng_.seed(seed_);
    forced_ = std::make_unique<ForcedIsa>(GetParam());
  }
  void TearDown() override { forced_.reset(); }
  std::vector<float> random(int64_t n, float scale = 1.0f) {
    std::normal_distribution<float> dist(0.0f, scale);
    std::vector<float> v(size_t(n) + 1);  // one spare element checks nothing writes past n
    for (auto& f : v) f = dist(rng_);
    return v;
  }
  std::string trace() const { return "GLINT_TEST_SEED=" + std::to_string(seed_) + " isa=" + isa_name(GetParam()); }
  uint64_t seed_ = 0;
  std::mt19937_64 rng_;
  std::unique_ptr<ForcedIsa> forced_;
};

TEST_P(VecTest, Reductions) {
  SCOPED_TRACE(trace());
  for (int64_t n : kSizes) {
    auto a = random(n), b = random(n);
    double dot = 0, dot_mag = 0, sum = 0, sum_mag = 0, squares = 0;
    float best = -kInf;
    for (int64_t i = 0; i < n; ++i) {
      dot += double(a[size_t(i)]) * b[size_t(i)];
      dot_mag += std::fabs(double(a[size_t(i)]) * b[size_t(i)]);
      sum += a[size_t(i)];
      sum_mag += std::fabs(a[size_t(i)]);
      squares += double(a[size_t(i)]) * a[size_t(i)];
      best = std::max(best, a[size_t(i)]);
    }
    EXPECT_NEAR(vec::dot(a.data(), b.data(), n), dot, 1e-6 * dot_mag + 1e-30) << "n=" << n;
    EXPECT_NEAR(vec::sum(a.data(), n), sum, 1e-6 * sum_mag + 1e-30) << "n=" << n;
    EXPECT_NEAR(vec::sum_squares(a.data(), n), squares, 1e-6 * squares + 1e-30) << "n=" << n;
    EXPECT_EQ(vec::max(a.data(), n), best) << "n=" << n;
  }
}

TEST_P(VecTest, MaxSkipsNanAndHandlesInfinity) {
  std::vector<float> v(37, -5.0f);
  v[3] = std::nanf("");
  v[36] = -1.0f;
  EXPECT_EQ(vec::max(v.data(), 37), -1.0f);
  v[20] = kInf;
  EXPECT_EQ(vec::max(v.data(), 37), kInf);
  std::vector<float> low(19, -kInf);
  EXPECT_EQ(vec::max(low.data(), 19), -kInf);
}

TEST_P(VecTest, ElementwiseUpdates) {
  SCOPED_TRACE(trace());
  for (int64_t n : kSizes) {
    auto x = random(n), y = random(n);
    const float spare = y[size_t(n)];
    const float a = 0.75f, b = -1.5f;

    auto y1 = y;
    vec::axpy(a, x.data(), y1.data(), n);
    auto y2 = y;
    vec::scale(y2.data(), b, n);
    auto y3 = y;
    vec::scale_add(y3.data(), b, x.data(), a, n);
    std::vector<float> sum(size_t(n) + 1, 7.0f), product(size_t(n) + 1, 7.0f);
    vec::add(x.data(), y.data(), sum.data(), n);
    vec::mul(x.data(), y.data(), product.data(), n);
    for (int64_t i = 0; i < n; ++i) {
      const double xi = x[size_t(i)], yi = y[size_t(i)];
      const double tol = 1e-6 * (std::fabs(xi) + std::fabs(yi)) + 1e-30;
      ASSERT_NEAR(y1[size_t(i)], yi + a * xi, tol) << "axpy n=" << n << " i=" << i;
      ASSERT_NEAR(y2[size_t(i)], b * yi, 2 * tol) << "scale n=" << n << " i=" << i;
      ASSERT_NEAR(y3[size_t(i)], b * yi + a * xi, 2 * tol) << "scale_add n=" << n << " i=" << i;
      ASSERT_NEAR(sum[size_t(i)], xi + yi, tol) << "add n=" << n << " i=" << i;
      ASSERT_NEAR(product[size_t(i)], xi * yi, 1e-6 * std::fabs(xi * yi) + 1e-30) << "mul n=" << n;
    }
    EXPECT_EQ(y1[size_t(n)], spare);
    EXPECT_EQ(y2[size_t(n)], spare);
    EXPECT_EQ(y3[size_t(n)], spare);
    EXPECT_EQ(sum[size_t(n)], 7.0f);
    EXPECT_EQ(product[size_t(n)], 7.0f);
  }
}

TEST_P(VecTest, ElementwiseInPlace) {
  auto a = random(50), b = random(50);
  auto expected_sum = a, expected_product = a;
  for (size_t i = 0; i < 50; ++i) {
    expected_sum[i] = a[i] + b[i];
    expected_product[i] = a[i] * b[i];
  }
  auto sum = a, product = a;
  vec::add(sum.data(), b.data(), sum.data(), 50);
  vec::mul(b.data(), product.data(), product.data(), 50);
  for (size_t i = 0; i < 50; ++i) {
    EXPECT_FLOAT_EQ(sum[i], expected_sum[i]);
    EXPECT_FLOAT_EQ(product[i], expected_product[i]);
  }
}

TEST_P(VecTest, ExpSumMatchesDoubleExp) {
  SCOPED_TRACE(trace());
  // Up to 80 so that even 4097 terms sum below FLT_MAX.
  std::uniform_real_distribution<float> dist(-87.0f, 80.0f);
  for (int64_t n : kSizes) {
    std::vector<float> x(static_cast<size_t>(n)), out(static_cast<size_t>(n) + 1, 7.0f);
    for (auto& v : x) v = dist(rng_);
    const float shift = n % 2 ? 0.0f : 0.25f;
    float total = vec::exp_sum(x.data(), shift, out.data(), n);
    double expected_total = 0;
    for (int64_t i = 0; i < n; ++i) {
      // The kernel subtracts in float32, as the reference model does.
      double e = std::exp(double(x[size_t(i)] - shift));
      expected_total += e;
      // ~2 ulp of float: 2.4e-7 relative.
      ASSERT_NEAR(out[size_t(i)], e, 3e-7 * e) << "x=" << x[size_t(i)] << " n=" << n;
    }
    EXPECT_NEAR(total, expected_total, 1e-6 * expected_total + 1e-30) << "n=" << n;
    EXPECT_EQ(out[size_t(n)], 7.0f) << "wrote past the end, n=" << n;
  }
}

TEST_P(VecTest, ExpSumDenseGridAndSpecialValues) {
  // Every 1/64 from -87 to 88: catches a wrong polynomial or range reduction anywhere.
  std::vector<float> x;
  for (float v = -87.0f; v <= 88.0f; v += 1.0f / 64) x.push_back(v);
  std::vector<float> out(x.size());
  vec::exp_sum(x.data(), 0.0f, out.data(), int64_t(x.size()));
  for (size_t i = 0; i < x.size(); ++i) {
    double e = std::exp(double(x[i]));
    ASSERT_NEAR(out[i], e, 3e-7 * e) << "x=" << x[i];
  }
  std::vector<float> special = {-kInf, -1000.0f, -88.0f, 0.0f, 89.0f, kInf, std::nanf(""), 88.7f, -87.3f};
  std::vector<float> got(special.size());
  float total = vec::exp_sum(special.data(), 0.0f, got.data(), int64_t(special.size()));
  EXPECT_EQ(got[0], 0.0f);
  EXPECT_EQ(got[1], 0.0f);
  EXPECT_EQ(got[2], 0.0f);
  EXPECT_EQ(got[3], 1.0f);
  EXPECT_EQ(got[4], kInf);
  EXPECT_EQ(got[5], kInf);
  EXPECT_TRUE(std::isnan(got[6]));
  EXPECT_NEAR(got[7], std::exp(double(88.7f)), 3e-7 * std::exp(double(88.7f)));
  EXPECT_NEAR(got[8], std::exp(double(-87.3f)), 3e-7 * std::exp(double(-87.3f)));
  EXPECT_TRUE(std::isnan(total));
}

TEST_P(VecTest, SoftmaxSumsToOneAndMatchesReference) {
  SCOPED_TRACE(trace());
  for (int64_t n : {1, 5, 16, 33, 262}) {
    auto x = random(n, 4.0f);
    x.resize(size_t(n));
    x[0] = -kInf;  // a masked position
    auto reference = x;
    double peak = -1e300, total = 0;
    for (float v : x) peak = std::max(peak, double(v));
    if (n == 1) {
      x[0] = 3.0f;  // a single masked element has no defined softmax
      vec::softmax(x.data(), 1);
      EXPECT_FLOAT_EQ(x[0], 1.0f);
      continue;
    }
    // Subtract in float32 as the kernel (and the reference model) does; exp and the division in double.
    for (float v : x) total += std::exp(double(v - float(peak)));
    vec::softmax(x.data(), n);
    double got_total = 0;
    for (int64_t i = 0; i < n; ++i) {
      double expected = std::exp(double(reference[size_t(i)] - float(peak))) / total;
      EXPECT_NEAR(x[size_t(i)], expected, 1e-6 * expected + 1e-30) << "n=" << n << " i=" << i;
      got_total += x[size_t(i)];
    }
    EXPECT_EQ(x[0], 0.0f);
    EXPECT_NEAR(got_total, 1.0, 1e-5);
  }
  float empty = 0;
  EXPECT_THROW(vec::softmax(&empty, 0), Error);
}

INSTANTIATE_TEST_SUITE_P(Isas, VecTest, ::testing::ValuesIn(runnable_isas()),
                         [](const ::testing::TestParamInfo<Isa>& info) { return std::string(isa_name(info.param)); });

TEST(CpuFeatures, DetectionIsConsistent) {
  const CpuFeatures& f = cpu_features();
  EXPECT_FALSE(f.avx512 && !f.avx2) << "AVX-512 kernels also use AVX2 code";
  EXPECT_FALSE(f.avx512_bf16 && !f.avx512);
  EXPECT_EQ(detected_isa(), f.avx512 ? Isa::Avx512 : f.avx2 ? Isa::Avx2 : Isa::Portable);
  EXPECT_LE(int(active_isa()), int(detected_isa()));
}

TEST(CpuFeatures, ParsesIsaNames) {
  for (Isa isa : {Isa::Portable, Isa::Avx2, Isa::Avx512}) EXPECT_EQ(parse_isa(isa_name(isa)), isa);
  EXPECT_THROW(parse_isa("sse9"), Error);
  try {
    parse_isa("AVX512");
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("avx512, avx2, portable"), std::string::npos) << e.what();
  }
}

TEST(CpuFeatures, ForcingAnIsaTheCpuLacksFails) {
  if (detected_isa() == Isa::Avx512) GTEST_SKIP() << "this CPU runs every kernel family";
  EXPECT_THROW(set_active_isa(Isa::Avx512), Error);
}

// Runs this test binary again with GLINT_ISA set; inside, the same test checks that the variable took effect.
TEST(CpuFeatures, EnvironmentVariableSelectsIsa) {
  if (const char* env = std::getenv("GLINT_ISA")) {
    EXPECT_EQ(active_isa(), parse_isa(env));
    return;
  }
  const std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
  auto run_with = [&](const std::string& value) {
    std::string command = "GLINT_ISA=" + value + " '" + self +
                          "' --gtest_filter=CpuFeatures.EnvironmentVariableSelectsIsa >/dev/null 2>&1";
    return std::system(command.c_str());
  };
  for (Isa isa : runnable_isas()) EXPECT_EQ(run_with(isa_name(isa)), 0) << isa_name(isa);
  EXPECT_NE(run_with("sse9"), 0) << "an unknown GLINT_ISA must fail loudly";
}

TEST(CpuFeatures, ForcingLowersActiveIsa) {
  const Isa before = active_isa();
  set_active_isa(Isa::Portable);
  EXPECT_EQ(active_isa(), Isa::Portable);
  set_active_isa(before);
  EXPECT_EQ(active_isa(), before);
}

}  // namespace
}  // namespace glint
