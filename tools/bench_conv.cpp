#include "tools/bench_conv.h"

#include <algorithm>
#include <chrono>
#include <functional>
#include <string>

#include "core/ops.h"

namespace lnx::tools {
namespace {

double median_ms(const std::function<void()>& fn, int warm, int reps) {
  for (int i = 0; i < warm; ++i) fn();
  std::vector<double> times;
  for (int i = 0; i < reps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    const auto t1 = std::chrono::steady_clock::now();
    times.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  std::sort(times.begin(), times.end());
  const size_t m = times.size() / 2;
  return times.size() % 2 ? times[m] : 0.5 * (times[m - 1] + times[m]);
}

struct ConvShape {
  int64_t in, out, stride, hw;  // width-1 channels; the stem's input stays at 3
};

// "16->32 s2 @32" with the channels actually benchmarked, so a --width 4 table reads 64->128.
std::string shape_name(int64_t cin, int64_t cout, int64_t stride, int64_t hw, bool stem) {
  std::string name = stem ? "stem " : "";
  name += std::to_string(cin) + "->" + std::to_string(cout);
  if (stride != 1) name += " s" + std::to_string(stride);
  return name + " @" + std::to_string(hw);
}

}  // namespace

std::vector<ConvBenchRow> bench_resnet20_convs(int batch, int width, int reps) {
  static const ConvShape shapes[] = {
      {3, 16, 1, 32},  {16, 16, 1, 32}, {16, 32, 2, 32},
      {32, 32, 1, 16}, {32, 64, 2, 16}, {64, 64, 1, 8},
  };
  std::vector<ConvBenchRow> rows;
  for (const ConvShape& s : shapes) {
    const int64_t cin = s.in == 3 ? 3 : s.in * width, cout = s.out * width;
    Conv2dParams p;
    p.stride_h = p.stride_w = s.stride;
    p.pad_h = p.pad_w = 1;
    const Tensor x = normal({batch, cin, s.hw, s.hw});  // (N, C, H, W)
    const Tensor w = normal({cout, cin, 3, 3});         // (O, C, 3, 3)
    const Tensor ones_y = ones(ops::conv2d_output_shape(x.shape(), w.shape(), p));
    const double f = median_ms([&] { ops::conv2d(x, w, Tensor(), p); }, 3, reps);
    const double bx =
        median_ms([&] { ops::conv2d_backward_input(ones_y, w, x.shape(), p); }, 3, reps);
    const double bw =
        median_ms([&] { ops::conv2d_backward_weight(ones_y, x, w.shape(), p); }, 3, reps);
    const double fb = median_ms(
        [&] {
          ops::conv2d(x, w, Tensor(), p);
          ops::conv2d_backward_input(ones_y, w, x.shape(), p);
          ops::conv2d_backward_weight(ones_y, x, w.shape(), p);
        },
        3, reps);
    const double gflop = 2.0 * static_cast<double>(ones_y.numel() * cin * 9) / 1e9;
    rows.push_back({shape_name(cin, cout, s.stride, s.hw, s.in == 3), f, bx, bw, fb, gflop});
  }
  return rows;
}

double bench_sgemm_gflops(int n, int reps) {
  const Tensor a = normal({n, n}), b = normal({n, n});
  const Tensor c = Tensor::empty({n, n});
  const double ms = median_ms([&] { ops::gemm(false, false, 1.0f, a, b, 0.0f, c); }, 3, reps);
  return 2.0 * n * n * static_cast<double>(n) / ms / 1e6;
}

}  // namespace lnx::tools
