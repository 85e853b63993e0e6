#include "tools/bench_sparse.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <tuple>
#include <utility>

#include "autograd/grad_mode.h"
#include "compress/latent_layers.h"
#include "compress/lnx_format.h"
#include "compress/sparse_inference.h"
#include "compress/sparsity_stats.h"
#include "core/backend.h"
#include "core/cpu/sparse_conv.h"
#include "core/ops.h"
#include "core/random.h"
#include "layers/batch_norm.h"
#include "models/registry.h"
#include "tools/lnx_model.h"

namespace lnx::tools {
namespace {

// Median milliseconds of each function. The functions take turns within every repetition, so
// load from other processes on a shared machine falls on all of them alike and their ratios
// stay meaningful even when the absolute times drift.
// The fastest run of each is also kept (mins): on a loaded machine it is the least disturbed.
std::vector<double> interleaved_medians(const std::vector<std::function<void()>>& fns, int warm,
                                        int reps, std::vector<double>* mins = nullptr) {
  for (int i = 0; i < warm; ++i)
    for (const auto& fn : fns) fn();
  std::vector<std::vector<double>> ms(fns.size());
  for (int i = 0; i < reps; ++i)
    for (size_t f = 0; f < fns.size(); ++f) {
      const auto t0 = std::chrono::steady_clock::now();
      fns[f]();
      const auto t1 = std::chrono::steady_clock::now();
      ms[f].push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    }
  std::vector<double> med;
  if (mins) mins->clear();
  for (std::vector<double>& m : ms) {
    if (mins) mins->push_back(*std::min_element(m.begin(), m.end()));
    std::nth_element(m.begin(), m.begin() + m.size() / 2, m.end());
    med.push_back(m[m.size() / 2]);
  }
  return med;
}

int64_t pick(int64_t n, Generator& gen) {
  const double u = uniform({1}, 0.0, 1.0, &gen).item();
  return std::min<int64_t>(n - 1, static_cast<int64_t>(u * static_cast<double>(n)));
}

}  // namespace

std::vector<SparseKernelRow> bench_sparse_kernels(int batch, double fraction, int reps,
                                                  uint64_t seed, int width) {
  struct Shape3 {
    int64_t c, o, hw, stride;
  };
  // ResNet-20's 3x3 convolutions: the stem, each stage's body, the two downsampling entries.
  const int64_t w = width;
  const Shape3 shapes[] = {{3, 16 * w, 32, 1},      {16 * w, 16 * w, 32, 1},
                           {16 * w, 32 * w, 32, 2}, {32 * w, 32 * w, 16, 1},
                           {32 * w, 64 * w, 16, 2}, {64 * w, 64 * w, 8, 1}};
  Generator gen(seed);
  std::vector<SparseKernelRow> rows;
  for (const Shape3& s : shapes) {
    const Tensor x = normal({batch, s.c, s.hw, s.hw}, 0, 1, &gen);
    const Tensor wt = normal({s.o, s.c, 3, 3}, 0, 1, &gen);
    zero_random_slices(wt, fraction, gen);
    Conv2dParams p;
    p.stride_h = p.stride_w = s.stride;
    p.pad_h = p.pad_w = 1;
    const SparsityStats st = measure_sparsity(wt, (s.hw / s.stride) * (s.hw / s.stride));
    const SparseConvWeights packed = pack_sparse_conv(wt);
    const Tensor b = zeros({s.o});
    SparseKernelRow r;
    r.shape = std::to_string(s.c) + "->" + std::to_string(s.o) + " " + std::to_string(s.hw) + "x" +
              std::to_string(s.hw) + " s" + std::to_string(s.stride);
    r.fraction = fraction;
    r.flops_ratio = st.flops_reduction();
    r.picks_sparse =
        slice_skipping_pays((s.hw / s.stride) * (s.hw / s.stride), 1.0 - st.slice_sparsity());
    std::vector<double> mins;
    const std::vector<double> med =
        interleaved_medians({[&] { ops::conv2d(x, wt, b, p); },
                             [&] { sparse_conv2d(x, packed, b, Tensor(), p, false); }},
                            2, reps, &mins);
    r.dense_ms = med[0];
    r.sparse_ms = med[1];
    r.dense_min_ms = mins[0];
    r.sparse_min_ms = mins[1];
    rows.push_back(r);
  }
  return rows;
}

SparseNetRow bench_sparse_network(const std::string& name, double fraction, int batch, int reps,
                                  uint64_t seed) {
  Generator gen(seed);
  ModelSpec spec;
  spec.name = name;
  CompressedNetwork cn = build_compressed_model(spec, latent_init_for(spec, 3.0), &gen);
  // Trained-looking batch norms, so removed channels leave non-zero constants behind.
  for (auto& [mname, m] : cn.net->named_modules())
    if (auto* bn = dynamic_cast<BatchNorm2d*>(m)) {
      const int64_t c = bn->num_features();
      bn->weight().data().copy_(uniform({c}, 0.5, 1.5, &gen));
      bn->bias().data().copy_(normal({c}, 0.0, 0.3, &gen));
      bn->running_mean().copy_(normal({c}, 0.0, 0.3, &gen));
      bn->running_var().copy_(uniform({c}, 0.5, 2.0, &gen));
    }
  // Random slices, then whole channels, the structure the slice prior produces: in a ResNet per
  // block two conv1 filters, one conv2 filter and one input channel of conv1; in a chain (VGG)
  // two filters and one input channel of every convolution after the first.
  const bool resnet = cn.net->type_name() == "ResNetCifar";
  bool stem = true;
  for (auto& [mname, m] : cn.net->named_modules()) {
    auto* lc = dynamic_cast<LatentConv2d*>(m);
    if (!lc) continue;
    const Tensor l = lc->latent().data();  // (O, I, 3, 3)
    zero_random_slices(l, fraction, gen);
    if (std::exchange(stem, false)) continue;
    const bool first = !resnet || (mname.size() > 5 && mname.substr(mname.size() - 5) == "conv1");
    for (int k = 0; k < (first ? 2 : 1); ++k) l.select(0, pick(l.size(0), gen)).zero_();
    if (first) l.select(1, pick(l.size(1), gen)).zero_();
  }
  SparseNetRow row = time_sparse_plans(cn.net, batch, reps, gen);
  row.fraction = fraction;
  return row;
}

SparseNetRow time_sparse_plans(const ModulePtr& net, int batch, int reps, Generator& gen) {
  net->eval();
  NoGradGuard no_grad;
  const Tensor x = normal({batch, 3, 32, 32}, 0, 1, &gen);
  net->forward(Variable(x.slice(0, 0, 1)));  // sets each layer's output_pixels
  SparsityStats total;
  for (auto& [name, m] : net->named_modules())
    if (auto* lc = dynamic_cast<LatentConv2d*>(m))
      total += measure_sparsity(lc->decoded_weight().data(), lc->output_pixels());
  SparseNetRow row;
  row.batch = batch;
  row.slice_sparsity = total.slice_sparsity();
  row.flops_ratio = total.flops_reduction();
  std::vector<SparsePlan> plans;
  std::vector<std::function<void()>> runs;
  for (const SparseMode mode : {SparseMode::Dense, SparseMode::Structured, SparseMode::Sparse}) {
    SparsePlanOptions opt;
    opt.mode = mode;
    plans.push_back(SparsePlan::build(net, opt));
  }
  for (SparsePlan& plan : plans) runs.push_back([&plan, &x] { plan.run(x); });
  const std::vector<double> med = interleaved_medians(runs, 2, reps);
  row.dense_ms = med[0];
  row.structured_ms = med[1];
  row.sparse_ms = med[2];
  return row;
}

void bench_sparse_model(const std::string& path, int reps) {
  const LoadedNetwork loaded = load_lnx_network(load_lnx_file(path));
  Generator gen(0);
  std::printf("%s: inference of the trained network (SparsePlan, batch norm folded; ms)\n",
              path.c_str());
  std::printf("%7s %7s %6s %9s %11s %9s %8s %6s\n", "slices", "flops/", "batch", "dense",
              "structured", "sparse", "speedup", "eff");
  for (const int batch : {1, 128}) {
    const SparseNetRow r =
        time_sparse_plans(loaded.net.model, batch, batch == 1 ? 4 * reps : reps, gen);
    std::printf("%7.3f %7.2f %6d %9.3f %11.3f %9.3f %8.2f %6.2f\n", r.slice_sparsity, r.flops_ratio,
                r.batch, r.dense_ms, r.structured_ms, r.sparse_ms, r.dense_ms / r.sparse_ms,
                r.dense_ms / r.sparse_ms / r.flops_ratio);
  }
  std::printf("(%d threads; compare ratios within this run)\n", num_threads());
}

void bench_sparse(int reps, uint64_t seed, int width) {
  const double fractions[] = {0.5, 0.7, 0.9};
  // The kernel table brackets slice_skipping_pays's crossovers (densities 0.25-0.75).
  const double kernel_fractions[] = {0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9};
  std::printf(
      "slice-sparse 3x3 convolutions of ResNet-20 (width %d), batch 128 (ms; efficiency = "
      "speed-up / FLOPs reduction; picks: the kernel training takes, slice_skipping_pays)\n",
      width);
  std::printf("%-20s %6s %7s %9s %9s %8s %6s %10s %7s\n", "shape", "zero", "flops/", "dense",
              "sparse", "speedup", "eff", "eff(min)", "picks");
  for (const double f : kernel_fractions)
    for (const SparseKernelRow& r : bench_sparse_kernels(128, f, 4 * reps, seed, width))
      std::printf("%-20s %6.2f %7.2f %9.3f %9.3f %8.2f %6.2f %10.2f %7s\n", r.shape.c_str(),
                  r.fraction, r.flops_ratio, r.dense_ms, r.sparse_ms, r.dense_ms / r.sparse_ms,
                  r.dense_ms / r.sparse_ms / r.flops_ratio,
                  r.dense_min_ms / r.sparse_min_ms / r.flops_ratio,
                  r.picks_sparse ? "sparse" : "dense");
  if (width != 1) {
    std::printf("(%d threads; networks are timed at width 1 only)\n", num_threads());
    return;
  }
  for (const auto& [name, title, batches] :
       {std::tuple<const char*, const char*, std::vector<int>>{"resnet20", "ResNet-20", {1, 128}},
        {"vgg16_bn", "VGG-16-BN", {1, 32}}}) {
    std::printf(
        "\n%s inference (SparsePlan, batch norm folded; ms): dense kernel / channels removed / "
        "+ slice skipping\n",
        title);
    std::printf("%6s %7s %7s %6s %9s %11s %9s %8s %6s\n", "zero", "slices", "flops/", "batch",
                "dense", "structured", "sparse", "speedup", "eff");
    for (const double f : fractions)
      for (const int batch : batches) {
        const SparseNetRow r =
            bench_sparse_network(name, f, batch, batch == 1 ? 4 * reps : reps, seed);
        std::printf("%6.2f %7.3f %7.2f %6d %9.3f %11.3f %9.3f %8.2f %6.2f\n", r.fraction,
                    r.slice_sparsity, r.flops_ratio, r.batch, r.dense_ms, r.structured_ms,
                    r.sparse_ms, r.dense_ms / r.sparse_ms,
                    r.dense_ms / r.sparse_ms / r.flops_ratio);
      }
  }
  std::printf("(%d threads; the machine may be shared: compare ratios within this run)\n",
              num_threads());
}

}  // namespace lnx::tools
