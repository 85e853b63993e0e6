#include <catch2/catch.hpp>
#include <cmath>

#include "autograd/grad_mode.h"
#include "core/random.h"
#include "layers/module.h"
#include "models/registry.h"

using namespace lnx;

TEST_CASE("model zoo parameter counts match the standard figures", "[models]") {
  Generator g(0);
  CHECK(build_float_model({"resnet20", 10}, &g)->num_parameters() == 269722);
  CHECK(build_float_model({"resnet56", 10}, &g)->num_parameters() == 853018);
  // CIFAR VGG-16 with batch norm and the 512-256-256 head (scripts/peer-network-step.py builds
  // the same in PyTorch).
  CHECK(build_float_model({"vgg16_bn", 10}, &g)->num_parameters() == 14922826);
  CHECK(build_float_model({"resnet18", 1000}, &g)->num_parameters() == 11689512);
  CHECK(build_float_model({"resnet50", 1000}, &g)->num_parameters() == 25557032);
  CHECK(build_float_model({"mobilenetv2", 1000, 1.0, 3, false}, &g)->num_parameters() == 3504872);
}

TEST_CASE("model zoo: names, widths and bad specs", "[models][errors]") {
  Generator g(0);
  const ModulePtr w4 = build_float_model({"resnet20", 10, 4}, &g);
  CHECK(w4->num_parameters() > 16 * 260000 / 2);  // about 4.3 M at width 4
  const auto params = build_float_model({"resnet20", 10}, &g)->named_parameters();
  CHECK(params.front().first == "conv1.weight");
  bool found = false;
  for (const auto& [n, v] : params) found = found || n == "layer1.0.conv1.weight";
  CHECK(found);
  CHECK(params.back().first == "fc.bias");
  CHECK_THROWS_WITH(build_float_model({"resnet21"}, &g),
                    Catch::Contains("resnet21") && Catch::Contains("resnet20"));
  CHECK_THROWS_WITH(build_float_model({"resnet20", 10, 1.5}, &g), Catch::Contains("width 1.5"));
  CHECK_THROWS_WITH(build_float_model({"resnet20", 0}, &g), Catch::Contains("num_classes"));
}

TEST_CASE("model zoo output shapes", "[models]") {
  Generator g(1);
  NoGradGuard ng;
  struct Case {
    ModelSpec spec;
    Shape input;
  };
  const std::vector<Case> cases = {
      {{"resnet20", 10}, {2, 3, 32, 32}},
      {{"resnet56", 100}, {1, 3, 32, 32}},
      {{"vgg16_bn", 10}, {2, 3, 32, 32}},
      {{"vgg11", 10}, {1, 3, 32, 32}},
      {{"resnet18", 7}, {1, 3, 64, 64}},
      {{"resnet50", 5}, {1, 3, 64, 64}},
      {{"mobilenetv2", 10, 1.0, 3, true}, {2, 3, 32, 32}},
      {{"small_cnn", 10, 1, 1}, {3, 1, 28, 28}},
  };
  for (const Case& c : cases) {
    INFO(c.spec.name);
    const ModulePtr net = build_float_model(c.spec, &g);
    net->eval();
    const Variable y = net->forward(Variable(normal(c.input, 0, 1, &g)));
    CHECK(y.shape() == Shape{c.input[0], c.spec.num_classes});
  }
}

TEST_CASE("float zoo: the Kaiming fan is selectable", "[models]") {
  ModelSpec spec;
  spec.name = "resnet20";
  auto std_of = [](const ModulePtr& m, const std::string& name) {
    for (const auto& [n, p] : m->named_parameters()) {
      if (n != name) continue;
      const std::vector<float> v = p.data().to_vector<float>();
      double sq = 0;
      for (float f : v) sq += static_cast<double>(f) * f;
      return std::sqrt(sq / static_cast<double>(v.size()));
    }
    FAIL("no parameter " << name);
    return 0.0;
  };
  Generator g1(3), g2(3);
  const ModulePtr out = build_float_model(spec, &g1);  // fan_out, the LilNetX reference's rule
  const ModulePtr in = build_float_model(spec, &g2, init::FanMode::FanIn);
  // Stem 3->16 3x3: fan_in 27, fan_out 144. Classifier 64->10: fan_in 64, fan_out 10.
  CHECK(std_of(out, "conv1.weight") == Approx(std::sqrt(2.0 / 144)).epsilon(0.15));
  CHECK(std_of(in, "conv1.weight") == Approx(std::sqrt(2.0 / 27)).epsilon(0.15));
  CHECK(std_of(out, "fc.weight") == Approx(std::sqrt(2.0 / 10)).epsilon(0.15));
  CHECK(std_of(in, "fc.weight") == Approx(std::sqrt(2.0 / 64)).epsilon(0.15));
}
