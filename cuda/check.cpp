#include "cuda/check.h"

#include "core/error.h"

namespace lnx::cuda {

void check(cudaError_t status, const char* call, const char* op) {
  if (status == cudaSuccess) return;
  // Clears the error so later, unrelated calls do not report it again (sticky errors such as a
  // device-side fault stay set whatever we do).
  (void)cudaGetLastError();
  fail(op, ": CUDA call ", call, " failed: ", cudaGetErrorString(status), " (",
       cudaGetErrorName(status), ")");
}

void check(cublasStatus_t status, const char* call, const char* op) {
  if (status == CUBLAS_STATUS_SUCCESS) return;
  fail(op, ": cuBLAS call ", call, " failed: ", cublasGetStatusName(status), ": ",
       cublasGetStatusString(status), " (status ", static_cast<int>(status), ")");
}

void check(cudnnStatus_t status, const char* call, const char* op) {
  if (status == CUDNN_STATUS_SUCCESS) return;
  fail(op, ": cuDNN call ", call, " failed: ", cudnnGetErrorString(status), " (status ",
       static_cast<int>(status), ")");
}

}  // namespace lnx::cuda
