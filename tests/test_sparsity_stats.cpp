#include <catch2/catch.hpp>

#include "compress/sparsity_stats.h"

using namespace lnx;

TEST_CASE("sparsity of a conv weight: elements, slices, channels, FLOPs", "[stats]") {
  Tensor w = ones({3, 2, 3, 3});                     // (O, I, kh, kw)
  w.select(0, 0).zero_();                            // output channel 0 entirely zero
  w.select(0, 1).select(0, 1).zero_();               // slice (1, 1)
  w.select(0, 2).select(0, 1).select(0, 0).zero_();  // one row of slice (2, 1): not a zero slice
  const SparsityStats s = measure_sparsity(w, 16 * 16);
  CHECK(s.elements == 54);
  CHECK(s.zero_elements == 18 + 9 + 3);
  CHECK(s.slices == 6);
  CHECK(s.zero_slices == 3);
  CHECK(s.zero_out_channels == 1);
  CHECK(s.zero_in_channels == 0);  // input 1 is still used by output 2
  CHECK(s.dense_flops == 6 * 9 * 256.0);
  CHECK(s.sparse_flops == 3 * 9 * 256.0);
  CHECK(s.flops_reduction() == Approx(2.0));
  w.select(1, 1).zero_();
  CHECK(measure_sparsity(w, 1).zero_in_channels == 1);
}

TEST_CASE("sparsity of a dense weight and accumulation", "[stats]") {
  const Tensor w = from_vector(std::vector<float>{0, 1, 0, 0}, {2, 2});
  SparsityStats total = measure_sparsity(w, 1);
  CHECK(total.zero_slices == 3);
  CHECK(total.zero_out_channels == 1);
  CHECK(total.zero_in_channels == 1);
  total += measure_sparsity(ones({2, 2}), 1);
  CHECK(total.slice_sparsity() == Approx(3.0 / 8));
  CHECK_THROWS_WITH(measure_sparsity(ones({2, 2, 2}), 1), Catch::Contains("[2, 2, 2]"));
}
