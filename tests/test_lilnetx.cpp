#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>

#include "autograd/grad_mode.h"
#include "autograd/gradcheck.h"
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

TEST_CASE("slice-flag rate: a flag per slice, the prior's bits for non-zero slices only",
          "[lilnetx][rate]") {
  Generator g(6);
  const ModelSpec spec{"resnet20", 10};
  CompressedNetwork net = build_compressed_model(spec, latent_init_for(spec, 3.0), &g);
  CompressionGroup& grp = net.groups->at("conv3x3", "test");
  // A third of the first layers' slices rounded to zero, with latents inside (-0.5, 0.5) that
  // are not zero themselves: the rate must not pull on them.
  int64_t zeroed = 0;
  for (LatentLayer* l : {grp.layers()[0], grp.layers()[1], grp.layers()[2]}) {
    Tensor lat = l->latent().data();
    const int64_t slices = lat.numel() / 9;
    std::vector<float> v = lat.contiguous().to_vector<float>();
    for (int64_t s = 0; s < slices; s += 3, ++zeroed)
      for (int64_t k = 0; k < 9; ++k) v[s * 9 + k] = 0.3f * static_cast<float>(k % 3) - 0.3f;
    lat.copy_(from_vector(v, lat.shape()));
  }
  const Tensor rows = grp.latent_rows().data().contiguous();  // (M, 9)
  const Tensor rounded = ops::unary(UnaryOp::Round, rows);
  const Tensor noise = uniform(rows.shape(), -0.5, 0.5, &g);
  const int64_t m = rows.size(0);

  // The reference: the non-zero rows gathered by hand, the flags' entropy by formula.
  const std::vector<float> r = rounded.to_vector<float>(),
                           noisy = ops::add(rows, noise).to_vector<float>();
  std::vector<float> kept;
  std::vector<bool> zero_row(static_cast<size_t>(m));
  for (int64_t i = 0; i < m; ++i) {
    zero_row[i] =
        std::all_of(r.begin() + i * 9, r.begin() + (i + 1) * 9, [](float x) { return x == 0.0f; });
    if (!zero_row[i]) kept.insert(kept.end(), noisy.begin() + i * 9, noisy.begin() + (i + 1) * 9);
  }
  const auto n = static_cast<int64_t>(kept.size() / 9);
  REQUIRE(m - n >= zeroed);
  const double p = static_cast<double>(n) / m;
  const double flags = -m * (p * std::log2(p) + (1 - p) * std::log2(1 - p));
  const Tensor kept_rows = from_vector(kept, {n, 9});
  const double want = ops::sum(grp.prior().bits_per_element(kept_rows)).item() + flags;

  Variable lat = grp.latent_rows();
  Variable bits = group_rate_bits(grp, add(lat, Variable(noise)), rounded, RateModel::SliceFlags);
  CHECK(bits.item() == Approx(want).epsilon(1e-5));
  bits.backward();
  // Zero slices: no gradient at all; the others: the prior's gradient of their own bits.
  Variable kept_var(kept_rows, true);
  const auto prior_params = grp.prior().named_parameters();
  std::vector<Tensor> prior_grads;  // from the slice-flag rate
  for (const auto& [name, p] : prior_params) prior_grads.push_back(p.grad().clone());
  grp.prior().zero_grad();
  Variable ref = grp.prior().bits(kept_var);
  ref.backward();
  std::vector<float> want_grad = kept_var.grad().to_vector<float>();
  int64_t at = 0, row_index = 0, mismatches = 0, pulled = 0;
  for (LatentLayer* l : grp.layers()) {
    const std::vector<float> gl = l->latent().grad().contiguous().to_vector<float>();
    for (size_t s = 0; s < gl.size() / 9; ++s, ++row_index)
      for (int64_t k = 0; k < 9; ++k) {
        const float got = gl[s * 9 + k];
        if (zero_row[row_index]) {
          pulled += got != 0.0f;
        } else {
          mismatches += std::fabs(got - want_grad[at * 9 + k]) > 1e-5f * (1 + std::fabs(got));
        }
        if (k == 8 && !zero_row[row_index]) ++at;
      }
  }
  CHECK(pulled == 0);
  CHECK(mismatches == 0);
  for (size_t i = 0; i < prior_params.size(); ++i) {
    const std::vector<float> a = prior_grads[i].to_vector<float>(),
                             b = prior_params[i].second.grad().to_vector<float>();
    double diff = 0, scale = 0;
    for (size_t j = 0; j < a.size(); ++j) {
      diff = std::max(diff, static_cast<double>(std::fabs(a[j] - b[j])));
      scale = std::max(scale, static_cast<double>(std::fabs(b[j])));
    }
    CHECK(diff <= 1e-3 * scale + 1e-4);  // float32 sums in a different order
  }

  // Finite differences on a few rows, two of them zero slices (fixed noise, fixed rounding).
  std::vector<float> small(6 * 9), small_rounded(6 * 9, 0.0f);
  for (int64_t i = 0; i < 6 * 9; ++i) {
    small[i] = static_cast<float>((i * 37) % 23) / 7.0f - 1.5f;
    if (i / 9 != 1 && i / 9 != 4) small_rounded[i] = 1.0f;  // rows 1 and 4: zero slices
  }
  GradcheckOptions o;
  o.rtol = 3e-2;
  o.atol = 5e-3;
  const Tensor rr = from_vector(small_rounded, {6, 9});
  const GradcheckResult fd = gradcheck(
      [&](const std::vector<Variable>& in) {
        return group_rate_bits(grp, in[0], rr, RateModel::SliceFlags);
      },
      {from_vector(small, {6, 9})}, o);
  INFO(fd.report);
  CHECK(fd.ok);
  CHECK(fd.checked > 30);

  // Evaluation: the objective's bits are the report's estimate under the same model.
  ObjectiveConfig oc;
  oc.rate_model = RateModel::SliceFlags;
  const ObjectiveTerms eval = LilnetxObjective(*net.groups, oc).compute(false, 1.0, &g);
  const CompressionReport report = compression_report(*net.groups, RateModel::SliceFlags);
  CHECK(eval.bits == Approx(report.prior_bytes * 8).epsilon(1e-4));
  CHECK(report.prior_bytes < compression_report(*net.groups).prior_bytes);
  // No zero slice: the factorized rate exactly; every slice zero: nothing but (zero) flags.
  const Tensor none = ops::add(ops::unary(UnaryOp::Abs, rounded), full(rounded.shape(), 1.0));
  const Variable vals(ops::add(rows, noise));
  CHECK(group_rate_bits(grp, vals, none, RateModel::SliceFlags).item() ==
        grp.prior().bits(vals).item());
  CHECK(group_rate_bits(grp, vals, zeros(rounded.shape()), RateModel::SliceFlags).item() ==
        Approx(0).margin(1e-3 * m));
  CHECK(parse_rate_model("slice_flags") == RateModel::SliceFlags);
  CHECK_THROWS_WITH(parse_rate_model("flags"),
                    Catch::Contains("losses.rate_model") && Catch::Contains("'flags'"));
}
