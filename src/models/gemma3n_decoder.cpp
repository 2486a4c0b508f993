// Gemma 3n forward pass. The residual is four AltUp streams [A, N, H] kept per pass in `streams_`; the
// active stream (0) goes through attention + LAuReL + MLP, the others are predicted from all streams
// by a learned 4×4 mix and corrected by the active stream's innovation. Shared blocks (attention with
// KV sharing, the gated MLP with activation sparsity, norms) come from Transformer.
#include "models/gemma3n_decoder.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <string>

#include "ops/activation.h"
#include "ops/embedding.h"
#include "ops/matmul.h"
#include "ops/vec.h"

namespace glint {
namespace {

// Per-layer AltUp / LAuReL tensors, looked up once from LayerWeights::extra.
struct AltupLayer {
  Tensor router_norm;          // [H]
  Tensor modality_router;      // [A, H]
  Tensor prediction_coefs;     // [A·A, A]
  Tensor correction_coefs;     // [A, A]
  Tensor correct_output_scale; // [H]
  Tensor laurel_left;          // [R, H]
  Tensor laurel_right;         // [H, R]
  Tensor laurel_norm;          // [H]
};

const Tensor& extra_tensor(const std::map<std::string, Tensor>& extra, const std::string& name) {
  auto it = extra.find(name);
  GLINT_CHECK(it != extra.end() && it->second.defined(), "gemma3n: weight ", name, " was not loaded");
  return it->second;
}

// rows of y [n, H] scaled so each row's RMS equals the RMS of the same row of ref (no eps on ref; the
// new magnitude is floored at 1e-5 inside the square root), as AltUp does when it creates and merges streams.
void match_magnitude(const float* ref, float* y, int64_t n, int64_t hidden) {
  for (int64_t t = 0; t < n; ++t) {
    const float target = std::sqrt(vec::sum_squares(ref + t * hidden, hidden) / float(hidden));
    const float current = std::sqrt(std::max(vec::sum_squares(y + t * hidden, hidden) / float(hidden), 1e-5f));
    float* row = y + t * hidden;
    for (int64_t j = 0; j < hidden; ++j) row[j] = row[j] * target / current;
  }
}

class Gemma3nDecoder final : public Transformer {
 public:
  bool runs_generic_pass() const override { return false; }
  Gemma3nDecoder(ModelPlan plan, ModelWeights weights, std::vector<int> ple_source_layers, int ple_table_layers)
      : Transformer(std::move(plan), std::move(weights)),
        ple_source_layers_(std::move(ple_source_layers)),
        ple_table_layers_(ple_table_layers) {
    const int streams = plan_.altup_streams;
    GLINT_CHECK(streams >= 2, "gemma3n: AltUp needs at least 2 streams, the plan has ", streams);
    GLINT_CHECK(ple_source_layers_.size() == plan_.layers.size(), "gemma3n: ", ple_source_layers_.size(),
                " per-layer input sources for ", plan_.layers.size(), " layers");
    for (int s = 1; s < streams; ++s) {
      projections_.push_back(extra_tensor(weights_.extra, kAltupProjection + std::to_string(s - 1)));
      unembed_projections_.push_back(extra_tensor(weights_.extra, kAltupUnembedProjection + std::to_string(s - 1)));
    }
    for (const auto& lw : weights_.layers) {
      AltupLayer a;
      a.router_norm = extra_tensor(lw.extra, "altup.router_norm.weight");
      a.modality_router = extra_tensor(lw.extra, "altup.modality_router.weight");
      a.prediction_coefs = extra_tensor(lw.extra, "altup.prediction_coefs.weight");
      a.correction_coefs = extra_tensor(lw.extra, "altup.correction_coefs.weight");
      if (plan_.altup_correct_scale) a.correct_output_scale = extra_tensor(lw.extra, "altup.correct_output_scale");
      a.laurel_left = extra_tensor(lw.extra, "laurel.linear_left.weight");
      a.laurel_right = extra_tensor(lw.extra, "laurel.linear_right.weight");
      a.laurel_norm = extra_tensor(lw.extra, "laurel.post_laurel_norm.weight");
      altup_.push_back(std::move(a));
    }
    // Constants the reference keeps as buffers in the model dtype (bf16 checkpoints round them).
    const DType dtype = weights_.embed.dtype();
    router_input_scale_ = round_to_dtype(1.0f / float(plan_.hidden), dtype);
    ple_token_scale_ = round_to_dtype(std::sqrt(float(plan_.per_layer_input_width)), weights_.ple_embed.dtype());
    ple_projection_scale_ = round_to_dtype(float(1.0 / std::sqrt(double(plan_.hidden))), dtype);
    ple_mix_scale_ = round_to_dtype(float(1.0 / std::sqrt(2.0)), dtype);
  }

 protected:
  void embed(Pass& pass, Tensor& h) override {
    for (int32_t id : pass.tokens)
      GLINT_CHECK(id >= 0 && id < plan_.per_layer_input_vocab, "gemma3n: token id ", id,
                  " is outside the per-layer embedding vocabulary (", plan_.per_layer_input_vocab,
                  "); ids from 262144 up are vision/audio tokens, which glint's text decoder does not embed");
    ops::embedding_lookup(weights_.embed, pass.tokens, plan_.embed_scale, h.f32());
    per_layer_inputs(pass, h);

    const int64_t n = pass.count(), hidden = plan_.hidden;
    streams_ = Tensor::empty({int64_t(plan_.altup_streams) * n, hidden});
    std::memcpy(stream(0, n), h.f32(), size_t(n * hidden) * sizeof(float));
    for (int s = 1; s < plan_.altup_streams; ++s) {
      Tensor out = streams_.slice_rows(s * n, (s + 1) * n);
      ops::matmul(h, projections_[size_t(s - 1)], out);
      match_magnitude(h.f32(), out.f32(), n, hidden);
    }
  }

  void run_layers(Pass& pass, Tensor& h) override {
    for (int i = 0; i < int(plan_.layers.size()); ++i) layer(i, pass);
  }

  // Unembeds streams 1.. back to the magnitude of stream 0 and averages all streams into h.
  void finish_layers(Pass& pass, Tensor& h) override {
    const int64_t n = pass.count(), hidden = plan_.hidden, streams = plan_.altup_streams;
    float* out = h.f32();
    std::memcpy(out, stream(0, n), size_t(n * hidden) * sizeof(float));
    Tensor unembedded = Tensor::empty({n, hidden});
    for (int s = 1; s < streams; ++s) {
      ops::matmul(streams_.slice_rows(s * n, (s + 1) * n), unembed_projections_[size_t(s - 1)], unembedded);
      match_magnitude(stream(0, n), unembedded.f32(), n, hidden);
      vec::add(out, unembedded.f32(), out, n * hidden);
    }
    vec::scale(out, 1.0f / float(streams), n * hidden);
    streams_ = Tensor();
  }

 private:
  float* stream(int s, int64_t n) const { return streams_.f32() + int64_t(s) * n * plan_.hidden; }

  // per_layer_inputs_ [N, layers, P] = (norm(proj(e) · H^−½) + PLE table row · √P) · 2^−½, taking each
  // layer's P columns of the table from its source block.
  void per_layer_inputs(Pass& pass, const Tensor& h) {
    const int64_t n = pass.count(), layers = int64_t(plan_.layers.size()), width = plan_.per_layer_input_width;
    Tensor token_part = Tensor::empty({n, int64_t(ple_table_layers_) * width});
    ops::embedding_lookup(weights_.ple_embed, pass.tokens, ple_token_scale_, token_part.f32());
    Tensor projected = Tensor::empty({n, layers * width});
    ops::matmul(h, weights_.ple_model_projection, projected);
    float* p = projected.f32();
    vec::scale(p, ple_projection_scale_, projected.numel());
    ops::rms_norm_rows(p, n * layers, width, weights_.ple_projection_norm.f32(), NormKind::Rms, plan_.rms_eps, p);
    const float* tok = token_part.f32();
    for (int64_t t = 0; t < n; ++t)
      for (int64_t k = 0; k < layers; ++k) {
        float* dst = p + (t * layers + k) * width;
        const float* src = tok + (t * ple_table_layers_ + ple_source_layers_[size_t(k)]) * width;
        for (int64_t j = 0; j < width; ++j) dst[j] = (dst[j] + src[j]) * ple_mix_scale_;
      }
    per_layer_inputs_ = projected.reshape({n, layers, width});
  }

  // tanh(router(router_norm(x) / H)) → [N, A]
  Tensor modalities(const AltupLayer& a, const Tensor& x) const {
    const int64_t n = x.rows();
    Tensor normed = Tensor::empty({n, int64_t(plan_.hidden)});
    norm(x, a.router_norm, NormKind::Rms, normed);
    vec::scale(normed.f32(), router_input_scale_, normed.numel());
    Tensor out = Tensor::empty({n, int64_t(plan_.altup_streams)});
    ops::matmul(normed, a.modality_router, out);
    for (int64_t k = 0; k < out.numel(); ++k) out.f32()[k] = std::tanh(out.f32()[k]);
    return out;
  }

  void layer(int i, Pass& pass) {
    const LayerPlan& lp = plan_.layers[size_t(i)];
    const LayerWeights& w = weights_.layers[size_t(i)];
    const AltupLayer& a = altup_[size_t(i)];
    const int64_t n = pass.count(), hidden = plan_.hidden, streams = plan_.altup_streams;
    const int64_t stream_elems = n * hidden;

    // AltUp predict: pred[b] = streams[b] + Σ_a C[b][a] · streams[a], C[b][a] = coefs[A·b + a].
    Tensor active_in = streams_.slice_rows(0, n);
    Tensor mod = modalities(a, active_in);
    Tensor coefs = Tensor::empty({n, streams * streams});
    ops::matmul(mod, a.prediction_coefs, coefs);
    Tensor pred = streams_.clone();
    for (int64_t t = 0; t < n; ++t) {
      const float* c = coefs.f32() + t * streams * streams;
      for (int64_t b = 0; b < streams; ++b)
        for (int64_t s = 0; s < streams; ++s)
          vec::axpy(c[b * streams + s], stream(int(s), n) + t * hidden, pred.f32() + b * stream_elems + t * hidden,
                    hidden);
    }
    Tensor active = pred.slice_rows(0, n);

    // Attention and LAuReL on the active prediction.
    Tensor x = Tensor::empty({n, hidden});
    norm(active, w.input_norm, lp.norm, x);
    Tensor low_rank = Tensor::empty({n, int64_t(plan_.laurel_rank)});
    ops::matmul(x, a.laurel_left, low_rank);
    Tensor laurel = Tensor::empty({n, hidden});
    ops::matmul(low_rank, a.laurel_right, laurel);
    norm(laurel, a.laurel_norm, lp.norm, laurel);
    vec::add(laurel.f32(), x.f32(), laurel.f32(), stream_elems);

    Tensor block = Tensor::empty({n, hidden});
    attention_block(i, pass, x, block);
    norm(block, w.post_attention_norm, lp.norm, block);
    Tensor out = Tensor::empty({n, hidden});
    float* o = out.f32();
    const float* act = active.f32();
    // (active + attention + LAuReL) / √2; the reference divides by the unrounded constant.
    for (int64_t k = 0; k < stream_elems; ++k) o[k] = (act[k] + block.f32()[k] + laurel.f32()[k]) / float(M_SQRT2);

    norm(out, w.pre_ffn_norm, lp.norm, x);
    feed_forward_block(i, x, out, block);
    norm(block, w.post_ffn_norm, lp.norm, block);
    vec::add(o, block.f32(), o, stream_elems);

    // AltUp correct: streams[b] = pred[b] + (out − pred[0]) · (correction(mod') + 1)[b].
    Tensor mod2 = modalities(a, out);
    Tensor correction = Tensor::empty({n, streams});
    ops::matmul(mod2, a.correction_coefs, correction);
    Tensor innovation = Tensor::empty({n, hidden});
    float* inn = innovation.f32();
    for (int64_t k = 0; k < stream_elems; ++k) inn[k] = o[k] - act[k];
    for (int64_t b = 0; b < streams; ++b)
      for (int64_t t = 0; t < n; ++t) {
        float* dst = stream(int(b), n) + t * hidden;
        std::memcpy(dst, pred.f32() + b * stream_elems + t * hidden, size_t(hidden) * sizeof(float));
        vec::axpy(correction.f32()[t * streams + b] + 1.0f, inn + t * hidden, dst, hidden);
      }

    // Per-layer input, gated by the corrected active stream, added to every other stream.
    if (lp.per_layer_input) {
      const int64_t width = plan_.per_layer_input_width, layers = int64_t(plan_.layers.size());
      Tensor g = streams_.slice_rows(0, n).clone();
      if (plan_.altup_correct_scale)
        for (int64_t t = 0; t < n; ++t) vec::mul(g.f32() + t * hidden, a.correct_output_scale.f32(),
                                                 g.f32() + t * hidden, hidden);
      Tensor gate = Tensor::empty({n, width});
      ops::matmul(g, w.ple_gate, gate);
      float* gp = gate.f32();
      const float* ple = per_layer_inputs_.f32();
      for (int64_t t = 0; t < n; ++t)
        for (int64_t j = 0; j < width; ++j)
          gp[t * width + j] = ops::gelu_tanh(gp[t * width + j]) * ple[(t * layers + i) * width + j];
      ops::matmul(gate, w.ple_projection, block);
      norm(block, w.ple_post_norm, lp.norm, block);
      for (int64_t s = 1; s < streams; ++s) vec::add(stream(int(s), n), block.f32(), stream(int(s), n), stream_elems);
    }
  }

  std::vector<int> ple_source_layers_;
  int ple_table_layers_;
  std::vector<Tensor> projections_, unembed_projections_;
  std::vector<AltupLayer> altup_;
  float router_input_scale_ = 1, ple_token_scale_ = 1, ple_projection_scale_ = 1, ple_mix_scale_ = 1;
  Tensor streams_;  // [A·N, H] during a pass: stream s is rows [s·N, (s+1)·N)
};

}  // namespace

std::unique_ptr<Transformer> make_gemma3n_decoder(ModelPlan plan, ModelWeights weights,
                                                  std::vector<int> ple_source_layers, int ple_table_layers) {
  return std::make_unique<Gemma3nDecoder>(std::move(plan), std::move(weights), std::move(ple_source_layers),
                                          ple_table_layers);
}

}  // namespace glint
