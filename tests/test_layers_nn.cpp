// Tests of the layers built on the NN autograd ops (conv2d, batch_norm, pooling, dropout).
// PENDING: those ops land in other branches; after the merge, move this file to
// tests/test_layers_nn.cpp so the tests/ glob builds it.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <memory>
#include <vector>

#include "autograd/grad_mode.h"
#include "autograd/gradcheck.h"
#include "autograd/ops.h"
#include "core/ops.h"
#include "core/random.h"
#include "layers/nn.h"
#include "module_gradcheck.h"

using namespace lnx;
using namespace lnx::test;

namespace {

class BasicBlock : public Module {
 public:
  BasicBlock(int64_t channels, Generator* gen) : Module("BasicBlock") {
    conv1 = register_module(
        "conv1", std::make_shared<Conv2d>(channels, channels, 3, 1, 1, 1, 1, false, gen));
    bn1 = register_module("bn1", std::make_shared<BatchNorm2d>(channels));
    conv2 = register_module(
        "conv2", std::make_shared<Conv2d>(channels, channels, 3, 1, 1, 1, 1, false, gen));
    bn2 = register_module("bn2", std::make_shared<BatchNorm2d>(channels));
  }
  Variable forward(const Variable& x) override {
    const Variable y = relu(bn1->forward(conv1->forward(x)));
    return relu(bn2->forward(conv2->forward(y)) + x);
  }
  std::shared_ptr<Conv2d> conv1, conv2;
  std::shared_ptr<BatchNorm2d> bn1, bn2;
};

}  // namespace

TEST_CASE("Conv2d shapes, names and default init", "[layers][conv]") {
  Generator gen(1);
  Conv2d conv(3, 8, 3, 2, 1, 1, 1, true, &gen);
  CHECK(conv.weight().shape() == Shape{8, 3, 3, 3});
  CHECK(conv.bias().shape() == Shape{8});
  CHECK(conv(Variable(normal({2, 3, 9, 9}, 0, 1, &gen))).shape() == Shape{2, 8, 5, 5});
  CHECK(names_of(conv.named_parameters()) == std::vector<std::string>{"weight", "bias"});
  // PyTorch's default: everything within 1/sqrt(fan_in), fan_in = 3 * 3 * 3.
  const double bound = 1.0 / std::sqrt(27.0);
  CHECK(ops::reduce(ReduceOp::AbsMax, conv.weight().data(), {}, false).item() <= bound);
  CHECK(ops::reduce(ReduceOp::AbsMax, conv.bias().data(), {}, false).item() <= bound);

  Conv2d grouped(4, 6, 3, Conv2dOptions{.padding = 1, .groups = 2, .bias = false}, &gen);
  CHECK(grouped.weight().shape() == Shape{6, 2, 3, 3});
  CHECK_FALSE(grouped.bias().defined());
  CHECK(grouped(Variable(zeros({1, 4, 5, 5}))).shape() == Shape{1, 6, 5, 5});
  CHECK(grouped.extra_repr() ==
        "4, 6, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), groups=2, bias=False");

  CHECK_THROWS_WITH(Conv2d(4, 6, 3, 1, 0, 1, 4), Catch::Contains("groups 4"));
  CHECK_THROWS_WITH(conv(Variable(zeros({2, 4, 9, 9}))),
                    Catch::Contains("Conv2d: input has shape [2, 4, 9, 9], expected (N, 3, H, W)"));
}

TEST_CASE("Conv2d computes a direct convolution", "[layers][conv]") {
  Generator gen(2);
  Conv2d conv(2, 3, 3, 1, 1, 1, 1, true, &gen);
  const Tensor x = normal({2, 2, 4, 5}, 0, 1, &gen);
  const std::vector<float> y = conv(Variable(x)).data().to_vector<float>();
  const std::vector<float> xv = x.to_vector<float>();
  const std::vector<float> w = conv.weight().data().to_vector<float>();
  const std::vector<float> b = conv.bias().data().to_vector<float>();
  for (int n = 0; n < 2; ++n)
    for (int o = 0; o < 3; ++o)
      for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 5; ++j) {
          double acc = b[o];
          for (int c = 0; c < 2; ++c)
            for (int ki = 0; ki < 3; ++ki)
              for (int kj = 0; kj < 3; ++kj) {
                const int ii = i + ki - 1, jj = j + kj - 1;
                if (ii < 0 || ii >= 4 || jj < 0 || jj >= 5) continue;
                acc += w[((o * 2 + c) * 3 + ki) * 3 + kj] * xv[((n * 2 + c) * 4 + ii) * 5 + jj];
              }
          CHECK(y[((n * 3 + o) * 4 + i) * 5 + j] == Approx(acc).margin(1e-5));
        }
}

TEST_CASE("nested conv modules get PyTorch names", "[layers][module]") {
  Generator gen(3);
  Module net("Net");
  auto layer1 = net.register_module("layer1", std::make_shared<Sequential>());
  layer1->push_back(std::make_shared<BasicBlock>(4, &gen));
  const auto sd = net.state_dict();
  CHECK(sd.keys() == std::vector<std::string>{
                         "layer1.0.conv1.weight", "layer1.0.bn1.weight", "layer1.0.bn1.bias",
                         "layer1.0.bn1.running_mean", "layer1.0.bn1.running_var",
                         "layer1.0.bn1.num_batches_tracked", "layer1.0.conv2.weight",
                         "layer1.0.bn2.weight", "layer1.0.bn2.bias", "layer1.0.bn2.running_mean",
                         "layer1.0.bn2.running_var", "layer1.0.bn2.num_batches_tracked"});
  CHECK(sd.at("layer1.0.bn1.num_batches_tracked").dtype() == DType::Int64);
  CHECK(sd.at("layer1.0.bn1.num_batches_tracked").shape() == Shape{});
  CHECK(net.num_parameters() == 2 * (4 * 4 * 9 + 8));
}

TEST_CASE("BatchNorm2d running statistics", "[layers][bn]") {
  Generator gen(4);
  BatchNorm2d bn(3, 1e-5, 0.1);
  const Tensor x = normal({4, 3, 2, 2}, 2.0, 3.0, &gen);
  const std::vector<float> xv = x.to_vector<float>();
  bn(Variable(x));
  CHECK(bn.num_batches_tracked() == 1);
  const std::vector<float> rm = bn.running_mean().to_vector<float>();
  const std::vector<float> rv = bn.running_var().to_vector<float>();
  for (int c = 0; c < 3; ++c) {
    double mean = 0, sq = 0;
    for (int n = 0; n < 4; ++n)
      for (int k = 0; k < 4; ++k) mean += xv[(n * 3 + c) * 4 + k];
    mean /= 16;
    for (int n = 0; n < 4; ++n)
      for (int k = 0; k < 4; ++k) sq += std::pow(xv[(n * 3 + c) * 4 + k] - mean, 2);
    CHECK(rm[c] == Approx(0.1 * mean).margin(1e-5));
    CHECK(rv[c] == Approx(0.9 + 0.1 * sq / 15).epsilon(1e-4));  // unbiased variance
  }

  // Eval uses the running statistics and leaves them (and the counter) alone.
  bn.eval();
  bn.weight().data().copy_(from_vector(std::vector<float>{1, 2, 3}, {3}));
  bn.bias().data().copy_(from_vector(std::vector<float>{0, 1, -1}, {3}));
  const std::vector<float> y = bn(Variable(x)).data().to_vector<float>();
  CHECK(bn.num_batches_tracked() == 1);
  CHECK(bn.running_mean().to_vector<float>() == rm);
  for (int n = 0; n < 4; ++n)
    for (int c = 0; c < 3; ++c)
      for (int k = 0; k < 4; ++k) {
        const int i = (n * 3 + c) * 4 + k;
        const double want =
            (xv[i] - rm[c]) / std::sqrt(rv[c] + 1e-5) * (c + 1) + std::vector<double>{0, 1, -1}[c];
        CHECK(y[i] == Approx(want).margin(1e-4));
      }

  // The counter continues from a loaded value.
  bn.train();
  StateDict sd = bn.state_dict();
  sd.set("num_batches_tracked", from_vector(std::vector<int64_t>{41}, {}));
  bn.load_state_dict(sd);
  bn(Variable(x));
  CHECK(bn.num_batches_tracked() == 42);

  BatchNorm2d plain(3, 1e-5, 0.1, false);
  CHECK(plain.named_parameters().empty());
  CHECK(plain.named_buffers().size() == 3);
  CHECK(plain(Variable(x)).shape() == x.shape());
  CHECK_THROWS_WITH(bn(Variable(zeros({2, 4, 2, 2}))),
                    Catch::Contains("BatchNorm2d: input has shape [2, 4, 2, 2]"));
  CHECK_THROWS_WITH(BatchNorm2d(3, 1e-5, 1.5), Catch::Contains("momentum is 1.5"));
}

TEST_CASE("pooling modules", "[layers][pool]") {
  const Variable x(arange(0, 16).view({1, 1, 4, 4}));
  CHECK(MaxPool2d(2)(x).data().to_vector<float>() == std::vector<float>{5, 7, 13, 15});
  CHECK(AvgPool2d(2)(x).data().to_vector<float>() == std::vector<float>{2.5f, 4.5f, 10.5f, 12.5f});
  CHECK(MaxPool2d(3, 2, 1)(x).shape() == Shape{1, 1, 2, 2});
  const Variable g = GlobalAvgPool2d()(x);
  CHECK(g.shape() == Shape{1, 1});
  CHECK(g.item() == Approx(7.5));
  CHECK(MaxPool2d(3, 2, 1).extra_repr() == "kernel_size=3, stride=2, padding=1");
  CHECK_THROWS_WITH(MaxPool2d(2, 2, 2), Catch::Contains("padding is 2"));
  CHECK_THROWS_WITH(GlobalAvgPool2d()(Variable(zeros({2, 3}))),
                    Catch::Contains("GlobalAvgPool2d: input has shape [2, 3]"));
}

TEST_CASE("Dropout", "[layers][dropout]") {
  Generator gen(5);
  Dropout drop(0.25, &gen);
  const Variable x(ones({100, 100}));
  const std::vector<float> y = drop(x).data().to_vector<float>();
  int64_t zeros_seen = 0;
  for (float v : y) {
    if (v == 0.0f) {
      ++zeros_seen;
    } else {
      CHECK(v == Approx(1.0 / 0.75));
    }
  }
  CHECK(zeros_seen == Approx(2500).margin(250));
  drop.eval();
  CHECK(drop(x).data().to_vector<float>() == x.data().to_vector<float>());
  CHECK_THROWS_WITH(Dropout(1.0), Catch::Contains("p is 1, expected in [0, 1)"));
}

TEST_CASE("conv + bn + relu gradients", "[layers][grad]") {
  Generator gen(6);
  const Tensor x = normal({2, 2, 4, 4}, 0, 1, &gen);
  // Smooth first (no kinks to skip), then with the ReLU.
  Sequential smooth{std::make_shared<Conv2d>(2, 3, 3, 1, 1, 1, 1, true, &gen),
                    std::make_shared<BatchNorm2d>(3)};
  check_parameter_gradients(smooth, x);
  Sequential block{std::make_shared<Conv2d>(2, 3, 3, 1, 1, 1, 1, true, &gen),
                   std::make_shared<BatchNorm2d>(3), std::make_shared<ReLU>()};
  check_parameter_gradients(block, x);
  const GradcheckResult r =
      gradcheck([&](const std::vector<Variable>& in) { return block(in[0]); }, {x});
  INFO(r.report);
  CHECK(r.ok);
  block.eval();
  check_parameter_gradients(block, x);

  BasicBlock res(2, &gen);
  check_parameter_gradients(res, x);
}
