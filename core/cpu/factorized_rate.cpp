// LilNetX's fused rate under the factorized prior on the CPU (the math: compress/
// factorized_prior.h and docs/method.md section 2). Each element's two logit chains
// (v + 1/2 and v - 1/2) are evaluated and differentiated together; only the per-channel
// parameter gradients are reduced across threads.
#include <omp.h>

// GCC 12 reports a false -Wuninitialized inside its AVX-512 intrinsics where Eigen's packet
// exp/log/tanh are inlined into this file's block kernels (see the top CMakeLists.txt).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

#include <Eigen/Core>
#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

#include "core/cpu/cpu_backend.h"
#include "core/factorized_chain.h"

namespace lnx {
namespace {

constexpr float kLikelihoodFloor = 1e-10f;
constexpr float kMaxBits = 50.0f;
constexpr float kInvLn2 = 1.4426950408889634f;

using factorized::Channel;
using factorized::kParams;
using factorized::prepare;

// The chain on a block of kBlock values of one channel at a time, as Eigen array expressions:
// exp, log and tanh then run as SIMD packets instead of scalar libm calls, which was most of
// the rate's cost. Padding lanes carry mask 0 and contribute nothing.
constexpr int kBlock = 256;
using Block = Eigen::Array<float, kBlock, 1>;

struct BlockChain {
  Block z_in[4];  // input of layer k (z_0 = t)
  Block th[3];    // tanh(y_k)
  Block logit;
};

inline void forward_block(const Channel& c, const Block& t, BlockChain& r) {
  r.z_in[0] = t;
  for (int k = 0; k < 3; ++k) {
    const Block y = r.z_in[k] * c.sp_h[k] + c.b[k];
    r.th[k] = y.tanh();
    r.z_in[k + 1] = y + r.th[k] * c.ta[k];
  }
  r.logit = r.z_in[3] * c.sp_h[3] + c.b[3];
}

inline Block backward_block(const Channel& c, const BlockChain& r, const Block& g, double* gp) {
  gp[3] += static_cast<double>((g * r.z_in[3]).sum()) * c.sig_h[3];
  gp[7] += g.sum();
  Block gz = g * c.sp_h[3];
  for (int k = 2; k >= 0; --k) {
    gp[8 + k] += static_cast<double>((gz * r.th[k]).sum()) * c.dta[k];
    const Block gy = gz * (1.0f + (1.0f - r.th[k].square()) * c.ta[k]);
    gp[k] += static_cast<double>((gy * r.z_in[k]).sum()) * c.sig_h[k];
    gp[4 + k] += gy.sum();
    gz = gy * c.sp_h[k];
  }
  return gz;
}

// Bits of a block (per element into `bits`), with gradients when gv != nullptr.
inline void block_bits(const Channel& c, const Block& v, const Block& mask, Block& bits, Block* gv,
                       double* gp) {
  thread_local BlockChain up, lo;
  forward_block(c, v + 0.5f, up);
  forward_block(c, v - 0.5f, lo);
  // The sign trick: F(u) - F(l) = sigmoid(s u) - sigmoid(s l) up to sign, with s chosen so both
  // sigmoids are taken on the side where they do not saturate to 1 and cancel.
  const Block s =
      (up.logit + lo.logit > 0.0f).select(Block::Constant(-1.0f), Block::Constant(1.0f));
  const Block su = 1.0f / (1.0f + (-s * up.logit).exp());
  const Block sl = 1.0f / (1.0f + (-s * lo.logit).exp());
  const Block diff = su - sl;
  const Block p = diff.abs() + kLikelihoodFloor;
  const Block raw = -p.log() * kInvLn2;
  bits = raw.min(kMaxBits).max(0.0f) * mask;
  if (!gv) return;
  // Zero where masked or clamped (the clamp's gradient).
  const Block live = ((raw <= kMaxBits) && (raw >= 0.0f)).select(mask, Block::Zero());
  const Block dbits_dp = -kInvLn2 / p * live;
  const Block sgn = (diff >= 0.0f).select(Block::Constant(1.0f), Block::Constant(-1.0f));
  const Block g_up = dbits_dp * sgn * s * su * (1.0f - su);
  const Block g_lo = -dbits_dp * sgn * s * sl * (1.0f - sl);
  *gv = backward_block(c, up, g_up, gp) + backward_block(c, lo, g_lo, gp);
}

// Runs block_bits over every channel of rows [begin, end) of values (M, C): gathers each
// channel's strided values into a block and scatters bits and gradients back.
double rows_bits(const std::vector<Channel>& ch, const float* v, int64_t channels, int64_t begin,
                 int64_t end, float* bits_out, float* gv_out, double* gp) {
  double total = 0;
  Block vals, mask, bits, grad;
  for (int64_t i0 = begin; i0 < end; i0 += kBlock) {
    const int64_t n = std::min<int64_t>(kBlock, end - i0);
    for (int64_t c = 0; c < channels; ++c) {
      for (int64_t j = 0; j < kBlock; ++j) {
        const bool in = j < n;
        vals[j] = in ? v[(i0 + j) * channels + c] : 0.0f;
        mask[j] = in ? 1.0f : 0.0f;
      }
      block_bits(ch[c], vals, mask, bits, gv_out ? &grad : nullptr,
                 gp ? gp + c * kParams : nullptr);
      total += bits.sum();
      for (int64_t j = 0; j < n; ++j) {
        if (bits_out) bits_out[(i0 + j) * channels + c] = bits[j];
        if (gv_out) gv_out[(i0 + j) * channels + c] = grad[j];
      }
    }
  }
  return total;
}

}  // namespace

void CpuBackend::factorized_rate(const Tensor& values, const Tensor& params, const Tensor& bits_out,
                                 const Tensor& grad_values, const Tensor& grad_params,
                                 double* total_bits) {
  const int64_t m = values.size(0), channels = values.size(1);
  const bool with_grad = grad_values.defined();
  const std::vector<Channel> ch = prepare(params.data<float>(), channels);
  const float* v = values.data<float>();                                // (M, C)
  float* bits = bits_out.defined() ? bits_out.data<float>() : nullptr;  // (M, C)
  float* gv = with_grad ? grad_values.data<float>() : nullptr;          // (M, C)
  const int nt = m * channels >= 4096 ? omp_get_max_threads() : 1;
  std::vector<double> partial_bits(nt, 0.0);
  std::vector<double> partial_gp(with_grad ? nt * channels * kParams : 0, 0.0);
#pragma omp parallel num_threads(nt)
  {
    // A fixed split of the rows per thread: the sums do not depend on timing.
    const int t = omp_get_thread_num(), team = omp_get_num_threads();
    double* gp = with_grad ? partial_gp.data() + t * channels * kParams : nullptr;
    const int64_t begin = m * t / team, end = m * (t + 1) / team;
    partial_bits[t] = rows_bits(ch, v, channels, begin, end, bits, gv, gp);
  }
  if (total_bits) {
    *total_bits = 0;
    for (double b : partial_bits) *total_bits += b;
  }
  if (with_grad) {
    float* g = grad_params.data<float>();  // (C, 11)
    for (int64_t j = 0; j < channels * kParams; ++j) {
      double s = 0;
      for (int t = 0; t < nt; ++t) s += partial_gp[t * channels * kParams + j];
      g[j] = static_cast<float>(s);
    }
  }
}

}  // namespace lnx
