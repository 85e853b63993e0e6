#include "autograd/gradcheck.h"

#include <algorithm>
#include <cmath>

#include "autograd/grad_mode.h"
#include "core/random.h"

namespace lnx {
namespace {

double weighted_sum(const Tensor& out, const std::vector<float>& r) {
  const std::vector<float> v = out.to_vector<float>();
  double s = 0.0;
  for (size_t i = 0; i < v.size(); ++i) s += static_cast<double>(v[i]) * r[i];
  return s;
}

}  // namespace

GradcheckResult gradcheck(const GradcheckFn& f, const std::vector<Tensor>& inputs,
                          const GradcheckOptions& o, const std::vector<size_t>& constant_inputs) {
  GradcheckResult res;
  std::vector<Variable> vars;
  std::vector<Tensor> data;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const bool constant =
        std::find(constant_inputs.begin(), constant_inputs.end(), i) != constant_inputs.end();
    data.push_back(inputs[i].clone());
    vars.emplace_back(data.back(), !constant, str("input", i));
  }
  const Variable out = f(vars);
  Generator gen(o.seed);
  const Tensor r = normal(out.shape(), 0.0, 1.0, &gen, out.data().device());
  const std::vector<float> rv = r.to_vector<float>();
  out.backward(r);

  auto loss = [&]() {
    NoGradGuard ng;
    std::vector<Variable> plain;
    for (const Tensor& t : data) plain.emplace_back(t);
    return weighted_sum(f(plain).data(), rv);
  };
  const double l0 = loss();
  int reported = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!vars[i].requires_grad()) continue;
    const Tensor g = vars[i].grad();
    const std::vector<float> analytic =
        g.defined() ? g.to_vector<float>() : std::vector<float>(data[i].numel(), 0.0f);
    Tensor& x = data[i];  // contiguous: a fresh clone
    float* xp = x.data<float>();
    const int64_t n = x.numel();
    const int64_t count = std::min(n, o.max_elements);
    for (int64_t k = 0; k < count; ++k) {
      const int64_t j = count == n ? k : k * n / count;
      const float orig = xp[j];
      xp[j] = static_cast<float>(orig + o.eps);
      const double lp = loss();
      xp[j] = static_cast<float>(orig - o.eps);
      const double lm = loss();
      xp[j] = orig;
      const double right = (lp - l0) / o.eps, left = (l0 - lm) / o.eps;
      const double numeric = (lp - lm) / (2 * o.eps);
      if (std::abs(right - left) >
          o.kink_tolerance * std::max({1.0, std::abs(right), std::abs(left)})) {
        res.skipped_kinks++;
        continue;
      }
      res.checked++;
      const double a = analytic[j];
      if (std::abs(a - numeric) > o.atol + o.rtol * std::abs(numeric)) {
        res.ok = false;
        if (reported++ < 8)
          res.report +=
              str("input ", i, " element ", j, ": backward ", a, ", numeric ", numeric, "\n");
      }
    }
  }
  return res;
}

}  // namespace lnx
