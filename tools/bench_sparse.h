// `lilnetx bench sparse`: dense against slice-sparse inference of ResNet-20 and VGG-16-BN
// (method.md section 4, "real inference time of a kernel that skips them"), beside the FLOPs
// reduction.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/random.h"
#include "layers/module.h"

namespace lnx::tools {

struct SparseKernelRow {
  std::string shape;                           // e.g. "16->16 32x32 s1"
  double fraction = 0;                         // slices zeroed
  double flops_ratio = 0;                      // dense MACs / non-zero-slice MACs
  double dense_ms = 0, sparse_ms = 0;          // medians
  double dense_min_ms = 0, sparse_min_ms = 0;  // fastest runs
  bool picks_sparse = false;                   // what training's slice_skipping_pays chooses
};
// Every distinct 3x3 convolution shape of ResNet-20 (channel multiplier `width`) at `batch`,
// slices zeroed at random with probability `fraction`: the dense kernel (ops::conv2d: Winograd
// for 64+ channels at stride 1) against the slice-sparse one.
std::vector<SparseKernelRow> bench_sparse_kernels(int batch, double fraction, int reps,
                                                  uint64_t seed, int width = 1);

struct SparseNetRow {
  double fraction = 0;  // slices zeroed at random (before the whole channels)
  double slice_sparsity = 0, flops_ratio = 0;  // measure_sparsity over the convolutions
  int batch = 0;
  double dense_ms = 0, structured_ms = 0, sparse_ms = 0;  // SparseMode's three plans
};
// A CIFAR network of the zoo (resnet20, vgg16_bn, ...) in LilNetX form with seeded latents, random
// slices zeroed plus a few whole input and output channels, timed as SparsePlan in each mode
// (median of reps after warm-up).
SparseNetRow bench_sparse_network(const std::string& name, double fraction, int batch, int reps,
                                  uint64_t seed);

// `net` (a LilNetX network) timed as SparsePlan in each mode on a random (batch, 3, 32, 32)
// input, with the convolutions' slice sparsity and FLOPs reduction (fraction left 0).
SparseNetRow time_sparse_plans(const ModulePtr& net, int batch, int reps, Generator& gen);

// The trained network of a .lnx file at batch 1 and 128: `lilnetx bench sparse --model F`.
void bench_sparse_model(const std::string& path, int reps);

// Prints the kernel table (ResNet-20's shapes at `width`, with the path slice_skipping_pays
// picks) and, at width 1, each network's for fractions 0.5, 0.7, 0.9 (ResNet-20 at batch 1 and
// 128, VGG-16-BN at 1 and 32); what the subcommand runs.
void bench_sparse(int reps, uint64_t seed, int width = 1);

}  // namespace lnx::tools
