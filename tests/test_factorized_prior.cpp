#include <catch2/catch.hpp>
#include <cmath>
#include <fstream>
#include <sstream>

#include "autograd/gradcheck.h"
#include "autograd/ops.h"
#include "compress/factorized_prior.h"
#include "core/ops.h"

using namespace lnx;

namespace {

struct PriorFixture {
  int64_t channels = 0, rows = 0;
  std::vector<float> params, values;
  std::vector<double> bits;
  double total = 0;
};

PriorFixture load_fixture() {
  std::ifstream in(std::string(LNX_FIXTURE_DIR) + "/prior_factorized.txt");
  REQUIRE(in.good());
  PriorFixture f;
  in >> f.channels >> f.rows;
  f.params.resize(f.channels * kFactorizedParams);
  f.values.resize(f.rows * f.channels);
  f.bits.resize(f.rows * f.channels);
  for (float& v : f.params) in >> v;
  for (float& v : f.values) in >> v;
  for (double& v : f.bits) in >> v;
  in >> f.total;
  REQUIRE(in.good());
  return f;
}

}  // namespace

TEST_CASE("factorized prior bits match the formula of method.md", "[prior]") {
  const PriorFixture f = load_fixture();
  const FactorizedPrior prior(from_vector(f.params, {f.channels, kFactorizedParams}));
  const Tensor values = from_vector(f.values, {f.rows, f.channels});
  const double total = prior.bits(Variable(values)).item();
  CHECK(total == Approx(f.total).epsilon(1e-5));
  const std::vector<float> per = prior.bits_per_element(values).to_vector<float>();
  for (size_t i = 0; i < per.size(); ++i)
    CHECK(per[i] == Approx(f.bits[i]).epsilon(1e-4).margin(1e-4));
}

TEST_CASE("factorized prior rate gradient (values and parameters)", "[prior][grad]") {
  const PriorFixture f = load_fixture();
  const Tensor params = from_vector(f.params, {f.channels, kFactorizedParams});
  Generator gen(3);
  // Fixed noise: values are latents plus a frozen uniform draw, as in training.
  const Tensor values = ops::add(from_vector(f.values, {f.rows, f.channels}),
                                 uniform({f.rows, f.channels}, -0.5, 0.5, &gen));
  GradcheckOptions o;
  o.eps = 1e-2;
  o.rtol = 3e-2;
  o.atol = 5e-3;
  o.max_elements = 60;
  const GradcheckResult r =
      gradcheck([](const std::vector<Variable>& in) { return factorized_bits(in[0], in[1]); },
                {values, params}, o);
  INFO(r.report);
  CHECK(r.ok);
  CHECK(r.checked > 80);
}

TEST_CASE("factorized prior cdf is monotone and bounded", "[prior]") {
  Generator gen(5);
  const FactorizedPrior prior(4, &gen);
  const Tensor x = arange(-20, 20, 0.5).view({-1, 1}).expand({80, 4}).contiguous();
  const std::vector<float> f = prior.cdf(x).to_vector<float>();
  for (int64_t i = 4; i < 80 * 4; ++i) CHECK(f[i] >= f[i - 4]);
  CHECK(f.front() >= 0.0f);
  CHECK(f.back() <= 1.0f);
}

TEST_CASE("factorized prior rejects bad shapes", "[prior][errors]") {
  Generator gen(5);
  const FactorizedPrior prior(9, &gen);
  CHECK_THROWS_WITH(prior.bits(Variable(zeros({4, 3}))),
                    Catch::Contains("[4, 3]") && Catch::Contains("9 channels"));
  CHECK_THROWS_WITH(FactorizedPrior(zeros({9, 10})), Catch::Contains("(C, 11)"));
}
