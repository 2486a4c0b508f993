// Which device a model runs on ("cpu", "cuda", "cuda:N"), and whether this build and machine have CUDA.
// Plain C++: callers need no CUDA headers.
#pragma once
#include <string>
#include <string_view>

#include "core/tensor.h"

namespace glint {

struct DeviceSpec {
  Device type = Device::CPU;
  int index = 0;  // CUDA ordinal
  std::string to_string() const;
};

// Parses "cpu", "cuda" or "cuda:N"; throws glint::Error naming the bad text.
DeviceSpec parse_device(std::string_view text);

// Whether glint was built with the CUDA backend.
bool cuda_built();
// Number of usable CUDA devices (0 when the build, the driver or the hardware lacks them).
int cuda_device_count();
// Throws a clear error when `spec` names a CUDA device this build or machine cannot use.
void require_device(const DeviceSpec& spec);
// One line about a CUDA device (name, memory, SMs) for logs and benchmarks.
std::string cuda_device_description(int index);

}  // namespace glint
