// Batch norm in evaluation is one affine map per channel, y = x * scale + shift. The CPU kernel,
// the sparse plan and the .lnx writer take it from batch_norm_affine, so a file that stores the
// folded pair gives the kernel the same scale and shift, bit for bit (cuda/batch_norm.cu spells
// out the same arithmetic in device code).
#pragma once

#include <cmath>

namespace lnx {

struct ChannelAffine {
  float scale;
  float shift;
};

inline ChannelAffine batch_norm_affine(float gamma, float beta, float mean, float var, double eps) {
  const double scale = gamma / std::sqrt(static_cast<double>(var) + eps);
  return {static_cast<float>(scale), static_cast<float>(beta - mean * scale)};
}

// The running variance that makes batch norm the affine map it is given: for every float s and t,
// batch_norm_affine(s, t, 0, identity_running_var(eps), eps) == {s, t}. The float nearest 1 - eps
// puts var + eps within 2^-25 of 1, so the divisor's square root is within 2^-26 of 1: less than
// half a float's spacing relative to any float, and s / root rounds back to s. Needs 0 < eps <=
// 0.5, where 1 - eps lies in [0.5, 1) and floats are 2^-24 apart.
inline float identity_running_var(double eps) {
  return static_cast<float>(1.0 - eps);
}

}  // namespace lnx
