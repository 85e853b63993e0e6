// The backward engine: scheduling over shared subgraphs, accumulation into leaves, grad modes,
// graph release, the in-place version check, deep graphs, graph dumps and anomaly mode.
#include <catch2/catch.hpp>
#include <cmath>

#include "autograd/engine.h"
#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "core/ops.h"

using namespace lnx;

namespace {

Variable leaf(const std::vector<float>& v, const Shape& shape, const std::string& name = "") {
  return Variable(from_vector(v, shape), true, name);
}

std::vector<float> grad_of(const Variable& v) {
  REQUIRE(v.grad().defined());
  return v.grad().to_vector<float>();
}

}  // namespace

TEST_CASE("a variable used twice gets both gradients", "[autograd][engine]") {
  Variable x = leaf({1, -2, 3}, {3}, "x");
  Variable y = sum(x * x + x);  // dy/dx = 2x + 1
  y.backward();
  CHECK(grad_of(x) == std::vector<float>{3, -3, 7});
}

TEST_CASE("a diamond graph adds the gradients of both paths once", "[autograd][engine]") {
  Variable x = leaf({0.5f, 2.0f}, {2}, "x");
  Variable h = exp(x);                    // shared intermediate node
  Variable y = sum(h * 3.0 + square(h));  // dy/dx = (3 + 2h) h
  y.backward();
  const std::vector<float> g = grad_of(x);
  for (int i = 0; i < 2; ++i) {
    const double hv = std::exp(i == 0 ? 0.5 : 2.0);
    CHECK(g[i] == Approx((3 + 2 * hv) * hv).epsilon(1e-5));
  }
}

TEST_CASE("gradients accumulate across backward calls until zero_grad", "[autograd][engine]") {
  Variable x = leaf({1, 2}, {2}, "x");
  sum(x * 3.0).backward();
  CHECK(grad_of(x) == std::vector<float>{3, 3});
  sum(x * x).backward();  // a second graph: adds 2x
  CHECK(grad_of(x) == std::vector<float>{5, 7});
  x.zero_grad();
  CHECK_FALSE(x.grad().defined());
  sum(x).backward();
  CHECK(grad_of(x) == std::vector<float>{1, 1});
}

TEST_CASE("the leaf's gradient is its own tensor, not an alias of the upstream one",
          "[autograd][engine]") {
  Variable x = leaf({1, 2}, {2}, "x");
  const Tensor g = from_vector(std::vector<float>{10, 20}, {2});
  x.backward(g);  // backward straight into a leaf
  CHECK(grad_of(x) == std::vector<float>{10, 20});
  x.backward(g);
  CHECK(grad_of(x) == std::vector<float>{20, 40});
  CHECK(g.to_vector<float>() == std::vector<float>{10, 20});  // the caller's tensor is untouched
}

TEST_CASE("NoGradGuard records no graph", "[autograd][engine]") {
  Variable x = leaf({1, 2}, {2}, "x");
  REQUIRE(grad_enabled());
  {
    NoGradGuard guard;
    CHECK_FALSE(grad_enabled());
    Variable y = x * x + 1.0;
    CHECK_FALSE(y.requires_grad());
    CHECK(y.is_leaf());
    CHECK(y.grad_fn() == nullptr);
    CHECK(y.data().to_vector<float>() == std::vector<float>{2, 5});
    {
      NoGradGuard nested;
      CHECK_FALSE(grad_enabled());
    }
    CHECK_FALSE(grad_enabled());  // the inner guard restores the outer state
  }
  CHECK(grad_enabled());
  CHECK((x * x).requires_grad());
}

TEST_CASE("requires_grad propagates from any input", "[autograd][engine]") {
  Variable a(from_vector(std::vector<float>{1, 2}, {2}));
  Variable b = leaf({3, 4}, {2}, "b");
  Variable c(from_vector(std::vector<float>{5, 6}, {2}));
  CHECK_FALSE(a.requires_grad());
  CHECK((a + b).requires_grad());
  CHECK((b * a).requires_grad());
  CHECK_FALSE((a * c).requires_grad());
  CHECK_FALSE(exp(a).requires_grad());
  Variable y = sum(a * b);
  CHECK_FALSE(y.is_leaf());
  REQUIRE(y.grad_fn() != nullptr);
  CHECK(y.grad_fn()->op() == "sum");
  y.backward();
  CHECK(grad_of(b) == std::vector<float>{1, 2});
  CHECK_FALSE(a.grad().defined());  // constants get no gradient

  Variable d(from_vector(std::vector<float>{1}, {1}));
  d.set_requires_grad(true);
  CHECK((d * 2.0).requires_grad());
  Variable i(from_vector(std::vector<int64_t>{1}, {1}));
  CHECK_THROWS_WITH(i.set_requires_grad(true), Catch::Contains("int64"));
  Variable nonleaf = d * 2.0;
  CHECK_THROWS_WITH(nonleaf.set_requires_grad(false), Catch::Contains("detach"));
}

TEST_CASE("retain_graph allows a second backward; without it the second one throws",
          "[autograd][engine]") {
  Variable x = leaf({1, 2}, {2}, "x");
  Variable y = sum(x * x);
  y.backward(/*retain_graph=*/true);
  CHECK(grad_of(x) == std::vector<float>{2, 4});
  y.backward();
  CHECK(grad_of(x) == std::vector<float>{4, 8});
  CHECK_THROWS_WITH(y.backward(), Catch::Contains("second time"));

  Variable z = sum(exp(x));
  z.backward();
  CHECK_THROWS_WITH(z.backward(),
                    Catch::Contains("second time") && Catch::Contains("retain_graph"));
}

TEST_CASE("backward after an in-place edit of a saved tensor throws", "[autograd][engine]") {
  SECTION("ops::add_") {
    Variable x = leaf({1, 2}, {2}, "x");
    Variable w = leaf({3, 4}, {2}, "w");
    Variable y = sum(x * w);  // mul saves x and w
    ops::add_(x.data(), ones({2}));
    CHECK_THROWS_WITH(y.backward(), Catch::Contains("mul") && Catch::Contains("modified in place"));
  }
  SECTION("Tensor::fill_ on a view of the saved tensor") {
    Variable x = leaf({1, 2, 3, 4}, {4}, "x");
    Variable w = leaf({3, 4, 5, 6}, {4}, "w");
    Variable y = sum(x * w);
    x.data().slice(0, 1, 3).fill_(0.0);  // a view shares the storage and its version
    CHECK_THROWS_WITH(y.backward(), Catch::Contains("mul") && Catch::Contains("modified in place"));
  }
  SECTION("an edit of an unsaved tensor is harmless") {
    Variable x = leaf({1, 2}, {2}, "x");
    Variable y = sum(x + 1.0);  // add_scalar saves nothing
    ops::add_(x.data(), ones({2}));
    y.backward();
    CHECK(grad_of(x) == std::vector<float>{1, 1});
  }
}

TEST_CASE("a 10,000-op chain neither overflows the stack nor loses the gradient",
          "[autograd][engine]") {
  const int depth = 10000;
  Variable x = leaf({1.0f, -2.0f}, {2}, "x");
  Variable y = x;
  // Alternate *2 and *0.5 so the exact gradient is 1 and every step is exact in float32.
  for (int i = 0; i < depth; ++i) y = i % 2 == 0 ? y * 2.0 : y * 0.5;
  Variable loss = sum(y);
  loss.backward();
  CHECK(grad_of(x) == std::vector<float>{1, 1});

  // A chain through a non-trivial op: (1 + 1e-4)^depth.
  Variable z = x;
  for (int i = 0; i < depth; ++i) z = z * 1.0001;
  x.zero_grad();
  sum(z).backward();
  const double expected = std::pow(1.0001, depth);
  for (float g : grad_of(x)) CHECK(g == Approx(expected).epsilon(1e-3));
  // Dropping the graph (here, at scope exit) must not recurse 10,000 deep either.
  y = Variable();
  z = Variable();
  loss = Variable();
}

TEST_CASE("dropping a 300,000-node graph does not recurse through it", "[autograd][engine]") {
  // Releasing a chain node by node recursively needs stack in proportion to its length (this
  // one overflowed an 8 MiB stack before Node's destructor became iterative).
  Variable x = leaf({1.0f}, {1}, "x");
  Variable y = x;
  for (int i = 0; i < 300000; ++i) y = y + 1.0;
  CHECK(y.item() == 300001.0);
  y = Variable();  // the whole chain dies here
  CHECK(x.requires_grad());
}

TEST_CASE("a branch with no gradient flowing is skipped", "[autograd][engine]") {
  Variable x = leaf({1, 2}, {2}, "x");
  Variable w = leaf({3, 4}, {2}, "w");
  Variable unused = exp(x) * 3.0;  // recorded, never part of the loss
  Variable y = sum(x * 2.0);
  y.backward();
  CHECK(grad_of(x) == std::vector<float>{2, 2});
  CHECK_FALSE(w.grad().defined());
  CHECK(unused.requires_grad());

  // A node whose backward returns no gradient for one input: that input's subgraph runs
  // nothing, yet the other inputs still receive theirs.
  Variable h = w * 2.0;
  Variable picked = make_result(x.data().clone(), "take_first", {&x, &h}, [](const Tensor& g) {
    return std::vector<Tensor>{g, Tensor()};
  });
  x.zero_grad();
  sum(picked).backward();
  CHECK(grad_of(x) == std::vector<float>{1, 1});
  CHECK_FALSE(w.grad().defined());
}

TEST_CASE("graph_text and graph_dot show ops, shapes and leaf names", "[autograd][engine]") {
  Variable x = Variable(ones({2, 3}), true, "weights");
  Variable b = Variable(ones({3}), true, "bias");
  Variable y = sum(relu(x + b), {1});
  const std::string text = graph_text(y);
  INFO(text);
  CHECK_THAT(text, Catch::Contains("sum [2]"));
  CHECK_THAT(text, Catch::Contains("relu [2, 3]"));
  CHECK_THAT(text, Catch::Contains("add [2, 3]"));
  CHECK_THAT(text, Catch::Contains("weights [2, 3]"));
  CHECK_THAT(text, Catch::Contains("bias [3]"));
  const std::string dot = graph_dot(y);
  INFO(dot);
  CHECK_THAT(dot, Catch::StartsWith("digraph"));
  CHECK_THAT(dot, Catch::Contains("relu [2, 3]"));
  CHECK_THAT(dot, Catch::Contains("weights [2, 3]"));
  CHECK_THAT(dot, Catch::Contains("->"));
  CHECK_THAT(graph_text(Variable(ones({2}))), Catch::Contains("no graph"));
}

TEST_CASE("anomaly mode names the op that produced a NaN", "[autograd][engine][anomaly]") {
  Variable x = leaf({-1, 2}, {2}, "x");
  SECTION("without anomaly mode a NaN passes silently") {
    Variable y = log(x);
    CHECK(std::isnan(y.data().to_vector<float>()[0]));
  }
  SECTION("forward") {
    AnomalyModeGuard guard;
    CHECK(anomaly_mode());
    CHECK_THROWS_WITH(log(x), Catch::Contains("log") && Catch::Contains("NaN"));
  }
  SECTION("backward") {
    // sqrt(0) = 0 is finite, its gradient 1 / (2 sqrt(0)) is not.
    Variable z = leaf({0, 4}, {2}, "z");
    AnomalyModeGuard guard;
    Variable y = sum(sqrt(z) * 2.0);
    CHECK_THROWS_WITH(y.backward(), Catch::Contains("backward of op 'sqrt'"));
  }
  CHECK_FALSE(anomaly_mode());  // the guard restores the previous state
}

TEST_CASE("anomaly mode accepts a finite tensor of more than 2^24 elements",
          "[autograd][engine][anomaly]") {
  // A float32 count of finite elements stops being exact at 2^24 and once flagged this one.
  Variable x(full({(1 << 24) + 3}, 0.5), true, "x");
  AnomalyModeGuard guard;
  CHECK_NOTHROW(x * 2.0);
}

TEST_CASE("backward reports misuse", "[autograd][engine][errors]") {
  Variable x = leaf({1, 2}, {2}, "x");
  CHECK_THROWS_WITH((x * 2.0).backward(),
                    Catch::Contains("[2]") && Catch::Contains("single-element"));
  Variable c(from_vector(std::vector<float>{1}, {1}), false, "c");
  CHECK_THROWS_WITH(c.backward(),
                    Catch::Contains("'c'") && Catch::Contains("does not require grad"));
  CHECK_THROWS_WITH((x * 2.0).backward(ones({3})),
                    Catch::Contains("[3]") && Catch::Contains("[2]"));
  CHECK_THROWS_WITH(Variable().backward(), Catch::Contains("undefined"));
}

TEST_CASE("detach cuts the graph but shares the data", "[autograd][engine]") {
  Variable x = leaf({1, 2}, {2}, "x");
  Variable y = x * 3.0;
  Variable d = y.detach();
  CHECK_FALSE(d.requires_grad());
  CHECK(d.is_leaf());
  CHECK(d.data().storage() == y.data().storage());
  Variable loss = sum(d * x);  // only the direct path to x carries gradient
  loss.backward();
  CHECK(grad_of(x) == std::vector<float>{3, 6});
}
