#include <catch2/catch.hpp>

#include "core/ops.h"
#include "core/random.h"
#include "core/tensor.h"

using namespace lnx;

TEST_CASE("tensor views share storage", "[tensor]") {
  Tensor t = arange(0, 24).view({2, 3, 4});
  REQUIRE(t.is_contiguous());
  Tensor tr = t.transpose(0, 2);
  CHECK(tr.shape() == Shape{4, 3, 2});
  CHECK_FALSE(tr.is_contiguous());
  CHECK(tr.storage() == t.storage());
  Tensor c = tr.contiguous();
  CHECK(c.is_contiguous());
  CHECK(c.to_vector<float>()[1] == 12.0f);  // tr[0,0,1] = t[1,0,0]
  Tensor s = t.slice(2, 1, 4, 2);           // columns 1 and 3
  CHECK(s.shape() == Shape{2, 3, 2});
  CHECK(s.contiguous().to_vector<float>() == std::vector<float>{1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23});
  CHECK(t.select(1, 2).contiguous().to_vector<float>() == std::vector<float>{8, 9, 10, 11, 20, 21, 22, 23});
  CHECK(t.reshape({6, -1}).shape() == Shape{6, 4});
  CHECK(tr.reshape({24}).to_vector<float>()[1] == 12.0f);
}

TEST_CASE("views report bad arguments", "[tensor][errors]") {
  Tensor t = zeros({2, 3});
  CHECK_THROWS_WITH(t.view({4, 2}), Catch::Contains("view") && Catch::Contains("[2, 3]"));
  CHECK_THROWS_WITH(t.transpose(0, 1).view({6}), Catch::Contains("not contiguous"));
  CHECK_THROWS_WITH(t.transpose(0, 5), Catch::Contains("axis 5 is out of range"));
  CHECK_THROWS_WITH(t.data<int64_t>(), Catch::Contains("float32"));
}

TEST_CASE("random factories are reproducible", "[tensor][random]") {
  Generator g1(42), g2(42);
  Tensor a = normal({1000}, 0, 1, &g1), b = normal({1000}, 0, 1, &g2);
  CHECK(a.to_vector<float>() == b.to_vector<float>());
  const double m = ops::mean(a).item();
  CHECK(std::abs(m) < 0.1);
  Tensor u = uniform({1000}, -2, 3, &g1);
  CHECK(ops::reduce(ReduceOp::Min, u, {}, false).item() >= -2.0);
  CHECK(ops::reduce(ReduceOp::Max, u, {}, false).item() < 3.0);
}

TEST_CASE("broadcasting element-wise and reductions", "[ops]") {
  Tensor a = arange(0, 6).view({2, 3});
  Tensor b = from_vector(std::vector<float>{10, 20, 30}, {3});
  CHECK(ops::add(a, b).to_vector<float>() == std::vector<float>{10, 21, 32, 13, 24, 35});
  CHECK(ops::sum(a, {0}).to_vector<float>() == std::vector<float>{3, 5, 7});
  CHECK(ops::sum(a, {1}, true).shape() == Shape{2, 1});
  CHECK(ops::sum(a).item() == 15.0);
  CHECK(ops::sum_to(ops::add(a, b), {3}).to_vector<float>() == std::vector<float>{23, 45, 67});
  CHECK_THROWS_WITH(ops::add(a, zeros({4})), Catch::Contains("add") && Catch::Contains("[2, 3]") &&
                                                 Catch::Contains("[4]"));
  Tensor m = ops::matmul(a, a.transpose(0, 1));
  CHECK(m.to_vector<float>() == std::vector<float>{5, 14, 14, 50});
}
