#include "core/op_checks.h"

namespace lnx::ops {

void check_defined(const Tensor& t, const char* op, const char* arg) {
  LNX_CHECK(t.defined(), op, ": argument '", arg, "' is an undefined tensor");
}

void check_float(const Tensor& t, const char* op, const char* arg) {
  check_defined(t, op, arg);
  LNX_CHECK(t.dtype() == DType::Float32, op, ": argument '", arg, "' has dtype ", t.dtype(),
            " (shape ", to_string(t.shape()), "), expected float32");
}

void check_same_device(const Tensor& a, const char* arg_a, const Tensor& b, const char* arg_b,
                       const char* op) {
  LNX_CHECK(a.device() == b.device(), op, ": arguments are on different devices ('", arg_a, "' on ",
            a.device().name(), " with shape ", to_string(a.shape()), ", '", arg_b, "' on ",
            b.device().name(), " with shape ", to_string(b.shape()), ")");
}

}  // namespace lnx::ops
