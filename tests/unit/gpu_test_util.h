// Shared by the GPU tests: they skip, visibly, where no CUDA device is present (CI).
#pragma once
#include <gtest/gtest.h>

#include "core/device.h"

#define GLINT_REQUIRE_GPU()                                         \
  do {                                                              \
    if (::glint::cuda_device_count() == 0) GTEST_SKIP() << "skipped: no GPU"; \
  } while (0)
