// Element-wise kernels (float32). Each op is a small functor so the inner loops vectorize.
#include <algorithm>
#include <cmath>

#include "core/cpu/cpu_backend.h"
#include "core/cpu/strided.h"

namespace lnx {
namespace {

inline float sigmoidf(float x) {
  return 1.0f / (1.0f + std::exp(-x));
}
inline float softplusf(float x) {
  return std::log1p(std::exp(-std::fabs(x))) + std::max(x, 0.0f);
}

template <typename F>
void map1(const Tensor& x, const Tensor& out, F f) {
  const float* xp = x.data<float>();
  float* op = out.data<float>();
  cpu::for_each_row<2>(out.shape(), {&x.strides(), &out.strides()},
                       [&](const auto& off, int64_t n, const auto& st) {
                         const float* a = xp + off[0];
                         float* o = op + off[1];
                         if (st[0] == 1 && st[1] == 1) {
                           for (int64_t i = 0; i < n; ++i) o[i] = f(a[i]);
                         } else {
                           for (int64_t i = 0; i < n; ++i) o[i * st[1]] = f(a[i * st[0]]);
                         }
                       });
}

template <typename F>
void map2(const Tensor& x, const Tensor& y, const Tensor& out, F f) {
  const float* xp = x.data<float>();
  const float* yp = y.data<float>();
  float* op = out.data<float>();
  cpu::for_each_row<3>(out.shape(), {&x.strides(), &y.strides(), &out.strides()},
                       [&](const auto& off, int64_t n, const auto& st) {
                         const float* a = xp + off[0];
                         const float* b = yp + off[1];
                         float* o = op + off[2];
                         if (st[0] == 1 && st[1] == 1 && st[2] == 1) {
                           for (int64_t i = 0; i < n; ++i) o[i] = f(a[i], b[i]);
                         } else if (st[0] == 1 && st[1] == 0 && st[2] == 1) {
                           const float bv = *b;
                           for (int64_t i = 0; i < n; ++i) o[i] = f(a[i], bv);
                         } else if (st[0] == 0 && st[1] == 1 && st[2] == 1) {
                           const float av = *a;
                           for (int64_t i = 0; i < n; ++i) o[i] = f(av, b[i]);
                         } else {
                           for (int64_t i = 0; i < n; ++i)
                             o[i * st[2]] = f(a[i * st[0]], b[i * st[1]]);
                         }
                       });
}

template <typename F>
void dispatch_binary(BinaryOp op, F&& run) {
  switch (op) {
    case BinaryOp::Add:
      return run([](float a, float b) { return a + b; });
    case BinaryOp::Sub:
      return run([](float a, float b) { return a - b; });
    case BinaryOp::Mul:
      return run([](float a, float b) { return a * b; });
    case BinaryOp::Div:
      return run([](float a, float b) { return a / b; });
    case BinaryOp::Pow:
      return run([](float a, float b) { return std::pow(a, b); });
    case BinaryOp::Maximum:
      return run([](float a, float b) { return std::max(a, b); });
    case BinaryOp::Minimum:
      return run([](float a, float b) { return std::min(a, b); });
    case BinaryOp::Greater:
      return run([](float a, float b) { return a > b ? 1.0f : 0.0f; });
    case BinaryOp::Less:
      return run([](float a, float b) { return a < b ? 1.0f : 0.0f; });
    case BinaryOp::Equal:
      return run([](float a, float b) { return a == b ? 1.0f : 0.0f; });
  }
}

}  // namespace

void CpuBackend::unary(UnaryOp op, const Tensor& x, const Tensor& out) {
  switch (op) {
    case UnaryOp::Neg:
      return map1(x, out, [](float v) { return -v; });
    case UnaryOp::Exp:
      return map1(x, out, [](float v) { return std::exp(v); });
    case UnaryOp::Log:
      return map1(x, out, [](float v) { return std::log(v); });
    case UnaryOp::Sqrt:
      return map1(x, out, [](float v) { return std::sqrt(v); });
    case UnaryOp::Square:
      return map1(x, out, [](float v) { return v * v; });
    case UnaryOp::Abs:
      return map1(x, out, [](float v) { return std::fabs(v); });
    case UnaryOp::Sigmoid:
      return map1(x, out, [](float v) { return sigmoidf(v); });
    case UnaryOp::Tanh:
      return map1(x, out, [](float v) { return std::tanh(v); });
    case UnaryOp::Softplus:
      return map1(x, out, [](float v) { return softplusf(v); });
    case UnaryOp::Relu:
      return map1(x, out, [](float v) { return v > 0.0f ? v : 0.0f; });
    case UnaryOp::Relu6:
      return map1(x, out, [](float v) { return std::min(std::max(v, 0.0f), 6.0f); });
    case UnaryOp::Round:
      return map1(x, out, [](float v) { return std::nearbyint(v); });
    case UnaryOp::Sign:
      return map1(x, out, [](float v) { return static_cast<float>((v > 0.0f) - (v < 0.0f)); });
    case UnaryOp::Reciprocal:
      return map1(x, out, [](float v) { return 1.0f / v; });
    case UnaryOp::IsFinite:
      return map1(x, out, [](float v) { return std::isfinite(v) ? 1.0f : 0.0f; });
  }
}

void CpuBackend::unary_backward(UnaryOp op, const Tensor& x, const Tensor& y, const Tensor& g,
                                const Tensor& gin) {
  switch (op) {
    case UnaryOp::Neg:
      return map1(g, gin, [](float v) { return -v; });
    case UnaryOp::Round:
      return map1(g, gin, [](float v) { return v; });  // straight-through
    case UnaryOp::Sign:
    case UnaryOp::IsFinite:
      return map1(g, gin, [](float) { return 0.0f; });
    case UnaryOp::Exp:
      return map2(g, y, gin, [](float d, float yv) { return d * yv; });
    case UnaryOp::Log:
      return map2(g, x, gin, [](float d, float xv) { return d / xv; });
    case UnaryOp::Sqrt:
      return map2(g, y, gin, [](float d, float yv) { return 0.5f * d / yv; });
    case UnaryOp::Square:
      return map2(g, x, gin, [](float d, float xv) { return 2.0f * d * xv; });
    case UnaryOp::Abs:
      return map2(g, x, gin,
                  [](float d, float xv) { return xv > 0.0f ? d : (xv < 0.0f ? -d : 0.0f); });
    case UnaryOp::Sigmoid:
      return map2(g, y, gin, [](float d, float yv) { return d * yv * (1.0f - yv); });
    case UnaryOp::Tanh:
      return map2(g, y, gin, [](float d, float yv) { return d * (1.0f - yv * yv); });
    case UnaryOp::Softplus:
      return map2(g, x, gin, [](float d, float xv) { return d * sigmoidf(xv); });
    case UnaryOp::Relu:
      return map2(g, x, gin, [](float d, float xv) { return xv > 0.0f ? d : 0.0f; });
    case UnaryOp::Relu6:
      return map2(g, x, gin, [](float d, float xv) { return xv > 0.0f && xv < 6.0f ? d : 0.0f; });
    case UnaryOp::Reciprocal:
      return map2(g, y, gin, [](float d, float yv) { return -d * yv * yv; });
  }
}

void CpuBackend::binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) {
  dispatch_binary(op, [&](auto f) { map2(a, b, out, f); });
}

void CpuBackend::binary_scalar(BinaryOp op, const Tensor& a, double s, bool scalar_first,
                               const Tensor& out) {
  const auto sv = static_cast<float>(s);
  dispatch_binary(op, [&](auto f) {
    if (scalar_first) {
      map1(a, out, [f, sv](float v) { return f(sv, v); });
    } else {
      map1(a, out, [f, sv](float v) { return f(v, sv); });
    }
  });
}

void CpuBackend::clamp(const Tensor& x, double lo, double hi, const Tensor& out) {
  const auto l = static_cast<float>(lo), h = static_cast<float>(hi);
  map1(x, out, [l, h](float v) { return std::min(std::max(v, l), h); });
}

void CpuBackend::add_relu(const Tensor& a, const Tensor& b, const Tensor& out) {
  map2(a, b, out, [](float x, float y) { return std::max(x + y, 0.0f); });
}

void CpuBackend::clamp_backward(const Tensor& x, double lo, double hi, const Tensor& g,
                                const Tensor& gin) {
  const auto l = static_cast<float>(lo), h = static_cast<float>(hi);
  map2(g, x, gin, [l, h](float d, float v) { return v >= l && v <= h ? d : 0.0f; });
}

}  // namespace lnx
