// Same inputs, same thread count: bit-identical results, call after call. Training resumes
// and reproducibility depend on it, and a timing-dependent split of a sum breaks it silently.
#include <catch2/catch.hpp>

#include "autograd/ops.h"
#include "core/ops.h"
#include "core/random.h"

using namespace lnx;

TEST_CASE("kernels with parallel reductions are deterministic", "[determinism]") {
  set_num_threads(2);
  Generator g(1);
  const Tensor x = normal({16, 16, 14, 14}, 0, 1, &g);   // (N, C, H, W)
  const Tensor w = normal({32, 16, 3, 3}, 0, 0.1, &g);   // (O, C, 3, 3)
  const Tensor gy = normal({16, 32, 14, 14}, 0, 1, &g);  // (N, O, H, W)
  Conv2dParams p;
  p.pad_h = p.pad_w = 1;
  const std::vector<float> gw = ops::conv2d_backward_weight(gy, x, w.shape(), p).to_vector<float>();
  const std::vector<float> gx = ops::conv2d_backward_input(gy, w, x.shape(), p).to_vector<float>();
  const std::vector<float> s = ops::sum(gy, {0, 2, 3}).to_vector<float>();
  auto bn_grad = [&] {
    Variable xv(x, true), gamma(ones({16}), true), beta(zeros({16}), true);
    batch_norm(xv, gamma, beta, Tensor(), Tensor(), true).backward(gy.slice(1, 0, 16).contiguous());
    return xv.grad().to_vector<float>();
  };
  const std::vector<float> bn = bn_grad();
  for (int r = 0; r < 5; ++r) {
    CHECK(ops::conv2d_backward_weight(gy, x, w.shape(), p).to_vector<float>() == gw);
    CHECK(ops::conv2d_backward_input(gy, w, x.shape(), p).to_vector<float>() == gx);
    CHECK(ops::sum(gy, {0, 2, 3}).to_vector<float>() == s);
    CHECK(bn_grad() == bn);
  }
}
