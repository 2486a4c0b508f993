#include "ops/attention.h"

#include <cmath>
#include <limits>
#include <vector>

#include "core/thread_pool.h"

namespace glint::ops {

bool mask_allows(MaskKind mask, int64_t window, int64_t q_pos, int64_t k_pos) {
  if (k_pos > q_pos) return false;
  switch (mask) {
    case MaskKind::Causal: return true;
    case MaskKind::Sliding: return k_pos > q_pos - window;
    case MaskKind::Chunked: return k_pos / window == q_pos / window;
  }
  return false;
}

namespace {
inline float dot(const float* a, const float* b, int n) {
  float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += a[i] * b[i];
    s1 += a[i + 1] * b[i + 1];
    s2 += a[i + 2] * b[i + 2];
    s3 += a[i + 3] * b[i + 3];
  }
  for (; i < n; ++i) s0 += a[i] * b[i];
  return (s0 + s1) + (s2 + s3);
}
}  // namespace

void attention(const float* q, const int64_t* q_positions, int64_t tokens, const KeyValueView& kv,
               const AttentionParams& p, float* out) {
  GLINT_CHECK(p.n_heads > 0 && p.n_kv_heads > 0 && p.n_heads % p.n_kv_heads == 0, "attention: ", p.n_heads,
              " query heads cannot share ", p.n_kv_heads, " kv heads");
  GLINT_CHECK(p.mask == MaskKind::Causal || p.window > 0, "attention: window/chunk size must be positive");
  const int d = p.head_dim;
  const int group = p.n_heads / p.n_kv_heads;
  const int64_t kv_stride = int64_t(p.n_kv_heads) * d;
  parallel_for(tokens * p.n_heads, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> scores(static_cast<size_t>(kv.n));
    std::vector<float> acc(static_cast<size_t>(d));
    for (int64_t item = begin; item < end; ++item) {
      const int64_t t = item / p.n_heads;
      const int h = int(item % p.n_heads);
      const int kvh = h / group;
      const float* qv = q + (t * p.n_heads + h) * d;
      float* o = out + (t * p.n_heads + h) * d;
      float max_score = -std::numeric_limits<float>::infinity();
      for (int64_t i = 0; i < kv.n; ++i) {
        if (!mask_allows(p.mask, p.window, q_positions[t], kv.positions[i])) {
          scores[size_t(i)] = -std::numeric_limits<float>::infinity();
          continue;
        }
        float s = dot(qv, kv.k + i * kv_stride + kvh * d, d) * p.scale;
        if (p.softcap > 0) s = p.softcap * std::tanh(s / p.softcap);
        scores[size_t(i)] = s;
        max_score = std::max(max_score, s);
      }
      std::fill(acc.begin(), acc.end(), 0.0f);
      if (max_score == -std::numeric_limits<float>::infinity()) {
        std::copy(acc.begin(), acc.end(), o);
        continue;
      }
      float sum = 0;
      for (int64_t i = 0; i < kv.n; ++i) {
        if (scores[size_t(i)] == -std::numeric_limits<float>::infinity()) continue;
        const float w = std::exp(scores[size_t(i)] - max_score);
        sum += w;
        const float* vv = kv.v + i * kv_stride + kvh * d;
        for (int j = 0; j < d; ++j) acc[size_t(j)] += w * vv[j];
      }
      const float inv = 1.0f / sum;
      for (int j = 0; j < d; ++j) o[j] = acc[size_t(j)] * inv;
    }
  });
}

}  // namespace glint::ops
