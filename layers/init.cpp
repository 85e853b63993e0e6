#include "layers/init.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/random.h"

namespace lnx::init {

namespace {

void check_float(const Tensor& t, const char* op) {
  LNX_CHECK(t.defined(), op, ": tensor is undefined");
  LNX_CHECK(t.dtype() == DType::Float32, op, ": tensor has dtype ", t.dtype(),
            ", expected float32");
}

double fan_for(const Tensor& t, FanMode mode, const char* op) {
  LNX_CHECK(t.defined(), op, ": tensor is undefined");
  const auto [fan_in, fan_out] = fan_in_and_fan_out(t.shape());
  const int64_t fan = mode == FanMode::FanIn ? fan_in : fan_out;
  LNX_CHECK(fan > 0, op, ": tensor of shape ", to_string(t.shape()), " has a zero fan");
  return static_cast<double>(fan);
}

}  // namespace

std::pair<int64_t, int64_t> fan_in_and_fan_out(const Shape& shape) {
  LNX_CHECK(shape.size() >= 2, "fan_in_and_fan_out: shape ", to_string(shape),
            " has fewer than 2 axes; fans are defined for weights of 2 or more axes");
  int64_t receptive = 1;
  for (size_t i = 2; i < shape.size(); ++i) receptive *= shape[i];
  return {shape[1] * receptive, shape[0] * receptive};
}

double calculate_gain(const std::string& nonlinearity, double param) {
  if (nonlinearity == "linear" || nonlinearity == "conv1d" || nonlinearity == "conv2d" ||
      nonlinearity == "conv3d" || nonlinearity == "sigmoid") {
    return 1.0;
  }
  if (nonlinearity == "tanh") return 5.0 / 3.0;
  if (nonlinearity == "relu") return std::sqrt(2.0);
  if (nonlinearity == "leaky_relu") return std::sqrt(2.0 / (1.0 + param * param));
  if (nonlinearity == "selu") return 3.0 / 4.0;
  fail("calculate_gain: unknown nonlinearity '", nonlinearity,
       "'; expected one of linear, conv1d, conv2d, conv3d, sigmoid, tanh, relu, leaky_relu, selu");
}

FanMode parse_fan_mode(const std::string& mode) {
  if (mode == "fan_in") return FanMode::FanIn;
  if (mode == "fan_out") return FanMode::FanOut;
  fail("init: unknown fan mode '", mode, "'; expected fan_in or fan_out");
}

void uniform_(const Tensor& t, double low, double high, Generator* gen) {
  check_float(t, "uniform_");
  LNX_CHECK(low <= high, "uniform_: low ", low, " is greater than high ", high);
  t.copy_(uniform(t.shape(), low, high, gen, t.device()));
}

void normal_(const Tensor& t, double mean, double std, Generator* gen) {
  check_float(t, "normal_");
  LNX_CHECK(std >= 0.0, "normal_: std is ", std, ", expected >= 0");
  t.copy_(normal(t.shape(), mean, std, gen, t.device()));
}

void constant_(const Tensor& t, double value) {
  LNX_CHECK(t.defined(), "constant_: tensor is undefined");
  t.fill_(value);
}

void zeros_(const Tensor& t) {
  constant_(t, 0.0);
}
void ones_(const Tensor& t) {
  constant_(t, 1.0);
}

void eye_(const Tensor& t) {
  check_float(t, "eye_");
  LNX_CHECK(t.dim() == 2, "eye_: tensor has shape ", to_string(t.shape()), ", expected 2 axes");
  const int64_t rows = t.size(0), cols = t.size(1);
  std::vector<float> values(static_cast<size_t>(rows * cols), 0.0f);
  for (int64_t i = 0; i < std::min(rows, cols); ++i) values[static_cast<size_t>(i * cols + i)] = 1;
  t.copy_(from_vector(values, t.shape()));
}

void kaiming_uniform_(const Tensor& t, double a, FanMode mode, const std::string& nonlinearity,
                      Generator* gen) {
  check_float(t, "kaiming_uniform_");
  const double sd =
      calculate_gain(nonlinearity, a) / std::sqrt(fan_for(t, mode, "kaiming_uniform_"));
  const double bound = std::sqrt(3.0) * sd;
  uniform_(t, -bound, bound, gen);
}

void kaiming_normal_(const Tensor& t, double a, FanMode mode, const std::string& nonlinearity,
                     Generator* gen) {
  check_float(t, "kaiming_normal_");
  const double sd =
      calculate_gain(nonlinearity, a) / std::sqrt(fan_for(t, mode, "kaiming_normal_"));
  normal_(t, 0.0, sd, gen);
}

void xavier_uniform_(const Tensor& t, double gain, Generator* gen) {
  check_float(t, "xavier_uniform_");
  const auto [fan_in, fan_out] = fan_in_and_fan_out(t.shape());
  const double bound = gain * std::sqrt(6.0 / static_cast<double>(fan_in + fan_out));
  uniform_(t, -bound, bound, gen);
}

void xavier_normal_(const Tensor& t, double gain, Generator* gen) {
  check_float(t, "xavier_normal_");
  const auto [fan_in, fan_out] = fan_in_and_fan_out(t.shape());
  normal_(t, 0.0, gain * std::sqrt(2.0 / static_cast<double>(fan_in + fan_out)), gen);
}

void default_weight_and_bias_(const Tensor& weight, const Tensor& bias, Generator* gen) {
  kaiming_uniform_(weight, std::sqrt(5.0), FanMode::FanIn, "leaky_relu", gen);
  if (!bias.defined()) return;
  const double fan_in = fan_for(weight, FanMode::FanIn, "default_weight_and_bias_");
  const double bound = 1.0 / std::sqrt(fan_in);
  uniform_(bias, -bound, bound, gen);
}

}  // namespace lnx::init
