// The factorized prior's per-channel chain (method.md section 2), shared by the CPU rate kernel
// (core/cpu/factorized_rate.cpp) and the CDF that coder tables are built from:
//   for k = 1..3:  x = x * softplus(h_k) + b_k;  x = x + tanh(x) * tanh(a_k)
//   F(x) = sigmoid(x * softplus(h_4) + b_4)
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <vector>

namespace lnx::factorized {

inline constexpr int64_t kParams = 11;  // per channel: h1..h4, b1..b4, a1..a3

inline float sigmoidf(float x) {
  return 1.0f / (1.0f + std::exp(-x));
}
inline float softplusf(float x) {
  return std::log1p(std::exp(-std::fabs(x))) + std::max(x, 0.0f);
}

// Per-channel constants derived from the raw parameters once per call.
struct Channel {
  std::array<float, 4> sp_h, sig_h, b;  // softplus(h_k), sigmoid(h_k) = softplus'(h_k), b_k
  std::array<float, 3> ta, dta;         // tanh(a_k), 1 - tanh(a_k)^2
};

inline std::vector<Channel> prepare(const float* p, int64_t channels) {
  std::vector<Channel> ch(channels);
  for (int64_t c = 0; c < channels; ++c) {
    const float* q = p + c * kParams;  // h1..h4, b1..b4, a1..a3
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

}  // namespace lnx::factorized
