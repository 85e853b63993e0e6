#include "compress/factorized_prior.h"

#include <omp.h>

#include <array>
#include <cmath>
#include <vector>

#include "autograd/grad_mode.h"
#include "core/ops.h"

namespace lnx {
namespace {

constexpr float kLikelihoodFloor = 1e-10f;
constexpr float kMaxBits = 50.0f;
constexpr float kInvLn2 = 1.4426950408889634f;

inline float sigmoidf(float x) { return 1.0f / (1.0f + std::exp(-x)); }
inline float softplusf(float x) { return std::log1p(std::exp(-std::fabs(x))) + std::max(x, 0.0f); }

// Per-channel constants derived from the raw parameters once per call.
struct Channel {
  std::array<float, 4> sp_h, sig_h, b;  // softplus(h_k), sigmoid(h_k) = softplus'(h_k), b_k
  std::array<float, 3> ta, dta;         // tanh(a_k), 1 - tanh(a_k)^2
};

std::vector<Channel> prepare(const float* p, int64_t channels) {
  std::vector<Channel> ch(channels);
  for (int64_t c = 0; c < channels; ++c) {
    const float* q = p + c * kFactorizedParams;  // h1..h4, b1..b4, a1..a3
    for (int k = 0; k < 4; ++k) {
      ch[c].sp_h[k] = softplusf(q[k]);
      ch[c].sig_h[k] = sigmoidf(q[k]);
      ch[c].b[k] = q[4 + k];
    }
    for (int k = 0; k < 3; ++k) {
      ch[c].ta[k] = std::tanh(q[8 + k]);
      ch[c].dta[k] = 1.0f - ch[c].ta[k] * ch[c].ta[k];
    }
  }
  return ch;
}

// One evaluation of the logit chain, keeping what its derivative needs.
struct Chain {
  std::array<float, 4> z_in;  // input of layer k (z_0 = t)
  std::array<float, 3> th;    // tanh(y_k)
  float logit;
};

inline Chain forward_chain(const Channel& c, float t) {
  Chain r;
  float z = t;
  for (int k = 0; k < 3; ++k) {
    r.z_in[k] = z;
    const float y = z * c.sp_h[k] + c.b[k];
    r.th[k] = std::tanh(y);
    z = y + r.th[k] * c.ta[k];
  }
  r.z_in[3] = z;
  r.logit = z * c.sp_h[3] + c.b[3];
  return r;
}

// Back-propagates d/dlogit = g through the chain into the parameter gradients (row of 11)
// and returns d/dt.
inline float backward_chain(const Channel& c, const Chain& r, float g, double* gp) {
  gp[3] += g * r.z_in[3] * c.sig_h[3];
  gp[7] += g;
  float gz = g * c.sp_h[3];
  for (int k = 2; k >= 0; --k) {
    gp[8 + k] += gz * r.th[k] * c.dta[k];
    const float gy = gz * (1.0f + (1.0f - r.th[k] * r.th[k]) * c.ta[k]);
    gp[k] += gy * r.z_in[k] * c.sig_h[k];
    gp[4 + k] += gy;
    gz = gy * c.sp_h[k];
  }
  return gz;
}

// Bits of one value; with gradients when gv != nullptr.
inline float element_bits(const Channel& c, float v, float* gv, double* gp) {
  const Chain up = forward_chain(c, v + 0.5f), lo = forward_chain(c, v - 0.5f);
  // Evaluate in the tail where the sigmoids are not saturated: P = |s(s*u) - s(s*l)| with
  // s = -sign(u + l) is F(v+1/2) - F(v-1/2) exactly, without cancellation far from the mode.
  const float s = up.logit + lo.logit > 0.0f ? -1.0f : 1.0f;
  const float su = sigmoidf(s * up.logit), sl = sigmoidf(s * lo.logit);
  const float diff = su - sl;
  const float p = std::fabs(diff);
  float bits = -std::log2(p + kLikelihoodFloor);
  bool clamped = false;
  if (bits > kMaxBits) {
    bits = kMaxBits;
    clamped = true;
  } else if (bits < 0.0f) {
    bits = 0.0f;
    clamped = true;
  }
  if (gv) {
    if (clamped) {
      *gv = 0.0f;
    } else {
      const float dbits_dp = -kInvLn2 / (p + kLikelihoodFloor);
      const float sgn = diff >= 0.0f ? 1.0f : -1.0f;
      const float g_up = dbits_dp * sgn * s * su * (1.0f - su);
      const float g_lo = -dbits_dp * sgn * s * sl * (1.0f - sl);
      *gv = backward_chain(c, up, g_up, gp) + backward_chain(c, lo, g_lo, gp);
    }
  }
  return bits;
}

void check_inputs(const Tensor& values, const Tensor& params, const char* op) {
  LNX_CHECK(values.dtype() == DType::Float32 && params.dtype() == DType::Float32, op,
            ": expected float32 values and parameters, got ", values.dtype(), " and ",
            params.dtype());
  LNX_CHECK(values.device().is_cpu() && params.device().is_cpu(), op,
            ": the fused rate kernel runs on the CPU only in this build (values on ",
            values.device().name(), ")");
  LNX_CHECK(params.dim() == 2 && params.shape()[1] == kFactorizedParams, op,
            ": parameters have shape ", to_string(params.shape()), ", expected (C, ",
            kFactorizedParams, ")");
  LNX_CHECK(values.dim() == 2 && values.shape()[1] == params.shape()[0], op, ": values have shape ",
            to_string(values.shape()), ", expected (M, ", params.shape()[0],
            ") for a prior of ", params.shape()[0], " channels");
}

}  // namespace

RateResult factorized_rate(const Tensor& values_in, const Tensor& params_in, bool with_grad) {
  check_inputs(values_in, params_in, "factorized_rate");
  const Tensor values = values_in.contiguous(), params = params_in.contiguous();
  const int64_t m = values.shape()[0], channels = values.shape()[1];
  const std::vector<Channel> ch = prepare(params.data<float>(), channels);
  const float* v = values.data<float>();  // (M, C)
  RateResult res;
  float* gv = nullptr;
  if (with_grad) {
    res.grad_values = Tensor::empty(values.shape());
    gv = res.grad_values.data<float>();  // (M, C)
  }
  const int nt = m * channels >= 4096 ? omp_get_max_threads() : 1;
  std::vector<double> partial_bits(nt, 0.0);
  std::vector<double> partial_gp(with_grad ? nt * channels * kFactorizedParams : 0, 0.0);
#pragma omp parallel num_threads(nt)
  {
    const int t = omp_get_thread_num();
    double* gp = with_grad ? partial_gp.data() + t * channels * kFactorizedParams : nullptr;
    double acc = 0.0;
#pragma omp for schedule(static)
    for (int64_t i = 0; i < m; ++i) {
      float row = 0.0f;
      for (int64_t c = 0; c < channels; ++c) {
        const int64_t e = i * channels + c;
        row += element_bits(ch[c], v[e], gv ? gv + e : nullptr,
                            gp ? gp + c * kFactorizedParams : nullptr);
      }
      acc += row;
    }
    partial_bits[t] = acc;
  }
  for (double b : partial_bits) res.total_bits += b;
  if (with_grad) {
    res.grad_params = zeros(params.shape());
    float* g = res.grad_params.data<float>();  // (C, 11)
    for (int t = 0; t < nt; ++t)
      for (int64_t j = 0; j < channels * kFactorizedParams; ++j)
        g[j] += static_cast<float>(partial_gp[t * channels * kFactorizedParams + j]);
  }
  return res;
}

FactorizedPrior::FactorizedPrior(int64_t channels, Generator* gen, double init_std)
    : EntropyModel("FactorizedPrior") {
  LNX_CHECK(channels >= 1, "FactorizedPrior: channels must be at least 1, got ", channels);
  params_ = register_parameter("params", normal({channels, kFactorizedParams}, 0.0, init_std, gen));
}

FactorizedPrior::FactorizedPrior(const Tensor& params) : EntropyModel("FactorizedPrior") {
  LNX_CHECK(params.dim() == 2 && params.shape()[1] == kFactorizedParams,
            "FactorizedPrior: parameters have shape ", to_string(params.shape()),
            ", expected (C, ", kFactorizedParams, ")");
  params_ = register_parameter("params", params.clone());
}

Variable FactorizedPrior::bits(const Variable& values) const {
  return factorized_bits(values, params_);
}

Variable factorized_bits(const Variable& values, const Variable& params) {
  const bool need_grad = grad_enabled() && (values.requires_grad() || params.requires_grad());
  RateResult r = factorized_rate(values.data(), params.data(), need_grad);
  Tensor total = full({}, r.total_bits);
  const Tensor gv = r.grad_values, gp = r.grad_params;
  return make_result(total, "factorized_rate", {&values, &params}, [gv, gp](const Tensor& g) {
    const double scale = g.item();  // the rate is a scalar: its upstream gradient too
    return std::vector<Tensor>{ops::mul(gv, scale), ops::mul(gp, scale)};
  });
}

Tensor FactorizedPrior::bits_per_element(const Tensor& values) const {
  check_inputs(values, params_.data(), "bits_per_element");
  const Tensor v = values.contiguous();
  const int64_t m = v.shape()[0], channels = v.shape()[1];
  const std::vector<Channel> ch = prepare(params_.data().contiguous().data<float>(), channels);
  Tensor out = Tensor::empty(v.shape());
  const float* vp = v.data<float>();
  float* op = out.data<float>();
#pragma omp parallel for schedule(static) if (m * channels >= 4096)
  for (int64_t i = 0; i < m; ++i)
    for (int64_t c = 0; c < channels; ++c)
      op[i * channels + c] = element_bits(ch[c], vp[i * channels + c], nullptr, nullptr);
  return out;
}

Tensor FactorizedPrior::cdf(const Tensor& x) const {
  check_inputs(x, params_.data(), "cdf");
  const Tensor v = x.contiguous();
  const int64_t m = v.shape()[0], channels = v.shape()[1];
  const std::vector<Channel> ch = prepare(params_.data().contiguous().data<float>(), channels);
  Tensor out = Tensor::empty(v.shape());
  const float* vp = v.data<float>();
  float* op = out.data<float>();
  for (int64_t i = 0; i < m; ++i)
    for (int64_t c = 0; c < channels; ++c)
      op[i * channels + c] = sigmoidf(forward_chain(ch[c], vp[i * channels + c]).logit);
  return out;
}

}  // namespace lnx
