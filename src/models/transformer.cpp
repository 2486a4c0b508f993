#include "models/transformer.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>

#include "core/thread_pool.h"
#include "models/blocks.h"
#include "ops/embedding.h"
#include "ops/matmul.h"

namespace glint {

Transformer::Transformer(ModelPlan plan, ModelWeights weights)
    : plan_(std::move(plan)), weights_(std::move(weights)) {}

#ifndef GLINT_HAVE_CUDA
std::unique_ptr<DeviceRunner> make_cuda_runner(const Transformer&, int, const DevicePlacement&) {
  fail("this glint was built without CUDA");
}
#endif

void Transformer::norm(const Tensor& x, const Tensor& weight, NormKind kind, Tensor& out) const {
  ops::rms_norm(x, weight, kind, plan_.rms_eps, out);
}

KVCache Transformer::new_cache(int64_t chunk_tokens) const {
  if (runner_) return KVCache(chunk_tokens, runner_->new_slot(chunk_tokens));
  return KVCache(plan_, chunk_tokens);
}

void Transformer::place_on(const DeviceSpec& device, const DevicePlacement& placement) {
  require_device(device);
  // Back on the CPU first: frees the previous device copy, and is where the model stays if the new runner fails.
  runner_.reset();
  device_ = DeviceSpec{};
  if (device.type == Device::CUDA) runner_ = make_cuda_runner(*this, device.index, placement);
  device_ = device;
}

Tensor Transformer::forward(std::span<ForwardRequest> requests) { return run_requests(requests, {}, nullptr); }

std::vector<int32_t> Transformer::forward_and_sample(std::span<ForwardRequest> requests,
                                                     std::span<const SampleRequest> samples) {
  GLINT_CHECK(samples.size() == requests.size(), "forward_and_sample: ", samples.size(), " samplers for ",
              requests.size(), " requests");
  for (size_t r = 0; r < requests.size(); ++r) {
    GLINT_CHECK(!requests[r].all_logits && !requests[r].tokens.empty(),
                "forward_and_sample: request ", r, " must bring tokens and want only its next token");
    GLINT_CHECK(samples[r].sampler, "forward_and_sample: request ", r, " has no sampler");
  }
  std::vector<int32_t> ids(requests.size(), -1);
  if (runner_) {
    run_requests(requests, samples, &ids);
    return ids;
  }
  Tensor logits = forward(requests);
  const size_t vocab = size_t(plan_.vocab);
  for (size_t r = 0; r < requests.size(); ++r)
    ids[r] = samples[r].sampler->sample(std::span<const float>(logits.f32() + r * vocab, vocab), samples[r].context);
  return ids;
}

Tensor Transformer::run_requests(std::span<ForwardRequest> requests, std::span<const SampleRequest> samples,
                                 std::vector<int32_t>* ids) {
  std::vector<size_t> consumed(requests.size(), 0);
  std::vector<std::vector<float>> per_request;
  per_request.resize(requests.size());
  const int64_t vocab = plan_.vocab;
  for (;;) {
    Pass pass;
    std::vector<size_t> owners;
    for (size_t r = 0; r < requests.size(); ++r) {
      auto& req = requests[r];
      GLINT_CHECK(req.cache, "forward: request ", r, " has no KV cache");
      GLINT_CHECK(bool(req.cache->device_slot()) == bool(runner_), "forward: request ", r, "'s KV cache is on the ",
                  req.cache->device_slot() ? "GPU" : "CPU", " but the model runs on ", device_.to_string(),
                  " (make caches with the model's new_cache after place_on)");
      const size_t remaining = req.tokens.size() - consumed[r];
      if (remaining == 0) continue;
      const size_t take = std::min<size_t>(remaining, size_t(req.cache->chunk_tokens()));
      pass.begin.push_back(pass.count());
      for (size_t i = 0; i < take; ++i) {
        pass.tokens.push_back(req.tokens[consumed[r] + i]);
        pass.positions.push_back(req.cache->length() + int64_t(i));
      }
      pass.end.push_back(pass.count());
      pass.caches.push_back(req.cache);
      owners.push_back(r);
      consumed[r] += take;
    }
    if (pass.tokens.empty()) break;
    // Rows whose logits are wanted: every token of all_logits requests, else the final token.
    std::vector<int64_t> rows;
    std::vector<size_t> row_owner;
    for (size_t i = 0; i < owners.size(); ++i) {
      auto& req = requests[owners[i]];
      if (req.all_logits) {
        for (int64_t t = pass.begin[i]; t < pass.end[i]; ++t) rows.push_back(t);
      } else if (consumed[owners[i]] == req.tokens.size()) {
        rows.push_back(pass.end[i] - 1);
        row_owner.push_back(owners[i]);
      }
    }
    if (ids) {
      std::vector<SampleRequest> chosen;
      for (size_t owner : row_owner) chosen.push_back(samples[owner]);
      if (rows.empty()) {
        run_pass(pass, rows, false);
        continue;
      }
      const std::vector<int32_t> picked = runner_->run_pass_sampled(pass, rows, chosen);
      for (size_t i = 0; i < picked.size(); ++i) (*ids)[row_owner[i]] = picked[i];
      advance_caches(pass);
      continue;
    }
    Tensor logits = run_pass(pass, rows, false);
    // Distribute rows back to their requests in order.
    size_t row = 0;
    for (size_t i = 0; i < owners.size(); ++i) {
      auto& req = requests[owners[i]];
      int64_t n = req.all_logits ? pass.end[i] - pass.begin[i]
                                 : (consumed[owners[i]] == req.tokens.size() ? 1 : 0);
      auto& dst = per_request[owners[i]];
      const float* src = logits.defined() ? logits.f32() + int64_t(row) * vocab : nullptr;
      dst.insert(dst.end(), src, src + n * vocab);
      row += size_t(n);
    }
  }
  if (ids) return {};
  int64_t total_rows = 0;
  for (auto& v : per_request) total_rows += int64_t(v.size()) / vocab;
  Tensor out = Tensor::empty({total_rows, vocab});
  float* o = out.f32();
  for (auto& v : per_request) {
    std::memcpy(o, v.data(), v.size() * sizeof(float));
    o += v.size();
  }
  return out;
}

Tensor Transformer::last_hidden(std::span<ForwardRequest> requests) {
  std::vector<float> result;
  for (auto& req : requests) {
    GLINT_CHECK(req.cache && !req.tokens.empty(), "last_hidden: empty request");
    size_t done = 0;
    Tensor hidden;
    while (done < req.tokens.size()) {
      const size_t take = std::min<size_t>(req.tokens.size() - done, size_t(req.cache->chunk_tokens()));
      Pass pass;
      pass.begin = {0};
      for (size_t i = 0; i < take; ++i) {
        pass.tokens.push_back(req.tokens[done + i]);
        pass.positions.push_back(req.cache->length() + int64_t(i));
      }
      pass.end = {pass.count()};
      pass.caches = {req.cache};
      std::vector<int64_t> rows = {pass.count() - 1};
      done += take;
      hidden = run_pass(pass, rows, true);
    }
    result.insert(result.end(), hidden.f32(), hidden.f32() + plan_.hidden);
  }
  Tensor out = Tensor::empty({int64_t(requests.size()), plan_.hidden});
  std::memcpy(out.f32(), result.data(), result.size() * sizeof(float));
  return out;
}

std::vector<float> Transformer::classify(std::span<const int32_t> tokens, int32_t pad_id) {
  GLINT_CHECK(plan_.num_labels > 0 && weights_.score.defined(), "this model has no classification head");
  int64_t last = -1;
  for (size_t i = 0; i < tokens.size(); ++i)
    if (tokens[i] != pad_id) last = int64_t(i);
  GLINT_CHECK(last >= 0, "classify: the input holds only padding");
  KVCache cache = new_cache();
  ForwardRequest req{tokens.subspan(0, size_t(last + 1)), &cache, false};
  Tensor hidden = last_hidden(std::span(&req, 1));
  Tensor scores = Tensor::empty({1, plan_.num_labels});
  ops::matmul(hidden, weights_.score, scores);
  return {scores.f32(), scores.f32() + plan_.num_labels};
}

void Transformer::advance_caches(const Pass& pass) {
  for (size_t s = 0; s < pass.caches.size(); ++s) pass.caches[s]->advance(pass.end[s] - pass.begin[s]);
}

Tensor Transformer::run_pass(Pass& pass, std::vector<int64_t>& rows, bool hidden_only) {
  if (runner_) {
    Tensor result = runner_->run_pass(pass, rows, hidden_only);
    advance_caches(pass);
    return result;
  }
  const int64_t n = pass.count();
  Tensor h = Tensor::empty({n, plan_.hidden});
  embed(pass, h);
  run_layers(pass, h);
  finish_layers(pass, h);
  advance_caches(pass);
  if (rows.empty()) return {};
  Tensor selected = Tensor::empty({int64_t(rows.size()), plan_.hidden});
  for (size_t i = 0; i < rows.size(); ++i)
    std::memcpy(selected.f32() + int64_t(i) * plan_.hidden, h.f32() + rows[i] * plan_.hidden,
                size_t(plan_.hidden) * sizeof(float));
  norm(selected, weights_.final_norm, plan_.final_norm, selected);
  if (hidden_only) return selected;
  Tensor logits = Tensor::empty({int64_t(rows.size()), plan_.vocab});
  ops::matmul(selected, weights_.lm_head, logits);
  if (plan_.final_softcap > 0) ops::softcap(logits.f32(), logits.numel(), plan_.final_softcap);
  return logits;
}

void Transformer::embed(Pass& pass, Tensor& h) {
  ops::embedding_lookup(weights_.embed, pass.tokens, plan_.embed_scale, h.f32());
  if (plan_.per_layer_input_width > 0) compute_per_layer_inputs(pass, h);
}

void Transformer::compute_per_layer_inputs(Pass& pass, const Tensor& h) {
  const int64_t n = pass.count(), layers = int64_t(plan_.layers.size()), width = plan_.per_layer_input_width;
  const float token_scale = round_to_dtype(std::sqrt(float(width)), weights_.ple_embed.dtype());
  Tensor token_part = Tensor::empty({n, layers * width});
  ops::embedding_lookup(weights_.ple_embed, pass.tokens, token_scale, token_part.f32());
  Tensor projected = Tensor::empty({n, layers * width});
  ops::matmul(h, weights_.ple_model_projection, projected);
  const float projection_scale = float(1.0 / std::sqrt(double(plan_.hidden)));
  float* p = projected.f32();
  for (int64_t i = 0; i < projected.numel(); ++i) p[i] *= projection_scale;
  ops::rms_norm_rows(p, n * layers, width, weights_.ple_projection_norm.f32(), NormKind::Rms, plan_.rms_eps, p);
  const float mix = float(1.0 / std::sqrt(2.0));
  const float* tok = token_part.f32();
  for (int64_t i = 0; i < projected.numel(); ++i) p[i] = (p[i] + tok[i]) * mix;
  per_layer_inputs_ = projected.reshape({n, layers, width});
}

void Transformer::run_layers(Pass& pass, Tensor& h) {
  for (int i = 0; i < int(plan_.layers.size()); ++i) standard_layer(i, pass, h);
}

void Transformer::standard_layer(int i, Pass& pass, Tensor& h) {
  const LayerPlan& lp = plan_.layers[size_t(i)];
  const LayerWeights& w = weights_.layers[size_t(i)];
  const int64_t n = pass.count(), hidden = plan_.hidden;
  Tensor x = Tensor::empty({n, hidden});
  Tensor block = Tensor::empty({n, hidden});
  norm(h, w.input_norm, lp.norm, x);
  attention_block(i, pass, x, block);
  if (lp.sandwich_norms) norm(block, w.post_attention_norm, lp.norm, block);
  float* hp = h.f32();
  const float* bp = block.f32();
  for (int64_t k = 0; k < n * hidden; ++k) hp[k] += bp[k];

  norm(h, w.pre_ffn_norm, lp.norm, x);
  feed_forward_block(i, x, h, block);
  if (lp.sandwich_norms) norm(block, w.post_ffn_norm, lp.norm, block);
  for (int64_t k = 0; k < n * hidden; ++k) hp[k] += bp[k];

  if (lp.per_layer_input) {
    const int64_t width = plan_.per_layer_input_width, layers = int64_t(plan_.layers.size());
    Tensor gate = Tensor::empty({n, width});
    ops::matmul(h, w.ple_gate, gate);
    float* g = gate.f32();
    const float* ple = per_layer_inputs_.f32();
    for (int64_t t = 0; t < n; ++t)
      for (int64_t j = 0; j < width; ++j)
        g[t * width + j] = ops::gelu_tanh(g[t * width + j]) * ple[(t * layers + i) * width + j];
    ops::matmul(gate, w.ple_projection, block);
    norm(block, w.ple_post_norm, lp.norm, block);
    for (int64_t k = 0; k < n * hidden; ++k) hp[k] += bp[k];
  }
  if (lp.layer_scalar) {
    const float s = w.layer_scalar.f32()[0];
    for (int64_t k = 0; k < n * hidden; ++k) hp[k] *= s;
  }
}

void Transformer::attention_block(int i, Pass& pass, const Tensor& x, Tensor& out) {
  const AttentionPlan& a = plan_.layers[size_t(i)].attention;
  const AttentionWeights& w = weights_.layers[size_t(i)].attention;
  const int64_t n = pass.count();
  const int64_t q_width = int64_t(a.n_heads) * a.head_dim, kv_width = int64_t(a.n_kv_heads) * a.head_dim;
  const ops::RopeTable* rope = a.rope >= 0 ? &plan_.ropes[size_t(a.rope)] : nullptr;
  auto add_bias = [&](Tensor& t, const Tensor& bias) {
    if (!bias.defined()) return;
    float* p = t.f32();
    const float* b = bias.f32();
    for (int64_t r = 0; r < t.rows(); ++r)
      for (int64_t c = 0; c < t.cols(); ++c) p[r * t.cols() + c] += b[c];
  };

  Tensor q = Tensor::empty({n, a.n_heads, a.head_dim});
  Tensor q_rows = q.reshape({n, q_width});
  ops::matmul(x, w.q, q_rows);
  add_bias(q, w.q_bias);
  auto qk_norm = [&](Tensor& t, NormKind kind, const Tensor& weight) {
    if (kind == NormKind::None) return;
    ops::rms_norm_rows(t.f32(), t.numel() / a.head_dim, a.head_dim, weight.defined() ? weight.f32() : nullptr,
                       kind, plan_.rms_eps, t.f32());
  };
  if (!a.qk_norm_after_rope) qk_norm(q, a.q_norm, w.q_norm);
  if (rope) ops::apply_rope(q, *rope, pass.positions.data());
  if (a.qk_norm_after_rope) qk_norm(q, a.q_norm, w.q_norm);
  if (a.temperature_tuning) {
    float* qp = q.f32();
    for (int64_t t = 0; t < n; ++t) {
      const float scale =
          std::log(std::floor(float(pass.positions[size_t(t)] + 1) / a.temperature_floor_scale) + 1.0f) *
              a.temperature_attn_scale + 1.0f;
      for (int64_t j = 0; j < q_width; ++j) qp[t * q_width + j] *= scale;
    }
  }

  const bool owner = a.kv_owner == i;
  Tensor k, v;
  if (owner) {
    k = Tensor::empty({n, a.n_kv_heads, a.head_dim});
    Tensor k_rows = k.reshape({n, kv_width});
    ops::matmul(x, w.k, k_rows);
    add_bias(k, w.k_bias);
    if (a.k_eq_v) {
      v = k.clone();
    } else {
      v = Tensor::empty({n, a.n_kv_heads, a.head_dim});
      Tensor v_rows = v.reshape({n, kv_width});
      ops::matmul(x, w.v, v_rows);
      add_bias(v, w.v_bias);
    }
    if (!a.qk_norm_after_rope) qk_norm(k, a.k_norm, w.k_norm);
    if (rope) ops::apply_rope(k, *rope, pass.positions.data());
    if (a.qk_norm_after_rope) qk_norm(k, a.k_norm, w.k_norm);
    if (a.v_norm) qk_norm(v, NormKind::RmsNoWeight, Tensor());
  }

  Tensor attended = Tensor::empty({n, a.n_heads, a.head_dim});
  ops::AttentionParams params{a.n_heads, a.n_kv_heads, a.head_dim, a.scale, a.softcap, a.mask, a.window};
  for (size_t s = 0; s < pass.caches.size(); ++s) {
    const int64_t b = pass.begin[s], t = pass.end[s] - b;
    if (owner)
      pass.caches[s]->layer(i)->append(k.f32() + b * kv_width, v.f32() + b * kv_width,
                                       pass.positions.data() + b, t);
    LayerKVCache* cache = pass.caches[s]->layer(a.kv_owner);
    GLINT_CHECK(cache, "layer ", i, " reads the KV cache of layer ", a.kv_owner, ", which owns none");
    ops::attention(q.f32() + b * q_width, pass.positions.data() + b, t, cache->view(), params,
                   attended.f32() + b * q_width);
  }
  ops::matmul(attended.reshape({n, q_width}), w.o, out);
  add_bias(out, w.o_bias);
}

void Transformer::feed_forward_block(int i, const Tensor& x, const Tensor& residual, Tensor& out) {
  const LayerPlan& lp = plan_.layers[size_t(i)];
  const LayerWeights& w = weights_.layers[size_t(i)];
  if (!lp.ffn.moe) {
    gated_mlp(w.mlp, lp.ffn, lp.ffn.intermediate, x, out);
    return;
  }
  moe_feed_forward(plan_, i, weights_.layers[size_t(i)], x, residual, out);
}

void Transformer::for_each_weight(const std::function<void(const Tensor&)>& visit) const {
  auto add = [&](const Tensor& t) {
    if (t.defined()) visit(t);
  };
  for (const Tensor* t : {&weights_.embed, &weights_.final_norm, &weights_.ple_embed, &weights_.ple_model_projection,
                          &weights_.ple_projection_norm, &weights_.score})
    add(*t);
  if (!plan_.tied_embeddings) add(weights_.lm_head);
  for (auto& [_, t] : weights_.extra) add(t);
  for (const auto& l : weights_.layers) {
    for (const Tensor* t : {&l.input_norm, &l.post_attention_norm, &l.pre_ffn_norm, &l.post_ffn_norm, &l.attention.q,
                            &l.attention.k, &l.attention.v, &l.attention.o, &l.attention.q_norm, &l.attention.k_norm,
                            &l.mlp.gate, &l.mlp.up, &l.mlp.down, &l.moe.router, &l.moe.gate_up, &l.moe.down,
                            &l.moe.shared.gate, &l.moe.shared.up, &l.moe.shared.down, &l.ple_gate, &l.ple_projection,
                            &l.ple_post_norm, &l.layer_scalar})
      add(*t);
    for (auto& [_, t] : l.extra) add(t);
  }
}

size_t Transformer::weight_bytes() const {
  size_t total = 0;
  for_each_weight([&](const Tensor& t) { total += t.nbytes(); });
  return total;
}

int64_t Transformer::parameter_count() const {
  int64_t total = 0;
  for_each_weight([&](const Tensor& t) { total += t.numel(); });
  return total;
}

size_t Transformer::active_weight_bytes_per_token() const {
  // Everything a decode step reads: all dense matrices, the LM head, one embedding row per table,
  // and for MoE layers only top_k experts.
  size_t total = weights_.lm_head.nbytes();
  auto add = [&](const Tensor& t) { total += t.defined() ? t.nbytes() : 0; };
  for (size_t i = 0; i < weights_.layers.size(); ++i) {
    const auto& l = weights_.layers[i];
    for (const Tensor* t : {&l.attention.q, &l.attention.k, &l.attention.v, &l.attention.o, &l.mlp.gate, &l.mlp.up,
                            &l.mlp.down, &l.moe.router, &l.moe.shared.gate, &l.moe.shared.up, &l.moe.shared.down,
                            &l.ple_gate, &l.ple_projection})
      add(*t);
    for (auto& [_, t] : l.extra) add(t);
    if (const auto& moe = plan_.layers[i].ffn.moe) {
      if (l.moe.gate_up.defined())
        total += l.moe.gate_up.nbytes() / size_t(moe->num_experts) * size_t(moe->top_k);
      if (l.moe.down.defined()) total += l.moe.down.nbytes() / size_t(moe->num_experts) * size_t(moe->top_k);
    }
  }
  total += weights_.ple_model_projection.nbytes();
  // Model-level family tensors (Gemma 3n AltUp projections) run on every token.
  for (auto& [_, t] : weights_.extra) add(t);
  return total;
}

}  // namespace glint
