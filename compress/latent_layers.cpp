#include "compress/latent_layers.h"

#include <cmath>

#include "autograd/ops.h"
#include "core/random.h"

namespace lnx {

Variable LatentLayer::decoded_weight() const {
  return group_->decoder().decode(round_ste(latent_));
}

Variable LatentLayer::latent_rows() const {
  return reshape(latent_, {latent_.numel() / slice_size(), slice_size()});
}

LatentConv2d::LatentConv2d(int64_t in, int64_t out, int64_t kernel_size, const Conv2dOptions& o,
                           CompressionGroup& group, double init_bound, Generator* gen)
    : LatentLayer("LatentConv2d", group), in_(in), out_(out), kernel_size_(kernel_size) {
  LNX_CHECK(in >= 1 && out >= 1 && kernel_size >= 1 && o.groups >= 1 && in % o.groups == 0 &&
                out % o.groups == 0,
            "LatentConv2d: in ", in, ", out ", out, ", kernel ", kernel_size, ", groups ", o.groups,
            " must be positive with groups dividing both channel counts");
  LNX_CHECK(kernel_size * kernel_size == group.slice_size(), "LatentConv2d: a ", kernel_size, "x",
            kernel_size, " kernel cannot join group '", group.name(), "' of slices of ",
            group.slice_size());
  params_.stride_h = params_.stride_w = o.stride;
  params_.pad_h = params_.pad_w = o.padding;
  params_.dilation_h = params_.dilation_w = o.dilation;
  params_.groups = o.groups;
  // Without a decoder shift, zero latent slices decode to zero weight slices: the convolution can
  // skip them (and finds none to skip with a shift).
  params_.skip_zero_slices = true;
  latent_ = register_parameter("weight", uniform({out, in / o.groups, kernel_size, kernel_size},
                                                 -init_bound, init_bound, gen));
  if (o.bias) {  // float, with PyTorch's default init
    const double b =
        1.0 / std::sqrt(static_cast<double>(in / o.groups * kernel_size * kernel_size));
    bias_ = register_parameter("bias", uniform({out}, -b, b, gen));
  } else {
    register_buffer("bias", Tensor());
  }
  group.add_layer(*this);
}

Variable LatentConv2d::forward(const Variable& x) {
  const Variable y = conv2d(x, decoded_weight(), bias_, params_);
  output_pixels_ = y.size(2) * y.size(3);
  return y;
}

std::string LatentConv2d::extra_repr() const {
  return str(in_, ", ", out_, ", kernel_size=", kernel_size_, ", stride=", params_.stride_h,
             ", padding=", params_.pad_h,
             params_.groups > 1 ? str(", groups=", params_.groups) : "",
             ", group=", group().name());
}

LatentLinear::LatentLinear(int64_t in, int64_t out, bool bias, CompressionGroup& group,
                           double init_bound, Generator* gen)
    : LatentLayer("LatentLinear", group), in_(in), out_(out) {
  LNX_CHECK(in >= 1 && out >= 1, "LatentLinear: in ", in, " and out ", out, " must be positive");
  LNX_CHECK(group.slice_size() == 1, "LatentLinear: group '", group.name(), "' has slices of ",
            group.slice_size(), ", dense layers need 1");
  latent_ = register_parameter("weight", uniform({out, in}, -init_bound, init_bound, gen));
  if (bias) {
    const double b = 1.0 / std::sqrt(static_cast<double>(in));
    bias_ = register_parameter("bias", uniform({out}, -b, b, gen));
  } else {
    register_buffer("bias", Tensor());
  }
  group.add_layer(*this);
}

Variable LatentLinear::forward(const Variable& x) {
  LNX_CHECK(x.dim() == 2 && x.size(1) == in_, "LatentLinear: input of shape ", to_string(x.shape()),
            ", expected (N, ", in_, ")");
  Variable y = matmul(x, transpose(decoded_weight(), 0, 1));  // (N, out)
  return bias_.defined() ? add(y, bias_) : y;
}

std::string LatentLinear::extra_repr() const {
  return str("in_features=", in_, ", out_features=", out_, ", group=", group().name());
}

}  // namespace lnx
