// Ballé et al.'s univariate "deep factorized" prior with four scalar layers per channel
// (docs: method.md section 2):
//   for k = 1..3:  x = x * softplus(h_k) + b_k;  x = x + tanh(x) * tanh(a_k)
//   F(x) = sigmoid(x * softplus(h_4) + b_4)
// The rate's forward and backward are one fused pass over the latents: each element's two
// chains (v + 1/2 and v - 1/2) are evaluated and differentiated in registers, and only the
// per-channel parameter gradients are reduced across threads.
#pragma once

#include "compress/entropy_model.h"
#include "core/factorized_chain.h"
#include "core/random.h"

namespace lnx {

// Parameter layout per channel, one row of 11 floats: h1..h4, b1..b4, a1..a3.
inline constexpr int64_t kFactorizedParams = factorized::kParams;

class FactorizedPrior final : public EntropyModel {
 public:
  // Parameters ~ N(0, init_std^2), as the reference initialises them.
  FactorizedPrior(int64_t channels, Generator* gen = nullptr, double init_std = 0.01);
  // Wraps given parameters (C, 11), e.g. loaded from a checkpoint or a fixture.
  explicit FactorizedPrior(const Tensor& params);

  std::string kind() const override { return "factorized"; }
  int64_t channels() const override { return params_.shape()[0]; }
  const Variable& params() const { return params_; }

  Variable bits(const Variable& values) const override;
  Tensor bits_per_element(const Tensor& values) const override;
  Tensor cdf(const Tensor& x) const override;

 private:
  Variable params_;  // (C, 11)
};

// The fused kernels, exposed for tests and benchmarks. values (M, C), params (C, 11), both
// contiguous float32 on the CPU.
struct RateResult {
  double total_bits = 0;
  Tensor grad_values;  // (M, C), d total_bits / d values; undefined unless asked for
  Tensor grad_params;  // (C, 11)
};
RateResult factorized_rate(const Tensor& values, const Tensor& params, bool with_grad);
// The differentiable total bits of values (M, C) under params (C, 11).
Variable factorized_bits(const Variable& values, const Variable& params);

}  // namespace lnx
