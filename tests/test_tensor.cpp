#include <omp.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <sstream>
#include <thread>

#include "core/allocator.h"
#include "core/backend.h"
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
  CHECK(s.contiguous().to_vector<float>() ==
        std::vector<float>{1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23});
  CHECK(t.select(1, 2).contiguous().to_vector<float>() ==
        std::vector<float>{8, 9, 10, 11, 20, 21, 22, 23});
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
  CHECK_THROWS_WITH(ops::add(a, zeros({4})),
                    Catch::Contains("add") && Catch::Contains("[2, 3]") && Catch::Contains("[4]"));
  Tensor m = ops::matmul(a, a.transpose(0, 1));
  CHECK(m.to_vector<float>() == std::vector<float>{5, 14, 14, 50});
}

TEST_CASE("factories fill the expected values", "[tensor]") {
  CHECK(zeros({2, 3}).to_vector<float>() == std::vector<float>(6, 0.0f));
  CHECK(ones({4}).to_vector<float>() == std::vector<float>(4, 1.0f));
  CHECK(full({2, 2}, 3.5).to_vector<float>() == std::vector<float>(4, 3.5f));
  CHECK(zeros({3}, DType::Int64).to_vector<int64_t>() == std::vector<int64_t>{0, 0, 0});
  CHECK(full({2}, 7, DType::UInt8).to_vector<uint8_t>() == std::vector<uint8_t>{7, 7});
  CHECK(zeros({0, 3}).numel() == 0);
  CHECK(full({}, 2.0).item() == 2.0);  // 0-d tensor
  CHECK(arange(0, 5).to_vector<float>() == std::vector<float>{0, 1, 2, 3, 4});
  CHECK(arange(1, 2, 0.25).to_vector<float>() == std::vector<float>{1, 1.25f, 1.5f, 1.75f});
  CHECK(arange(5, 0, -2).to_vector<float>() == std::vector<float>{5, 3, 1});
  CHECK(arange(3, 3).numel() == 0);
  CHECK(arange(0, 3, 1, DType::Int64).to_vector<int64_t>() == std::vector<int64_t>{0, 1, 2});
  const int64_t big = (int64_t{1} << 24) + 1;  // not representable in float32
  CHECK(arange(big, big + 2, 1, DType::Int64).to_vector<int64_t>() ==
        std::vector<int64_t>{big, big + 1});
  CHECK_THROWS_WITH(arange(0, 1, 0), Catch::Contains("arange") && Catch::Contains("step"));
  CHECK_THROWS_WITH(zeros({2, -1}), Catch::Contains("negative"));
  CHECK_THROWS_WITH(from_vector(std::vector<float>{1, 2, 3}, {2, 2}),
                    Catch::Contains("from_vector") && Catch::Contains("[2, 2]"));
  CHECK_THROWS_WITH(ones({2}).item(), Catch::Contains("item") && Catch::Contains("[2]"));
}

TEST_CASE("to_string shows the shape, dtype and values", "[tensor]") {
  const Tensor t = from_vector(std::vector<float>{1.5f, -2, 3, 4, 5, 6.25f}, {2, 3});
  const std::string s = t.to_string();
  INFO(s);
  CHECK_THAT(s, Catch::Contains("shape=[2, 3]"));
  CHECK_THAT(s, Catch::Contains("float32"));
  CHECK_THAT(s, Catch::Contains("1.5"));
  CHECK_THAT(s, Catch::Contains("-2"));
  CHECK_THAT(s, Catch::Contains("6.25"));
  // Printing reads logical order, not storage order.
  CHECK_THAT(t.transpose(0, 1).to_string(), Catch::Contains("[[1.5, 4]"));
  const std::string big = arange(0, 100).to_string(6);
  INFO(big);
  CHECK_THAT(big, Catch::Contains("..."));
  CHECK_THAT(big, Catch::Contains("99"));
  CHECK_THAT(big, Catch::Contains("0, 1, 2"));
  CHECK_FALSE(Catch::Contains("50").match(big));
  CHECK_THAT(from_vector(std::vector<int64_t>{7, 8}, {2}).to_string(), Catch::Contains("int64"));
  CHECK_THAT(full({}, 4.0).to_string(), Catch::Contains("4"));
  CHECK_THAT(Tensor().to_string(), Catch::Contains("undefined"));
  std::ostringstream os;
  os << t;
  CHECK(os.str() == s);
}

TEST_CASE("dtype conversions", "[tensor]") {
  const Tensor f = from_vector(std::vector<float>{1.7f, -1.7f, 0, 200}, {4});
  const Tensor i = f.to(DType::Int64);
  CHECK(i.dtype() == DType::Int64);
  CHECK(i.to_vector<int64_t>() == std::vector<int64_t>{1, -1, 0, 200});  // truncation
  CHECK(i.to(DType::Float32).to_vector<float>() == std::vector<float>{1, -1, 0, 200});
  const Tensor u = from_vector(std::vector<uint8_t>{0, 255, 3}, {3});
  CHECK(u.to(DType::Float32).to_vector<float>() == std::vector<float>{0, 255, 3});
  CHECK(u.to(DType::Int64).to_vector<int64_t>() == std::vector<int64_t>{0, 255, 3});
  CHECK(from_vector(std::vector<float>{0, 1, 254.9f}, {3}).to(DType::UInt8).to_vector<uint8_t>() ==
        std::vector<uint8_t>{0, 1, 254});
  CHECK(f.to(DType::Float32).storage() == f.storage());  // same dtype: no copy
  // A strided view converts in logical order.
  const Tensor m = arange(0, 6).view({2, 3}).transpose(0, 1).to(DType::Int64);
  CHECK(m.shape() == Shape{3, 2});
  CHECK(m.to_vector<int64_t>() == std::vector<int64_t>{0, 3, 1, 4, 2, 5});
}

TEST_CASE("copy_ broadcasts its source and bumps the version", "[tensor]") {
  const Tensor t = zeros({2, 3});
  const uint64_t v0 = t.version();
  t.copy_(from_vector(std::vector<float>{1, 2, 3}, {3}));
  CHECK(t.to_vector<float>() == std::vector<float>{1, 2, 3, 1, 2, 3});
  CHECK(t.version() > v0);
  t.copy_(from_vector(std::vector<float>{7, 8}, {2, 1}));
  CHECK(t.to_vector<float>() == std::vector<float>{7, 7, 7, 8, 8, 8});
  t.copy_(full({}, 5.0));
  CHECK(t.to_vector<float>() == std::vector<float>(6, 5.0f));
  // Into a strided view: only the viewed elements change.
  const Tensor base = zeros({3, 4});
  base.slice(1, 0, 4, 2).copy_(ones({3, 2}));
  CHECK(base.to_vector<float>() == std::vector<float>{1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0});
  // With a dtype conversion.
  const Tensor i = zeros({2}, DType::Int64);
  i.copy_(from_vector(std::vector<float>{3.9f, -2}, {2}));
  CHECK(i.to_vector<int64_t>() == std::vector<int64_t>{3, -2});
  CHECK_THROWS_WITH(t.copy_(ones({4})), Catch::Contains("expand") && Catch::Contains("[4]") &&
                                            Catch::Contains("[2, 3]"));
  const uint64_t v1 = t.version();
  t.fill_(1.0);
  CHECK(t.version() > v1);
}

TEST_CASE("expand, unsqueeze and squeeze are views", "[tensor]") {
  const Tensor c = from_vector(std::vector<float>{1, 2, 3}, {3, 1});
  const Tensor e = c.expand({2, 3, 4});
  CHECK(e.shape() == Shape{2, 3, 4});
  CHECK(e.strides()[0] == 0);
  CHECK(e.strides()[2] == 0);
  CHECK(e.storage() == c.storage());
  CHECK_FALSE(e.is_contiguous());
  const std::vector<float> ev = e.to_vector<float>();
  CHECK(ev[0] == 1);
  CHECK(ev[4] == 2);
  CHECK(ev[12 + 8] == 3);
  CHECK_THROWS_WITH(c.expand({3, 2, 2}), Catch::Contains("expand"));
  CHECK_THROWS_WITH(c.expand({1}), Catch::Contains("expand"));

  const Tensor v = arange(0, 6).view({2, 3});
  CHECK(v.unsqueeze(0).shape() == Shape{1, 2, 3});
  CHECK(v.unsqueeze(1).shape() == Shape{2, 1, 3});
  CHECK(v.unsqueeze(-1).shape() == Shape{2, 3, 1});
  CHECK(v.unsqueeze(2).is_contiguous());
  CHECK(v.unsqueeze(1).storage() == v.storage());
  CHECK(v.transpose(0, 1).unsqueeze(1).contiguous().to_vector<float>() ==
        std::vector<float>{0, 3, 1, 4, 2, 5});
  CHECK(c.squeeze(1).shape() == Shape{3});
  CHECK(c.squeeze(-1).to_vector<float>() == std::vector<float>{1, 2, 3});
  CHECK(v.unsqueeze(0).squeeze(0).shape() == Shape{2, 3});
  CHECK_THROWS_WITH(v.squeeze(0), Catch::Contains("squeeze") && Catch::Contains("[2, 3]"));
  CHECK_THROWS_WITH(v.unsqueeze(4), Catch::Contains("unsqueeze"));
}

TEST_CASE("the caching allocator reuses freed blocks", "[tensor][allocator]") {
  const AllocatorStats s0 = cpu_allocator_stats();
  { Tensor t = Tensor::empty({12345}); }  // freed into the cache
  const AllocatorStats s1 = cpu_allocator_stats();
  CHECK(s1.allocations == s0.allocations + 1);
  CHECK(s1.bytes_cached >= 12345 * sizeof(float));
  { Tensor t = Tensor::empty({12345}); }
  const AllocatorStats s2 = cpu_allocator_stats();
  CHECK(s2.cache_hits == s1.cache_hits + 1);
  CHECK(s2.bytes_in_use == s0.bytes_in_use);

  void* p = cpu_allocate(1000);
  CHECK(reinterpret_cast<uintptr_t>(p) % 64 == 0);
  CHECK(cpu_allocator_stats().bytes_in_use >= s0.bytes_in_use + 1000);
  cpu_deallocate(p, 1000);
  void* q = cpu_allocate(1000);
  CHECK(q == p);  // the same block back
  cpu_deallocate(q, 1000);
  cpu_allocator_release_cache();
  CHECK(cpu_allocator_stats().bytes_cached == 0);
  cpu_allocator_reset_peak();
  CHECK(cpu_allocator_stats().peak_bytes_in_use == cpu_allocator_stats().bytes_in_use);
}

TEST_CASE("the caching allocator prefers a thread's own blocks and shares the rest",
          "[tensor][allocator]") {
  cpu_allocator_release_cache();
  constexpr size_t kBytes = 77777;
  void* mine = cpu_allocate(kBytes);
  void* theirs = nullptr;
  std::thread([&] {
    theirs = cpu_allocate(kBytes);
    cpu_deallocate(theirs, kBytes);  // cached as the other thread's
  }).join();
  cpu_deallocate(mine, kBytes);  // cached as this thread's, after theirs
  REQUIRE(mine != theirs);
  // This thread gets its own block back first, though theirs was cached before it...
  void* first = cpu_allocate(kBytes);
  CHECK(first == mine);
  // ...and then theirs rather than a new one.
  const uint64_t hits = cpu_allocator_stats().cache_hits;
  void* second = cpu_allocate(kBytes);
  CHECK(second == theirs);
  CHECK(cpu_allocator_stats().cache_hits == hits + 1);
  cpu_deallocate(first, kBytes);
  cpu_deallocate(second, kBytes);
  cpu_allocator_release_cache();
}

TEST_CASE("thread count setting", "[tensor][threads]") {
  const int before = num_threads();
  REQUIRE(before >= 1);
  set_num_threads(1);
  CHECK(num_threads() == 1);
  set_num_threads(2);
  CHECK(num_threads() == 2);
  CHECK_THROWS_WITH(set_num_threads(0), Catch::Contains("set_num_threads"));
  set_num_threads(before);
  CHECK(num_threads() == before);
}

TEST_CASE("random draws do not depend on the thread count", "[tensor][random][threads]") {
  const int before = num_threads();
  const Shape big{300000};  // above the parallel grain, so the draw is split across threads
  set_num_threads(1);
  Generator g1(99);
  const std::vector<float> one = normal(big, 0.5, 2.0, &g1).to_vector<float>();
  const std::vector<float> u1 = uniform(big, -1, 1, &g1).to_vector<float>();
  set_num_threads(2);
  Generator g2(99);
  const std::vector<float> two = normal(big, 0.5, 2.0, &g2).to_vector<float>();
  const std::vector<float> u2 = uniform(big, -1, 1, &g2).to_vector<float>();
  set_num_threads(before);
  CHECK(one == two);
  CHECK(u1 == u2);
  CHECK(g1.offset() == g2.offset());
  double m = 0;
  for (float v : one) m += v;
  CHECK(m / one.size() == Approx(0.5).margin(0.05));
  // Consecutive draws continue the stream instead of repeating it.
  Generator g3(99);
  const Tensor first = normal({4}, 0, 1, &g3), second = normal({4}, 0, 1, &g3);
  CHECK(first.to_vector<float>() != second.to_vector<float>());
}

TEST_CASE("Device::parse", "[tensor][device]") {
  CHECK(Device::parse("cpu") == Device::cpu());
  CHECK(Device::parse("cuda") == Device::cuda(0));
  CHECK(Device::parse("cuda:1") == Device::cuda(1));
  CHECK(Device::cuda(1).name() == "cuda:1");
  CHECK(Device::parse(Device::cuda(2).name()) == Device::cuda(2));
  for (const char* bad : {"gpu", "", "cuda:", "cuda:x", "cuda:-1", "CPU", "cuda:1a"})
    CHECK_THROWS_WITH(Device::parse(bad), Catch::Contains("device") && Catch::Contains("expected"));
  CHECK_THROWS_AS(Device::parse("cuda:99999999999999"), Error);
}

TEST_CASE("large sums are accurate to float32 on any thread count", "[ops][reduce]") {
  const int before = num_threads();
  Generator g(5);
  const Tensor u = uniform({1000000}, 0, 1, &g);
  const Tensor x = uniform({1000, 100, 3}, 0, 1, &g);
  const std::vector<float> uv = u.to_vector<float>(), xv = x.to_vector<float>();
  double total = 0, col[3] = {0, 0, 0};
  for (float v : uv) total += v;
  for (size_t i = 0; i < xv.size(); ++i) col[i % 3] += xv[i];
  for (int nt : {1, 2, 4}) {
    set_num_threads(nt);  // 4 threads > 3 outputs: each sum is split across threads
    INFO("threads " << nt);
    CHECK(ops::sum(u).item() == Approx(total).epsilon(1e-6));
    CHECK(ops::mean(u).item() == Approx(total / 1e6).epsilon(1e-6));
    const std::vector<float> s = ops::sum(x, {0, 1}).to_vector<float>();
    for (int c = 0; c < 3; ++c) CHECK(s[c] == Approx(col[c]).epsilon(1e-6));
    // The same sums through a strided (transposed) view.
    const std::vector<float> st = ops::sum(x.permute({2, 0, 1}), {1, 2}).to_vector<float>();
    for (int c = 0; c < 3; ++c) CHECK(st[c] == Approx(col[c]).epsilon(1e-6));
  }
  set_num_threads(before);
}

TEST_CASE("reductions over adjacent axes agree with a plain loop, contiguous or not",
          "[ops][reduce]") {
  // Contiguous reduced axes are walked as one row (a latent's (O, I, 3, 3) summed whole, a
  // slice norm's rows of 9); a permuted view must still follow its strides.
  const int before = num_threads();
  Generator g(9);
  const Tensor x = uniform({7, 5, 3, 3}, -1, 1, &g);  // (O, I, kh, kw)
  const std::vector<float> v = x.to_vector<float>();
  auto at = [&](int64_t o, int64_t i, int64_t k) { return v[(o * 5 + i) * 9 + k]; };
  for (int nt : {1, 2, 3}) {
    set_num_threads(nt);
    INFO("threads " << nt);
    double total = 0;
    for (float f : v) total += f;
    CHECK(ops::sum(x).item() == Approx(total).epsilon(1e-6));
    const std::vector<float> per_filter = ops::sum(x, {1, 2, 3}).to_vector<float>();
    const std::vector<float> per_slice = ops::sum(x.reshape({35, 9}), {1}).to_vector<float>();
    const std::vector<float> max_filter =
        ops::reduce(ReduceOp::Max, x, {1, 2, 3}, false).to_vector<float>();
    // (kh, kw, I, O): the reduced axes 2 and 3 are not contiguous with each other.
    const std::vector<float> per_tap = ops::sum(x.permute({2, 3, 1, 0}), {2, 3}).to_vector<float>();
    for (int64_t o = 0; o < 7; ++o) {
      double s = 0;
      float m = -2;
      for (int64_t i = 0; i < 5; ++i) {
        double row = 0;
        for (int64_t k = 0; k < 9; ++k) row += at(o, i, k), m = std::max(m, at(o, i, k));
        CHECK(per_slice[o * 5 + i] == Approx(row).epsilon(1e-6).margin(1e-6));
        s += row;
      }
      CHECK(per_filter[o] == Approx(s).epsilon(1e-6).margin(1e-6));
      CHECK(max_filter[o] == m);
    }
    for (int64_t k = 0; k < 9; ++k) {
      double s = 0;
      for (int64_t o = 0; o < 7; ++o)
        for (int64_t i = 0; i < 5; ++i) s += at(o, i, k);
      CHECK(per_tap[k] == Approx(s).epsilon(1e-6).margin(1e-6));
    }
  }
  set_num_threads(before);
}

TEST_CASE("reductions over an empty axis", "[ops][reduce]") {
  CHECK(ops::sum(zeros({3, 0}), {1}).to_vector<float>() == std::vector<float>{0, 0, 0});
  CHECK(ops::sum(zeros({0})).item() == 0.0);
  CHECK(ops::sum(zeros({0, 3}), {1}).shape() == Shape{0});
  CHECK_THROWS_WITH(ops::mean(zeros({3, 0}), {1}),
                    Catch::Contains("mean") && Catch::Contains("empty"));
  CHECK_THROWS_WITH(ops::reduce(ReduceOp::Max, zeros({3, 0}), {1}, false),
                    Catch::Contains("max") && Catch::Contains("empty"));
  CHECK_THROWS_WITH(ops::reduce(ReduceOp::AbsMax, zeros({2}, DType::Int64), {}, false),
                    Catch::Contains("absmax") && Catch::Contains("float32"));
}

TEST_CASE("a reduction called inside a parallel region sums every element", "[ops][reduce]") {
  const int before = num_threads();
  set_num_threads(4);  // more threads than outputs: the reduction itself is split
  const Tensor x = ones({1000, 100, 2});
  std::vector<float> inside;
#pragma omp parallel num_threads(2)
  {
#pragma omp single
    inside = ops::sum(x, {0, 1}).to_vector<float>();  // nested: the team here is 1 thread
  }
  set_num_threads(before);
  CHECK(inside == std::vector<float>{100000, 100000});
}

TEST_CASE("products with a small right matrix agree with a plain loop", "[ops][gemm]") {
  // Tall (M, K) x small (K, N) takes its own loop over rows (the decoders' (slices, 9) x (9, 9)
  // and (weights, 1) x (1, 1)), other sizes included; B transposed or not, beta 0 or not.
  Generator g(3);
  for (const auto& [k, n] : {std::pair<int64_t, int64_t>{9, 9}, {1, 1}, {5, 7}, {16, 3}}) {
    const int64_t m = 1500;
    const Tensor a = uniform({m, k}, -1, 1, &g), b = uniform({k, n}, -1, 1, &g);
    const Tensor bt = b.transpose(0, 1).contiguous().transpose(0, 1);  // (K, N), column-major
    const Tensor c0 = uniform({m, n}, -1, 1, &g);
    const std::vector<float> av = a.to_vector<float>(), bv = b.to_vector<float>(),
                             cv = c0.to_vector<float>();
    for (const Tensor& bb : {b, bt})
      for (const float beta : {0.0f, 0.5f}) {
        INFO("K " << k << ", N " << n << ", beta " << beta << ", B contiguous "
                  << bb.is_contiguous());
        const Tensor c = c0.clone();
        backend_of(a).gemm(false, false, 2.0f, a, bb, beta, c);
        const std::vector<float> out = c.to_vector<float>();
        double worst = 0;  // largest error over every entry
        for (int64_t r = 0; r < m; ++r)
          for (int64_t j = 0; j < n; ++j) {
            double s = 0;
            for (int64_t i = 0; i < k; ++i) s += double(av[r * k + i]) * bv[i * n + j];
            worst = std::max(worst, std::fabs(out[r * n + j] - (2 * s + beta * cv[r * n + j])));
          }
        CHECK(worst < 1e-5);
      }
  }
}
