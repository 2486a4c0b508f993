#include "models/weights.h"

#include <algorithm>
#include <cmath>
#include <functional>

namespace glint {
namespace {

const char* kTextPrefixes[] = {"model.language_model.", "language_model.model.", "model.", "language_model.", ""};
const char* kNonTextPrefixes[] = {"model.vision_tower.", "vision_tower.", "model.multi_modal_projector.",
                                  "multi_modal_projector.", "model.audio_tower.", "audio_tower.",
                                  "model.embed_vision.", "embed_vision.", "model.embed_audio.", "embed_audio.",
                                  "vision_model.", "model.vision_model."};

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

}  // namespace

WeightLoader WeightLoader::synthetic(const Checkpoint& empty, DType dtype, uint64_t seed) {
  WeightLoader loader(empty, true);
  loader.synthetic_ = true;
  loader.synthetic_dtype_ = dtype;
  loader.synthetic_state_ = seed * 0x9E3779B97F4A7C15ull + 1;
  return loader;
}

WeightLoader::WeightLoader(const Checkpoint& checkpoint, bool) : checkpoint_(checkpoint) {}

Tensor WeightLoader::make_synthetic(const std::string& name, const std::vector<int64_t>& shape, bool as_f32) {
  GLINT_CHECK(!shape.empty(), "synthetic weights: tensor ", name, " was requested without a shape");
  Tensor t = Tensor::empty(shape, as_f32 ? DType::F32 : synthetic_dtype_);
  const int64_t n = t.numel();
  const int64_t fan_in = shape.back();
  // Vectors (norms, scales) near 1; matrices ~ N(0, 1/fan_in) from a uniform of the same variance.
  const float amplitude = shape.size() == 1 ? 0.1f : std::sqrt(3.0f / float(fan_in));
  const float offset = shape.size() == 1 ? 1.0f : 0.0f;
  uint64_t state = synthetic_state_ ^ std::hash<std::string>{}(name);
  auto next = [&state]() {  // xorshift64*: fast enough for billions of values
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return float((state * 0x2545F4914F6CDD1Dull) >> 40) / float(1 << 24) * 2.0f - 1.0f;
  };
  if (t.dtype() == DType::F32) {
    for (int64_t i = 0; i < n; ++i) t.f32()[i] = offset + amplitude * next();
  } else {
    auto* p = t.data<uint16_t>();
    for (int64_t i = 0; i < n; ++i) p[i] = f32_to_bf16(offset + amplitude * next());
  }
  return t;
}

WeightLoader::WeightLoader(const Checkpoint& checkpoint) : checkpoint_(checkpoint) {
  for (const char* p : kTextPrefixes) {
    if (checkpoint.has(std::string(p) + "embed_tokens.weight")) {
      prefix_ = p;
      return;
    }
  }
  fail("checkpoint ", checkpoint.dir(), " has no token embedding (looked for embed_tokens.weight under ",
       "model., model.language_model., language_model.model.)");
}

bool WeightLoader::has(const std::string& name) const { return !synthetic_ && checkpoint_.has(prefix_ + name); }

Tensor WeightLoader::fetch(const std::string& full_name, const std::vector<int64_t>& shape, bool as_f32) {
  if (synthetic_) return make_synthetic(full_name, shape, as_f32);
  if (!checkpoint_.has(full_name)) {
    problems_.push_back("missing tensor " + full_name + (shape.empty() ? "" : " " + shape_text(shape)));
    return {};
  }
  used_.insert(full_name);
  const TensorInfo& info = checkpoint_.info(full_name);
  if (!shape.empty() && info.shape != shape) {
    problems_.push_back("tensor " + full_name + " has shape " + shape_text(info.shape) + ", expected " +
                        shape_text(shape) + " (from config.json)");
    return {};
  }
  if (info.dtype != DType::F32 && info.dtype != DType::BF16 && info.dtype != DType::F16) {
    problems_.push_back("tensor " + full_name + " has dtype " + dtype_name(info.dtype) +
                        " (expected F32, BF16 or F16)");
    return {};
  }
  Tensor t = checkpoint_.get(full_name);
  if (as_f32 || t.dtype() == DType::F16) return t.to_f32();
  return t;
}

Tensor WeightLoader::matrix(const std::string& name, std::vector<int64_t> shape) {
  return fetch(prefix_ + name, shape, false);
}
Tensor WeightLoader::vector_f32(const std::string& name, std::vector<int64_t> shape) {
  return fetch(prefix_ + name, shape, true);
}
Tensor WeightLoader::optional_matrix(const std::string& name, std::vector<int64_t> shape) {
  return has(name) ? matrix(name, shape) : Tensor();
}
Tensor WeightLoader::optional_vector_f32(const std::string& name, std::vector<int64_t> shape) {
  return has(name) ? vector_f32(name, shape) : Tensor();
}

Tensor WeightLoader::lm_head(std::vector<int64_t> shape) {
  if (synthetic_) return make_synthetic("lm_head.weight", shape, false);
  for (const char* name : {"lm_head.weight", "language_model.lm_head.weight", "model.lm_head.weight"})
    if (checkpoint_.has(name)) return fetch(name, shape, false);
  problems_.push_back("missing tensor lm_head.weight " + shape_text(shape) +
                      " (tie_word_embeddings is false, so the LM head must be stored)");
  return {};
}

void WeightLoader::ignore(const std::string& name) {
  if (checkpoint_.has(prefix_ + name)) used_.insert(prefix_ + name);
}

void WeightLoader::finish() const {
  if (synthetic_) return;
  std::vector<std::string> unexpected;
  for (const auto& name : checkpoint_.names()) {
    if (used_.count(name)) continue;
    bool other_tower = std::any_of(std::begin(kNonTextPrefixes), std::end(kNonTextPrefixes),
                                   [&](const char* p) { return name.rfind(p, 0) == 0; });
    // A tied head may still be stored; it is the same matrix as the embedding.
    bool tied_head = name == "lm_head.weight" || name == "language_model.lm_head.weight";
    if (!other_tower && !tied_head) unexpected.push_back(name);
  }
  if (problems_.empty() && unexpected.empty()) return;
  std::string message = "checkpoint " + checkpoint_.dir() + " does not match its config.json:";
  size_t shown = 0;
  for (const auto& p : problems_)
    if (shown++ < 40) message += "\n  " + p;
  for (const auto& u : unexpected)
    if (shown++ < 40) message += "\n  unexpected tensor " + u;
  if (shown > 40) message += "\n  ... and " + std::to_string(shown - 40) + " more";
  fail(message);
}

}  // namespace glint
