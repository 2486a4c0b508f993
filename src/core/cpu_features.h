// Which SIMD instruction sets this CPU (and OS) can run, and which one the kernels should use.
#pragma once
#include <string>

namespace glint {

// Kernel families, ordered: a CPU that runs one runs every lower one.
enum class Isa : int {
  Portable = 0,  // plain C++ for the baseline x86-64
  Avx2 = 1,      // AVX2 + FMA + F16C (256-bit)
  Avx512 = 2,    // AVX-512 F/BW/VL/DQ (512-bit)
};

const char* isa_name(Isa isa);

struct CpuFeatures {
  bool avx2 = false;         // AVX2 + FMA + F16C, with the OS saving YMM state
  bool avx512 = false;       // AVX-512 F/BW/VL/DQ, with the OS saving ZMM state
  bool avx512_bf16 = false;  // VDPBF16PS (only used when GLINT_BF16_DOT=1)
  std::string model_name;    // CPUID brand string
};

// What the hardware offers, detected once.
const CpuFeatures& cpu_features();

// Best family the hardware runs.
Isa detected_isa();

// Family the kernels use: detected_isa(), lowered by GLINT_ISA=avx512|avx2|portable (read once; asking for more
// than the CPU has is an error naming both), or by set_active_isa (tests force each path in turn).
Isa active_isa();

// Forces a family for this process; throws glint::Error when the CPU cannot run it.
void set_active_isa(Isa isa);

// Parses "avx512" / "avx2" / "portable"; throws glint::Error naming the accepted spellings.
Isa parse_isa(const std::string& name);

// True when GLINT_BF16_DOT=1 (or set_bf16_dot), the CPU has AVX512_BF16 and the AVX-512 kernels are active:
// prefill matmuls with BF16 weights then round activations to bf16 and use VDPBF16PS (about twice as fast, but no
// longer within float32 rounding of the reference).
bool bf16_dot_enabled();
// Overrides GLINT_BF16_DOT for this process (tests); still requires the CPU feature.
void set_bf16_dot(bool enabled);

}  // namespace glint
