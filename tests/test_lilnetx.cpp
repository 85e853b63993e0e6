#include <catch2/catch.hpp>
#include <cmath>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "compress/latent_layers.h"
#include "compress/objective.h"
#include "core/ops.h"
#include "core/random.h"
#include "layers/optim/adam.h"
#include "models/registry.h"

using namespace lnx;

namespace {

std::vector<std::string> group_names(const GroupSet& g) {
  std::vector<std::string> n;
  for (const auto& x : g.groups()) n.push_back(x->name());
  return n;
}

}  // namespace

TEST_CASE("every network of the paper builds and trains in compressed form", "[lilnetx]") {
  struct Case {
    ModelSpec spec;
    Shape input;
    std::vector<std::string> groups;
  };
  const std::vector<Case> cases = {
      {{"resnet20", 10}, {2, 3, 32, 32}, {"conv3x3", "dense"}},
      {{"resnet56", 10}, {2, 3, 32, 32}, {"conv3x3", "dense"}},
      {{"vgg16_bn", 10}, {2, 3, 32, 32}, {"conv3x3", "dense1", "dense2", "dense3"}},
      {{"resnet18", 10}, {2, 3, 64, 64}, {"conv7x7", "conv3x3", "conv1x1", "dense"}},
      {{"resnet50", 10}, {2, 3, 64, 64}, {"conv7x7", "conv1x1", "conv3x3", "dense"}},
      {{"mobilenetv2", 10, 1.0, 3, true}, {2, 3, 32, 32}, {"first", "conv3x3", "conv1x1", "dense"}},
  };
  for (const Case& c : cases) {
    INFO(c.spec.name);
    Generator g(3);
    CompressedNetwork net = build_compressed_model(c.spec, latent_init_for(c.spec, 3.0), &g);
    CHECK(group_names(*net.groups) == c.groups);
    // ResNet-56 really has 55 convolutions + fc, not ResNet-20's layers.
    if (c.spec.name == "resnet56") CHECK(net.groups->at("conv3x3", "test").layers().size() == 55);
    const Variable x(normal(c.input, 0, 1, &g));
    const Tensor labels = from_vector(std::vector<int64_t>{1, 7}, {2});
    LilnetxObjective objective(*net.groups, {});
    Variable loss =
        add(cross_entropy(net.net->forward(x), labels), objective.compute(true, 1.0, &g).total);
    loss.backward();
    CHECK(std::isfinite(loss.item()));
    // Gradients reach every latent, decoder and prior.
    for (const auto& grp : net.groups->groups()) {
      CHECK(grp->decoder().named_parameters().front().second.grad().defined());
      CHECK(grp->prior().named_parameters().front().second.grad().defined());
      for (LatentLayer* l : grp->layers()) CHECK(l->latent().grad().defined());
    }
  }
}

TEST_CASE("rate, slice and decay terms follow their weights", "[lilnetx]") {
  Generator g(4);
  const ModelSpec spec{"resnet20", 10};
  CompressedNetwork net = build_compressed_model(spec, latent_init_for(spec, 3.0), &g);
  ObjectiveConfig only_rate;
  only_rate.slice_weight = 0;
  only_rate.decay_weight = 0;
  const ObjectiveTerms rate = LilnetxObjective(*net.groups, only_rate).compute(false, 1.0, &g);
  int64_t slices = 0;
  for (const auto& grp : net.groups->groups()) slices += grp->num_slices();
  CHECK(rate.rate_loss == Approx(1e-4 * rate.bits / static_cast<double>(slices)));
  // Evaluation bits equal the report's prior estimate.
  const CompressionReport report = compression_report(*net.groups);
  CHECK(rate.bits == Approx(report.prior_bytes * 8).epsilon(1e-4));
  CHECK(report.empirical_bytes > 0);
  CHECK(report.latents.slices > 0);
  ObjectiveConfig only_slice;
  only_slice.rate_weight = 0;
  only_slice.decay_weight = 0;
  const ObjectiveTerms s = LilnetxObjective(*net.groups, only_slice).compute(true, 1.0, &g);
  CHECK(s.rate_loss == 0);
  CHECK(s.slice_loss > 0);
  CHECK(s.decay_loss == 0);
  ObjectiveConfig bad;
  bad.slice_prior = "slice_l7";
  CHECK_THROWS_WITH(LilnetxObjective(*net.groups, bad), Catch::Contains("slice_l7"));
  bad = {};
  bad.rate_weight = -1;
  CHECK_THROWS_WITH(LilnetxObjective(*net.groups, bad), Catch::Contains("losses.reg_weight"));
  CHECK_THROWS_WITH(net.groups->at("conv5x5", "losses.gd.modules"),
                    Catch::Contains("conv5x5") && Catch::Contains("conv3x3"));
}

TEST_CASE("a strong slice prior empties slices, and zero slices cost nothing in FLOPs",
          "[lilnetx]") {
  Generator g(5);
  const ModelSpec spec{"resnet20", 10};
  CompressedNetwork net = build_compressed_model(spec, latent_init_for(spec, 3.0), &g);
  // Zero every latent of the first block's conv1: its slices are all zero after rounding.
  auto& grp = net.groups->at("conv3x3", "test");
  grp.layers()[1]->latent().data().zero_();
  {
    NoGradGuard ng;
    net.net->eval();
    (void)net.net->forward(Variable(normal({1, 3, 32, 32}, 0, 1, &g)));
  }
  const CompressionReport r = compression_report(*net.groups);
  const int64_t zeroed = 16 * 16;
  CHECK(r.latents.zero_slices >= zeroed);
  CHECK(r.weights.zero_slices >= zeroed);  // decoded weights are exactly zero there
  CHECK(r.latents.sparse_flops <= r.latents.dense_flops - zeroed * 9 * 32 * 32);
}
