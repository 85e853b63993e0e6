// Element-wise differentiable ops. Each backward rule sits next to its forward.
#include <cmath>

#include "autograd/ops.h"
#include "core/ops.h"

namespace lnx {
namespace {

// Unary ops whose backward the kernel computes from x and y = f(x).
Variable unary_op(UnaryOp op, const Variable& x) {
  Tensor y = ops::unary(op, x.data());
  SavedTensor sx(x.data(), unary_op_name(op)), sy(y, unary_op_name(op));
  return make_result(y, unary_op_name(op), {&x}, [op, sx, sy](const Tensor& g) {
    return std::vector<Tensor>{ops::unary_backward(op, sx.get(), sy.get(), g)};
  });
}

}  // namespace

Variable add(const Variable& a, const Variable& b) {
  const Shape sa = a.shape(), sb = b.shape();
  return make_result(ops::add(a.data(), b.data()), "add", {&a, &b}, [sa, sb](const Tensor& g) {
    return std::vector<Tensor>{ops::sum_to(g, sa), ops::sum_to(g, sb)};
  });
}

Variable sub(const Variable& a, const Variable& b) {
  const Shape sa = a.shape(), sb = b.shape();
  const bool need_b = b.requires_grad();
  return make_result(ops::sub(a.data(), b.data()), "sub", {&a, &b},
                     [sa, sb, need_b](const Tensor& g) {
                       Tensor gb = need_b ? ops::sum_to(ops::unary(UnaryOp::Neg, g), sb) : Tensor();
                       return std::vector<Tensor>{ops::sum_to(g, sa), gb};
                     });
}

Variable mul(const Variable& a, const Variable& b) {
  SavedTensor sa(a.data(), "mul"), sb(b.data(), "mul");
  const bool need_a = a.requires_grad(), need_b = b.requires_grad();
  return make_result(
      ops::mul(a.data(), b.data()), "mul", {&a, &b}, [sa, sb, need_a, need_b](const Tensor& g) {
        const Tensor& av = sa.get();
        const Tensor& bv = sb.get();
        return std::vector<Tensor>{need_a ? ops::sum_to(ops::mul(g, bv), av.shape()) : Tensor(),
                                   need_b ? ops::sum_to(ops::mul(g, av), bv.shape()) : Tensor()};
      });
}

Variable div(const Variable& a, const Variable& b) {
  Tensor out = ops::div(a.data(), b.data());
  SavedTensor sb(b.data(), "div"), sout(out, "div");
  const Shape shape_a = a.shape();
  const bool need_a = a.requires_grad(), need_b = b.requires_grad();
  return make_result(out, "div", {&a, &b}, [sb, sout, shape_a, need_a, need_b](const Tensor& g) {
    const Tensor& bv = sb.get();
    const Tensor ga = ops::div(g, bv);  // d(a/b)/da = 1/b
    Tensor gb;
    if (need_b)  // d(a/b)/db = -(a/b)/b
      gb = ops::sum_to(ops::unary(UnaryOp::Neg, ops::mul(ga, sout.get())), bv.shape());
    return std::vector<Tensor>{need_a ? ops::sum_to(ga, shape_a) : Tensor(), gb};
  });
}

Variable pow(const Variable& a, const Variable& b) {
  Tensor out = ops::binary(BinaryOp::Pow, a.data(), b.data());
  SavedTensor sa(a.data(), "pow"), sb(b.data(), "pow"), sout(out, "pow");
  const bool need_a = a.requires_grad(), need_b = b.requires_grad();
  return make_result(out, "pow", {&a, &b}, [sa, sb, sout, need_a, need_b](const Tensor& g) {
    const Tensor& av = sa.get();
    const Tensor& bv = sb.get();
    Tensor ga, gb;
    if (need_a) {  // b * a^(b-1)
      const Tensor d = ops::mul(bv, ops::binary(BinaryOp::Pow, av, ops::add(bv, -1.0)));
      ga = ops::sum_to(ops::mul(g, d), av.shape());
    }
    if (need_b)  // a^b * log(a)
      gb = ops::sum_to(ops::mul(g, ops::mul(sout.get(), ops::unary(UnaryOp::Log, av))), bv.shape());
    return std::vector<Tensor>{ga, gb};
  });
}

Variable add(const Variable& a, double s) {
  return make_result(ops::add(a.data(), s), "add_scalar", {&a},
                     [](const Tensor& g) { return std::vector<Tensor>{g}; });
}

Variable mul(const Variable& a, double s) {
  return make_result(ops::mul(a.data(), s), "mul_scalar", {&a},
                     [s](const Tensor& g) { return std::vector<Tensor>{ops::mul(g, s)}; });
}

Variable rsub(const Variable& a, double s) {
  return make_result(
      ops::binary_scalar(BinaryOp::Sub, a.data(), s, true), "rsub_scalar", {&a},
      [](const Tensor& g) { return std::vector<Tensor>{ops::unary(UnaryOp::Neg, g)}; });
}

Variable rdiv(const Variable& a, double s) {
  Tensor out = ops::binary_scalar(BinaryOp::Div, a.data(), s, true);
  SavedTensor sa(a.data(), "rdiv_scalar"), sout(out, "rdiv_scalar");
  return make_result(out, "rdiv_scalar", {&a}, [sa, sout](const Tensor& g) {
    // d(s/a)/da = -(s/a)/a
    return std::vector<Tensor>{
        ops::unary(UnaryOp::Neg, ops::div(ops::mul(g, sout.get()), sa.get()))};
  });
}

Variable pow(const Variable& a, double p) {
  SavedTensor sa(a.data(), "pow_scalar");
  return make_result(
      ops::binary_scalar(BinaryOp::Pow, a.data(), p), "pow_scalar", {&a}, [sa, p](const Tensor& g) {
        // x^0 is constant; p * x^-1 would give 0 * inf = NaN at x = 0.
        if (p == 0.0) return std::vector<Tensor>{zeros(g.shape(), DType::Float32, g.device())};
        const Tensor d = ops::mul(ops::binary_scalar(BinaryOp::Pow, sa.get(), p - 1.0), p);
        return std::vector<Tensor>{ops::mul(g, d)};
      });
}

Variable neg(const Variable& x) {
  return unary_op(UnaryOp::Neg, x);
}
Variable exp(const Variable& x) {
  return unary_op(UnaryOp::Exp, x);
}
Variable log(const Variable& x) {
  return unary_op(UnaryOp::Log, x);
}
Variable sqrt(const Variable& x) {
  return unary_op(UnaryOp::Sqrt, x);
}
Variable square(const Variable& x) {
  return unary_op(UnaryOp::Square, x);
}
Variable abs(const Variable& x) {
  return unary_op(UnaryOp::Abs, x);
}
Variable sigmoid(const Variable& x) {
  return unary_op(UnaryOp::Sigmoid, x);
}
Variable tanh(const Variable& x) {
  return unary_op(UnaryOp::Tanh, x);
}
Variable softplus(const Variable& x) {
  return unary_op(UnaryOp::Softplus, x);
}
Variable relu(const Variable& x) {
  return unary_op(UnaryOp::Relu, x);
}
Variable relu6(const Variable& x) {
  return unary_op(UnaryOp::Relu6, x);
}

Variable round_ste(const Variable& x) {
  return make_result(ops::unary(UnaryOp::Round, x.data()), "round_ste", {&x},
                     [](const Tensor& g) { return std::vector<Tensor>{g}; });
}

Variable add_relu(const Variable& a, const Variable& b) {
  const Shape sa = a.shape(), sb = b.shape();
  const Tensor y = ops::add_relu(a.data(), b.data());
  SavedTensor sy(y, "add_relu");
  return make_result(y, "add_relu", {&a, &b}, [sa, sb, sy](const Tensor& g) {
    // relu'(a + b) = [y > 0]: y is both the ReLU's input and output here.
    const Tensor masked = ops::unary_backward(UnaryOp::Relu, sy.get(), sy.get(), g);
    return std::vector<Tensor>{ops::sum_to(masked, sa), ops::sum_to(masked, sb)};
  });
}

Variable clamp(const Variable& x, double lo, double hi) {
  SavedTensor sx(x.data(), "clamp");
  return make_result(ops::clamp(x.data(), lo, hi), "clamp", {&x}, [sx, lo, hi](const Tensor& g) {
    return std::vector<Tensor>{ops::clamp_backward(sx.get(), lo, hi, g)};
  });
}

}  // namespace lnx
