// --device parsing and the errors for a device this build or machine cannot use.
#include <gtest/gtest.h>

#include <string>

#include "core/device.h"
#include "core/error.h"

namespace glint {
namespace {

TEST(Device, ParsesCpuCudaAndOrdinals) {
  EXPECT_EQ(parse_device("cpu").type, Device::CPU);
  EXPECT_EQ(parse_device("cuda").type, Device::CUDA);
  EXPECT_EQ(parse_device("cuda").index, 0);
  EXPECT_EQ(parse_device("cuda:3").index, 3);
  EXPECT_EQ(parse_device("cuda:3").to_string(), "cuda:3");
  EXPECT_EQ(parse_device("cpu").to_string(), "cpu");
}

TEST(Device, RejectsMalformedNamesWithTheText) {
  for (const char* bad : {"", "tpu", "cuda:", "cuda:-1", "cuda:1x", "CUDA", "cuda0"}) {
    try {
      parse_device(bad);
      FAIL() << "accepted '" << bad << "'";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("unknown device '" + std::string(bad) + "'"), std::string::npos)
          << e.what();
    }
  }
}

TEST(Device, CpuIsAlwaysAvailableAndMissingGpusAreNamed) {
  EXPECT_NO_THROW(require_device(parse_device("cpu")));
  const int count = cuda_device_count();
  try {
    require_device(DeviceSpec{Device::CUDA, count});  // one past the last GPU (cuda:0 on a machine with none)
    FAIL() << "cuda:" << count << " accepted";
  } catch (const Error& e) {
    const std::string message = e.what();
    const bool named = message.find("built without CUDA") != std::string::npos ||
                       message.find("no CUDA GPU is available") != std::string::npos ||
                       message.find("only " + std::to_string(count) + " CUDA device") != std::string::npos;
    EXPECT_TRUE(named) << message;
  }
}

}  // namespace
}  // namespace glint
