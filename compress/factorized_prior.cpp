#include "compress/factorized_prior.h"

#include <array>
#include <cmath>
#include <vector>

#include "autograd/grad_mode.h"
#include "core/backend.h"
#include "core/factorized_chain.h"
#include "core/ops.h"

namespace lnx {
namespace {

// The rate itself is the backend's fused kernel (Backend::factorized_rate); the CDF uses the
// scalar chain shared with it (core/factorized_chain.h).

void check_inputs(const Tensor& values, const Tensor& params, const char* op) {
  LNX_CHECK(values.dtype() == DType::Float32 && params.dtype() == DType::Float32, op,
            ": expected float32 values and parameters, got ", values.dtype(), " and ",
            params.dtype());
  LNX_CHECK(values.device() == params.device(), op, ": values on ", values.device().name(),
            " but the prior's parameters on ", params.device().name(), "; expected one device");
  LNX_CHECK(params.dim() == 2 && params.shape()[1] == kFactorizedParams, op,
            ": parameters have shape ", to_string(params.shape()), ", expected (C, ",
            kFactorizedParams, ")");
  LNX_CHECK(values.dim() == 2 && values.shape()[1] == params.shape()[0], op, ": values have shape ",
            to_string(values.shape()), ", expected (M, ", params.shape()[0], ") for a prior of ",
            params.shape()[0], " channels");
}

}  // namespace

RateResult factorized_rate(const Tensor& values_in, const Tensor& params_in, bool with_grad) {
  check_inputs(values_in, params_in, "factorized_rate");
  const Tensor values = values_in.contiguous(), params = params_in.contiguous();
  RateResult res;
  if (with_grad) {
    res.grad_values = Tensor::empty(values.shape(), DType::Float32, values.device());  // (M, C)
    res.grad_params = Tensor::empty(params.shape(), DType::Float32, params.device());  // (C, 11)
  }
  backend_of(values).factorized_rate(values, params, Tensor(), res.grad_values, res.grad_params,
                                     &res.total_bits);
  return res;
}

FactorizedPrior::FactorizedPrior(int64_t channels, Generator* gen, double init_std)
    : EntropyModel("FactorizedPrior") {
  LNX_CHECK(channels >= 1, "FactorizedPrior: channels must be at least 1, got ", channels);
  params_ = register_parameter("params", normal({channels, kFactorizedParams}, 0.0, init_std, gen));
}

FactorizedPrior::FactorizedPrior(const Tensor& params) : EntropyModel("FactorizedPrior") {
  LNX_CHECK(params.dim() == 2 && params.shape()[1] == kFactorizedParams,
            "FactorizedPrior: parameters have shape ", to_string(params.shape()), ", expected (C, ",
            kFactorizedParams, ")");
  params_ = register_parameter("params", params.clone());
}

Variable FactorizedPrior::bits(const Variable& values) const {
  return factorized_bits(values, params_);
}

Variable factorized_bits(const Variable& values, const Variable& params) {
  const bool need_grad = grad_enabled() && (values.requires_grad() || params.requires_grad());
  RateResult r = factorized_rate(values.data(), params.data(), need_grad);
  Tensor total = full({}, r.total_bits, DType::Float32, values.data().device());
  const Tensor gv = r.grad_values, gp = r.grad_params;
  return make_result(total, "factorized_rate", {&values, &params}, [gv, gp](const Tensor& g) {
    const double scale = g.item();  // the rate is a scalar: its upstream gradient too
    return std::vector<Tensor>{ops::mul(gv, scale), ops::mul(gp, scale)};
  });
}

Tensor FactorizedPrior::bits_per_element(const Tensor& values) const {
  check_inputs(values, params_.data(), "bits_per_element");
  const Tensor v = values.contiguous();
  Tensor out = Tensor::empty(v.shape(), DType::Float32, v.device());  // (M, C)
  backend_of(v).factorized_rate(v, params_.data().contiguous(), out, Tensor(), Tensor(), nullptr);
  return out;
}

Tensor FactorizedPrior::cdf(const Tensor& x) const {
  check_inputs(x, params_.data(), "cdf");
  LNX_CHECK(x.device().is_cpu() && params_.data().device().is_cpu(),
            "cdf: the factorized prior's CDF runs on the CPU only (values on ", x.device().name(),
            ")");
  const Tensor v = x.contiguous();
  const int64_t m = v.shape()[0], channels = v.shape()[1];
  const std::vector<factorized::Channel> ch =
      factorized::prepare(params_.data().contiguous().data<float>(), channels);
  Tensor out = Tensor::empty(v.shape());
  const float* vp = v.data<float>();
  float* op = out.data<float>();
  for (int64_t i = 0; i < m; ++i)
    for (int64_t c = 0; c < channels; ++c)
      op[i * channels + c] =
          factorized::sigmoidf(factorized::forward_chain(ch[c], vp[i * channels + c]).logit);
  return out;
}

}  // namespace lnx
