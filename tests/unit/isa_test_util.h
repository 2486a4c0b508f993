// Shared by the CPU kernel tests: every kernel family this CPU can run, forcing one for a scope, and the seed of
// the random inputs (fresh each run; GLINT_TEST_SEED replays a failure, the seed is printed with it).
#pragma once
#include <cstdint>
#include <cstdlib>
#include <random>
#include <vector>

#include "core/cpu_features.h"

namespace glint::test {

inline std::vector<Isa> runnable_isas() {
  std::vector<Isa> out;
  for (int i = 0; i <= int(detected_isa()); ++i) out.push_back(Isa(i));
  return out;
}

// Forces a kernel family for one scope, then restores the previous one.
class ForcedIsa {
 public:
  explicit ForcedIsa(Isa isa) : previous_(active_isa()) { set_active_isa(isa); }
  ~ForcedIsa() { set_active_isa(previous_); }
  ForcedIsa(const ForcedIsa&) = delete;
  ForcedIsa& operator=(const ForcedIsa&) = delete;

 private:
  Isa previous_;
};

inline uint64_t test_seed() {
  if (const char* env = std::getenv("GLINT_TEST_SEED")) return std::strtoull(env, nullptr, 10);
  return std::random_device{}();
}

}  // namespace glint::test
