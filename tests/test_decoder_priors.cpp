#include <catch2/catch.hpp>
#include <cmath>

#include "autograd/gradcheck.h"
#include "autograd/ops.h"
#include "compress/decoder.h"
#include "compress/sparsity_prior.h"
#include "core/ops.h"

using namespace lnx;

TEST_CASE("matrix decoder: gradient check in latents and matrix", "[decoder][grad]") {
  Generator g(1);
  const Tensor q = normal({3, 2, 3, 3}, 0, 1, &g);
  const Tensor m = normal({9, 9}, 0, 0.3, &g);
  const GradcheckResult r = gradcheck(
      [](const std::vector<Variable>& in) {
        const Variable rows = reshape(in[0], {6, 9});
        return reshape(matmul(rows, in[1]), {3, 2, 3, 3});
      },
      {q, m});
  INFO(r.report);
  CHECK(r.ok);
  // The decoder object computes the same map.
  MatrixDecoder dec(3, DecoderInit::Normal, 0.1, false, &g);
  const Variable w = dec.decode(Variable(q));
  const Tensor expect = ops::matmul(q.reshape({6, 9}), dec.matrix().data()).reshape({3, 2, 3, 3});
  CHECK(w.data().to_vector<float>() == expect.to_vector<float>());
}

TEST_CASE("a zero latent slice decodes to an exactly zero weight slice", "[decoder]") {
  Generator g(2);
  Tensor q = ops::unary(UnaryOp::Round, normal({4, 3, 3, 3}, 0, 3, &g));
  q.select(0, 1).select(0, 2).zero_();  // slice (1, 2)
  MatrixDecoder dec(3, DecoderInit::Normal, decoder_init_variance(3, 64), false, &g);
  const Tensor w = dec.decode(Variable(q)).data();
  for (float v : w.select(0, 1).select(0, 2).contiguous().to_vector<float>()) CHECK(v == 0.0f);
  CHECK(ops::sum(ops::unary(UnaryOp::Abs, w.select(0, 0))).item() > 0);
  ScalarDecoder sdec(DecoderInit::Normal, 0.1, false, &g);
  Tensor ql = zeros({5, 4});
  CHECK(ops::sum(ops::unary(UnaryOp::Abs, sdec.decode(Variable(ql)).data())).item() == 0.0);
}

TEST_CASE("straight-through round passes gradients unchanged", "[decoder][grad]") {
  Generator g(3);
  Variable l(normal({4, 9}, 0, 2, &g), true);
  const Tensor up = normal({4, 9}, 0, 1, &g);
  round_ste(l).backward(up);
  CHECK(l.grad().to_vector<float>() == up.to_vector<float>());
}

TEST_CASE("identity decoder init and the reference init formulas", "[decoder]") {
  MatrixDecoder id(3, DecoderInit::Identity, 1.0);
  const std::vector<float> m = id.matrix().data().to_vector<float>();
  for (int i = 0; i < 9; ++i)
    for (int j = 0; j < 9; ++j) CHECK(m[i * 9 + j] == (i == j ? 1.0f : 0.0f));
  // CIFAR ResNet-20 width 1: b = 3, max_fan = 64 -> var = 24 / 64 / 48.
  const double var = decoder_init_variance(3, 64);
  CHECK(var == Approx(24.0 / 64.0 / 48.0));
  CHECK(latent_init_bound(var, 144) == Approx((std::sqrt(24.0 / (var * 144) + 1) - 1) / 2));
  CHECK_THROWS_WITH(decoder_init_variance(0, 64), Catch::Contains("boundary"));
}

TEST_CASE("slice priors: values and gradients", "[prior][grad]") {
  // One 2x1 layer of 1x... use a dense latent (O, I) = (2, 2): slices are single weights.
  const Tensor dense = from_vector(std::vector<float>{3, -4, 0, 1}, {2, 2});
  CHECK(make_sparsity_prior("slice_l2")->penalty(Variable(dense)).item() == Approx(8.0));
  CHECK(make_sparsity_prior("l1")->penalty(Variable(dense)).item() == Approx(8.0));
  CHECK(make_sparsity_prior("l2_decay")->penalty(Variable(dense)).item() == Approx(26.0));
  // A conv latent (1, 2, 1, 2): slices (3, -4) and (0, 1).
  const Tensor conv = dense.view({1, 2, 1, 2});
  CHECK(make_sparsity_prior("slice_l2")->penalty(Variable(conv)).item() == Approx(6.0));
  CHECK(make_sparsity_prior("slice_l1")->penalty(Variable(conv)).item() == Approx(8.0));
  CHECK(make_sparsity_prior("slice_linf")->penalty(Variable(conv)).item() == Approx(5.0));
  Generator g(4);
  for (const std::string name : {"slice_l2", "slice_l1", "slice_linf", "l1", "l2_decay"}) {
    const std::shared_ptr<SparsityPrior> prior = make_sparsity_prior(name);
    const GradcheckResult r =
        gradcheck([prior](const std::vector<Variable>& in) { return prior->penalty(in[0]); },
                  {normal({3, 2, 3, 3}, 0, 1, &g)});
    INFO(name << "\n" << r.report);
    CHECK(r.ok);
  }
}

TEST_CASE("sparsity prior registry", "[prior][errors]") {
  CHECK_THROWS_WITH(make_sparsity_prior("slice_l3"),
                    Catch::Contains("slice_l3") && Catch::Contains("slice_l2"));
  // A user prior: input-channel group lasso, one line to register.
  struct InputChannelLasso final : SparsityPrior {
    std::string name() const override { return "in_channel_l2"; }
    Variable penalty(const Variable& l) const override {
      const Variable per_in = sum(square(l), {0, 2, 3});  // (I)
      return sum(sqrt(add(per_in, 1e-12)));
    }
  };
  register_sparsity_prior("in_channel_l2", [] { return std::make_unique<InputChannelLasso>(); });
  const Tensor l = ones({2, 3, 3, 3});
  CHECK(make_sparsity_prior("in_channel_l2")->penalty(Variable(l)).item() ==
        Approx(3 * std::sqrt(18.0)));
}
