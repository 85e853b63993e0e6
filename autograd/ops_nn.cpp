// Neural-network ops other than convolution: pooling, batch norm, dropout, log-softmax and
// cross-entropy, plus the non-differentiable argmax and top-k accuracy.
#include "core/ops_nn.h"

#include <cmath>

#include "autograd/ops.h"
#include "core/ops.h"
#include "core/random.h"

namespace lnx {

Variable max_pool2d(const Variable& x, const Pool2dParams& p) {
  ops::MaxPool2dResult r = ops::max_pool2d(x.data(), p);
  const Shape x_shape = x.shape();
  // The indices are ours alone (never handed out), so they need no version check.
  const Tensor indices = r.indices;
  return make_result(r.y, "max_pool2d", {&x}, [indices, x_shape](const Tensor& g) {
    return std::vector<Tensor>{ops::max_pool2d_backward(g, indices, x_shape)};
  });
}

Variable avg_pool2d(const Variable& x, const Pool2dParams& p) {
  const Shape x_shape = x.shape();
  return make_result(ops::avg_pool2d(x.data(), p), "avg_pool2d", {&x},
                     [p, x_shape](const Tensor& g) {
                       return std::vector<Tensor>{ops::avg_pool2d_backward(g, p, x_shape)};
                     });
}

Variable global_avg_pool2d(const Variable& x) {
  LNX_CHECK(x.dim() == 4, "global_avg_pool2d: input has shape ", to_string(x.shape()),
            ", expected 4 axes (N, C, H, W)");
  return mean(x, {2, 3});
}

namespace {

// With relu, the op is relu(batch_norm(x)) and its output y doubles as the ReLU's mask.
Variable batch_norm_train(const Variable& x, const Variable& gamma, const Variable& beta,
                          const Tensor& running_mean, const Tensor& running_var, double momentum,
                          double eps, bool relu) {
  const char* name = relu ? "batch_norm_relu" : "batch_norm";
  const Tensor gamma_t = gamma.defined() ? gamma.data() : Tensor();
  ops::BatchNormTrainResult r =
      ops::batch_norm_train(x.data(), gamma_t, beta.defined() ? beta.data() : Tensor(),
                            running_mean, running_var, momentum, eps, relu);
  SavedTensor sx(x.data(), name), sgamma(gamma_t, name), sy(relu ? r.y : Tensor(), name);
  const Tensor mean = r.save_mean, invstd = r.save_invstd;
  const bool need_gamma = gamma.requires_grad(), need_beta = beta.requires_grad();
  return make_result(
      r.y, name, {&x, &gamma, &beta},
      [sx, sgamma, sy, mean, invstd, need_gamma, need_beta](const Tensor& g) {
        const bool affine = need_gamma || need_beta;
        const Tensor& y = sy.get();
        ops::BatchNormGrads d =
            y.defined()
                ? ops::batch_norm_relu_backward(g, y, sx.get(), sgamma.get(), mean, invstd, affine)
                : ops::batch_norm_backward(g, sx.get(), sgamma.get(), mean, invstd, affine);
        return std::vector<Tensor>{d.grad_x, need_gamma ? d.grad_gamma : Tensor(),
                                   need_beta ? d.grad_beta : Tensor()};
      });
}

// In eval mode the statistics are constants, so batch norm is the per-channel affine map
// y = x * gamma * invstd + (beta - mean * gamma * invstd).
Variable batch_norm_eval(const Variable& x, const Variable& gamma, const Variable& beta,
                         const Tensor& running_mean, const Tensor& running_var, double eps,
                         bool relu) {
  const char* name = relu ? "batch_norm_relu_eval" : "batch_norm_eval";
  const Tensor gamma_t = gamma.defined() ? gamma.data() : Tensor();
  Tensor y = ops::batch_norm_eval(x.data(), gamma_t, beta.defined() ? beta.data() : Tensor(),
                                  running_mean, running_var, eps, relu);
  const int64_t c = x.size(1);
  const Shape bshape = x.dim() == 2 ? Shape{1, c} : Shape{1, c, 1, 1};  // broadcast per channel
  // Copies of the statistics: later training steps update the running tensors in place.
  const Tensor mean = running_mean.clone().view(bshape);
  const Tensor invstd =
      ops::unary(UnaryOp::Reciprocal, ops::unary(UnaryOp::Sqrt, ops::add(running_var, eps)))
          .view(bshape);
  const bool need_gamma = gamma.requires_grad(), need_beta = beta.requires_grad();
  SavedTensor sx(need_gamma ? x.data() : Tensor(), name), sgamma(gamma_t, name),
      sy(relu ? y : Tensor(), name);
  return make_result(
      y, name, {&x, &gamma, &beta},
      [sx, sgamma, sy, mean, invstd, bshape, c, need_gamma, need_beta](const Tensor& grad) {
        // relu'(x) = [y > 0]: y is both the ReLU's input and output here.
        const Tensor& y = sy.get();
        const Tensor g = y.defined() ? ops::unary_backward(UnaryOp::Relu, y, y, grad) : grad;
        const Tensor& gm = sgamma.get();
        const Tensor scale = gm.defined() ? ops::mul(gm.view(bshape), invstd) : invstd;
        Tensor gg, gb;
        if (need_gamma) {
          const Tensor xhat = ops::mul(ops::sub(sx.get(), mean), invstd);
          gg = ops::sum_to(ops::mul(g, xhat), bshape).reshape({c});
        }
        if (need_beta) gb = ops::sum_to(g, bshape).reshape({c});
        return std::vector<Tensor>{ops::mul(g, scale), gg, gb};
      });
}

Variable batch_norm_op(const Variable& x, const Variable& gamma, const Variable& beta,
                       const Tensor& running_mean, const Tensor& running_var, bool training,
                       double momentum, double eps, bool relu) {
  LNX_CHECK(x.defined(), relu ? "batch_norm_relu" : "batch_norm",
            ": input is an undefined variable");
  if (training)
    return batch_norm_train(x, gamma, beta, running_mean, running_var, momentum, eps, relu);
  return batch_norm_eval(x, gamma, beta, running_mean, running_var, eps, relu);
}

}  // namespace

Variable batch_norm(const Variable& x, const Variable& gamma, const Variable& beta,
                    const Tensor& running_mean, const Tensor& running_var, bool training,
                    double momentum, double eps) {
  return batch_norm_op(x, gamma, beta, running_mean, running_var, training, momentum, eps, false);
}

Variable batch_norm_relu(const Variable& x, const Variable& gamma, const Variable& beta,
                         const Tensor& running_mean, const Tensor& running_var, bool training,
                         double momentum, double eps) {
  return batch_norm_op(x, gamma, beta, running_mean, running_var, training, momentum, eps, true);
}

Variable dropout(const Variable& x, double p, bool training, Generator* gen) {
  LNX_CHECK(p >= 0.0 && p < 1.0, "dropout: p = ", p, " is out of range, expected 0 <= p < 1");
  if (!training || p == 0.0) return x;
  // mask = (u >= p) / (1 - p): kept elements are scaled so the expectation is unchanged.
  const Tensor u = uniform(x.shape(), 0.0, 1.0, gen, x.data().device());
  const Tensor dropped = ops::binary_scalar(BinaryOp::Less, u, p);
  const Tensor mask =
      ops::mul(ops::binary_scalar(BinaryOp::Sub, dropped, 1.0, true), 1.0 / (1.0 - p));
  return make_result(ops::mul(x.data(), mask), "dropout", {&x},
                     [mask](const Tensor& g) { return std::vector<Tensor>{ops::mul(g, mask)}; });
}

Variable log_softmax(const Variable& x, int64_t axis) {
  LNX_CHECK(x.defined(), "log_softmax: input is an undefined variable");
  const int64_t a = normalize_axis(axis, x.dim(), "log_softmax");
  const int64_t last = x.dim() - 1;
  // The kernel works on the last axis; any other axis is swapped there and back.
  if (a != last) return transpose(log_softmax(transpose(x, a, last), last), a, last);
  Tensor y = ops::log_softmax(x.data());
  SavedTensor sy(y, "log_softmax");
  return make_result(y, "log_softmax", {&x}, [sy](const Tensor& g) {
    return std::vector<Tensor>{ops::log_softmax_backward(g, sy.get())};
  });
}

Variable cross_entropy(const Variable& logits, const Tensor& labels) {
  LNX_CHECK(logits.defined(), "cross_entropy: logits are an undefined variable");
  ops::check_labels(logits.data(), labels, "cross_entropy");
  // Fused: the log-probabilities never become a graph node of their own.
  const Tensor logp = ops::log_softmax(logits.data(), "cross_entropy");
  Tensor loss = Tensor::empty({}, DType::Float32, logp.device());
  backend_of(logp).nll_loss_forward(logp, labels.contiguous(), loss);
  SavedTensor slabels(labels, "cross_entropy");
  return make_result(loss, "cross_entropy", {&logits}, [logp, slabels](const Tensor& g) {
    const Tensor grad_logp = ops::nll_loss_backward(g, slabels.get(), logp.shape());
    return std::vector<Tensor>{ops::log_softmax_backward(grad_logp, logp)};
  });
}

Tensor argmax(const Tensor& x, int64_t axis) {
  return ops::argmax(x, axis);
}

double topk_accuracy(const Tensor& logits, const Tensor& labels, int64_t k) {
  ops::check_labels(logits, labels, "topk_accuracy");
  const int64_t n = logits.size(0), c = logits.size(1);
  LNX_CHECK(k >= 1 && k <= c, "topk_accuracy: k = ", k, " is out of range for ", c,
            " classes, expected 1 <= k <= ", c);
  const std::vector<float> v = logits.to_vector<float>();  // (N, C) row-major on the host
  const std::vector<int64_t> lab = labels.to_vector<int64_t>();
  int64_t hits = 0;
  for (int64_t i = 0; i < n; ++i) {
    // The label is among the top k when fewer than k classes score strictly higher; ties
    // with the label's score count in its favour.
    const float* row = v.data() + i * c;
    const float target = row[lab[i]];
    int64_t above = 0;
    for (int64_t j = 0; j < c; ++j) above += row[j] > target ? 1 : 0;
    hits += above < k ? 1 : 0;
  }
  return static_cast<double>(hits) / static_cast<double>(n);
}

}  // namespace lnx
