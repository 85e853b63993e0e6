// Shape ops (views where possible) and matmul.
#include "autograd/ops.h"
#include "core/ops.h"

namespace lnx {
namespace {

// Gradient of a view-taking op: zeros of the input's shape with g written into the viewed part.
template <typename ViewFn>
Tensor scatter_into_zeros(const Tensor& g, const Shape& shape, ViewFn view) {
  Tensor out = zeros(shape, DType::Float32, g.device());
  view(out).copy_(g);
  return out;
}

}  // namespace

Variable reshape(const Variable& x, const Shape& shape) {
  const Shape in = x.shape();
  return make_result(x.data().reshape(shape), "reshape", {&x},
                     [in](const Tensor& g) { return std::vector<Tensor>{g.reshape(in)}; });
}

Variable view(const Variable& x, const Shape& shape) {
  const Shape in = x.shape();
  return make_result(x.data().view(shape), "view", {&x},
                     [in](const Tensor& g) { return std::vector<Tensor>{g.reshape(in)}; });
}

Variable flatten(const Variable& x, int64_t start_axis, int64_t end_axis) {
  const Shape in = x.shape();
  return make_result(x.data().flatten(start_axis, end_axis), "flatten", {&x},
                     [in](const Tensor& g) { return std::vector<Tensor>{g.reshape(in)}; });
}

Variable transpose(const Variable& x, int64_t a, int64_t b) {
  return make_result(x.data().transpose(a, b), "transpose", {&x}, [a, b](const Tensor& g) {
    return std::vector<Tensor>{g.transpose(a, b).contiguous()};
  });
}

Variable permute(const Variable& x, const std::vector<int64_t>& order) {
  Tensor out = x.data().permute(order);
  std::vector<int64_t> inverse(order.size());
  for (size_t i = 0; i < order.size(); ++i)
    inverse[normalize_axis(order[i], x.dim(), "permute")] = static_cast<int64_t>(i);
  return make_result(out, "permute", {&x}, [inverse](const Tensor& g) {
    return std::vector<Tensor>{g.permute(inverse).contiguous()};
  });
}

Variable cat(const std::vector<Variable>& xs, int64_t axis) {
  std::vector<Tensor> data;
  std::vector<const Variable*> inputs;
  std::vector<int64_t> sizes;
  for (const Variable& v : xs) {
    LNX_CHECK(v.defined(), "cat: an input variable is undefined");
    data.push_back(v.data());
    inputs.push_back(&v);
  }
  Tensor out = ops::cat(data, axis);  // validates shapes and the axis
  const int64_t a = normalize_axis(axis, out.dim(), "cat");
  for (const Tensor& t : data) sizes.push_back(t.shape()[a]);
  return make_result(out, "cat", inputs, [a, sizes](const Tensor& g) {
    std::vector<Tensor> grads;
    int64_t at = 0;
    for (int64_t s : sizes) {
      grads.push_back(g.slice(a, at, at + s).contiguous());
      at += s;
    }
    return grads;
  });
}

Variable slice(const Variable& x, int64_t axis, int64_t start, int64_t end, int64_t step) {
  Tensor out = x.data().slice(axis, start, end, step);
  const Shape in = x.shape();
  return make_result(out, "slice", {&x}, [=](const Tensor& g) {
    return std::vector<Tensor>{scatter_into_zeros(
        g, in, [&](const Tensor& z) { return z.slice(axis, start, end, step); })};
  });
}

Variable pad(const Variable& x, const std::vector<int64_t>& pads) {
  Tensor out = ops::pad(x.data(), pads);
  const Shape in = x.shape();
  return make_result(out, "pad", {&x}, [pads, in](const Tensor& g) {
    Tensor inner = g;
    for (size_t i = 0; i < pads.size() / 2; ++i) {
      const int64_t a = static_cast<int64_t>(in.size()) - 1 - static_cast<int64_t>(i);
      inner = inner.slice(a, pads[2 * i], pads[2 * i] + in[a]);
    }
    return std::vector<Tensor>{inner.contiguous()};
  });
}

Variable subsample2d(const Variable& x, int64_t stride) {
  LNX_CHECK(x.dim() == 4, "subsample2d: expected an (N, C, H, W) input, got shape ",
            to_string(x.shape()));
  LNX_CHECK(stride >= 1, "subsample2d: stride must be at least 1, got ", stride);
  auto take = [stride](const Tensor& t) {
    return t.slice(2, 0, t.shape()[2], stride).slice(3, 0, t.shape()[3], stride);
  };
  const Shape in = x.shape();
  return make_result(take(x.data()).contiguous(), "subsample2d", {&x}, [in, take](const Tensor& g) {
    return std::vector<Tensor>{scatter_into_zeros(g, in, take)};
  });
}

Variable matmul(const Variable& a, const Variable& b) {
  SavedTensor sa(a.data(), "matmul"), sb(b.data(), "matmul");
  const bool need_a = a.requires_grad(), need_b = b.requires_grad();
  return make_result(ops::matmul(a.data(), b.data()), "matmul", {&a, &b},
                     [sa, sb, need_a, need_b](const Tensor& g) {
                       const Tensor& av = sa.get();
                       const Tensor& bv = sb.get();
                       const int64_t last = av.dim() - 1;
                       Tensor ga, gb;
                       if (need_a) ga = ops::matmul(g, bv.transpose(last - 1, last));
                       if (need_b) gb = ops::matmul(av.transpose(last - 1, last), g);
                       return std::vector<Tensor>{ga, gb};
                     });
}

}  // namespace lnx
