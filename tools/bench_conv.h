// Convolution and SGEMM timings for `lilnetx bench`, measured like
// shared/peers/torch_ops_bench.py (median of reps after 3 warm-ups) so the tables compare.
#pragma once

#include <string>
#include <vector>

namespace lnx::tools {

struct ConvBenchRow {
  std::string name;
  double fwd_ms;
  double bwd_input_ms;   // input gradient alone
  double bwd_weight_ms;  // weight gradient alone
  double fwd_bwd_ms;     // forward + input gradient + weight gradient, all-ones upstream gradient
  double gflop;          // multiply-adds of one direction, counted twice
};

// The six 3x3, padding-1 convolution shapes of CIFAR ResNet-20; width multiplies every channel
// count except the 3 image channels.
std::vector<ConvBenchRow> bench_resnet20_convs(int batch, int width, int reps);

// GFLOP/s of an n x n x n float32 matrix product (median of reps after 3 warm-ups).
double bench_sgemm_gflops(int n, int reps);

}  // namespace lnx::tools
