// Finite-difference checks of every element-wise, reduction, matmul and shape op in
// autograd/ops.h, and the error messages of their bad inputs.
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>

#include "autograd/gradcheck.h"
#include "autograd/ops.h"
#include "core/ops.h"
#include "core/random.h"

using namespace lnx;

namespace {

using Vars = std::vector<Variable>;

// Uniform values in [lo, hi): O(1) inputs keep float32 finite differences accurate.
Tensor rand_in(const Shape& shape, double lo, double hi, uint64_t seed) {
  Generator g(seed);
  return uniform(shape, lo, hi, &g);
}

// Values whose magnitude is at least `gap`, so |x|, relu and sign-dependent ops see no kink
// within the finite-difference step.
Tensor away_from_zero(const Shape& shape, double gap, uint64_t seed) {
  const Tensor u = rand_in(shape, -1, 1, seed);
  const Tensor sign = ops::unary(UnaryOp::Sign, u);
  return ops::add(u, ops::mul(sign, gap));
}

void expect_grad(const std::string& what, const GradcheckFn& f, const std::vector<Tensor>& in,
                 const GradcheckOptions& o = {}) {
  const GradcheckResult r = gradcheck(f, in, o);
  INFO(what << ": checked " << r.checked << ", skipped kinks " << r.skipped_kinks << "\n"
            << r.report);
  CHECK(r.ok);
  CHECK(r.checked > 0);
  CHECK(r.skipped_kinks == 0);
}

const double kInf = std::numeric_limits<double>::infinity();

}  // namespace

TEST_CASE("gradcheck catches a wrong backward and skips kinks", "[autograd][grad]") {
  // x^2 with a backward of 3x: off by half.
  const GradcheckFn wrong = [](const Vars& v) {
    const Tensor x = v[0].data();
    return make_result(ops::mul(x, x), "bad_square", {&v[0]}, [x](const Tensor& g) {
      return std::vector<Tensor>{ops::mul(ops::mul(g, x), 3.0)};
    });
  };
  const GradcheckResult bad = gradcheck(wrong, {rand_in({5}, 0.5, 1, 30)});
  CHECK_FALSE(bad.ok);
  CHECK_THAT(bad.report, Catch::Contains("input 0"));
  // |x| at exactly 0 is a kink: skipped, not failed.
  const GradcheckResult kink = gradcheck([](const Vars& v) { return abs(v[0]); },
                                         {from_vector(std::vector<float>{0, 1}, {2})});
  CHECK(kink.ok);
  CHECK(kink.skipped_kinks == 1);
  CHECK(kink.checked == 1);
}

TEST_CASE("binary ops with broadcasting in both directions", "[autograd][grad]") {
  const std::vector<std::pair<Shape, Shape>> shapes = {
      {{3, 4}, {3, 4}}, {{3, 4}, {4}}, {{4}, {3, 4}}, {{3, 1}, {1, 4}}, {{2, 1, 3}, {4, 1}}};
  for (const auto& [sa, sb] : shapes) {
    const std::string tag = to_string(sa) + " with " + to_string(sb);
    const Tensor a = rand_in(sa, -1, 1, 1), b = rand_in(sb, -1, 1, 2);
    const Tensor bpos = rand_in(sb, 0.5, 2, 3);  // divisor away from 0
    const Tensor apos = rand_in(sa, 0.5, 2, 4);  // base of pow: log(a) for b's gradient
    expect_grad("add " + tag, [](const Vars& v) { return add(v[0], v[1]); }, {a, b});
    expect_grad("sub " + tag, [](const Vars& v) { return sub(v[0], v[1]); }, {a, b});
    expect_grad("mul " + tag, [](const Vars& v) { return mul(v[0], v[1]); }, {a, b});
    expect_grad("div " + tag, [](const Vars& v) { return div(v[0], v[1]); }, {a, bpos});
    expect_grad("pow " + tag, [](const Vars& v) { return pow(v[0], v[1]); }, {apos, b});
  }
}

TEST_CASE("binary ops with one constant operand", "[autograd][grad]") {
  const Tensor a = rand_in({3, 4}, -1, 1, 5), b = rand_in({4}, 0.5, 2, 6);
  for (size_t constant : {0u, 1u}) {
    for (const auto& [name, f] : std::vector<std::pair<std::string, GradcheckFn>>{
             {"sub", [](const Vars& v) { return sub(v[0], v[1]); }},
             {"mul", [](const Vars& v) { return mul(v[0], v[1]); }},
             {"div", [](const Vars& v) { return div(v[0], v[1]); }}}) {
      const GradcheckResult r = gradcheck(f, {a, b}, {}, {constant});
      INFO(name << " with input " << constant << " constant\n" << r.report);
      CHECK(r.ok);
      CHECK(r.checked > 0);
    }
  }
}

TEST_CASE("scalar forms of the binary ops", "[autograd][grad]") {
  const Tensor x = rand_in({2, 5}, -1, 1, 7), xpos = rand_in({2, 5}, 0.5, 2, 8);
  expect_grad("add scalar", [](const Vars& v) { return add(v[0], 1.5); }, {x});
  expect_grad("mul scalar", [](const Vars& v) { return mul(v[0], -2.5); }, {x});
  expect_grad("rsub", [](const Vars& v) { return rsub(v[0], 3.0); }, {x});
  expect_grad("rdiv", [](const Vars& v) { return rdiv(v[0], 2.0); }, {xpos});
  expect_grad("pow 3", [](const Vars& v) { return pow(v[0], 3.0); }, {x});
  expect_grad("pow 0.5", [](const Vars& v) { return pow(v[0], 0.5); }, {xpos});
  expect_grad("pow -1.5", [](const Vars& v) { return pow(v[0], -1.5); }, {xpos});
  expect_grad("operators", [](const Vars& v) { return 2.0 - v[0] / 4.0 + 1.0 / v[1] * 3.0; },
              {x, xpos});
}

TEST_CASE("pow with exponent 0 has a zero gradient, also at 0", "[autograd][grad]") {
  Variable x(from_vector(std::vector<float>{0, 2}, {2}), true);
  Variable y = pow(x, 0.0);
  CHECK(y.data().to_vector<float>() == std::vector<float>{1, 1});
  sum(y).backward();
  CHECK(x.grad().to_vector<float>() == std::vector<float>{0, 0});
}

TEST_CASE("unary ops", "[autograd][grad]") {
  const Tensor x = rand_in({3, 5}, -2, 2, 9), xpos = rand_in({3, 5}, 0.3, 3, 10);
  const Tensor xk = away_from_zero({3, 5}, 0.1, 11);
  expect_grad("neg", [](const Vars& v) { return neg(v[0]); }, {x});
  expect_grad("exp", [](const Vars& v) { return exp(v[0]); }, {rand_in({3, 5}, -1, 1, 12)});
  expect_grad("log", [](const Vars& v) { return log(v[0]); }, {xpos});
  expect_grad("sqrt", [](const Vars& v) { return sqrt(v[0]); }, {xpos});
  expect_grad("square", [](const Vars& v) { return square(v[0]); }, {x});
  expect_grad("abs", [](const Vars& v) { return abs(v[0]); }, {xk});
  expect_grad("sigmoid", [](const Vars& v) { return sigmoid(v[0]); }, {x});
  expect_grad("tanh", [](const Vars& v) { return tanh(v[0]); }, {x});
  expect_grad("softplus", [](const Vars& v) { return softplus(v[0]); }, {x});
  expect_grad("softplus large", [](const Vars& v) { return softplus(v[0]); },
              {from_vector(std::vector<float>{-30, -8, 8, 30}, {4})});
  expect_grad("relu", [](const Vars& v) { return relu(v[0]); }, {xk});
  // Both sides of both relu6 corners, kept 0.1 away from them.
  const Tensor r6 =
      from_vector(std::vector<float>{-1.0f, -0.2f, 0.3f, 2.0f, 5.5f, 5.9f, 6.1f, 8.0f}, {8});
  expect_grad("relu6", [](const Vars& v) { return relu6(v[0]); }, {r6});
  const Tensor cl =
      from_vector(std::vector<float>{-1.0f, -0.6f, -0.4f, 0.0f, 0.3f, 0.45f, 0.55f, 2.0f}, {8});
  expect_grad("clamp", [](const Vars& v) { return clamp(v[0], -0.5, 0.5); }, {cl});
}

TEST_CASE("add_relu is relu(add) in one op, broadcasting", "[autograd][grad]") {
  // a + b stays at least 0.06 away from the kink, where finite differences are exact.
  const Tensor a = away_from_zero({3, 5}, 0.1, 21), b = rand_in({3, 5}, -0.04, 0.04, 22);
  const Tensor row = rand_in({5}, -0.04, 0.04, 23);
  expect_grad("add_relu", [](const Vars& v) { return add_relu(v[0], v[1]); }, {a, b});
  expect_grad("add_relu broadcast", [](const Vars& v) { return add_relu(v[0], v[1]); }, {a, row});
  Variable x(a, true), y(b, true), x2(a, true), y2(b, true);
  const Tensor up = rand_in({3, 5}, -1, 1, 24);
  Variable fused = add_relu(x, y), composed = relu(add(x2, y2));
  CHECK(fused.data().to_vector<float>() == composed.data().to_vector<float>());
  fused.backward(up);
  composed.backward(up);
  CHECK(x.grad().to_vector<float>() == x2.grad().to_vector<float>());
  CHECK(y.grad().to_vector<float>() == y2.grad().to_vector<float>());
  CHECK_THROWS_WITH(add_relu(Variable(zeros({2, 3})), Variable(zeros({4}))),
                    Catch::Contains("add_relu"));
}

TEST_CASE("relu-like ops give the one-sided gradients exactly", "[autograd][grad]") {
  Variable x(from_vector(std::vector<float>{-1, 0.5f, 5.5f, 7}, {4}), true);
  Variable y = relu6(x);
  CHECK(y.data().to_vector<float>() == std::vector<float>{0, 0.5f, 5.5f, 6});
  y.backward(from_vector(std::vector<float>{1, 2, 3, 4}, {4}));
  CHECK(x.grad().to_vector<float>() == std::vector<float>{0, 2, 3, 0});

  Variable c(from_vector(std::vector<float>{-1, -0.5f, 0.25f, 0.5f, 1}, {5}), true);
  clamp(c, -0.5, 0.5).backward(ones({5}));
  CHECK(c.grad().to_vector<float>() == std::vector<float>{0, 1, 1, 1, 0});  // bounds included
}

TEST_CASE("round_ste rounds half to even and passes the gradient straight through",
          "[autograd][grad]") {
  Variable x(from_vector(std::vector<float>{-1.5f, -0.5f, 0.5f, 1.5f, 2.5f, 0.7f, -2.2f}, {7}),
             true);
  Variable y = round_ste(x);
  CHECK(y.data().to_vector<float>() == std::vector<float>{-2, -0.0f, 0, 2, 2, 1, -2});
  Generator g(3);
  const Tensor up = normal({7}, 0, 1, &g);
  y.backward(up);
  CHECK(x.grad().to_vector<float>() == up.to_vector<float>());
  // Inside a chain: d/dx [round_ste(x) * w] = w.
  Variable x2(rand_in({2, 3}, -3, 3, 13), true);
  Variable w(rand_in({2, 3}, -1, 1, 14), true);
  sum(mul(round_ste(x2), w)).backward();
  CHECK(x2.grad().to_vector<float>() == w.data().to_vector<float>());
}

TEST_CASE("sum and mean over all axes, given axes and with keepdim", "[autograd][grad]") {
  const Tensor x = rand_in({2, 3, 4}, -1, 1, 15);
  const std::vector<std::vector<int64_t>> axes_list = {{}, {0}, {1}, {-1}, {0, 2}, {2, 0, 1}};
  for (const auto& axes : axes_list) {
    for (bool keepdim : {false, true}) {
      const std::string tag = to_string(axes) + (keepdim ? " keepdim" : "");
      expect_grad("sum " + tag, [&](const Vars& v) { return sum(v[0], axes, keepdim); }, {x});
      expect_grad("mean " + tag, [&](const Vars& v) { return mean(v[0], axes, keepdim); }, {x});
    }
  }
  // Reductions of a strided view.
  expect_grad("sum of a transpose", [](const Vars& v) { return sum(transpose(v[0], 0, 2), {1}); },
              {x});
  expect_grad("mean of a slice", [](const Vars& v) { return mean(slice(v[0], 2, 0, 4, 2), {0}); },
              {x});
  Variable v(x, true);
  CHECK(sum(v, {0, 2}, true).shape() == Shape{1, 3, 1});
  CHECK(mean(v, {1}).shape() == Shape{2, 4});
  CHECK(sum(v).shape() == Shape{});
  mean(v).backward();
  for (float g : v.grad().to_vector<float>()) CHECK(g == Approx(1.0 / 24));
}

TEST_CASE("norm for p = 1, 2, inf over the first and last axis", "[autograd][grad]") {
  const Tensor x = away_from_zero({3, 4}, 0.1, 16);
  for (double p : {1.0, 2.0, kInf}) {
    for (int64_t axis : {0, -1}) {
      for (bool keepdim : {false, true}) {
        const std::string tag = "norm p=" + std::to_string(p) + " axis " + std::to_string(axis);
        expect_grad(tag, [&](const Vars& v) { return norm(v[0], p, axis, keepdim); }, {x});
      }
    }
  }
  expect_grad("norm of a transpose",
              [](const Vars& v) { return norm(transpose(v[0], 0, 1), 2.0, 1); }, {x});
  Variable v(from_vector(std::vector<float>{3, -4, 1, 2}, {2, 2}), false);
  CHECK(norm(v, 2.0, 1).data().to_vector<float>()[0] == Approx(5.0));
  CHECK(norm(v, 2.0, 1).data().to_vector<float>()[1] == Approx(std::sqrt(5.0)));
  CHECK(norm(v, 1.0, 0).data().to_vector<float>() == std::vector<float>{4, 6});
  CHECK(norm(v, kInf, 0, true).data().to_vector<float>() == std::vector<float>{3, 4});
  CHECK(norm(v, kInf, 0, true).shape() == Shape{1, 2});
}

TEST_CASE("norm p=2 has a zero gradient on an all-zero slice", "[autograd][grad]") {
  Variable x(from_vector(std::vector<float>{0, 0, 0, 1, 2, 2}, {2, 3}), true);
  Variable n = norm(x, 2.0, -1);
  CHECK(n.data().to_vector<float>() == std::vector<float>{0, 3});
  sum(n).backward();
  const std::vector<float> g = x.grad().to_vector<float>();
  CHECK(g[0] == 0.0f);
  CHECK(g[1] == 0.0f);
  CHECK(g[2] == 0.0f);
  CHECK(g[3] == Approx(1.0 / 3));
  CHECK(g[4] == Approx(2.0 / 3));
  CHECK(g[5] == Approx(2.0 / 3));
  for (float v : g) CHECK(std::isfinite(v));
}

TEST_CASE("norm p=inf shares the gradient among tied maxima", "[autograd][grad]") {
  Variable x(from_vector(std::vector<float>{2, -2, 1}, {3}), true);
  norm(x, kInf, 0).backward();
  CHECK(x.grad().to_vector<float>() == std::vector<float>{0.5f, -0.5f, 0});
}

TEST_CASE("matmul 2-D and batched", "[autograd][grad]") {
  expect_grad("matmul 2-D", [](const Vars& v) { return matmul(v[0], v[1]); },
              {rand_in({3, 4}, -1, 1, 17), rand_in({4, 5}, -1, 1, 18)});
  expect_grad("matmul batched", [](const Vars& v) { return matmul(v[0], v[1]); },
              {rand_in({2, 3, 4}, -1, 1, 19), rand_in({2, 4, 5}, -1, 1, 20)});
  // Transposed (non-contiguous) operands reach the kernel as strided views.
  expect_grad("matmul of a transpose",
              [](const Vars& v) { return matmul(transpose(v[0], 0, 1), v[1]); },
              {rand_in({4, 3}, -1, 1, 21), rand_in({4, 2}, -1, 1, 22)});
  expect_grad("matmul of strided slices",
              [](const Vars& v) { return matmul(slice(v[0], 1, 0, 8, 2), slice(v[1], 0, 1, 5)); },
              {rand_in({3, 8}, -1, 1, 31), rand_in({6, 2}, -1, 1, 32)});
  expect_grad("matmul row by column", [](const Vars& v) { return matmul(v[0], v[1]); },
              {rand_in({1, 5}, -1, 1, 33), rand_in({5, 1}, -1, 1, 34)});
  expect_grad("matmul batched, permuted",
              [](const Vars& v) {
                return matmul(permute(v[0], {1, 0, 2}), v[1]);
              },
              {rand_in({3, 2, 4}, -1, 1, 35), rand_in({2, 4, 3}, -1, 1, 36)});
  const GradcheckResult r =
      gradcheck([](const Vars& v) { return matmul(v[0], v[1]); },
                {rand_in({3, 4}, -1, 1, 23), rand_in({4, 2}, -1, 1, 24)}, {}, {0});
  CHECK(r.ok);
}

TEST_CASE("shape ops", "[autograd][grad]") {
  const Tensor x = rand_in({2, 3, 4}, -1, 1, 25);
  // Multiplying by a fixed non-uniform tensor makes a wrong element mapping visible.
  expect_grad("reshape", [](const Vars& v) { return reshape(v[0], {4, -1}); }, {x});
  expect_grad("view", [](const Vars& v) { return view(v[0], {6, 4}); }, {x});
  expect_grad("flatten", [](const Vars& v) { return flatten(v[0]); }, {x});
  expect_grad("flatten 0..1", [](const Vars& v) { return flatten(v[0], 0, 1); }, {x});
  expect_grad("transpose", [](const Vars& v) { return transpose(v[0], 0, 2); }, {x});
  expect_grad("transpose negative axes", [](const Vars& v) { return transpose(v[0], -1, -2); },
              {x});
  expect_grad("permute", [](const Vars& v) { return permute(v[0], {2, 0, 1}); }, {x});
  expect_grad("permute negative", [](const Vars& v) { return permute(v[0], {-1, 0, -2}); }, {x});
  const Tensor y0 = rand_in({1, 3, 4}, -1, 1, 26), y1 = rand_in({2, 2, 4}, -1, 1, 27);
  expect_grad("cat axis 0", [](const Vars& v) { return cat({v[0], v[1]}, 0); }, {x, y0});
  expect_grad("cat axis 1", [](const Vars& v) { return cat({v[0], v[1], v[0]}, 1); }, {x, y1});
  expect_grad("cat axis -1",
              [](const Vars& v) {
                return cat({v[0], v[1]}, -1);
              },
              {x, rand_in({2, 3, 1}, -1, 1, 28)});
  expect_grad("slice", [](const Vars& v) { return slice(v[0], 2, 1, 3); }, {x});
  expect_grad("slice with step", [](const Vars& v) { return slice(v[0], 2, 0, 4, 3); }, {x});
  expect_grad("slice negative bounds", [](const Vars& v) { return slice(v[0], 1, -2, 3, 2); }, {x});
  expect_grad("pad asymmetric", [](const Vars& v) { return pad(v[0], {1, 2, 0, 3}); }, {x});
  expect_grad("pad all axes", [](const Vars& v) { return pad(v[0], {0, 1, 2, 0, 1, 1}); }, {x});
  const Tensor img = rand_in({2, 2, 5, 4}, -1, 1, 29);
  expect_grad("subsample2d 2", [](const Vars& v) { return subsample2d(v[0], 2); }, {img});
  expect_grad("subsample2d 3", [](const Vars& v) { return subsample2d(v[0], 3); }, {img});
  expect_grad("chained views",
              [](const Vars& v) { return exp(flatten(transpose(slice(v[0], 1, 1, 3), 0, 2))); },
              {x});
}

TEST_CASE("shape ops produce the expected values and shapes", "[autograd]") {
  Variable x(arange(0, 24).view({2, 3, 4}));
  CHECK(slice(x, 2, 0, 4, 3).data().to_vector<float>() ==
        std::vector<float>{0, 3, 4, 7, 8, 11, 12, 15, 16, 19, 20, 23});
  CHECK(pad(x, {1, 2, 0, 3}).shape() == Shape{2, 6, 7});
  Variable p = pad(Variable(ones({1, 2})), {1, 2});
  CHECK(p.data().to_vector<float>() == std::vector<float>{0, 1, 1, 0, 0});
  Variable s = subsample2d(Variable(arange(0, 20).view({1, 1, 5, 4})), 2);
  CHECK(s.shape() == Shape{1, 1, 3, 2});
  CHECK(s.data().to_vector<float>() == std::vector<float>{0, 2, 8, 10, 16, 18});
  CHECK(cat({x, x}, 1).shape() == Shape{2, 6, 4});
  CHECK(flatten(x).shape() == Shape{2, 12});
  CHECK(permute(x, {2, 0, 1}).shape() == Shape{4, 2, 3});
}

TEST_CASE("bad arguments name the op and the shapes", "[autograd][errors]") {
  const Variable a(zeros({2, 3})), b(zeros({4})), m(zeros({4, 5}));
  CHECK_THROWS_WITH(add(a, b),
                    Catch::Contains("add") && Catch::Contains("[2, 3]") && Catch::Contains("[4]"));
  CHECK_THROWS_WITH(mul(a, b), Catch::Contains("mul") && Catch::Contains("[2, 3]"));
  CHECK_THROWS_WITH(matmul(a, m), Catch::Contains("matmul") && Catch::Contains("[2, 3]") &&
                                      Catch::Contains("[4, 5]"));
  CHECK_THROWS_WITH(matmul(Variable(zeros({2, 2, 3})), Variable(zeros({3, 3, 4}))),
                    Catch::Contains("matmul") && Catch::Contains("[2, 2, 3]"));
  CHECK_THROWS_WITH(sum(a, {2}), Catch::Contains("sum") && Catch::Contains("axis 2"));
  CHECK_THROWS_WITH(mean(a, {-3}), Catch::Contains("mean") && Catch::Contains("axis -3"));
  CHECK_THROWS_WITH(norm(a, 2.0, 2), Catch::Contains("norm") && Catch::Contains("axis 2"));
  CHECK_THROWS_WITH(norm(a, 3.0, 0), Catch::Contains("norm") && Catch::Contains("p = 3"));
  CHECK_THROWS_WITH(transpose(a, 0, 2), Catch::Contains("transpose") && Catch::Contains("axis 2"));
  CHECK_THROWS_WITH(cat({a, a}, 2), Catch::Contains("cat") && Catch::Contains("axis 2"));
  CHECK_THROWS_WITH(cat({a, Variable(zeros({3, 3}))}, 1),
                    Catch::Contains("cat") && Catch::Contains("[3, 3]"));
  CHECK_THROWS_WITH(reshape(a, {4, 2}), Catch::Contains("[2, 3]") && Catch::Contains("[4, 2]"));
  CHECK_THROWS_WITH(subsample2d(a, 2), Catch::Contains("subsample2d"));
  CHECK_THROWS_WITH(pad(a, {1}), Catch::Contains("pad"));
  CHECK_THROWS_WITH(clamp(a, 1.0, -1.0), Catch::Contains("clamp"));
  const Variable i(from_vector(std::vector<int64_t>{1, 2}, {2}));
  CHECK_THROWS_WITH(
      exp(i), Catch::Contains("exp") && Catch::Contains("int64") && Catch::Contains("float32"));
  CHECK_THROWS_WITH(add(i, i), Catch::Contains("add") && Catch::Contains("float32"));
  CHECK_THROWS_WITH(sum(i), Catch::Contains("sum") && Catch::Contains("float32"));
}

TEST_CASE("CUDA tensors: a clear message without CUDA, a device check with it",
          "[tensor][errors]") {
  if (!cuda_available()) {
    CHECK_THROWS_WITH(ones({2}).to(Device::cuda()), Catch::Contains("CUDA"));
    CHECK_THROWS_WITH(zeros({2}, DType::Float32, Device::cuda()), Catch::Contains("CUDA"));
    return;
  }
  const Tensor g = ones({2}).to(Device::cuda());
  CHECK(g.device() == Device::cuda());
  CHECK(g.cpu().to_vector<float>() == std::vector<float>{1, 1});
  CHECK_THROWS_WITH(add(Variable(g), Variable(ones({2}))),
                    Catch::Contains("add") && Catch::Contains("different devices"));
}
