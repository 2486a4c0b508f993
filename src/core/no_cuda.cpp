// Built only when nvcc was not found: the CUDA backend is absent and says so.
#include "core/device.h"

namespace glint {

bool cuda_built() { return false; }
int cuda_device_count() { return 0; }
std::string cuda_device_description(int) { return "no CUDA in this build"; }

}  // namespace glint
