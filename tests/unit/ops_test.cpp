// Core ops against plain double-precision re-derivations: RMS norm variants, every RoPE table of
// ops/rope.cpp (definitions of /work/shared/spec/gemma3.md, Appendix A) and its application, attention
// with causal / sliding / chunked masks over ring-ordered keys, softcap, GQA, and activations.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "ops/activation.h"
#include "ops/attention.h"
#include "ops/embedding.h"
#include "ops/rms_norm.h"
#include "ops/rope.h"

namespace glint::ops {
namespace {

using json = nlohmann::json;

std::vector<float> random_vector(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-scale, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = u(rng);
  return v;
}

// ---------------------------------------------------------------------------------------------------
// RMS norm

std::vector<double> rms_reference(const std::vector<float>& x, int64_t d, const std::vector<float>& w, NormKind kind,
                                  double eps) {
  std::vector<double> out(x.size());
  for (size_t r = 0; r < x.size() / size_t(d); ++r) {
    double ss = 0;
    for (int64_t i = 0; i < d; ++i) ss += double(x[r * d + i]) * x[r * d + i];
    const double inv = 1.0 / std::sqrt(ss / double(d) + eps);
    for (int64_t i = 0; i < d; ++i) {
      double y = x[r * d + i];
      if (kind != NormKind::None) y *= inv;
      if (kind == NormKind::Rms) y *= w[size_t(i)];
      if (kind == NormKind::RmsPlusOne) y *= 1.0 + w[size_t(i)];
      out[r * d + i] = y;
    }
  }
  return out;
}

TEST(RmsNorm, EveryKindMatchesTheDefinition) {
  const int64_t rows = 5, d = 48;
  const auto x = random_vector(size_t(rows * d), 1, 3.0f);
  const auto w = random_vector(size_t(d), 2, 0.5f);
  for (NormKind kind : {NormKind::None, NormKind::Rms, NormKind::RmsPlusOne, NormKind::RmsNoWeight}) {
    for (float eps : {1e-6f, 0.5f}) {
      std::vector<float> out(x.size());
      rms_norm_rows(x.data(), rows, d, w.data(), kind, eps, out.data());
      const auto expected = rms_reference(x, d, w, kind, eps);
      for (size_t i = 0; i < out.size(); ++i)
        ASSERT_NEAR(out[i], expected[i], 2e-6 * std::max(1.0, std::fabs(expected[i])))
            << norm_kind_name(kind) << " eps " << eps << " at " << i;
    }
  }
}

TEST(RmsNorm, InPlaceTensorFormAndErrors) {
  const int64_t d = 16;
  Tensor x = Tensor::empty({3, 2, d});
  const auto values = random_vector(size_t(x.numel()), 3);
  std::copy(values.begin(), values.end(), x.f32());
  Tensor w = Tensor::empty({d});
  const auto wv = random_vector(size_t(d), 4);
  std::copy(wv.begin(), wv.end(), w.f32());
  rms_norm(x, w, NormKind::RmsPlusOne, 1e-6f, x);  // out aliases x
  const auto expected = rms_reference(values, d, wv, NormKind::RmsPlusOne, 1e-6);
  for (int64_t i = 0; i < x.numel(); ++i) ASSERT_NEAR(x.f32()[i], expected[size_t(i)], 1e-5);

  Tensor wrong = Tensor::empty({d + 1});
  Tensor out = Tensor::empty({3, 2, d});
  EXPECT_THROW(rms_norm(x, wrong, NormKind::Rms, 1e-6f, out), Error);
  EXPECT_THROW(rms_norm(x, Tensor(), NormKind::RmsPlusOne, 1e-6f, out), Error);
  Tensor small = Tensor::empty({2, d});
  EXPECT_THROW(rms_norm(x, w, NormKind::Rms, 1e-6f, small), Error);
  EXPECT_NO_THROW(rms_norm(x, Tensor(), NormKind::RmsNoWeight, 1e-6f, out));
}

TEST(RmsNorm, ZeroRowStaysFinite) {
  std::vector<float> x(8, 0.0f), w(8, 1.0f), out(8, 7.0f);
  rms_norm_rows(x.data(), 1, 8, w.data(), NormKind::Rms, 1e-6f, out.data());
  for (float v : out) EXPECT_EQ(v, 0.0f);
}

// ---------------------------------------------------------------------------------------------------
// RoPE tables (Appendix A re-derived in double)

double get(const json& p, const char* key, double fallback) {
  return p.contains(key) && p[key].is_number() ? p[key].get<double>() : fallback;
}

struct ReferenceTable {
  std::vector<double> inv_freq;  // head_dim / 2 entries
  double attention_factor = 1.0;
};

std::vector<double> base_inv_freq(int dim, double theta) {
  std::vector<double> inv;
  for (int j = 0; j < dim / 2; ++j) inv.push_back(1.0 / std::pow(theta, 2.0 * j / dim));
  return inv;
}

ReferenceTable reference_table(const json& p, int head_dim, double max_positions) {
  const std::string type = p.value("rope_type", std::string("default"));
  const double theta = get(p, "rope_theta", 10000.0), partial = get(p, "partial_rotary_factor", 1.0);
  ReferenceTable t;
  if (type == "default") {
    t.inv_freq = base_inv_freq(head_dim, theta);
  } else if (type == "linear") {
    t.inv_freq = base_inv_freq(int(head_dim * partial), theta);
    for (double& f : t.inv_freq) f /= get(p, "factor", 1.0);
  } else if (type == "llama3") {
    t.inv_freq = base_inv_freq(int(head_dim * partial), theta);
    const double f = get(p, "factor", 8), lf = get(p, "low_freq_factor", 1), hf = get(p, "high_freq_factor", 4);
    const double lo = get(p, "original_max_position_embeddings", max_positions);
    for (double& inv : t.inv_freq) {
      const double wavelen = 2 * M_PI / inv;
      double scaled = wavelen > lo / lf ? inv / f : inv;
      if (wavelen >= lo / hf && wavelen <= lo / lf && lf != hf) {
        const double smooth = (lo / wavelen - lf) / (hf - lf);
        scaled = (1 - smooth) * scaled / f + smooth * scaled;
      }
      inv = scaled;
    }
  } else if (type == "proportional") {
    const int angles = int(std::floor(partial * head_dim / 2));
    for (int j = 0; j < head_dim / 2; ++j)
      t.inv_freq.push_back(j < angles ? 1.0 / std::pow(theta, 2.0 * j / head_dim) / get(p, "factor", 1.0) : 0.0);
  } else if (type == "yarn") {
    const int dim = int(head_dim * partial);
    const double lo = get(p, "original_max_position_embeddings", max_positions);
    const double factor = get(p, "factor", max_positions / lo);
    auto mscale = [](double s, double m) { return s <= 1 ? 1.0 : 0.1 * m * std::log(s) + 1.0; };
    if (p.contains("attention_factor")) {
      t.attention_factor = get(p, "attention_factor", 1);
    } else if (get(p, "mscale", 0) != 0 && get(p, "mscale_all_dim", 0) != 0) {
      t.attention_factor = mscale(factor, get(p, "mscale", 0)) / mscale(factor, get(p, "mscale_all_dim", 0));
    } else {
      t.attention_factor = mscale(factor, 1);
    }
    auto corr = [&](double n) { return dim * std::log(lo / (n * 2 * M_PI)) / (2 * std::log(theta)); };
    double low = corr(get(p, "beta_fast", 32)), high = corr(get(p, "beta_slow", 1));
    if (p.value("truncate", true)) {
      low = std::floor(low);
      high = std::ceil(high);
    }
    low = std::max(low, 0.0);
    high = std::min(high, double(dim - 1));
    if (low == high) high += 0.001;
    for (int j = 0; j < dim / 2; ++j) {
      const double ramp = std::clamp((j - low) / (high - low), 0.0, 1.0);
      const double base = std::pow(theta, 2.0 * j / dim);
      t.inv_freq.push_back(1.0 / (factor * base) * ramp + 1.0 / base * (1 - ramp));
    }
  }
  t.inv_freq.resize(size_t(head_dim / 2), 0.0);
  return t;
}

void expect_table_matches(const json& params, int head_dim, int64_t max_positions) {
  SCOPED_TRACE(params.dump() + " head_dim " + std::to_string(head_dim));
  const RopeTable table = make_rope_table(params, head_dim, max_positions, RopeStyle::RotateHalf);
  const ReferenceTable expected = reference_table(params, head_dim, double(max_positions));
  ASSERT_EQ(table.inv_freq.size(), size_t(head_dim / 2));
  // The reference computes in float32 (pow of a float exponent): a few ulp of relative error.
  for (size_t j = 0; j < expected.inv_freq.size(); ++j) {
    if (expected.inv_freq[j] == 0) {
      EXPECT_EQ(table.inv_freq[j], 0.0f) << "pair " << j;
    } else {
      EXPECT_NEAR(table.inv_freq[j] / expected.inv_freq[j], 1.0, 4e-6) << "pair " << j;
    }
  }
  EXPECT_NEAR(table.attention_factor, expected.attention_factor, 1e-6);
}

TEST(RopeTable, Default) {
  expect_table_matches({{"rope_type", "default"}, {"rope_theta", 10000.0}}, 64, 2048);
  expect_table_matches({{"rope_type", "default"}, {"rope_theta", 1000000.0}}, 256, 8192);
  expect_table_matches({{"rope_theta", 500000.0}}, 128, 8192);  // no rope_type: default
  // The model-local default ignores partial_rotary_factor: every pair rotates.
  const RopeTable t = make_rope_table({{"rope_type", "default"}, {"partial_rotary_factor", 0.25}}, 64, 2048,
                                      RopeStyle::RotateHalf);
  for (float f : t.inv_freq) EXPECT_GT(f, 0.0f);
  EXPECT_FLOAT_EQ(t.inv_freq[0], 1.0f);
  EXPECT_EQ(t.attention_factor, 1.0f);
}

TEST(RopeTable, Linear) {
  expect_table_matches({{"rope_type", "linear"}, {"rope_theta", 1000000.0}, {"factor", 8.0}}, 256, 131072);
  expect_table_matches({{"rope_type", "linear"}, {"rope_theta", 10000.0}, {"factor", 4.0}}, 32, 256);
  // Legacy spelling of the key ("type").
  const RopeTable legacy = make_rope_table({{"type", "linear"}, {"rope_theta", 10000.0}, {"factor", 2.0}}, 32, 256,
                                           RopeStyle::RotateHalf);
  EXPECT_FLOAT_EQ(legacy.inv_freq[0], 0.5f);
}

TEST(RopeTable, Llama3) {
  expect_table_matches({{"rope_type", "llama3"},
                        {"rope_theta", 500000.0},
                        {"factor", 16.0},
                        {"low_freq_factor", 1.0},
                        {"high_freq_factor", 4.0},
                        {"original_max_position_embeddings", 8192}},
                       128, 131072);
  expect_table_matches({{"rope_type", "llama3"},
                        {"rope_theta", 10000.0},
                        {"factor", 8.0},
                        {"low_freq_factor", 2.0},
                        {"high_freq_factor", 8.0},
                        {"original_max_position_embeddings", 512}},
                       64, 4096);
  // original_max_position_embeddings absent: max_position_embeddings.
  expect_table_matches({{"rope_type", "llama3"}, {"rope_theta", 10000.0}, {"factor", 4.0}}, 64, 1024);
  // low == high frequency factor: the smoothing band is skipped instead of dividing by zero.
  const json equal = {{"rope_type", "llama3"},    {"rope_theta", 10000.0},      {"factor", 4.0},
                      {"low_freq_factor", 2.0}, {"high_freq_factor", 2.0}, {"original_max_position_embeddings", 256}};
  expect_table_matches(equal, 64, 1024);
  for (float f : make_rope_table(equal, 64, 1024, RopeStyle::Interleaved).inv_freq) EXPECT_TRUE(std::isfinite(f));
  // Every band is exercised by the first case: some pairs unchanged, some divided by the factor, some between.
  const RopeTable t = make_rope_table({{"rope_type", "llama3"},
                                       {"rope_theta", 500000.0},
                                       {"factor", 16.0},
                                       {"original_max_position_embeddings", 8192}},
                                      128, 131072, RopeStyle::Interleaved);
  const auto base = base_inv_freq(128, 500000.0);
  int unchanged = 0, divided = 0, between = 0;
  for (size_t j = 0; j < base.size(); ++j) {
    const double ratio = base[j] / t.inv_freq[j];
    if (std::fabs(ratio - 1) < 1e-5) ++unchanged;
    else if (std::fabs(ratio - 16) < 1e-3) ++divided;
    else if (ratio > 1 && ratio < 16) ++between;
  }
  EXPECT_GT(unchanged, 0);
  EXPECT_GT(divided, 0);
  EXPECT_GT(between, 0);
  EXPECT_EQ(unchanged + divided + between, 64);
}

TEST(RopeTable, Proportional) {
  // Gemma 4 full layers: a quarter of the angles rotate, the rest are zero (pairs left unrotated).
  expect_table_matches({{"rope_type", "proportional"}, {"rope_theta", 1000000.0}, {"partial_rotary_factor", 0.25}},
                       512, 131072);
  expect_table_matches(
      {{"rope_type", "proportional"}, {"rope_theta", 10000.0}, {"partial_rotary_factor", 0.5}, {"factor", 2.0}}, 64,
      2048);
  expect_table_matches({{"rope_type", "proportional"}, {"rope_theta", 10000.0}}, 32, 2048);
  // An odd number of angle pairs: int(0.3 · 40 // 2) = 6.
  const RopeTable t = make_rope_table(
      {{"rope_type", "proportional"}, {"rope_theta", 10000.0}, {"partial_rotary_factor", 0.3}}, 40, 2048,
      RopeStyle::RotateHalf);
  EXPECT_EQ(std::count_if(t.inv_freq.begin(), t.inv_freq.end(), [](float f) { return f != 0; }), 6);
  EXPECT_NE(t.describe().find("6/20"), std::string::npos) << t.describe();
}

TEST(RopeTable, Yarn) {
  expect_table_matches(
      {{"rope_type", "yarn"}, {"rope_theta", 10000.0}, {"factor", 4.0}, {"original_max_position_embeddings", 2048}},
      64, 8192);
  expect_table_matches({{"rope_type", "yarn"},
                        {"rope_theta", 1000000.0},
                        {"factor", 8.0},
                        {"original_max_position_embeddings", 4096},
                        {"beta_fast", 16},
                        {"beta_slow", 2},
                        {"truncate", false}},
                       128, 32768);
  expect_table_matches({{"rope_type", "yarn"},
                        {"rope_theta", 10000.0},
                        {"factor", 4.0},
                        {"original_max_position_embeddings", 1024},
                        {"attention_factor", 1.25}},
                       64, 4096);
  expect_table_matches({{"rope_type", "yarn"},
                        {"rope_theta", 10000.0},
                        {"factor", 16.0},
                        {"original_max_position_embeddings", 1024},
                        {"mscale", 1.0},
                        {"mscale_all_dim", 0.5}},
                       64, 4096);
  // factor absent: max_position_embeddings / original_max_position_embeddings = 4.
  expect_table_matches({{"rope_type", "yarn"}, {"rope_theta", 10000.0}, {"original_max_position_embeddings", 1024}},
                       64, 4096);
  // factor ≤ 1 gives attention factor 1.
  const RopeTable one = make_rope_table(
      {{"rope_type", "yarn"}, {"factor", 1.0}, {"original_max_position_embeddings", 1024}}, 64, 1024,
      RopeStyle::RotateHalf);
  EXPECT_FLOAT_EQ(one.attention_factor, 1.0f);
}

TEST(RopeTable, UnknownTypeNamesItAndTheSupportedOnes) {
  try {
    make_rope_table({{"rope_type", "dynamic_ntk"}}, 64, 2048, RopeStyle::RotateHalf);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("dynamic_ntk"), std::string::npos) << m;
    EXPECT_NE(m.find("llama3"), std::string::npos) << m;
  }
}

// ---------------------------------------------------------------------------------------------------
// RoPE application

TEST(ApplyRope, RotateHalfPairsJWithJPlusHalf) {
  const int64_t tokens = 4, heads = 3, d = 16;
  RopeTable table = make_rope_table({{"rope_type", "yarn"}, {"factor", 4.0}, {"original_max_position_embeddings", 64}},
                                    int(d), 256, RopeStyle::RotateHalf);
  table.inv_freq[3] = 0.0f;  // an unrotated pair (as proportional tables have)
  const std::vector<int64_t> positions = {0, 5, 17, 1000};
  const auto x0 = random_vector(size_t(tokens * heads * d), 11);
  std::vector<float> x = x0;
  apply_rope_rows(x.data(), tokens, heads, d, table, positions.data());
  const double a = table.attention_factor;
  for (int64_t t = 0; t < tokens; ++t)
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t k = 0; k < d / 2; ++k) {
        const double angle = double(float(positions[size_t(t)]) * table.inv_freq[size_t(k)]);
        const size_t i = size_t((t * heads + h) * d + k), j = i + size_t(d / 2);
        const double c = std::cos(angle) * a, s = std::sin(angle) * a;
        ASSERT_NEAR(x[i], x0[i] * c - x0[j] * s, 2e-5) << t << " " << h << " " << k;
        ASSERT_NEAR(x[j], x0[j] * c + x0[i] * s, 2e-5) << t << " " << h << " " << k;
      }
  // Position 0 and the zero-frequency pair only scale by the attention factor.
  for (int64_t k = 0; k < d; ++k) EXPECT_NEAR(x[size_t(k)], x0[size_t(k)] * a, 1e-6);
}

TEST(ApplyRope, InterleavedIsComplexMultiplicationOfAdjacentPairs) {
  const int64_t tokens = 3, heads = 2, d = 8;
  const RopeTable table = make_rope_table({{"rope_theta", 100.0}}, int(d), 64, RopeStyle::Interleaved);
  const std::vector<int64_t> positions = {3, 9, 30};
  const auto x0 = random_vector(size_t(tokens * heads * d), 12);
  Tensor x = Tensor::empty({tokens, heads, d});
  std::copy(x0.begin(), x0.end(), x.f32());
  apply_rope(x, table, positions.data());
  for (int64_t t = 0; t < tokens; ++t)
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t k = 0; k < d / 2; ++k) {
        const double angle = double(positions[size_t(t)]) * table.inv_freq[size_t(k)];
        const size_t i = size_t((t * heads + h) * d + 2 * k);
        const double re = x0[i] * std::cos(angle) - x0[i + 1] * std::sin(angle);
        const double im = x0[i] * std::sin(angle) + x0[i + 1] * std::cos(angle);
        ASSERT_NEAR(x.f32()[i], re, 1e-5);
        ASSERT_NEAR(x.f32()[i + 1], im, 1e-5);
      }
}

TEST(ApplyRope, RelativePositionInvariance) {
  // q(m)·k(n) depends only on m − n: the property attention relies on.
  const int64_t d = 32;
  const RopeTable table = make_rope_table({{"rope_theta", 10000.0}}, int(d), 1024, RopeStyle::RotateHalf);
  const auto q0 = random_vector(size_t(d), 21), k0 = random_vector(size_t(d), 22);
  auto rotated_dot = [&](int64_t m, int64_t n) {
    std::vector<float> q = q0, k = k0;
    apply_rope_rows(q.data(), 1, 1, d, table, &m);
    apply_rope_rows(k.data(), 1, 1, d, table, &n);
    double s = 0;
    for (int64_t i = 0; i < d; ++i) s += double(q[size_t(i)]) * k[size_t(i)];
    return s;
  };
  EXPECT_NEAR(rotated_dot(10, 3), rotated_dot(107, 100), 1e-4);
  EXPECT_NEAR(rotated_dot(3, 10), rotated_dot(50, 57), 1e-4);
}

TEST(ApplyRope, TableOfTheWrongSizeIsAnError) {
  const RopeTable table = make_rope_table({{"rope_theta", 10000.0}}, 16, 64, RopeStyle::RotateHalf);
  std::vector<float> x(32);
  const int64_t pos = 1;
  EXPECT_THROW(apply_rope_rows(x.data(), 1, 1, 32, table, &pos), Error);
  Tensor two_d = Tensor::empty({2, 16});
  EXPECT_THROW(apply_rope(two_d, table, &pos), Error);
}

// ---------------------------------------------------------------------------------------------------
// Attention

bool visible(MaskKind mask, int64_t window, int64_t q, int64_t k) {
  if (k > q) return false;
  if (mask == MaskKind::Sliding) return q - k < window;
  if (mask == MaskKind::Chunked) return q / window == k / window;
  return true;
}

std::vector<double> attention_reference(const std::vector<float>& q, const std::vector<int64_t>& q_pos,
                                        const std::vector<float>& k, const std::vector<float>& v,
                                        const std::vector<int64_t>& k_pos, const AttentionParams& p) {
  const int64_t tokens = int64_t(q_pos.size()), n = int64_t(k_pos.size()), d = p.head_dim;
  std::vector<double> out(size_t(tokens * p.n_heads * d), 0.0);
  for (int64_t t = 0; t < tokens; ++t)
    for (int h = 0; h < p.n_heads; ++h) {
      const int kvh = h / (p.n_heads / p.n_kv_heads);
      std::vector<double> scores;
      std::vector<int64_t> rows;
      for (int64_t i = 0; i < n; ++i) {
        if (!visible(p.mask, p.window, q_pos[size_t(t)], k_pos[size_t(i)])) continue;
        double s = 0;
        for (int64_t j = 0; j < d; ++j)
          s += double(q[size_t((t * p.n_heads + h) * d + j)]) * k[size_t((i * p.n_kv_heads + kvh) * d + j)];
        s *= p.scale;
        if (p.softcap > 0) s = p.softcap * std::tanh(s / p.softcap);
        scores.push_back(s);
        rows.push_back(i);
      }
      if (rows.empty()) continue;
      const double m = *std::max_element(scores.begin(), scores.end());
      double total = 0;
      for (double& s : scores) total += s = std::exp(s - m);
      for (size_t r = 0; r < rows.size(); ++r)
        for (int64_t j = 0; j < d; ++j)
          out[size_t((t * p.n_heads + h) * d + j)] +=
              scores[r] / total * v[size_t((rows[r] * p.n_kv_heads + kvh) * d + j)];
    }
  return out;
}

struct AttentionCase {
  MaskKind mask;
  int64_t window;
  int n_heads, n_kv_heads;
  float softcap;
};

// A cache holding positions [0, past + tokens) stored in ring order (rotated by `rotation` rows, and only the
// last `kept` positions) and `tokens` queries at the end.
void check_attention(const AttentionCase& c, int64_t past, int64_t tokens, int64_t kept, int64_t rotation,
                     uint32_t seed) {
  SCOPED_TRACE(testing::Message() << "mask " << int(c.mask) << " window " << c.window << " heads " << c.n_heads << "/"
                                  << c.n_kv_heads << " softcap " << c.softcap << " past " << past << " kept " << kept
                                  << " rotation " << rotation);
  AttentionParams p;
  p.n_heads = c.n_heads;
  p.n_kv_heads = c.n_kv_heads;
  p.head_dim = seed % 2 ? 12 : 7;  // a head dim that is not a multiple of the dot product's 4 lanes too
  p.scale = 0.3f;
  p.softcap = c.softcap;
  p.mask = c.mask;
  p.window = c.window;
  const int64_t total = past + tokens, d = p.head_dim;
  std::vector<int64_t> k_pos;
  for (int64_t pos = total - kept; pos < total; ++pos) k_pos.push_back(pos);
  std::rotate(k_pos.begin(), k_pos.begin() + (rotation % kept), k_pos.end());
  const int64_t n = int64_t(k_pos.size());
  const auto k = random_vector(size_t(n * p.n_kv_heads * d), seed, 2.0f);
  const auto v = random_vector(size_t(n * p.n_kv_heads * d), seed + 1);
  const auto q = random_vector(size_t(tokens * p.n_heads * d), seed + 2, 2.0f);
  std::vector<int64_t> q_pos;
  for (int64_t t = 0; t < tokens; ++t) q_pos.push_back(past + t);
  std::vector<float> out(q.size(), -99.0f);
  attention(q.data(), q_pos.data(), tokens, KeyValueView{k.data(), v.data(), k_pos.data(), n}, p, out.data());
  const auto expected = attention_reference(q, q_pos, k, v, k_pos, p);
  for (size_t i = 0; i < out.size(); ++i) ASSERT_NEAR(out[i], expected[i], 2e-5) << "element " << i;
}

TEST(Attention, CausalSlidingChunkedOverRingOrderedKeysWithGqaAndSoftcap) {
  const std::vector<AttentionCase> cases = {
      {MaskKind::Causal, 0, 4, 4, 0},    {MaskKind::Causal, 0, 6, 2, 0},   {MaskKind::Causal, 0, 3, 1, 5.0f},
      {MaskKind::Sliding, 4, 4, 2, 0},   {MaskKind::Sliding, 1, 2, 1, 0},  {MaskKind::Sliding, 7, 4, 1, 3.0f},
      {MaskKind::Chunked, 4, 4, 2, 0},   {MaskKind::Chunked, 5, 6, 3, 0},  {MaskKind::Chunked, 1, 2, 2, 0},
  };
  uint32_t seed = 100;
  for (const auto& c : cases) {
    check_attention(c, 0, 9, 9, 0, seed++);     // prefill, keys in order
    check_attention(c, 13, 5, 18, 7, seed++);   // prefill after a past, keys rotated
    check_attention(c, 20, 1, 21, 20, seed++);  // decode
    if (c.mask != MaskKind::Causal) {
      // Ring holding only window − 1 + tokens positions, wrapped at an arbitrary row.
      check_attention(c, 30, 3, c.window - 1 + 3, 2, seed++);
      check_attention(c, 31, 1, c.window, 1, seed++);
    }
  }
}

TEST(Attention, GqaQueryHeadsReadTheirGroupsKvHead) {
  // Two kv heads whose values are constant 1 and 2: query heads 0..2 must read 1, heads 3..5 read 2.
  AttentionParams p;
  p.n_heads = 6;
  p.n_kv_heads = 2;
  p.head_dim = 4;
  p.scale = 1;
  const int64_t pos = 0;
  std::vector<float> k(8, 0.5f), v = {1, 1, 1, 1, 2, 2, 2, 2}, q(24, 1.0f), out(24);
  attention(q.data(), &pos, 1, KeyValueView{k.data(), v.data(), &pos, 1}, p, out.data());
  for (int h = 0; h < 6; ++h)
    for (int j = 0; j < 4; ++j) EXPECT_EQ(out[size_t(h * 4 + j)], h < 3 ? 1.0f : 2.0f) << h;
}

TEST(Attention, QueryWithNoVisibleKeyGetsZeros) {
  AttentionParams p;
  p.n_heads = 2;
  p.n_kv_heads = 1;
  p.head_dim = 4;
  p.scale = 1;
  p.mask = MaskKind::Sliding;
  p.window = 2;
  // Keys at positions 0..2 only; a query at 10 sees none of them (window 2), one at 1 sees two.
  const std::vector<int64_t> k_pos = {2, 0, 1}, q_pos = {10, 1};
  const auto k = random_vector(12, 1), v = random_vector(12, 2), q = random_vector(16, 3);
  std::vector<float> out(16, 42.0f);
  attention(q.data(), q_pos.data(), 2, KeyValueView{k.data(), v.data(), k_pos.data(), 3}, p, out.data());
  for (int i = 0; i < 8; ++i) EXPECT_EQ(out[size_t(i)], 0.0f);
  for (int i = 8; i < 16; ++i) EXPECT_TRUE(std::isfinite(out[size_t(i)]) && out[size_t(i)] != 0.0f);
  // An empty cache as well.
  std::fill(out.begin(), out.end(), 42.0f);
  attention(q.data(), q_pos.data(), 2, KeyValueView{k.data(), v.data(), k_pos.data(), 0}, p, out.data());
  for (float x : out) EXPECT_EQ(x, 0.0f);
}

TEST(Attention, MaskBoundaries) {
  // Sliding: exactly W keys including the query itself.
  for (int64_t q = 0; q < 20; ++q) {
    int64_t seen = 0;
    for (int64_t k = 0; k < 30; ++k) seen += mask_allows(MaskKind::Sliding, 5, q, k);
    EXPECT_EQ(seen, std::min<int64_t>(q + 1, 5)) << q;
    EXPECT_TRUE(mask_allows(MaskKind::Sliding, 5, q, q));
    EXPECT_FALSE(mask_allows(MaskKind::Sliding, 5, q, q + 1));
  }
  EXPECT_TRUE(mask_allows(MaskKind::Sliding, 5, 9, 5));
  EXPECT_FALSE(mask_allows(MaskKind::Sliding, 5, 9, 4));
  // Chunked: keys of the query's own chunk up to itself.
  EXPECT_TRUE(mask_allows(MaskKind::Chunked, 4, 7, 4));
  EXPECT_FALSE(mask_allows(MaskKind::Chunked, 4, 8, 7));
  EXPECT_TRUE(mask_allows(MaskKind::Chunked, 4, 8, 8));
  EXPECT_FALSE(mask_allows(MaskKind::Chunked, 4, 6, 7));
  EXPECT_TRUE(mask_allows(MaskKind::Causal, 0, 100, 0));
  EXPECT_FALSE(mask_allows(MaskKind::Causal, 0, 3, 4));
}

TEST(Attention, InvalidHeadCountsOrWindowAreErrors) {
  AttentionParams p;
  p.n_heads = 3;
  p.n_kv_heads = 2;
  p.head_dim = 4;
  const int64_t pos = 0;
  std::vector<float> buf(64);
  KeyValueView kv{buf.data(), buf.data(), &pos, 1};
  EXPECT_THROW(attention(buf.data(), &pos, 1, kv, p, buf.data()), Error);
  p.n_heads = 4;
  p.mask = MaskKind::Chunked;
  p.window = 0;
  EXPECT_THROW(attention(buf.data(), &pos, 1, kv, p, buf.data()), Error);
}

// ---------------------------------------------------------------------------------------------------
// Activations, softcap, embedding

TEST(Activation, GeluTanhSiluSoftcapMatchTheirFormulas) {
  for (double x : {-6.0, -2.5, -1.0, -0.1, 0.0, 0.3, 1.0, 2.0, 7.5}) {
    const double gelu = 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
    EXPECT_NEAR(gelu_tanh(float(x)), gelu, 1e-6 * std::max(1.0, std::fabs(x)));
    EXPECT_NEAR(silu(float(x)), x / (1 + std::exp(-x)), 1e-6 * std::max(1.0, std::fabs(x)));
  }
  std::vector<float> gate = {-1.0f, 0.5f, 2.0f}, up = {2.0f, -3.0f, 0.25f};
  std::vector<float> g2 = gate;
  gated_activation(Activation::GeluTanh, gate.data(), up.data(), 3);
  gated_activation(Activation::Silu, g2.data(), up.data(), 3);
  for (size_t i = 0; i < 3; ++i) {
    const float x = i == 0 ? -1.0f : i == 1 ? 0.5f : 2.0f;
    EXPECT_FLOAT_EQ(gate[i], gelu_tanh(x) * up[i]);
    EXPECT_FLOAT_EQ(g2[i], silu(x) * up[i]);
  }
  std::vector<float> logits = {-100.0f, -3.0f, 0.0f, 3.0f, 100.0f};
  softcap(logits.data(), 5, 30.0f);
  const double raw[] = {-100, -3, 0, 3, 100};
  for (size_t i = 0; i < 5; ++i) EXPECT_NEAR(logits[i], 30 * std::tanh(raw[i] / 30), 1e-5);
}

TEST(Embedding, ScalesRowsAndNamesAnOutOfRangeId) {
  Tensor table = Tensor::empty({4, 3}, DType::BF16);
  for (int64_t i = 0; i < 12; ++i) table.data<uint16_t>()[i] = f32_to_bf16(float(i) * 0.5f);
  std::vector<float> out(6);
  const std::vector<int32_t> ids = {3, 1};
  embedding_lookup(table, ids, 2.0f, out.data());
  EXPECT_EQ(out, (std::vector<float>{9, 10, 11, 3, 4, 5}));
  for (int32_t bad : {4, -1}) {
    try {
      const std::vector<int32_t> bad_ids = {0, bad};
      embedding_lookup(table, bad_ids, 1.0f, out.data());
      FAIL() << "expected an error for id " << bad;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(std::to_string(bad)), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace glint::ops

// ---------------------------------------------------------------------------------------------------
// 16-bit float conversions (core/dtype.h) that every BF16/F16 weight goes through

namespace glint {
namespace {

TEST(HalfFloats, F16DecodeMatchesTheCompilersFloat16ForEveryBitPattern) {
  for (uint32_t bits = 0; bits < 65536; ++bits) {
    _Float16 h;
    const uint16_t b = uint16_t(bits);
    std::memcpy(&h, &b, 2);
    const float expected = float(h);
    const float got = f16_to_f32(b);
    if (std::isnan(expected)) {
      ASSERT_TRUE(std::isnan(got)) << std::hex << bits;
      // And back: NaN stays NaN.
      ASSERT_EQ(f32_to_f16(got) & 0x7c00, 0x7c00) << std::hex << bits;
      ASSERT_NE(f32_to_f16(got) & 0x3ff, 0) << std::hex << bits;
      continue;
    }
    ASSERT_EQ(got, expected) << std::hex << bits;
    ASSERT_EQ(std::signbit(got), std::signbit(expected)) << std::hex << bits;
    ASSERT_EQ(f32_to_f16(got), b) << std::hex << bits;  // exact round trip
  }
}

TEST(HalfFloats, F16EncodeRoundsToNearestEvenLikeTheCompiler) {
  std::mt19937 rng(77);
  std::uniform_int_distribution<uint32_t> any;
  auto check = [](float f) {
    const _Float16 h = static_cast<_Float16>(f);
    uint16_t expected;
    std::memcpy(&expected, &h, 2);
    if (std::isnan(f)) return;
    ASSERT_EQ(f32_to_f16(f), expected) << f;
  };
  for (int i = 0; i < 200000; ++i) {
    uint32_t u = any(rng);
    // Bias towards the interesting range (subnormal to overflow of f16): exponents 100..145.
    if (i % 2) u = (u & 0x807fffffu) | ((100u + u % 46u) << 23);
    float f;
    std::memcpy(&f, &u, 4);
    check(f);
  }
  // Halfway cases at both ends and around subnormals, overflow, infinities.
  for (float f : {65504.0f, 65519.99f, 65520.0f, 1e10f, -1e10f, INFINITY, -INFINITY, 0.0f, -0.0f,
                  5.960464477539063e-08f, 2.9802322387695312e-08f, 2.98023259e-08f, 8.940696716308594e-08f,
                  6.103515625e-05f, 6.1035152e-05f, 1.0f + 1.0f / 2048, 1.0f + 3.0f / 2048})
    check(f);
}

TEST(HalfFloats, Bf16RoundsToNearestEvenAndKeepsNaN) {
  EXPECT_EQ(f32_to_bf16(1.0f), 0x3f80);
  float f;
  uint32_t u = 0x3f808000u;  // exactly halfway between 0x3f80 and 0x3f81: to even
  std::memcpy(&f, &u, 4);
  EXPECT_EQ(f32_to_bf16(f), 0x3f80);
  u = 0x3f818000u;  // halfway, odd below: rounds up
  std::memcpy(&f, &u, 4);
  EXPECT_EQ(f32_to_bf16(f), 0x3f82);
  u = 0x3f808001u;
  std::memcpy(&f, &u, 4);
  EXPECT_EQ(f32_to_bf16(f), 0x3f81);
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(std::nanf("")))));
  EXPECT_EQ(f32_to_bf16(3.4e38f), 0x7f80);  // rounds up to infinity, as torch
  EXPECT_EQ(round_to_bf16(50.596443f), 50.5f);  // √2560 as Gemma 3 4B's embed scale
  EXPECT_EQ(round_to_dtype(34.0f, DType::F16), 34.0f);
  EXPECT_EQ(round_to_dtype(0.1f, DType::F32), 0.1f);
}

}  // namespace
}  // namespace glint
