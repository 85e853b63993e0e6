// Makes a device current for a scope and restores the previous one, so a kernel for cuda:1
// launched from a thread working on cuda:0 neither runs on the wrong device nor leaks the switch.
#pragma once

#include <cuda_runtime_api.h>

#include "cuda/check.h"

namespace lnx::cuda {

class DeviceGuard {
 public:
  explicit DeviceGuard(int device) {
    LNX_CUDA_CHECK(cudaGetDevice(&previous_), "DeviceGuard");
    if (previous_ != device) LNX_CUDA_CHECK(cudaSetDevice(device), "DeviceGuard");
  }
  ~DeviceGuard() {
    int now = previous_;
    if (cudaGetDevice(&now) == cudaSuccess && now != previous_) (void)cudaSetDevice(previous_);
  }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = 0;
};

}  // namespace lnx::cuda
