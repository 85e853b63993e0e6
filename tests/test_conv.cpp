#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "autograd/gradcheck.h"
#include "autograd/ops.h"
#include "core/cpu/sparse_conv.h"
#include "core/ops.h"
#include "core/random.h"

using namespace lnx;

namespace {

Conv2dParams params(int64_t stride, int64_t pad, int64_t dilation, int64_t groups) {
  Conv2dParams p;
  p.stride_h = p.stride_w = stride;
  p.pad_h = p.pad_w = pad;
  p.dilation_h = p.dilation_w = dilation;
  p.groups = groups;
  return p;
}

// Direct seven-loop convolution in double precision: the reference for the GEMM kernels.
std::vector<double> naive_conv(const Tensor& x, const Tensor& w, const Tensor& b,
                               const Conv2dParams& p, const Shape& ys) {
  const auto xv = x.to_vector<float>(), wv = w.to_vector<float>();
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2), wd = x.size(3);
  const int64_t o = w.size(0), cg = w.size(1), kh = w.size(2), kw = w.size(3);
  const int64_t og = o / p.groups;
  std::vector<double> y(static_cast<size_t>(numel(ys)), 0.0);
  for (int64_t in = 0; in < n; ++in)
    for (int64_t oc = 0; oc < o; ++oc)
      for (int64_t r = 0; r < ys[2]; ++r)
        for (int64_t q = 0; q < ys[3]; ++q) {
          double s = b.defined() ? b.to_vector<float>()[static_cast<size_t>(oc)] : 0.0;
          for (int64_t ci = 0; ci < cg; ++ci)
            for (int64_t i = 0; i < kh; ++i)
              for (int64_t j = 0; j < kw; ++j) {
                const int64_t ih = r * p.stride_h - p.pad_h + i * p.dilation_h;
                const int64_t iw = q * p.stride_w - p.pad_w + j * p.dilation_w;
                if (ih < 0 || ih >= h || iw < 0 || iw >= wd) continue;
                const int64_t cin = (oc / og) * cg + ci;
                s += static_cast<double>(
                         xv[static_cast<size_t>(((in * c + cin) * h + ih) * wd + iw)]) *
                     wv[static_cast<size_t>(((oc * cg + ci) * kh + i) * kw + j)];
              }
          y[static_cast<size_t>(((in * o + oc) * ys[2] + r) * ys[3] + q)] = s;
        }
  return y;
}

void check_close(const std::vector<float>& got, const std::vector<double>& want, double tol) {
  REQUIRE(got.size() == want.size());
  double worst = 0.0;
  size_t at = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double err = std::abs(got[i] - want[i]) / (1.0 + std::abs(want[i]));
    if (err > worst) worst = err, at = i;
  }
  INFO("worst relative error " << worst << " at element " << at);
  CHECK(worst < tol);
}

void check_close(const Tensor& got, const Tensor& want, double tol) {
  REQUIRE(got.shape() == want.shape());
  const auto w = want.to_vector<float>();
  check_close(got.to_vector<float>(), std::vector<double>(w.begin(), w.end()), tol);
}

// A fixture written by tests/fixtures/make_conv_fixtures.py.
struct Fixture {
  Conv2dParams p;
  bool has_bias = false;
  std::map<std::string, Tensor> t;
};

Fixture load_fixture(const std::string& name) {
  const std::string path = std::string(LNX_FIXTURE_DIR) + "/conv2d_" + name + ".txt";
  std::ifstream in(path);
  REQUIRE(in.good());
  Fixture f;
  std::string word;
  int has_bias = 0;
  in >> word >> f.p.stride_h >> f.p.stride_w >> f.p.pad_h >> f.p.pad_w >> f.p.dilation_h >>
      f.p.dilation_w >> f.p.groups >> has_bias;
  REQUIRE(word == "params");
  f.has_bias = has_bias != 0;
  std::string tname;
  while (in >> tname) {
    int64_t nd = 0;
    in >> nd;
    Shape s(static_cast<size_t>(nd));
    for (auto& d : s) in >> d;
    std::vector<float> v(static_cast<size_t>(numel(s)));
    for (auto& e : v) in >> e;
    REQUIRE(in.good());
    f.t[tname] = from_vector(v, s);
  }
  return f;
}

}  // namespace

TEST_CASE("conv2d matches PyTorch forward and backward", "[conv]") {
  for (const char* name :
       {"basic", "strided_groups", "depthwise_dilated", "pointwise", "asymmetric"}) {
    SECTION(name) {
      const Fixture f = load_fixture(name);
      const Tensor b = f.has_bias ? f.t.at("b") : Tensor();
      check_close(ops::conv2d(f.t.at("x"), f.t.at("w"), b, f.p), f.t.at("y"), 1e-5);

      Variable x(f.t.at("x"), true), w(f.t.at("w"), true);
      Variable bv = f.has_bias ? Variable(b, true) : Variable();
      conv2d(x, w, bv, f.p).backward(f.t.at("gy"));
      check_close(x.grad(), f.t.at("gx"), 1e-5);
      check_close(w.grad(), f.t.at("gw"), 1e-5);
      if (f.has_bias) check_close(bv.grad(), f.t.at("gb"), 1e-5);
    }
  }
}

TEST_CASE("conv2d gradients over stride, padding, dilation and groups", "[conv][gradcheck]") {
  Generator gen(7);
  for (const int64_t stride : {1, 2})
    for (const int64_t pad : {0, 1, 2})
      for (const int64_t dil : {1, 2})
        for (const int64_t groups : {1, 2, 4}) {  // 4 = depthwise for C = 4
          const int64_t o = groups == 4 ? 8 : 6;  // depthwise with channel multiplier 2
          const Conv2dParams p = params(stride, pad, dil, groups);
          const Tensor x = normal({2, 4, 7, 7}, 0, 1, &gen);
          const Tensor w = normal({o, 4 / groups, 3, 3}, 0, 1, &gen);
          const Tensor b = normal({o}, 0, 1, &gen);
          INFO("stride " << stride << " pad " << pad << " dilation " << dil << " groups "
                         << groups);
          const GradcheckResult r = gradcheck(
              [&p](const std::vector<Variable>& v) { return conv2d(v[0], v[1], v[2], p); },
              {x, w, b});
          INFO(r.report);
          CHECK(r.ok);
          CHECK(r.checked > 0);
        }
}

TEST_CASE("conv2d gradients without bias, 1x1 and stem shapes", "[conv][gradcheck]") {
  Generator gen(11);
  SECTION("1x1, stride 2") {
    const Conv2dParams p = params(2, 0, 1, 1);
    const GradcheckResult r = gradcheck(
        [&p](const std::vector<Variable>& v) { return conv2d(v[0], v[1], Variable(), p); },
        {normal({2, 5, 6, 6}, 0, 1, &gen), normal({3, 5, 1, 1}, 0, 1, &gen)});
    INFO(r.report);
    CHECK(r.ok);
  }
  SECTION("1x1, stride 1, groups 2 (the no-im2col path)") {
    const Conv2dParams p = params(1, 0, 1, 2);
    const GradcheckResult r =
        gradcheck([&p](const std::vector<Variable>& v) { return conv2d(v[0], v[1], v[2], p); },
                  {normal({2, 4, 5, 5}, 0, 1, &gen), normal({6, 2, 1, 1}, 0, 1, &gen),
                   normal({6}, 0, 1, &gen)});
    INFO(r.report);
    CHECK(r.ok);
  }
  SECTION("stem: 3 -> 16 channels, 3x3, padding 1") {
    const Conv2dParams p = params(1, 1, 1, 1);
    const GradcheckResult r = gradcheck(
        [&p](const std::vector<Variable>& v) { return conv2d(v[0], v[1], Variable(), p); },
        {normal({2, 3, 8, 8}, 0, 1, &gen), normal({16, 3, 3, 3}, 0, 1, &gen)});
    INFO(r.report);
    CHECK(r.ok);
  }
}

TEST_CASE("conv2d kernels agree with a direct loop on larger batches", "[conv]") {
  // The first two are large enough to run the threaded paths and the per-thread weight-gradient
  // sums (conv_threads in core/cpu/conv_geometry.h).
  Generator gen(3);
  struct Case {
    Shape x;
    int64_t o, k;
    Conv2dParams p;
  };
  const Case cases[] = {
      {{8, 3, 32, 32}, 16, 3, params(1, 1, 1, 1)},   // stem
      {{6, 16, 24, 24}, 32, 3, params(2, 1, 1, 1)},  // downsampling
      {{5, 8, 9, 11}, 8, 1, params(1, 0, 1, 1)},     // pointwise
      {{4, 6, 10, 10}, 6, 3, params(1, 1, 1, 6)},    // depthwise
      {{3, 6, 13, 13}, 4, 5, params(3, 2, 2, 2)},    // everything at once
      {{3, 5, 18, 37}, 7, 3, params(2, 1, 1, 1)},    // stride 2 on rows of 16+ (odd padding)
      {{2, 5, 17, 34}, 6, 3, params(2, 2, 1, 1)},    // stride 2, even padding
      {{3, 16, 13, 16}, 12, 3, params(2, 1, 1, 1)},  // 7x8 output: rows of 8, odd row count
      {{2, 8, 5, 8}, 10, 3, params(1, 1, 1, 1)},     // 5x8, and an 8-wide input gradient
      // Rows of whole vectors (16, 32, 48 wide): read in place, no junk lanes.
      {{4, 16, 32, 32}, 32, 3, params(2, 1, 1, 1)},  // ResNet downsampling to rows of 16
      {{2, 6, 5, 16}, 10, 3, params(1, 1, 1, 2)},    // 80 pixels: a two-vector last block
      {{2, 3, 3, 48}, 5, 3, params(1, 1, 1, 1)},     // three vectors per row
      {{2, 4, 8, 16}, 4, 3, params(1, 2, 2, 1)},     // dilated
      // Four vectors left: one 4 x 6 block (v_block) instead of 3 + 1.
      {{3, 16, 8, 8}, 13, 3, params(1, 1, 1, 1)},  // 8x8 row pairs; 13 channels = 6 + 6 + 1
      {{2, 5, 5, 7}, 52, 3, params(1, 1, 1, 1)},   // 52 positions and channels: masked tails
      {{2, 8, 4, 16}, 64, 3, params(1, 1, 1, 1)},  // rows of 16; 64 channels in the weight grad
      // grad_y transposed in 16 x 16 blocks for the weight gradient: rows of 32, and rows of 8
      // two at a time (an odd row count takes the element-wise path).
      {{2, 4, 6, 32}, 32, 3, params(1, 1, 1, 1)},
      {{2, 4, 8, 8}, 16, 3, params(1, 1, 1, 1)},
      {{2, 4, 7, 8}, 16, 3, params(1, 1, 1, 1)},
      // The weight gradient sums several small images per kernel call (about 512 positions):
      // 19 images of 8x8 are three threaded batches of 6 and a last of one; with groups, 6x6.
      {{19, 16, 8, 8}, 32, 3, params(1, 1, 1, 1)},
      {{10, 8, 6, 6}, 12, 3, params(1, 1, 1, 2)},
      // Up to 32 output channels at column stride 1: the weight gradient's v takes in the
      // kernel columns (shifted grad_y rows); 16 channels as in ResNet stage 1, and 32.
      {{4, 16, 16, 16}, 16, 3, params(1, 1, 1, 1)},
      {{3, 8, 12, 12}, 32, 5, params(1, 2, 1, 1)},
      // Strided input gradients with 8+ channels per group, one input phase at a time: a 1x1
      // kernel leaves phases without taps; kernel 5, stride 3, groups; even padding, odd sizes.
      {{2, 8, 9, 11}, 8, 1, params(2, 0, 1, 1)},
      {{2, 16, 11, 13}, 12, 5, params(3, 2, 1, 2)},
      {{3, 8, 10, 7}, 16, 3, params(2, 2, 1, 1)},
      {{2, 8, 1, 5}, 8, 3, params(2, 1, 1, 1)},  // one row: a phase without pixels
      // Output planes of at most 16 pixels: several images' columns side by side in one product
      // (small_planes in core/cpu/conv.cpp), forward and stride-1 input gradient. 2x2 over 9
      // images (36 columns, one chunk), 4x4 over 7 (chunks of 4 and 3), two groups, stride 2.
      {{9, 32, 2, 2}, 40, 3, params(1, 1, 1, 1)},
      {{7, 128, 4, 4}, 128, 3, params(1, 1, 1, 1)},
      {{6, 64, 2, 2}, 32, 3, params(1, 1, 1, 2)},
      {{4, 128, 7, 7}, 64, 3, params(2, 1, 1, 1)},
      // Depthwise (core/cpu/depthwise_conv.h): its input gradient at strides 1 and 2, its
      // stride-1 weight gradient, and its forward on planes of at most 16 pixels; 5x5 kernels,
      // no padding, threaded sizes; a channel multiplier of 2 stays on the general kernels.
      {{5, 12, 4, 4}, 12, 3, params(1, 1, 1, 12)},
      {{3, 8, 9, 7}, 8, 3, params(2, 1, 1, 8)},
      {{2, 6, 7, 9}, 6, 5, params(1, 2, 1, 6)},
      {{3, 4, 3, 3}, 4, 3, params(1, 0, 1, 4)},
      {{2, 600, 12, 12}, 600, 3, params(1, 1, 1, 600)},
      {{8, 512, 4, 4}, 512, 3, params(1, 1, 1, 512)},
      {{2, 4, 6, 6}, 8, 3, params(1, 1, 1, 4)},
      // Winograd F(2x2, 3x3) (core/cpu/winograd_conv.h): 64+ channels at stride 1, even output
      // sizes. Tile rows of 10 and 17 (masked tails, vectors of tiles across rows), no padding
      // and padding 2, 19 images of 4x4, 34 of 8x8 in chunks of tile rows on the threads.
      {{3, 64, 12, 20}, 72, 3, params(1, 1, 1, 1)},
      {{2, 80, 6, 34}, 64, 3, params(1, 1, 1, 1)},
      {{2, 64, 10, 10}, 65, 3, params(1, 0, 1, 1)},
      {{2, 64, 6, 6}, 64, 3, params(1, 2, 1, 1)},
      {{19, 96, 4, 4}, 64, 3, params(1, 1, 1, 1)},
      {{34, 64, 8, 8}, 64, 3, params(1, 1, 1, 1)},
  };
  for (const Case& c : cases) {
    const Tensor x = normal(c.x, 0, 1, &gen);
    const Tensor w = normal({c.o, c.x[1] / c.p.groups, c.k, c.k}, 0, 1, &gen);
    const Tensor b = normal({c.o}, 0, 1, &gen);
    const Shape ys = ops::conv2d_output_shape(x.shape(), w.shape(), c.p);
    INFO("x " << to_string(c.x) << " w " << to_string(w.shape()));
    check_close(ops::conv2d(x, w, b, c.p).to_vector<float>(), naive_conv(x, w, b, c.p, ys), 1e-4);

    // With an all-ones x (resp. w) a backward kernel reduces to a forward one: the input
    // gradient is checked through the identity <conv(x, w), gy> = <x, conv_bwd_input(gy, w)>.
    const Tensor gy = normal(ys, 0, 1, &gen);
    const Tensor y = ops::conv2d(x, w, Tensor(), c.p);
    const double lhs = ops::sum(ops::mul(y, gy)).item();
    const double via_x = ops::sum(ops::mul(x, ops::conv2d_backward_input(gy, w, c.x, c.p))).item();
    const double via_w =
        ops::sum(ops::mul(w, ops::conv2d_backward_weight(gy, x, w.shape(), c.p))).item();
    CHECK(via_x == Approx(lhs).epsilon(1e-4));
    CHECK(via_w == Approx(lhs).epsilon(1e-4));
  }
}

TEST_CASE("Winograd convolution gradients match direct loops element by element", "[conv]") {
  // 3x3 stride-1 convolutions of 64+ channels run Winograd's F(2x2, 3x3) for the forward pass
  // and so for the input gradient (core/cpu/winograd_conv.h). The inner-product identities above
  // check the gradients as sums; here each element is checked against a loop in double
  // precision, the weight gradient (direct kernel) beside it. Padding 1, 0 and 2; 4x4 maps; a
  // batch that spreads over the threads.
  Generator gen(29);
  struct Case {
    Shape x;
    int64_t o, pad;
  };
  const Case cases[] = {
      {{3, 64, 8, 8}, 64, 1}, {{2, 64, 6, 10}, 80, 0},   {{2, 72, 6, 6}, 64, 2},
      {{5, 96, 4, 4}, 64, 1}, {{16, 64, 16, 16}, 64, 1},
  };
  for (const Case& c : cases) {
    const Conv2dParams p = params(1, c.pad, 1, 1);
    const Tensor x = normal(c.x, 0, 1, &gen);
    const Tensor w = normal({c.o, c.x[1], 3, 3}, 0, 1, &gen);
    const Shape ys = ops::conv2d_output_shape(x.shape(), w.shape(), p);
    const Tensor gy = normal(ys, 0, 1, &gen);
    INFO("x " << to_string(c.x) << " out " << c.o << " pad " << c.pad);
    const auto xv = x.to_vector<float>(), wv = w.to_vector<float>(), gv = gy.to_vector<float>();
    const int64_t n = c.x[0], ci = c.x[1], h = c.x[2], wd = c.x[3], oh = ys[2], ow = ys[3];
    std::vector<double> gx(xv.size(), 0.0), gw(wv.size(), 0.0);
    for (int64_t in = 0; in < n; ++in)
      for (int64_t oc = 0; oc < c.o; ++oc)
        for (int64_t r = 0; r < oh; ++r)
          for (int64_t q = 0; q < ow; ++q) {
            const double g = gv[static_cast<size_t>(((in * c.o + oc) * oh + r) * ow + q)];
            for (int64_t k = 0; k < ci; ++k)
              for (int64_t i = 0; i < 3; ++i)
                for (int64_t j = 0; j < 3; ++j) {
                  const int64_t ih = r - c.pad + i, iw = q - c.pad + j;
                  if (ih < 0 || ih >= h || iw < 0 || iw >= wd) continue;
                  const auto xi = static_cast<size_t>(((in * ci + k) * h + ih) * wd + iw);
                  const auto wi = static_cast<size_t>(((oc * ci + k) * 3 + i) * 3 + j);
                  gx[xi] += g * wv[wi];
                  gw[wi] += g * xv[xi];
                }
          }
    check_close(ops::conv2d_backward_input(gy, w, c.x, p).to_vector<float>(), gx, 1e-4);
    // A weight sums n * OH * OW products (4096 in the last case), rounded in float: 1.1e-4 there.
    check_close(ops::conv2d_backward_weight(gy, x, w.shape(), p).to_vector<float>(), gw, 3e-4);
  }
}

namespace {

// w with a fraction `zero` of its (out, in) slices set to zero, chosen at random.
Tensor zero_slices(Tensor w, double zero, Generator& gen) {
  const int64_t slices = w.size(0) * w.size(1), kk = w.size(2) * w.size(3);
  const auto u = uniform({slices}, 0, 1, &gen).to_vector<float>();
  float* p = w.data<float>();
  for (int64_t s = 0; s < slices; ++s)
    if (u[static_cast<size_t>(s)] < zero) std::fill(p + s * kk, p + (s + 1) * kk, 0.0f);
  return w;
}

double slice_density(const Tensor& w) {
  const auto v = w.to_vector<float>();
  const int64_t slices = w.size(0) * w.size(1), kk = w.size(2) * w.size(3);
  int64_t nonzero = 0;
  for (int64_t s = 0; s < slices; ++s)
    nonzero += std::any_of(v.begin() + s * kk, v.begin() + (s + 1) * kk,
                           [](float e) { return e != 0.0f; });
  return static_cast<double>(nonzero) / static_cast<double>(slices);
}

}  // namespace

TEST_CASE("conv2d skipping zero slices equals the dense convolution", "[conv]") {
  Generator gen(13);
  struct Case {
    Shape x;
    int64_t o;
    double zero;  // fraction of slices zeroed
    Conv2dParams p;
    bool sparse;  // whether the slice-skipping kernel should take it
  };
  const Case cases[] = {
      {{4, 16, 32, 32}, 16, 0.8, params(1, 1, 1, 1), true},   // ResNet stage 1
      {{4, 16, 32, 32}, 32, 0.6, params(2, 1, 1, 1), true},   // downsampling to 16x16
      {{4, 32, 16, 16}, 32, 0.6, params(1, 1, 1, 1), true},   // stage 2
      {{4, 64, 8, 8}, 64, 0.5, params(1, 1, 1, 1), true},     // stage 3
      {{3, 8, 5, 7}, 12, 0.5, params(1, 1, 1, 1), true},      // odd sizes, masked vectors
      {{3, 8, 9, 11}, 6, 0.5, params(2, 1, 1, 1), true},      // stride 2 on odd sizes
      {{2, 8, 8, 8}, 8, 1.0, params(1, 1, 1, 1), true},       // every slice zero
      {{4, 16, 16, 16}, 16, 0.1, params(1, 1, 1, 1), false},  // too dense to pay
      {{2, 8, 8, 8}, 8, 0.5, params(1, 1, 2, 1), false},      // dilated: the dense kernel
      {{2, 8, 8, 8}, 8, 0.5, params(1, 1, 1, 2), false},      // grouped: the dense kernel
  };
  for (const Case& c : cases) {
    const Tensor x = normal(c.x, 0, 1, &gen);
    const Tensor w = zero_slices(normal({c.o, c.x[1] / c.p.groups, 3, 3}, 0, 1, &gen), c.zero, gen);
    const Tensor b = normal({c.o}, 0, 1, &gen);
    Conv2dParams skip = c.p;
    skip.skip_zero_slices = true;
    const Shape ys = ops::conv2d_output_shape(x.shape(), w.shape(), c.p);
    INFO("x " << to_string(c.x) << " w " << to_string(w.shape()) << " stride " << c.p.stride_h
              << " slice density " << slice_density(w));
    // The case takes the path it is meant to test (the geometry and build allowing).
    if (c.p.groups == 1 && c.p.dilation_h == 1)
      CHECK(slice_skipping_pays(ys[2] * ys[3], slice_density(w)) == c.sparse);
    check_close(ops::conv2d(x, w, b, skip).to_vector<float>(), naive_conv(x, w, b, c.p, ys), 1e-4);
    // Dense stride-1 convolutions of 64+ channels run Winograd's algorithm (winograd_conv.h),
    // whose sums round differently from the direct kernel's that the slice-skipping one shares.
    const double dense_tol = c.p.stride_h == 1 && c.x[1] >= 64 && c.o >= 64 ? 1e-4 : 1e-6;
    check_close(ops::conv2d(x, w, b, skip), ops::conv2d(x, w, b, c.p), dense_tol);
    const Tensor gy = normal(ys, 0, 1, &gen);
    check_close(ops::conv2d_backward_input(gy, w, c.x, skip),
                ops::conv2d_backward_input(gy, w, c.x, c.p), dense_tol);
    check_close(ops::conv2d_backward_weight(gy, x, w.shape(), skip),
                ops::conv2d_backward_weight(gy, x, w.shape(), c.p), 1e-6);
  }
}

TEST_CASE("conv2d gradients when skipping zero slices", "[conv][gradcheck]") {
  Generator gen(17);
  for (const int64_t stride : {1, 2}) {
    Conv2dParams p = params(stride, 1, 1, 1);
    p.skip_zero_slices = true;
    const Tensor w = zero_slices(normal({6, 4, 3, 3}, 0, 1, &gen), 0.6, gen);
    INFO("stride " << stride << " slice density " << slice_density(w));
    const GradcheckResult r =
        gradcheck([&p](const std::vector<Variable>& v) { return conv2d(v[0], v[1], v[2], p); },
                  {normal({2, 4, 8, 8}, 0, 1, &gen), w, normal({6}, 0, 1, &gen)});
    INFO(r.report);
    CHECK(r.ok);
    CHECK(r.checked > 0);
  }
}

TEST_CASE("conv2d accepts non-contiguous inputs and skips unneeded gradients", "[conv]") {
  Generator gen(5);
  const Tensor xt = normal({2, 3, 6, 5}, 0, 1, &gen).transpose(2, 3);  // (2, 3, 5, 6) view
  const Tensor w = normal({4, 3, 3, 3}, 0, 1, &gen);
  const Conv2dParams p = params(1, 1, 1, 1);
  check_close(ops::conv2d(xt, w, Tensor(), p), ops::conv2d(xt.contiguous(), w, Tensor(), p), 1e-6);

  Variable x(xt.contiguous()), wv(w, true);
  sum(conv2d(x, wv, Variable(), p)).backward();
  CHECK_FALSE(x.grad().defined());
  REQUIRE(wv.grad().defined());
  CHECK(wv.grad().shape() == w.shape());
}

TEST_CASE("conv2d handles an empty batch", "[conv]") {
  const Tensor x = zeros({0, 4, 8, 8}), w = ones({8, 4, 3, 3});
  const Conv2dParams p = params(1, 1, 1, 1);
  CHECK(ops::conv2d(x, w, Tensor(), p).shape() == Shape{0, 8, 8, 8});
  CHECK(ops::conv2d_backward_input(zeros({0, 8, 8, 8}), w, x.shape(), p).shape() == x.shape());
  const Tensor gw = ops::conv2d_backward_weight(zeros({0, 8, 8, 8}), x, w.shape(), p);
  CHECK(ops::sum(ops::unary(UnaryOp::Abs, gw)).item() == 0.0);
}

TEST_CASE("conv2d reports bad arguments", "[conv][errors]") {
  const Tensor x = zeros({2, 4, 8, 8});
  const Tensor w = zeros({8, 4, 3, 3});
  const Conv2dParams p;
  CHECK_THROWS_WITH(ops::conv2d(x, zeros({8, 3, 3, 3}), Tensor(), p),
                    Catch::Contains("conv2d: input has 4 channels, weight expects 3") &&
                        Catch::Contains("[8, 3, 3, 3]"));
  CHECK_THROWS_WITH(ops::conv2d(zeros({4, 8, 8}), w, Tensor(), p),
                    Catch::Contains("input must be 4-D") && Catch::Contains("[4, 8, 8]"));
  CHECK_THROWS_WITH(ops::conv2d(x, zeros({8, 4, 3}), Tensor(), p),
                    Catch::Contains("weight must be 4-D"));
  CHECK_THROWS_WITH(ops::conv2d(x, w, zeros({7}), p),
                    Catch::Contains("bias has shape [7], expected [8]"));
  CHECK_THROWS_WITH(ops::conv2d(x, zeros({8, 2, 3, 3}), Tensor(), params(1, 0, 1, 3)),
                    Catch::Contains("not divisible by groups=3"));
  CHECK_THROWS_WITH(
      ops::conv2d(zeros({2, 6, 8, 8}), zeros({8, 2, 3, 3}), Tensor(), params(1, 0, 1, 3)),
      Catch::Contains("weight has 8 output channels, not divisible by groups=3"));
  CHECK_THROWS_WITH(ops::conv2d(x, w, Tensor(), params(0, 0, 1, 1)),
                    Catch::Contains("stride must be positive"));
  CHECK_THROWS_WITH(ops::conv2d(x, w, Tensor(), params(1, 0, 0, 1)),
                    Catch::Contains("dilation must be positive"));
  CHECK_THROWS_WITH(ops::conv2d(x, w, Tensor(), params(1, -1, 1, 1)),
                    Catch::Contains("padding must be non-negative"));
  CHECK_THROWS_WITH(ops::conv2d(zeros({2, 4, 2, 2}), w, Tensor(), p),
                    Catch::Contains("smaller than the dilated kernel 3x3"));
  CHECK_THROWS_WITH(ops::conv2d(x, w, Tensor(), params(1, 0, 4, 1)),
                    Catch::Contains("smaller than the dilated kernel 9x9"));
  CHECK_THROWS_WITH(ops::conv2d(zeros({2, 4, 8, 8}, DType::Int64), w, Tensor(), p),
                    Catch::Contains("conv2d") && Catch::Contains("expected float32"));
  CHECK_THROWS_WITH(ops::conv2d_backward_input(zeros({2, 8, 5, 5}), w, x.shape(), p),
                    Catch::Contains("grad_y has shape [2, 8, 5, 5], expected [2, 8, 6, 6]"));
  CHECK_THROWS_WITH(ops::conv2d_backward_weight(zeros({2, 8, 6, 6}), x, {8, 3, 3, 3}, p),
                    Catch::Contains("conv2d_backward_weight: input has 4 channels"));
  CHECK(ops::conv2d_output_shape({2, 4, 32, 32}, {16, 4, 3, 3}, params(2, 1, 1, 1)) ==
        Shape{2, 16, 16, 16});
}
