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
#include "layers/activation.h"
#include "layers/flatten.h"
#include "layers/init.h"
#include "layers/linear.h"
#include "layers/module.h"
#include "layers/sequential.h"
#include "module_gradcheck.h"

using namespace lnx;
using namespace lnx::test;

namespace {

// A residual-style block made of Linear layers: exercises custom children and buffers without
// the conv/BN ops (tests/pending/test_layers_nn.cpp covers those).
class Block : public Module {
 public:
  Block(int64_t width, Generator* gen) : Module("Block") {
    fc1 = register_module("fc1", std::make_shared<Linear>(width, width, true, gen));
    act = register_module("act", std::make_shared<ReLU>());
    fc2 = register_module("fc2", std::make_shared<Linear>(width, width, false, gen));
    register_buffer("calls", zeros({}, DType::Int64));
  }
  Variable forward(const Variable& x) override {
    const Tensor calls = buffer("calls");
    calls.fill_(calls.item() + 1);
    return relu(fc2->forward(act->forward(fc1->forward(x))) + x);
  }
  std::shared_ptr<Linear> fc1;
  std::shared_ptr<ReLU> act;
  std::shared_ptr<Linear> fc2;
};

class Net : public Module {
 public:
  explicit Net(uint64_t seed) : Module("Net"), gen(seed) {
    stem = register_module("stem", std::make_shared<Linear>(3, 4, true, &gen));
    layer1 = register_module("layer1", std::make_shared<Sequential>());
    layer1->push_back(std::make_shared<Block>(4, &gen));
    layer1->push_back(std::make_shared<Block>(4, &gen));
    head = register_module("head", std::make_shared<Linear>(4, 2, true, &gen));
  }
  Variable forward(const Variable& x) override {
    return head->forward(layer1->forward(stem->forward(x)));
  }
  Generator gen;
  std::shared_ptr<Linear> stem;
  std::shared_ptr<Sequential> layer1;
  std::shared_ptr<Linear> head;
};

double sample_std(const Tensor& t) {
  const std::vector<float> v = t.contiguous().to_vector<float>();
  double mean = 0, sq = 0;
  for (float x : v) mean += x;
  mean /= static_cast<double>(v.size());
  for (float x : v) sq += (x - mean) * (x - mean);
  return std::sqrt(sq / static_cast<double>(v.size() - 1));
}

}  // namespace

TEST_CASE("parameters get PyTorch-style dotted names", "[module]") {
  SECTION("Sequential numbers its children") {
    Generator gen(1);
    Sequential seq{std::make_shared<Linear>(3, 4, true, &gen), std::make_shared<ReLU>(),
                   std::make_shared<Linear>(4, 2, false, &gen)};
    CHECK(names_of(seq.named_parameters()) ==
          std::vector<std::string>{"0.weight", "0.bias", "2.weight"});
    CHECK(seq.size() == 3);
    CHECK(seq.at<Linear>(2)->out_features() == 2);
    CHECK_THROWS_WITH(seq.at<Linear>(1), Catch::Contains("child 1 is a ReLU"));
    CHECK_THROWS_WITH(seq[3], Catch::Contains("index 3 is out of range for 3"));
  }
  SECTION("nested custom modules") {
    Net net(1);
    CHECK(names_of(net.named_parameters()) ==
          std::vector<std::string>{"stem.weight", "stem.bias", "layer1.0.fc1.weight",
                                   "layer1.0.fc1.bias", "layer1.0.fc2.weight",
                                   "layer1.1.fc1.weight", "layer1.1.fc1.bias",
                                   "layer1.1.fc2.weight", "head.weight", "head.bias"});
    CHECK(names_of(net.named_parameters(false)).empty());
    CHECK(net.layer1->at<Block>(1)->fc1->weight().name() == "weight");
    // 3*4+4 + 2*(4*4+4 + 4*4) + 4*2+2
    CHECK(net.num_parameters() == 16 + 2 * 36 + 10);
    CHECK(net.parameters().size() == 10);
    const auto buffers = net.named_buffers();
    REQUIRE(buffers.size() == 2);
    CHECK(buffers[0].first == "layer1.0.calls");
    CHECK(buffers[1].first == "layer1.1.calls");
    std::vector<std::string> modules;
    for (const auto& [name, m] : net.named_modules())
      modules.push_back(name + ":" + m->type_name());
    CHECK(modules ==
          std::vector<std::string>{":Net", "stem:Linear", "layer1:Sequential", "layer1.0:Block",
                                   "layer1.0.fc1:Linear", "layer1.0.act:ReLU",
                                   "layer1.0.fc2:Linear", "layer1.1:Block", "layer1.1.fc1:Linear",
                                   "layer1.1.act:ReLU", "layer1.1.fc2:Linear", "head:Linear"});
  }
}

TEST_CASE("registration rejects bad names", "[module][errors]") {
  Module m("Custom");
  m.register_parameter("w", zeros({2}));
  CHECK_THROWS_WITH(m.register_parameter("w", zeros({2})), Catch::Contains("Custom") &&
                                                               Catch::Contains("'w'") &&
                                                               Catch::Contains("already used"));
  CHECK_THROWS_WITH(m.register_buffer("a.b", zeros({2})), Catch::Contains("contains '.'"));
  CHECK_THROWS_WITH(m.register_module("", std::make_shared<ReLU>()), Catch::Contains("empty name"));
  CHECK_THROWS_WITH(m.register_parameter("ids", zeros({2}, DType::Int64)),
                    Catch::Contains("must be float32"));
  CHECK_THROWS_WITH(m.parameter("nope"), Catch::Contains("no parameter named 'nope'"));
  CHECK_THROWS_WITH(m.child("nope"), Catch::Contains("no child module named 'nope'"));
  CHECK_FALSE(m.has_child("nope"));
  m.register_module("act", std::make_shared<ReLU>());
  CHECK(m.has_child("act"));
  CHECK_FALSE(m.has_child("w"));  // a parameter, not a child
  CHECK_THROWS_WITH(m.forward(Variable(zeros({1}))),
                    Catch::Contains("Custom: this module has no forward"));
  // An undefined tensor reserves the name (Linear without bias) but registers nothing.
  CHECK_FALSE(m.register_parameter("bias", Tensor()).defined());
  CHECK(m.named_parameters().size() == 1);
  CHECK_THROWS_WITH(m.register_parameter("bias", zeros({1})), Catch::Contains("already used"));
}

TEST_CASE("train and eval propagate to every descendant", "[module]") {
  Net net(1);
  CHECK(net.is_training());
  net.eval();
  for (const auto& [name, m] : net.named_modules()) {
    INFO(name);
    CHECK_FALSE(m->is_training());
  }
  net.layer1->train();
  CHECK_FALSE(net.is_training());
  CHECK(net.layer1->at<Block>(0)->fc1->is_training());
  net.train(true);
  for (const auto& [name, m] : net.named_modules()) CHECK(m->is_training());
}

TEST_CASE("state_dict round trip", "[module][state]") {
  Net a(1), b(2);
  const Tensor x = normal({5, 3}, 0, 1, &a.gen);
  a.forward(Variable(x));  // bumps a's call counters
  const StateDict sd = a.state_dict();
  // PyTorch's order: a module's own parameters and buffers come before its children's.
  CHECK(sd.keys() == std::vector<std::string>{"stem.weight", "stem.bias", "layer1.0.calls",
                                              "layer1.0.fc1.weight", "layer1.0.fc1.bias",
                                              "layer1.0.fc2.weight", "layer1.1.calls",
                                              "layer1.1.fc1.weight", "layer1.1.fc1.bias",
                                              "layer1.1.fc2.weight", "head.weight", "head.bias"});
  CHECK(a.forward(Variable(x)).data().to_vector<float>() !=
        b.forward(Variable(x)).data().to_vector<float>());
  const Variable b_weight = b.stem->weight();
  const auto result = b.load_state_dict(sd);
  CHECK(result.missing_keys.empty());
  CHECK(result.unexpected_keys.empty());
  CHECK(a.forward(Variable(x)).data().to_vector<float>() ==
        b.forward(Variable(x)).data().to_vector<float>());
  // Loaded in place: the Variable an optimizer holds sees the new values.
  CHECK(b_weight.data().to_vector<float>() == a.stem->weight().data().to_vector<float>());
  CHECK(b.layer1->at<Block>(0)->buffer("calls").item() == 3.0);  // 2 in a, +1 after loading
  // The dict aliases a's tensors; clone() gives a snapshot.
  CHECK(sd.at("stem.weight").storage() == a.stem->weight().data().storage());
}

TEST_CASE("load_state_dict reports missing, unexpected and mismatched keys", "[module][errors]") {
  Net net(1);
  const std::vector<float> before = net.head->weight().data().to_vector<float>();
  StateDict sd = Net(2).state_dict();
  sd.erase("head.bias");
  sd.insert("head.scale", zeros({2}));
  CHECK_THROWS_WITH(net.load_state_dict(sd), Catch::Contains("missing keys: 'head.bias'") &&
                                                 Catch::Contains("unexpected keys: 'head.scale'"));
  CHECK(net.head->weight().data().to_vector<float>() == before);  // nothing written

  const auto result = net.load_state_dict(sd, false);
  CHECK(result.missing_keys == std::vector<std::string>{"head.bias"});
  CHECK(result.unexpected_keys == std::vector<std::string>{"head.scale"});
  CHECK(net.head->weight().data().to_vector<float>() != before);

  StateDict wrong = Net(2).state_dict();
  wrong.set("stem.weight", zeros({3, 4}));
  CHECK_THROWS_WITH(net.load_state_dict(wrong, false),
                    Catch::Contains("shape mismatch for 'stem.weight': checkpoint has [3, 4], "
                                    "module has [4, 3]"));
  StateDict dup;
  dup.insert("a", zeros({1}));
  CHECK_THROWS_WITH(dup.insert("a", zeros({1})), Catch::Contains("'a' is already present"));
  CHECK_THROWS_WITH(dup.at("b"), Catch::Contains("no entry named 'b'"));
}

TEST_CASE("Linear computes x W^T + b", "[layers][linear]") {
  Linear lin(3, 2);
  lin.weight().data().copy_(from_vector(std::vector<float>{1, 2, 3, -1, 0, 1}, {2, 3}));
  lin.bias().data().copy_(from_vector(std::vector<float>{0.5f, -0.5f}, {2}));
  const Variable x(from_vector(std::vector<float>{1, 1, 1, 2, 0, -1}, {2, 3}));
  CHECK(lin.forward(x).data().to_vector<float>() == std::vector<float>{6.5f, -0.5f, -0.5f, -3.5f});
  // Leading axes are folded: (2, 1, 3) -> (2, 1, 2).
  const Variable x3(x.data().reshape({2, 1, 3}));
  const Variable y3 = lin(x3);
  CHECK(y3.shape() == Shape{2, 1, 2});
  CHECK(y3.data().to_vector<float>() == std::vector<float>{6.5f, -0.5f, -0.5f, -3.5f});
  CHECK_THROWS_WITH(
      lin(Variable(zeros({2, 4}))),
      Catch::Contains("Linear: input has shape [2, 4]") && Catch::Contains("in_features = 3"));
  CHECK_THROWS_WITH(Linear(0, 2), Catch::Contains("must both be positive"));
  CHECK(lin.extra_repr() == "in_features=3, out_features=2, bias=True");
}

TEST_CASE("Linear gradients", "[layers][linear][grad]") {
  Generator gen(3);
  Linear lin(4, 3, true, &gen);
  // With respect to the input, through gradcheck; the weights are fixed inside the function.
  const GradcheckResult r = gradcheck([&](const std::vector<Variable>& in) { return lin(in[0]); },
                                      {normal({5, 4}, 0, 1, &gen)});
  INFO(r.report);
  CHECK(r.ok);
  CHECK(r.checked > 0);
  // With respect to the parameters, by central differences on the module itself.
  check_parameter_gradients(lin, normal({5, 4}, 0, 1, &gen));
  Net net(4);
  check_parameter_gradients(net, normal({3, 3}, 0, 1, &gen));
}

TEST_CASE("zero_grad drops every gradient", "[module]") {
  Net net(1);
  sum(net(Variable(ones({2, 3})))).backward();
  for (const auto& p : net.parameters()) CHECK(p.grad().defined());
  net.zero_grad();
  for (const auto& p : net.parameters()) CHECK_FALSE(p.grad().defined());
}

TEST_CASE("shape modules and activations", "[layers]") {
  const Variable x(arange(-4, 8).view({2, 3, 2}));
  CHECK(Flatten()(x).shape() == Shape{2, 6});
  CHECK(Flatten(0)(x).shape() == Shape{12});
  CHECK(Identity()(x).data().storage() == x.data().storage());
  CHECK(ReLU()(x).data().to_vector<float>()[0] == 0.0f);
  CHECK(ReLU6()(x).data().to_vector<float>().back() == 6.0f);
  Sequential empty;
  CHECK(empty(x).data().storage() == x.data().storage());
}

TEST_CASE("repr prints the module tree", "[module]") {
  Generator gen(1);
  Sequential seq{std::make_shared<Linear>(3, 4, true, &gen), std::make_shared<ReLU>(),
                 std::make_shared<Flatten>()};
  CHECK(seq.repr() ==
        "Sequential(\n"
        "  (0): Linear(in_features=3, out_features=4, bias=True)\n"
        "  (1): ReLU()\n"
        "  (2): Flatten(start_dim=1, end_dim=-1)\n"
        ")");
  Net net(1);
  const std::string r = net.repr();
  CHECK_THAT(r, Catch::Contains("  (layer1): Sequential(\n    (0): Block(\n      (fc1): Linear("));
}

TEST_CASE("init computes fans and gains like torch.nn.init", "[init]") {
  CHECK(init::fan_in_and_fan_out({64, 32, 3, 3}) == std::pair<int64_t, int64_t>{288, 576});
  CHECK(init::fan_in_and_fan_out({10, 20}) == std::pair<int64_t, int64_t>{20, 10});
  CHECK_THROWS_WITH(init::fan_in_and_fan_out({5}), Catch::Contains("fewer than 2 axes"));
  CHECK(init::calculate_gain("relu") == Approx(std::sqrt(2.0)));
  CHECK(init::calculate_gain("tanh") == Approx(5.0 / 3.0));
  CHECK(init::calculate_gain("leaky_relu", std::sqrt(5.0)) == Approx(std::sqrt(1.0 / 3.0)));
  CHECK(init::calculate_gain("conv2d") == 1.0);
  CHECK_THROWS_WITH(init::calculate_gain("gelu"),
                    Catch::Contains("unknown nonlinearity 'gelu'") && Catch::Contains("relu"));
  CHECK(init::parse_fan_mode("fan_out") == init::FanMode::FanOut);
  CHECK_THROWS_WITH(init::parse_fan_mode("fan"), Catch::Contains("unknown fan mode 'fan'"));
}

TEST_CASE("init draws with the right statistics", "[init]") {
  Generator gen(11);
  const Tensor w = Tensor::empty({128, 64, 3, 3});  // fan_in 576, fan_out 1152
  init::kaiming_normal_(w, 0.0, init::FanMode::FanOut, "relu", &gen);
  CHECK(sample_std(w) == Approx(std::sqrt(2.0 / 1152)).epsilon(0.02));
  CHECK(std::abs(ops::mean(w).item()) < 0.002);
  init::kaiming_normal_(w, 0.0, init::FanMode::FanIn, "relu", &gen);
  CHECK(sample_std(w) == Approx(std::sqrt(2.0 / 576)).epsilon(0.02));

  const double bound = std::sqrt(2.0) * std::sqrt(3.0 / 576);
  init::kaiming_uniform_(w, 0.0, init::FanMode::FanIn, "relu", &gen);
  CHECK(ops::reduce(ReduceOp::AbsMax, w, {}, false).item() <= bound);
  CHECK(ops::reduce(ReduceOp::AbsMax, w, {}, false).item() > 0.99 * bound);
  CHECK(sample_std(w) == Approx(bound / std::sqrt(3.0)).epsilon(0.02));

  // PyTorch's Linear default: weight and bias in +-1/sqrt(fan_in).
  Linear lin(400, 300, true, &gen);
  const double lb = 1.0 / std::sqrt(400.0);
  CHECK(ops::reduce(ReduceOp::AbsMax, lin.weight().data(), {}, false).item() <= lb);
  CHECK(sample_std(lin.weight().data()) == Approx(lb / std::sqrt(3.0)).epsilon(0.03));
  CHECK(ops::reduce(ReduceOp::AbsMax, lin.bias().data(), {}, false).item() <= lb);
  CHECK(ops::reduce(ReduceOp::AbsMax, lin.bias().data(), {}, false).item() > 0.9 * lb);

  // Same seed, same weights.
  Generator g1(5), g2(5);
  CHECK(Linear(4, 4, true, &g1).weight().data().to_vector<float>() ==
        Linear(4, 4, true, &g2).weight().data().to_vector<float>());

  const Tensor u = Tensor::empty({1000});
  init::uniform_(u, -2, 3, &gen);
  CHECK(ops::reduce(ReduceOp::Min, u, {}, false).item() >= -2.0);
  CHECK(ops::mean(u).item() == Approx(0.5).margin(0.15));
  init::normal_(u, 1.0, 0.5, &gen);
  CHECK(sample_std(u) == Approx(0.5).epsilon(0.1));
  init::constant_(u, 0.25);
  CHECK(ops::sum(u).item() == Approx(250.0));
  const Tensor e = Tensor::empty({2, 3});
  init::eye_(e);
  CHECK(e.to_vector<float>() == std::vector<float>{1, 0, 0, 0, 1, 0});
  CHECK_THROWS_WITH(init::eye_(Tensor::empty({2, 2, 2})), Catch::Contains("expected 2 axes"));
  CHECK_THROWS_WITH(init::kaiming_normal_(Tensor::empty({4})),
                    Catch::Contains("fewer than 2 axes"));
  CHECK_THROWS_WITH(init::normal_(u, 0, -1), Catch::Contains("std is -1"));
}

TEST_CASE("to(device) keeps the parameter Variables", "[module]") {
  Net net(1);
  const Variable w = net.stem->weight();
  net.to(Device::cpu());  // a no-op move keeps storage
  CHECK(net.stem->weight().data().storage() == w.data().storage());
}
