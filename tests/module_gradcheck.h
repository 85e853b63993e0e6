// Helpers shared by the layer tests: parameter names, and a finite-difference check of every
// parameter of a module (lnx::gradcheck covers the inputs of a function; this covers the
// parameters a module owns).
#pragma once

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "core/random.h"
#include "layers/module.h"

namespace lnx::test {

inline std::vector<std::string> names_of(
    const std::vector<std::pair<std::string, Variable>>& items) {
  std::vector<std::string> out;
  for (const auto& [n, v] : items) out.push_back(n);
  return out;
}

// Central differences of L = sum(module(x) * r) against each parameter's backward gradient.
// Elements whose one-sided slopes disagree sit on a kink (a ReLU input crossing 0 within eps)
// and are skipped, as lnx::gradcheck does; most elements must still be checked.
inline void check_parameter_gradients(Module& m, const Tensor& x, double tol = 2e-2) {
  Generator gen(7);
  const Variable probe = m.forward(Variable(x));
  const Tensor r = normal(probe.shape(), 0, 1, &gen);
  auto loss = [&] {
    NoGradGuard no_grad;
    const std::vector<float> y = m.forward(Variable(x)).data().to_vector<float>();
    const std::vector<float> rv = r.to_vector<float>();
    double s = 0;  // in double: the differences below are small
    for (size_t i = 0; i < y.size(); ++i) s += static_cast<double>(y[i]) * rv[i];
    return s;
  };
  m.zero_grad();
  sum(m.forward(Variable(x)) * Variable(r)).backward();
  int64_t checked = 0, kinks = 0;
  for (const auto& [name, p] : m.named_parameters()) {
    INFO("parameter " << name);
    REQUIRE(p.grad().defined());
    const std::vector<float> grad = p.grad().to_vector<float>();
    float* w = p.data().data<float>();
    const double eps = 1e-3;
    for (int64_t i = 0; i < p.numel(); ++i) {
      const float saved = w[i];
      const double mid = loss();
      w[i] = saved + static_cast<float>(eps);
      const double up = loss();
      w[i] = saved - static_cast<float>(eps);
      const double down = loss();
      w[i] = saved;
      const double right = (up - mid) / eps, left = (mid - down) / eps;
      if (std::abs(right - left) > 0.1 * std::max({1.0, std::abs(right), std::abs(left)})) {
        ++kinks;
        continue;
      }
      const double numeric = (up - down) / (2 * eps);
      INFO("element " << i << ": backward " << grad[i] << ", numeric " << numeric);
      CHECK(std::abs(grad[i] - numeric) <= tol * (1.0 + std::abs(numeric)));
      ++checked;
    }
  }
  CHECK(kinks <= checked / 4);
}

}  // namespace lnx::test
