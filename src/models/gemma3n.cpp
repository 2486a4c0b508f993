#include "models/families.h"

namespace glint {

std::unique_ptr<Transformer> build_gemma3n(const ModelConfig& c, WeightLoader&, const LoadOptions&) {
  fail(c.dir, ": model_type '", c.model_type, "' is recognised but its decoder is not built yet");
}

}  // namespace glint
