#include "layers/conv2d.h"

#include "autograd/ops.h"
#include "layers/init.h"

namespace lnx {

Conv2d::Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel_size,
               const Conv2dOptions& o, Generator* gen)
    : Module("Conv2d"),
      in_channels_(in_channels),
      out_channels_(out_channels),
      kernel_size_(kernel_size) {
  LNX_CHECK(in_channels > 0 && out_channels > 0, "Conv2d: in_channels ", in_channels,
            " and out_channels ", out_channels, " must both be positive");
  LNX_CHECK(kernel_size > 0, "Conv2d: kernel_size is ", kernel_size, ", expected > 0");
  LNX_CHECK(o.stride > 0 && o.dilation > 0, "Conv2d: stride ", o.stride, " and dilation ",
            o.dilation, " must be positive");
  LNX_CHECK(o.padding >= 0, "Conv2d: padding is ", o.padding, ", expected >= 0");
  LNX_CHECK(o.groups > 0 && in_channels % o.groups == 0 && out_channels % o.groups == 0,
            "Conv2d: groups ", o.groups, " must be positive and divide in_channels ", in_channels,
            " and out_channels ", out_channels);
  params_.stride_h = params_.stride_w = o.stride;
  params_.pad_h = params_.pad_w = o.padding;
  params_.dilation_h = params_.dilation_w = o.dilation;
  params_.groups = o.groups;
  weight_ = register_parameter(
      "weight", Tensor::empty({out_channels, in_channels / o.groups, kernel_size, kernel_size}));
  bias_ = register_parameter("bias", o.bias ? Tensor::empty({out_channels}) : Tensor());
  init::default_weight_and_bias_(weight_.data(), bias_.defined() ? bias_.data() : Tensor(), gen);
}

Conv2d::Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel_size, int64_t stride,
               int64_t padding, int64_t dilation, int64_t groups, bool bias, Generator* gen)
    : Conv2d(in_channels, out_channels, kernel_size,
             Conv2dOptions{stride, padding, dilation, groups, bias}, gen) {}

Variable Conv2d::forward(const Variable& x) {
  LNX_CHECK(x.dim() == 4 && x.size(1) == in_channels_, "Conv2d: input has shape ",
            to_string(x.shape()), ", expected (N, ", in_channels_, ", H, W)");
  return conv2d(x, weight_, bias_, params_);
}

std::string Conv2d::extra_repr() const {
  std::string s = str(in_channels_, ", ", out_channels_, ", kernel_size=(", kernel_size_, ", ",
                      kernel_size_, "), stride=(", params_.stride_h, ", ", params_.stride_w, ")");
  if (params_.pad_h != 0) s += str(", padding=(", params_.pad_h, ", ", params_.pad_w, ")");
  if (params_.dilation_h != 1) {
    s += str(", dilation=(", params_.dilation_h, ", ", params_.dilation_w, ")");
  }
  if (params_.groups != 1) s += str(", groups=", params_.groups);
  if (!bias_.defined()) s += ", bias=False";
  return s;
}

}  // namespace lnx
