#include "core/cpu_features.h"

#include <cpuid.h>

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "core/error.h"

namespace glint {
namespace {

uint64_t read_xcr0() {
  uint32_t eax, edx;
  // xgetbv via asm: the intrinsic would need -mxsave on this baseline file.
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (uint64_t(edx) << 32) | eax;
}

CpuFeatures detect() {
  CpuFeatures f;
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  const bool fma = c & bit_FMA, f16c = c & bit_F16C, osxsave = c & bit_OSXSAVE, avx = c & bit_AVX;
  // The OS must save the wider registers on context switch, or using them corrupts state.
  uint64_t xcr0 = osxsave ? read_xcr0() : 0;
  const bool os_ymm = (xcr0 & 0x6) == 0x6;            // SSE + AVX state
  const bool os_zmm = os_ymm && (xcr0 & 0xe0) == 0xe0;  // opmask + ZMM0-15 high + ZMM16-31
  unsigned a7 = 0, b7 = 0, c7 = 0, d7 = 0;
  unsigned a71 = 0, b71 = 0, c71 = 0, d71 = 0;
  if (__get_cpuid_max(0, nullptr) >= 7) {
    __cpuid_count(7, 0, a7, b7, c7, d7);
    __cpuid_count(7, 1, a71, b71, c71, d71);
  }
  const bool avx2 = b7 & bit_AVX2;
  f.avx2 = avx && avx2 && fma && f16c && os_ymm;
  const bool avx512 = (b7 & bit_AVX512F) && (b7 & bit_AVX512BW) && (b7 & bit_AVX512VL) && (b7 & bit_AVX512DQ);
  f.avx512 = f.avx2 && avx512 && os_zmm;
  f.avx512_bf16 = f.avx512 && (a71 & (1u << 5));  // CPUID.(7,1):EAX bit 5 = AVX512_BF16

  char brand[49] = {};
  if (__get_cpuid_max(0x80000000u, nullptr) >= 0x80000004u) {
    for (unsigned i = 0; i < 3; ++i) {
      unsigned r[4];
      __get_cpuid(0x80000002u + i, &r[0], &r[1], &r[2], &r[3]);
      std::memcpy(brand + 16 * i, r, 16);
    }
  }
  f.model_name = brand;
  while (!f.model_name.empty() && f.model_name.back() == ' ') f.model_name.pop_back();
  return f;
}

Isa isa_from_env() {
  Isa best = detected_isa();
  const char* env = std::getenv("GLINT_ISA");
  if (!env || !*env) return best;
  Isa wanted = parse_isa(env);
  GLINT_CHECK(int(wanted) <= int(best), "GLINT_ISA=", env, " asks for ", isa_name(wanted), " but this CPU runs at most ",
              isa_name(best));
  return wanted;
}

std::atomic<int>& forced_isa() {
  static std::atomic<int> value{-1};
  return value;
}

}  // namespace

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::Portable: return "portable";
    case Isa::Avx2: return "avx2";
    case Isa::Avx512: return "avx512";
  }
  return "?";
}

Isa parse_isa(const std::string& name) {
  if (name == "avx512") return Isa::Avx512;
  if (name == "avx2") return Isa::Avx2;
  if (name == "portable") return Isa::Portable;
  fail("unknown instruction set '", name, "' (GLINT_ISA accepts avx512, avx2, portable)");
}

const CpuFeatures& cpu_features() {
  static const CpuFeatures features = detect();
  return features;
}

Isa detected_isa() {
  const CpuFeatures& f = cpu_features();
  return f.avx512 ? Isa::Avx512 : f.avx2 ? Isa::Avx2 : Isa::Portable;
}

Isa active_isa() {
  int forced = forced_isa().load(std::memory_order_relaxed);
  if (forced >= 0) return Isa(forced);
  static const Isa from_env = isa_from_env();
  return from_env;
}

void set_active_isa(Isa isa) {
  GLINT_CHECK(int(isa) <= int(detected_isa()), "cannot use ", isa_name(isa), " kernels: this CPU runs at most ",
              isa_name(detected_isa()));
  forced_isa().store(int(isa), std::memory_order_relaxed);
}

namespace {
std::atomic<int>& forced_bf16_dot() {
  static std::atomic<int> value{-1};
  return value;
}
}  // namespace

bool bf16_dot_enabled() {
  static const bool from_env = [] {
    const char* env = std::getenv("GLINT_BF16_DOT");
    return env && std::strcmp(env, "1") == 0;
  }();
  const int forced = forced_bf16_dot().load(std::memory_order_relaxed);
  const bool wanted = forced >= 0 ? forced == 1 : from_env;
  return wanted && cpu_features().avx512_bf16 && active_isa() == Isa::Avx512;
}

void set_bf16_dot(bool enabled) { forced_bf16_dot().store(enabled ? 1 : 0, std::memory_order_relaxed); }

}  // namespace glint
