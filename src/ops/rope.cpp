#include "ops/rope.h"

#include <cmath>

#include "core/thread_pool.h"

namespace glint::ops {
namespace {

double number(const nlohmann::json& j, const char* key, double fallback) {
  return j.contains(key) && j[key].is_number() ? j[key].get<double>() : fallback;
}

// inv_freq[k] = 1 / theta^(2k/dim), computed in float32 from an integer range like the reference.
std::vector<float> default_inv_freq(int dim, double theta, int count) {
  std::vector<float> inv(size_t(count), 0.0f);
  for (int k = 0; k < count; ++k) {
    float exponent = float(2 * k) / float(dim);
    inv[size_t(k)] = 1.0f / std::pow(float(theta), exponent);
  }
  return inv;
}

}  // namespace

std::string RopeTable::describe() const {
  int rotated = 0;
  for (float f : inv_freq) rotated += f != 0.0f;
  return std::string(style == RopeStyle::RotateHalf ? "rotate-half" : "interleaved") + ", " +
         std::to_string(rotated) + "/" + std::to_string(inv_freq.size()) + " pairs rotated";
}

RopeTable make_rope_table(const nlohmann::json& params, int head_dim, int64_t max_position_embeddings,
                          RopeStyle style) {
  RopeTable table;
  table.style = style;
  const std::string type = params.value("rope_type", params.value("type", std::string("default")));
  const double theta = number(params, "rope_theta", 10000.0);
  const double partial = number(params, "partial_rotary_factor", 1.0);
  const int half = head_dim / 2;
  if (type == "default") {
    table.inv_freq = default_inv_freq(head_dim, theta, half);
  } else if (type == "linear") {
    const int dim = int(head_dim * partial);
    table.inv_freq = default_inv_freq(dim, theta, dim / 2);
    table.inv_freq.resize(size_t(half), 0.0f);
    const float factor = float(number(params, "factor", 1.0));
    for (auto& f : table.inv_freq) f /= factor;
  } else if (type == "llama3") {
    const int dim = int(head_dim * partial);
    table.inv_freq = default_inv_freq(dim, theta, dim / 2);
    table.inv_freq.resize(size_t(half), 0.0f);
    const double factor = number(params, "factor", 8.0);
    const double low = number(params, "low_freq_factor", 1.0);
    const double high = number(params, "high_freq_factor", 4.0);
    const double original = number(params, "original_max_position_embeddings", double(max_position_embeddings));
    const double low_wavelen = original / low, high_wavelen = original / high;
    for (auto& f : table.inv_freq) {
      if (f == 0.0f) continue;
      const double wavelen = 2.0 * M_PI / double(f);
      if (wavelen > low_wavelen) {
        f = float(double(f) / factor);
      } else if (wavelen >= high_wavelen && high != low) {
        const double smooth = (original / wavelen - low) / (high - low);
        f = float((1.0 - smooth) * double(f) / factor + smooth * double(f));
      }
    }
  } else if (type == "proportional") {
    const int angles = int(partial * head_dim / 2);  // int(partial · head_dim // 2)
    table.inv_freq.assign(size_t(half), 0.0f);
    for (int k = 0; k < angles && k < half; ++k)
      table.inv_freq[size_t(k)] = 1.0f / std::pow(float(theta), float(2 * k) / float(head_dim));
    const float factor = float(number(params, "factor", 1.0));
    for (auto& f : table.inv_freq) f /= factor;
  } else if (type == "yarn") {
    const int dim = int(head_dim * partial);
    const double original = number(params, "original_max_position_embeddings", double(max_position_embeddings));
    double factor = number(params, "factor", double(max_position_embeddings) / original);
    auto mscale = [](double s, double m) { return s <= 1 ? 1.0 : 0.1 * m * std::log(s) + 1.0; };
    double attention_factor;
    if (params.contains("attention_factor") && params["attention_factor"].is_number()) {
      attention_factor = params["attention_factor"].get<double>();
    } else if (number(params, "mscale", 0) != 0 && number(params, "mscale_all_dim", 0) != 0) {
      attention_factor = mscale(factor, number(params, "mscale", 1)) / mscale(factor, number(params, "mscale_all_dim", 1));
    } else {
      attention_factor = mscale(factor, 1.0);
    }
    const double beta_fast = number(params, "beta_fast", 32), beta_slow = number(params, "beta_slow", 1);
    auto correction = [&](double n) { return dim * std::log(original / (n * 2 * M_PI)) / (2 * std::log(theta)); };
    double low = correction(beta_fast), high = correction(beta_slow);
    if (params.value("truncate", true)) {
      low = std::floor(low);
      high = std::ceil(high);
    }
    low = std::max(low, 0.0);
    high = std::min(high, double(dim - 1));
    if (low == high) high += 0.001;
    table.inv_freq.assign(size_t(half), 0.0f);
    for (int j = 0; j < dim / 2; ++j) {
      const float base = std::pow(float(theta), float(2 * j) / float(dim));
      const double ramp = std::clamp((j - low) / (high - low), 0.0, 1.0);
      const double extrapolation = 1.0 / base, interpolation = 1.0 / (factor * base);
      table.inv_freq[size_t(j)] = float(interpolation * ramp +
                                        extrapolation * (1 - ramp));
    }
    table.attention_factor = float(attention_factor);
  } else {
    fail("unsupported rope_type '", type, "' (supported: default, linear, llama3, proportional, yarn)");
  }
  return table;
}

void apply_rope_rows(float* x, int64_t tokens, int64_t heads, int64_t head_dim, const RopeTable& table,
                     const int64_t* positions) {
  const int64_t half = head_dim / 2;
  GLINT_CHECK(int64_t(table.inv_freq.size()) == half, "rope table has ", table.inv_freq.size(),
              " frequencies, head_dim ", head_dim, " needs ", half);
  const float factor = table.attention_factor;
  parallel_for(tokens, 1, [&](int64_t t0, int64_t t1) {
    std::vector<float> cos_v(static_cast<size_t>(half)), sin_v(static_cast<size_t>(half));
    for (int64_t t = t0; t < t1; ++t) {
      const float pos = float(positions[t]);
      for (int64_t k = 0; k < half; ++k) {
        const float angle = pos * table.inv_freq[size_t(k)];
        cos_v[size_t(k)] = std::cos(angle) * factor;
        sin_v[size_t(k)] = std::sin(angle) * factor;
      }
      for (int64_t h = 0; h < heads; ++h) {
        float* v = x + (t * heads + h) * head_dim;
        if (table.style == RopeStyle::RotateHalf) {
          for (int64_t k = 0; k < half; ++k) {
            const float a = v[k], b = v[k + half];
            v[k] = a * cos_v[size_t(k)] - b * sin_v[size_t(k)];
            v[k + half] = b * cos_v[size_t(k)] + a * sin_v[size_t(k)];
          }
        } else {
          for (int64_t k = 0; k < half; ++k) {
            const float a = v[2 * k], b = v[2 * k + 1];
            v[2 * k] = a * cos_v[size_t(k)] - b * sin_v[size_t(k)];
            v[2 * k + 1] = a * sin_v[size_t(k)] + b * cos_v[size_t(k)];
          }
        }
      }
    }
  });
}

void apply_rope(Tensor& x, const RopeTable& table, const int64_t* positions) {
  GLINT_CHECK(x.dims() == 3, "apply_rope: expected [tokens, heads, head_dim], got ", x.shape_string());
  apply_rope_rows(x.f32(), x.size(0), x.size(1), x.size(2), table, positions);
}

}  // namespace glint::ops
