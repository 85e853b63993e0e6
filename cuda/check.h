// Error checks for CUDA runtime, cuBLAS and cuDNN calls. A failure becomes an lnx::Error that
// names the op being run, the call that failed and the library's own description, so a bad
// launch or an out-of-memory reads like any other lilnetx error.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>

namespace lnx::cuda {

// Each throws when the status is not success; `call` is the source text of the call.
void check(cudaError_t status, const char* call, const char* op);
void check(cublasStatus_t status, const char* call, const char* op);
void check(cudnnStatus_t status, const char* call, const char* op);

}  // namespace lnx::cuda

// LNX_CUDA_CHECK(cudaMemcpyAsync(...), "copy_to_host"): the call's text goes into the message.
#define LNX_CUDA_CHECK(expr, op) ::lnx::cuda::check((expr), #expr, (op))
