// Weight initialisers, in place on a tensor (a parameter's data()), with PyTorch's formulas
// (torch.nn.init) so a network starts from the same distributions. Each draws from `gen`, or
// from the global generator when null.
#pragma once

#include <string>
#include <utility>

#include "core/tensor.h"

namespace lnx {

class Generator;

namespace init {

enum class FanMode { FanIn, FanOut };

// (fan_in, fan_out) of a weight of 2+ axes: size(1) and size(0) times the receptive field
// (the product of the remaining axes), as torch.nn.init._calculate_fan_in_and_fan_out.
std::pair<int64_t, int64_t> fan_in_and_fan_out(const Shape& shape);
// The recommended gain of a nonlinearity: linear, conv1d/2d/3d, sigmoid (1), tanh (5/3),
// relu (sqrt 2), leaky_relu (sqrt(2 / (1 + slope^2)), slope defaulting to 0.01), selu (3/4).
double calculate_gain(const std::string& nonlinearity, double param = 0.01);
// Mode from its config spelling, "fan_in" or "fan_out".
FanMode parse_fan_mode(const std::string& mode);

void uniform_(const Tensor& t, double low = 0.0, double high = 1.0, Generator* gen = nullptr);
void normal_(const Tensor& t, double mean = 0.0, double std = 1.0, Generator* gen = nullptr);
void constant_(const Tensor& t, double value);
void zeros_(const Tensor& t);
void ones_(const Tensor& t);
void eye_(const Tensor& t);  // 2-D only: ones on the diagonal

// `a` is the negative slope of leaky_relu (used only for that nonlinearity).
// Uniform(-b, b) with b = gain * sqrt(3 / fan).
void kaiming_uniform_(const Tensor& t, double a = 0.0, FanMode mode = FanMode::FanIn,
                      const std::string& nonlinearity = "leaky_relu", Generator* gen = nullptr);
// Normal(0, gain / sqrt(fan)).
void kaiming_normal_(const Tensor& t, double a = 0.0, FanMode mode = FanMode::FanIn,
                     const std::string& nonlinearity = "leaky_relu", Generator* gen = nullptr);
// Uniform(-b, b) with b = gain * sqrt(6 / (fan_in + fan_out)).
void xavier_uniform_(const Tensor& t, double gain = 1.0, Generator* gen = nullptr);
// Normal(0, gain * sqrt(2 / (fan_in + fan_out))).
void xavier_normal_(const Tensor& t, double gain = 1.0, Generator* gen = nullptr);

// PyTorch's default for nn.Linear / nn.Conv2d: kaiming_uniform_(weight, a = sqrt(5)), i.e.
// Uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)), and the bias (when defined) from the same range.
void default_weight_and_bias_(const Tensor& weight, const Tensor& bias, Generator* gen = nullptr);

}  // namespace init
}  // namespace lnx
