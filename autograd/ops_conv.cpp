// Differentiable 2-D convolution. Backward runs only the kernels whose gradient is needed:
// frozen weights skip the weight GEMMs, the first layer skips the input gradient.
#include "autograd/ops.h"
#include "core/ops.h"

namespace lnx {

Variable conv2d(const Variable& x, const Variable& w, const Variable& bias, const Conv2dParams& p) {
  const Tensor b = bias.defined() ? bias.data() : Tensor();
  Tensor y = ops::conv2d(x.data(), w.data(), b, p);
  const bool need_x = x.requires_grad(), need_w = w.requires_grad();
  const bool need_b = bias.requires_grad();
  // x is needed only for the weight gradient and w only for the input gradient.
  SavedTensor sx(need_w ? x.data() : Tensor(), "conv2d");
  SavedTensor sw(need_x ? w.data() : Tensor(), "conv2d");
  const Shape x_shape = x.shape(), w_shape = w.shape();
  return make_result(y, "conv2d", {&x, &w, &bias},
                     [sx, sw, x_shape, w_shape, p, need_x, need_w, need_b](const Tensor& grad) {
                       const Tensor g = grad.contiguous();  // (N, O, OH, OW)
                       Tensor gx, gw, gb;
                       if (need_x) gx = ops::conv2d_backward_input(g, sw.get(), x_shape, p);
                       if (need_w) gw = ops::conv2d_backward_weight(g, sx.get(), w_shape, p);
                       if (need_b) gb = ops::sum(g, {0, 2, 3});
                       return std::vector<Tensor>{gx, gw, gb};
                     });
}

}  // namespace lnx
