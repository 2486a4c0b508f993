#include "core/device.h"

#include <charconv>

#include "core/error.h"

namespace glint {

std::string DeviceSpec::to_string() const {
  return type == Device::CPU ? std::string("cpu") : "cuda:" + std::to_string(index);
}

DeviceSpec parse_device(std::string_view text) {
  DeviceSpec spec;
  if (text == "cpu") return spec;
  if (text == "cuda" || text == "gpu") {
    spec.type = Device::CUDA;
    return spec;
  }
  if (text.starts_with("cuda:")) {
    std::string_view number = text.substr(5);
    int index = -1;
    auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), index);
    if (ec == std::errc() && end == number.data() + number.size() && index >= 0) {
      spec.type = Device::CUDA;
      spec.index = index;
      return spec;
    }
  }
  fail("unknown device '", text, "': use cpu, cuda or cuda:N");
}

void require_device(const DeviceSpec& spec) {
  if (spec.type == Device::CPU) return;
  if (!cuda_built())
    fail("--device ", spec.to_string(), ": this glint was built without CUDA (nvcc was not found at build time)");
  const int count = cuda_device_count();
  if (count == 0) fail("--device ", spec.to_string(), ": no CUDA GPU is available on this machine");
  if (spec.index >= count)
    fail("--device ", spec.to_string(), ": only ", count, " CUDA device", count == 1 ? "" : "s", " (cuda:0..cuda:",
         count - 1, ")");
}

}  // namespace glint
