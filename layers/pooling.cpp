#include "layers/pooling.h"

#include "autograd/ops.h"

namespace lnx {

namespace {

Pool2dParams make_params(const char* op, int64_t kernel_size, int64_t stride, int64_t padding,
                         bool count_include_pad) {
  LNX_CHECK(kernel_size > 0, op, ": kernel_size is ", kernel_size, ", expected > 0");
  LNX_CHECK(padding >= 0 && 2 * padding <= kernel_size, op, ": padding is ", padding,
            ", expected between 0 and half the kernel size ", kernel_size);
  Pool2dParams p;
  p.kernel_h = p.kernel_w = kernel_size;
  p.stride_h = p.stride_w = stride > 0 ? stride : kernel_size;
  p.pad_h = p.pad_w = padding;
  p.count_include_pad = count_include_pad;
  return p;
}

std::string describe(const Pool2dParams& p) {
  return str("kernel_size=", p.kernel_h, ", stride=", p.stride_h, ", padding=", p.pad_h);
}

void check_input(const Variable& x, const char* op) {
  LNX_CHECK(x.dim() == 4, op, ": input has shape ", to_string(x.shape()),
            ", expected (N, C, H, W)");
}

}  // namespace

MaxPool2d::MaxPool2d(int64_t kernel_size, int64_t stride, int64_t padding)
    : Module("MaxPool2d"), params_(make_params("MaxPool2d", kernel_size, stride, padding, true)) {}

Variable MaxPool2d::forward(const Variable& x) {
  check_input(x, "MaxPool2d");
  return max_pool2d(x, params_);
}

std::string MaxPool2d::extra_repr() const {
  return describe(params_);
}

AvgPool2d::AvgPool2d(int64_t kernel_size, int64_t stride, int64_t padding, bool count_include_pad)
    : Module("AvgPool2d"),
      params_(make_params("AvgPool2d", kernel_size, stride, padding, count_include_pad)) {}

Variable AvgPool2d::forward(const Variable& x) {
  check_input(x, "AvgPool2d");
  return avg_pool2d(x, params_);
}

std::string AvgPool2d::extra_repr() const {
  return describe(params_);
}

Variable GlobalAvgPool2d::forward(const Variable& x) {
  check_input(x, "GlobalAvgPool2d");
  return global_avg_pool2d(x);
}

}  // namespace lnx
