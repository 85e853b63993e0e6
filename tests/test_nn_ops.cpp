// Neural-network ops other than convolution: gradient checks, values against PyTorch fixtures
// (tests/fixtures/make_nn_fixtures.py) and error messages.
#include <catch2/catch.hpp>
#include <cmath>
#include <map>
#include <numeric>
#include <sstream>
#include <string>

#include "autograd/grad_mode.h"
#include "autograd/gradcheck.h"
#include "autograd/ops.h"
#include "core/ops.h"
#include "core/ops_nn.h"
#include "core/random.h"
#include "fixture_file.h"

using namespace lnx;
using lnx::test::load_fixture;

namespace {

Tensor to_int64(const Tensor& t) {
  std::vector<int64_t> v;
  for (float f : t.to_vector<float>()) v.push_back(static_cast<int64_t>(std::lround(f)));
  return from_vector(v, t.shape());
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  const std::vector<float> va = a.to_vector<float>(), vb = b.to_vector<float>();
  double m = 0.0;
  for (size_t i = 0; i < va.size(); ++i)
    m = std::max(m, std::abs(static_cast<double>(va[i]) - vb[i]));
  return m;
}

// Distinct values 0.1 apart in shuffled order: no ties and no kinks within the gradcheck eps.
Tensor shuffled_ramp(const Shape& shape, uint64_t seed) {
  std::vector<float> v(static_cast<size_t>(numel(shape)));
  std::iota(v.begin(), v.end(), 0.0f);
  Generator gen(seed);
  for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[gen.next_u64() % i]);
  for (float& f : v) f = 0.1f * f - 0.05f * static_cast<float>(v.size());
  return from_vector(v, shape);
}

void require_gradcheck(const GradcheckFn& f, const std::vector<Tensor>& inputs,
                       const std::vector<size_t>& constants = {}, GradcheckOptions o = {}) {
  const GradcheckResult r = gradcheck(f, inputs, o, constants);
  INFO(r.report);
  CHECK(r.ok);
  CHECK(r.checked > 0);
}

Pool2dParams pool(int64_t k, int64_t s, int64_t pad, bool include_pad = true) {
  Pool2dParams p;
  p.kernel_h = p.kernel_w = k;
  p.stride_h = p.stride_w = s;
  p.pad_h = p.pad_w = pad;
  p.count_include_pad = include_pad;
  return p;
}

}  // namespace

TEST_CASE("max_pool2d matches PyTorch and has a correct gradient", "[nn][pool]") {
  auto fx = load_fixture("nn_pool.txt");
  ops::MaxPool2dResult r = ops::max_pool2d(fx["x"], pool(3, 2, 1));
  CHECK(max_abs_diff(r.y, fx["max_y"]) < 1e-6);
  CHECK(r.indices.to_vector<int64_t>() == to_int64(fx["max_indices"]).to_vector<int64_t>());

  for (const Pool2dParams& p : {pool(2, 2, 0), pool(3, 2, 1), pool(3, 1, 1), pool(2, 3, 0)}) {
    INFO("kernel " << p.kernel_h << " stride " << p.stride_h << " pad " << p.pad_h);
    require_gradcheck([p](const std::vector<Variable>& v) { return max_pool2d(v[0], p); },
                      {shuffled_ramp({2, 2, 7, 6}, 3)});
  }
}

TEST_CASE("max_pool2d sums the gradient of a maximum shared by overlapping windows", "[nn][pool]") {
  // One large value in the middle wins all four 3x3 stride-1 windows of a 4x4 plane.
  std::vector<float> v(16, 0.0f);
  v[5] = 10.0f;
  Variable x(from_vector(v, {1, 1, 4, 4}), true);
  Variable y = max_pool2d(x, pool(3, 1, 0));
  CHECK(y.data().to_vector<float>() == std::vector<float>{10, 10, 10, 10});
  sum(y).backward();
  CHECK(x.grad().to_vector<float>()[5] == 4.0f);
  CHECK(ops::sum(x.grad()).item() == 4.0);
}

TEST_CASE("avg_pool2d matches PyTorch with and without padding in the count", "[nn][pool]") {
  auto fx = load_fixture("nn_pool.txt");
  CHECK(max_abs_diff(ops::avg_pool2d(fx["x"], pool(3, 2, 1, true)), fx["avg_incl_y"]) < 1e-6);
  CHECK(max_abs_diff(ops::avg_pool2d(fx["x"], pool(3, 2, 1, false)), fx["avg_excl_y"]) < 1e-6);
  Pool2dParams rect;
  rect.kernel_h = 2;
  rect.kernel_w = 3;
  rect.stride_h = 1;
  rect.stride_w = 2;
  rect.pad_h = 1;
  rect.pad_w = 0;
  CHECK(max_abs_diff(ops::avg_pool2d(fx["x"], rect), fx["avg_22_y"]) < 1e-6);

  Generator gen(5);
  const Tensor x = normal({2, 3, 6, 5}, 0, 1, &gen);
  for (const Pool2dParams& p :
       {pool(2, 2, 0), pool(3, 2, 1, true), pool(3, 2, 1, false), pool(2, 1, 1, false), rect}) {
    INFO("kernel " << p.kernel_h << " stride " << p.stride_h << " pad " << p.pad_h
                   << " include_pad " << p.count_include_pad);
    require_gradcheck([p](const std::vector<Variable>& v) { return avg_pool2d(v[0], p); }, {x});
  }
}

TEST_CASE("global_avg_pool2d averages each plane", "[nn][pool]") {
  Variable x(arange(0, 16).view({1, 2, 2, 4}));
  CHECK(global_avg_pool2d(x).data().to_vector<float>() == std::vector<float>{3.5f, 11.5f});
  CHECK(global_avg_pool2d(x).shape() == Shape{1, 2});
  Generator gen(6);
  require_gradcheck([](const std::vector<Variable>& v) { return global_avg_pool2d(v[0]); },
                    {normal({2, 3, 4, 5}, 0, 1, &gen)});
}

TEST_CASE("batch_norm matches PyTorch in training and eval mode", "[nn][batch_norm]") {
  auto fx = load_fixture("nn_batch_norm.txt");
  for (const std::string prefix : {"bn2_", "bn4_"}) {
    INFO(prefix);
    auto get = [&](const std::string& k) { return fx.at(prefix + k); };
    const std::vector<float> meta = get("meta").to_vector<float>();
    const double momentum = meta[0], eps = meta[1];
    const Tensor rm = get("running_mean0").clone(), rv = get("running_var0").clone();
    Variable x(get("x"), true), gamma(get("gamma"), true), beta(get("beta"), true);
    Variable y = batch_norm(x, gamma, beta, rm, rv, true, momentum, eps);
    CHECK(max_abs_diff(y.data(), get("y_train")) < 1e-5);
    CHECK(max_abs_diff(rm, get("running_mean1")) < 1e-5);
    CHECK(max_abs_diff(rv, get("running_var1")) < 1e-5);
    y.backward(get("upstream"));
    CHECK(max_abs_diff(x.grad(), get("grad_x")) < 1e-5);
    CHECK(max_abs_diff(gamma.grad(), get("grad_gamma")) < 1e-5);
    CHECK(max_abs_diff(beta.grad(), get("grad_beta")) < 1e-5);

    const Tensor rm_before = rm.clone(), rv_before = rv.clone();
    Variable ye = batch_norm(x, gamma, beta, rm, rv, false, momentum, eps);
    CHECK(max_abs_diff(ye.data(), get("y_eval")) < 1e-5);
    // Eval mode leaves the running statistics alone.
    CHECK(max_abs_diff(rm, rm_before) == 0.0);
    CHECK(max_abs_diff(rv, rv_before) == 0.0);
  }
}

TEST_CASE("batch_norm training-mode gradients", "[nn][batch_norm]") {
  Generator gen(8);
  for (const Shape& shape : {Shape{6, 3}, Shape{3, 2, 3, 2}}) {
    INFO(to_string(shape));
    const int64_t c = shape[1];
    const Tensor x = normal(shape, 1.0, 2.0, &gen);
    const Tensor gamma = normal({c}, 1.0, 0.5, &gen), beta = normal({c}, 0, 1, &gen);
    require_gradcheck(
        [](const std::vector<Variable>& v) {
          return batch_norm(v[0], v[1], v[2], Tensor(), Tensor(), true);
        },
        {x, gamma, beta});
    // Running statistics updated on every call do not disturb the gradient.
    const Tensor rm = zeros({c}), rv = ones({c});
    require_gradcheck(
        [rm, rv](const std::vector<Variable>& v) {
          return batch_norm(v[0], v[1], v[2], rm, rv, true);
        },
        {x, gamma, beta});
    // Affine off.
    require_gradcheck(
        [](const std::vector<Variable>& v) {
          return batch_norm(v[0], Variable(), Variable(), Tensor(), Tensor(), true);
        },
        {x});
  }
}

TEST_CASE("batch_norm eval-mode gradients", "[nn][batch_norm]") {
  Generator gen(9);
  for (const Shape& shape : {Shape{5, 3}, Shape{2, 3, 2, 3}}) {
    INFO(to_string(shape));
    const int64_t c = shape[1];
    const Tensor rm = normal({c}, 0, 1, &gen), rv = uniform({c}, 0.5, 2.0, &gen);
    require_gradcheck(
        [rm, rv](const std::vector<Variable>& v) {
          return batch_norm(v[0], v[1], v[2], rm, rv, false);
        },
        {normal(shape, 0, 1, &gen), normal({c}, 1, 0.5, &gen), normal({c}, 0, 1, &gen)});
  }
}

TEST_CASE("batch_norm_relu gradients in training and eval mode", "[nn][batch_norm]") {
  Generator gen(19);
  const Shape shape{3, 2, 3, 2};
  const Tensor x = normal(shape, 1.0, 2.0, &gen);
  const Tensor gamma = normal({2}, 1.0, 0.5, &gen), beta = normal({2}, 0, 1, &gen);
  const Tensor rm = normal({2}, 0, 1, &gen), rv = uniform({2}, 0.5, 2.0, &gen);
  for (const bool training : {true, false}) {
    INFO("training " << training);
    require_gradcheck(
        [rm, rv, training](const std::vector<Variable>& v) {
          return batch_norm_relu(v[0], v[1], v[2], rm.clone(), rv.clone(), training);
        },
        {x, gamma, beta});
  }
}

TEST_CASE("batch_norm_relu equals relu of batch_norm, values and gradients", "[nn][batch_norm]") {
  Generator gen(20);
  // 9 x 11 planes: rows that are not a multiple of the kernels' 16 SIMD lanes.
  const Shape shape{8, 5, 9, 11};
  const Tensor x = normal(shape, 0.5, 2.0, &gen), gy = normal(shape, 0, 1, &gen);
  const Tensor gamma = normal({5}, 1.0, 0.5, &gen), beta = normal({5}, 0, 1, &gen);
  for (const bool training : {true, false}) {
    INFO("training " << training);
    const Tensor rm0 = normal({5}, 0, 1, &gen), rv0 = uniform({5}, 0.5, 2.0, &gen);
    struct Run {
      Tensor y, gx, gg, gb, rm, rv;
    };
    auto run = [&](bool fused) {
      Run r{Tensor(), Tensor(), Tensor(), Tensor(), rm0.clone(), rv0.clone()};
      Variable xv(x.clone(), true), g(gamma.clone(), true), b(beta.clone(), true);
      Variable y = fused ? batch_norm_relu(xv, g, b, r.rm, r.rv, training)
                         : relu(batch_norm(xv, g, b, r.rm, r.rv, training));
      y.backward(gy);
      r.y = y.data();
      r.gx = xv.grad();
      r.gg = g.grad();
      r.gb = b.grad();
      return r;
    };
    const Run fused = run(true), composed = run(false);
    CHECK(max_abs_diff(fused.y, composed.y) == 0.0);
    CHECK(max_abs_diff(fused.gx, composed.gx) < 1e-6);
    CHECK(max_abs_diff(fused.gg, composed.gg) < 1e-5);
    CHECK(max_abs_diff(fused.gb, composed.gb) < 1e-5);
    CHECK(max_abs_diff(fused.rm, composed.rm) == 0.0);
    CHECK(max_abs_diff(fused.rv, composed.rv) == 0.0);
    CHECK(ops::reduce(ReduceOp::Min, fused.y, {0, 1, 2, 3}, false).item() >= 0.0);
  }
}

TEST_CASE("dropout zeroes and rescales reproducibly", "[nn][dropout]") {
  Generator gen(10);
  const Tensor x = normal({4, 5}, 0, 1, &gen);
  require_gradcheck(
      [&gen](const std::vector<Variable>& v) {
        gen.manual_seed(77);  // every call draws the same mask
        return dropout(v[0], 0.3, true, &gen);
      },
      {x});

  const Tensor big = ones({10000});
  Generator g1(3), g2(3);
  const Tensor a = dropout(Variable(big), 0.25, true, &g1).data();
  const Tensor b = dropout(Variable(big), 0.25, true, &g2).data();
  CHECK(a.to_vector<float>() == b.to_vector<float>());
  int64_t kept = 0;
  for (float v : a.to_vector<float>()) {
    CHECK((v == 0.0f || std::abs(v - 1.0f / 0.75f) < 1e-6));
    kept += v != 0.0f ? 1 : 0;
  }
  CHECK(std::abs(static_cast<double>(kept) / 10000.0 - 0.75) < 0.03);

  Variable xv(x);
  CHECK(dropout(xv, 0.5, false).data().to_vector<float>() == x.to_vector<float>());
  CHECK(dropout(xv, 0.0, true).data().to_vector<float>() == x.to_vector<float>());
  CHECK_THROWS_WITH(dropout(xv, 1.0, true),
                    Catch::Contains("dropout: p = 1") && Catch::Contains("0 <= p < 1"));
  CHECK_THROWS_WITH(dropout(xv, -0.1, false), Catch::Contains("dropout: p = -0.1"));
}

TEST_CASE("log_softmax matches PyTorch, stays finite and has a correct gradient", "[nn][softmax]") {
  auto fx = load_fixture("nn_log_softmax.txt");
  // Rows 2 and 3 are shifted by +-1000: a naive exp() would overflow or underflow.
  CHECK(max_abs_diff(log_softmax(Variable(fx["x"])).data(), fx["y"]) < 1e-5);
  CHECK(max_abs_diff(log_softmax(Variable(fx["x3"]), 1).data(), fx["y3_axis1"]) < 1e-5);

  Generator gen(11);
  require_gradcheck([](const std::vector<Variable>& v) { return log_softmax(v[0]); },
                    {normal({4, 6}, 0, 2, &gen)});
  require_gradcheck([](const std::vector<Variable>& v) { return log_softmax(v[0], 0); },
                    {normal({3, 2, 4}, 0, 2, &gen)});
}

TEST_CASE("cross_entropy matches PyTorch and has a correct gradient", "[nn][softmax]") {
  auto fx = load_fixture("nn_cross_entropy.txt");
  const Tensor labels = to_int64(fx["labels"]);
  Variable logits(fx["logits"], true);
  Variable loss = cross_entropy(logits, labels);
  CHECK(loss.shape() == Shape{});
  CHECK(std::abs(loss.item() - fx["loss"].item()) < 1e-5);
  loss.backward();
  CHECK(max_abs_diff(logits.grad(), fx["grad_logits"]) < 1e-6);

  CHECK(std::abs(ops::nll_loss(ops::log_softmax(fx["logits"]), labels).item() - fx["loss"].item()) <
        1e-5);

  Generator gen(12);
  const Tensor lab = from_vector(std::vector<int64_t>{2, 0, 4, 4, 1, 3}, {6});
  require_gradcheck([lab](const std::vector<Variable>& v) { return cross_entropy(v[0], lab); },
                    {normal({6, 5}, 0, 2, &gen)});
}

TEST_CASE("argmax and top-k accuracy on hand-made logits", "[nn][metrics]") {
  const Tensor logits = from_vector(std::vector<float>{0.1f, 0.7f, 0.2f, 0.0f,     // top: 1, 2
                                                       0.9f, 0.05f, 0.03f, 0.02f,  // 0, 1
                                                       0.1f, 0.2f, 0.3f, 0.4f},    // 3, 2
                                    {3, 4});
  CHECK(argmax(logits, 1).to_vector<int64_t>() == std::vector<int64_t>{1, 0, 3});
  CHECK(argmax(logits, 0).to_vector<int64_t>() == std::vector<int64_t>{1, 0, 2, 2});
  const Tensor labels = from_vector(std::vector<int64_t>{1, 1, 0}, {3});
  CHECK(topk_accuracy(logits, labels, 1) == Approx(1.0 / 3.0));
  CHECK(topk_accuracy(logits, labels, 2) == Approx(2.0 / 3.0));
  CHECK(topk_accuracy(logits, labels, 3) == Approx(2.0 / 3.0));
  CHECK(topk_accuracy(logits, labels, 4) == Approx(1.0));
  CHECK_THROWS_WITH(topk_accuracy(logits, labels, 0),
                    Catch::Contains("topk_accuracy: k = 0 is out of range for 4 classes"));
  CHECK_THROWS_WITH(topk_accuracy(logits, labels, 5), Catch::Contains("k = 5"));
}

TEST_CASE("nn ops report bad arguments", "[nn][errors]") {
  const Tensor logits = zeros({4, 10});
  Variable lv(logits, true);
  CHECK_THROWS_WITH(cross_entropy(lv, zeros({5}, DType::Int64)),
                    Catch::Contains("cross_entropy: labels have shape [5], logits [4, 10]; "
                                    "expected labels of shape [4]"));
  CHECK_THROWS_WITH(
      cross_entropy(lv, from_vector(std::vector<int64_t>{0, 1, 2, 12}, {4})),
      Catch::Contains("cross_entropy: label 12 at row 3 is out of range for 10 classes"));
  CHECK_THROWS_WITH(cross_entropy(lv, from_vector(std::vector<int64_t>{0, -1, 2, 3}, {4})),
                    Catch::Contains("label -1 at row 1"));
  CHECK_THROWS_WITH(cross_entropy(lv, zeros({4})),
                    Catch::Contains("cross_entropy: labels have dtype float32, expected int64"));
  CHECK_THROWS_WITH(
      cross_entropy(Variable(zeros({4, 10, 2})), zeros({4}, DType::Int64)),
      Catch::Contains("cross_entropy: logits have shape [4, 10, 2]") && Catch::Contains("(N, C)"));
  CHECK_THROWS_WITH(ops::nll_loss(logits, zeros({3}, DType::Int64)),
                    Catch::Contains("nll_loss: labels have shape [3]"));

  Variable x8(zeros({2, 8, 3, 3}));
  CHECK_THROWS_WITH(batch_norm(x8, Variable(ones({4})), Variable(), Tensor(), Tensor(), true),
                    Catch::Contains("batch_norm: input has 8 channels, gamma has shape [4]"));
  CHECK_THROWS_WITH(batch_norm(x8, Variable(), Variable(zeros({8, 1})), Tensor(), Tensor(), true),
                    Catch::Contains("beta has shape [8, 1]"));
  CHECK_THROWS_WITH(batch_norm(x8, Variable(), Variable(), zeros({3}), ones({8}), true),
                    Catch::Contains("running_mean has shape [3]"));
  CHECK_THROWS_WITH(batch_norm(x8, Variable(), Variable(), Tensor(), Tensor(), false),
                    Catch::Contains("evaluation mode needs running_mean"));
  CHECK_THROWS_WITH(
      batch_norm(Variable(zeros({2, 8, 3})), Variable(), Variable(), Tensor(), Tensor(), true),
      Catch::Contains("batch_norm: input has shape [2, 8, 3]"));
  CHECK_THROWS_WITH(
      batch_norm(Variable(zeros({1, 8})), Variable(), Variable(), Tensor(), Tensor(), true),
      Catch::Contains("more than one value per channel"));
  CHECK_THROWS_WITH(batch_norm(Variable(zeros({2, 8}, DType::Int64)), Variable(), Variable(),
                               Tensor(), Tensor(), true),
                    Catch::Contains("batch_norm: argument 'x' has dtype int64"));

  Variable img(zeros({1, 2, 5, 5}));
  CHECK_THROWS_WITH(max_pool2d(Variable(zeros({2, 5, 5})), pool(2, 2, 0)),
                    Catch::Contains("max_pool2d: input has shape [2, 5, 5]"));
  CHECK_THROWS_WITH(max_pool2d(img, pool(2, 2, 2)),
                    Catch::Contains("max_pool2d: padding 2x2 exceeds half the kernel 2x2"));
  CHECK_THROWS_WITH(avg_pool2d(img, pool(7, 1, 0)),
                    Catch::Contains("avg_pool2d: input of shape [1, 2, 5, 5]") &&
                        Catch::Contains("smaller than the kernel 7x7"));
  CHECK_THROWS_WITH(avg_pool2d(img, pool(2, 0, 0)), Catch::Contains("avg_pool2d: stride 0x0"));
  CHECK_THROWS_WITH(global_avg_pool2d(Variable(zeros({2, 3}))),
                    Catch::Contains("global_avg_pool2d: input has shape [2, 3]"));

  CHECK_THROWS_WITH(log_softmax(Variable(zeros({2, 3})), 2),
                    Catch::Contains("log_softmax") && Catch::Contains("axis 2"));
  CHECK_THROWS_WITH(log_softmax(Variable(zeros({2, 0}))),
                    Catch::Contains("log_softmax: input has shape [2, 0]"));
}

TEST_CASE("kernels agree with composed ops on inputs large enough to run in parallel",
          "[nn][parallel]") {
  Generator gen(13);
  const Tensor x = normal({4, 8, 32, 32}, 0.5, 2.0, &gen);  // 32768 elements: the OpenMP path
  // 2x2 pooling with stride 2 is a reduction over the two inner axes of a 6-D view.
  const Tensor blocks = x.view({4, 8, 16, 2, 16, 2});
  CHECK(max_abs_diff(ops::max_pool2d(x, pool(2, 2, 0)).y,
                     ops::reduce(ReduceOp::Max, blocks, {3, 5}, false)) == 0.0);
  CHECK(max_abs_diff(ops::avg_pool2d(x, pool(2, 2, 0)), ops::mean(blocks, {3, 5})) < 1e-6);

  // Batch norm on a permuted (non-contiguous) view: the op makes it contiguous first.
  const Tensor xp = x.permute({1, 0, 2, 3});  // (8, 4, 32, 32) view
  const Tensor rm = zeros({4}), rv = ones({4});
  const Tensor y = ops::batch_norm_train(xp, Tensor(), Tensor(), rm, rv, 0.1, 1e-5).y;
  const Tensor mean = ops::mean(xp, {0, 2, 3}, true);
  const Tensor centred = ops::sub(xp, mean);
  const Tensor var = ops::mean(ops::unary(UnaryOp::Square, centred), {0, 2, 3}, true);
  const Tensor expect = ops::div(centred, ops::unary(UnaryOp::Sqrt, ops::add(var, 1e-5)));
  CHECK(max_abs_diff(y, expect) < 1e-4);
  const double n = static_cast<double>(xp.numel() / 4);
  CHECK(max_abs_diff(rm, ops::mul(mean.reshape({4}), 0.1)) < 1e-6);
  CHECK(max_abs_diff(rv, ops::add(ops::mul(var.reshape({4}), 0.1 * n / (n - 1)), 0.9)) < 1e-5);

  const Tensor logits = x.view({256, 128});
  const Tensor lse =
      ops::unary(UnaryOp::Log, ops::sum(ops::unary(UnaryOp::Exp, logits), {1}, true));
  CHECK(max_abs_diff(ops::log_softmax(logits), ops::sub(logits, lse)) < 1e-5);
}
