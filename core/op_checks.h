// Argument checks shared by the tensor-level ops (core/ops*.cpp): each throws an lnx::Error
// naming the op, the argument, what it got and what was expected.
#pragma once

#include "core/tensor.h"

namespace lnx::ops {

void check_defined(const Tensor& t, const char* op, const char* arg);
void check_float(const Tensor& t, const char* op, const char* arg);  // defined and float32
void check_same_device(const Tensor& a, const char* arg_a, const Tensor& b, const char* arg_b,
                       const char* op);

}  // namespace lnx::ops
