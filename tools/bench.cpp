// `lilnetx bench`: the benchmark tables of docs/benchmarks.md. Timings are medians after
// warm-up; compare them only with PyTorch figures measured in the same sitting on an idle
// machine (shared/peers/*.py print those).
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "compress/range_coder.h"
#include "core/backend.h"
#include "core/random.h"
#include "data/image_folder.h"
#include "data/throughput.h"
#include "data/transforms.h"
#include "tools/bench_conv.h"
#include "tools/bench_network.h"
#include "tools/bench_sparse.h"
#include "tools/commands.h"

namespace lnx::tools {
namespace {

void bench_ops(int batch, int width, int reps, int gemm_n) {
  std::printf("sgemm %d^3: %.1f GFLOP/s\n", gemm_n, bench_sgemm_gflops(gemm_n, 10));
  // Each direction alone as well, with its rate: which of the three kernels falls short of the
  // SGEMM figure above is where a host's time goes.
  std::printf("%-28s %8s %11s %9s %9s   %s\n",
              ("conv2d 3x3, batch " + std::to_string(batch)).c_str(), "fwd ms", "fwd+bwd ms",
              "bwd-x ms", "bwd-w ms", "GFLOP/s fwd / bwd-x / bwd-w");
  double tf = 0, tfb = 0;
  for (const ConvBenchRow& r : bench_resnet20_convs(batch, width, reps)) {
    std::printf("%-28s %8.2f %11.2f %9.2f %9.2f   %.0f / %.0f / %.0f\n", r.name.c_str(), r.fwd_ms,
                r.fwd_bwd_ms, r.bwd_input_ms, r.bwd_weight_ms, r.gflop / r.fwd_ms * 1e3,
                r.gflop / r.bwd_input_ms * 1e3, r.gflop / r.bwd_weight_ms * 1e3);
    tf += r.fwd_ms;
    tfb += r.fwd_bwd_ms;
  }
  std::printf("%-28s %8.2f %11.2f\n", "sum", tf, tfb);
}

void bench_net(const BenchNetwork& network, int batch, int reps, const std::string& mode,
               bool lilnetx, const std::string& device) {
  const StepTiming t = bench_network(network, batch, mode, reps, lilnetx, device);
  std::string size;
  if (network.image_size > 0) size = " image=" + std::to_string(network.image_size);
  std::printf(
      "%s %s width=%d batch=%d%s %s %s: median %.2f ms, %.1f images/s (min %.2f, max "
      "%.2f), peak tensor memory %.0f MiB\n",
      network.name.c_str(), device.c_str(), network.width, batch, size.c_str(),
      lilnetx ? "lilnetx" : "vanilla", mode.c_str(), t.median_ms, t.images_per_second, t.min_ms,
      t.max_ms, t.peak_mib);
}

void bench_net_checkpoint(const std::string& path, int batch, int reps) {
  const SkipTiming t = bench_resnet20_checkpoint(path, batch, reps);
  std::printf(
      "resnet20 cpu batch=%d lilnetx train from %s (slice sparsity %.1f%%): zero slices skipped "
      "median %.2f ms (min %.2f, max %.2f), dense kernels median %.2f ms (min %.2f, max %.2f): "
      "%.2fx faster\n",
      batch, path.c_str(),
      100.0 * static_cast<double>(t.zero_slices) / std::max<int64_t>(t.slices, 1),
      t.skipping.median_ms, t.skipping.min_ms, t.skipping.max_ms, t.dense.median_ms, t.dense.min_ms,
      t.dense.max_ms, t.dense.median_ms / t.skipping.median_ms);
}

void bench_data(const std::string& root, int workers) {
  data::ImageFolderOptions o;
  o.preload = false;  // decode every image on every read: the slow path
  data::TransformedDataset ds(std::make_shared<data::ImageFolder>(std::filesystem::path(root), o),
                              data::cifar_train_transform(data::kCifar10Mean, data::kCifar10Std));
  data::ThroughputOptions to;
  to.num_workers = workers;
  to.max_images = 20000;
  std::printf(
      "data %s: %.0f images/s decoded (JPEG) and augmented (crop+flip+normalize), "
      "%d workers\n",
      root.c_str(), data::measure_loader_images_per_second(ds, to), workers);
}

// rANS speed on latents shaped like trained ones (Laplacian integers, mostly zero, 9 channels
// with fitted tables). MB/s counts the latents as int32, 4 bytes each.
void bench_coder(int reps) {
  const int64_t n = 9 * 1000000;
  Generator g(1);
  std::vector<int32_t> values(n);
  for (auto& v : values) {
    const double u = g.next_double() - 0.5;
    v = static_cast<int32_t>(std::lround(-0.8 * std::copysign(std::log(1 - 2 * std::fabs(u)), u)));
  }
  std::vector<FrequencyTable> tables;
  for (int64_t c = 0; c < 9; ++c)
    tables.push_back(FrequencyTable::from_values(values.data() + c, n / 9, 9));
  auto median_ms = [reps](auto&& f) {
    std::vector<double> ms;
    for (int r = 0; r < std::max(reps / 4, 3); ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      f();
      ms.push_back(
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    std::sort(ms.begin(), ms.end());
    return ms[ms.size() / 2];
  };
  std::vector<uint8_t> stream;
  const double enc = median_ms([&] { stream = rans_encode(values, tables); });
  std::vector<int32_t> back;
  const double dec =
      median_ms([&] { back = rans_decode(stream.data(), stream.size(), n, tables); });
  LNX_CHECK(back == values, "bench coder: the round trip changed the values");
  double ideal = 0;
  for (int64_t i = 0; i < n; ++i) ideal += tables[i % 9].cost_bits(values[i]);
  const double mb = static_cast<double>(n) * 4 / 1e6;
  std::printf(
      "rANS, %lld latents (%.0f MB as int32), one thread: encode %.1f MB/s, decode %.1f "
      "MB/s; %zu bytes coded, %.3f%% over the ideal code length\n",
      static_cast<long long>(n), mb, mb / (enc / 1e3), mb / (dec / 1e3), stream.size(),
      100.0 * (static_cast<double>(stream.size()) * 8 / ideal - 1));
}

}  // namespace

int bench_main(int argc, char** argv) {
  CLI::App app{"Time kernels, networks and data loading (docs/benchmarks.md)"};
  int threads = 2, batch = 128, width = 1, reps = 20, gemm_n = 2048, workers = 2;
  std::string what = "ops", mode = "train", data_root = "datasets/cifar10/train";
  app.add_option("what", what,
                 "ops (SGEMM + conv), resnet20 (its step), network (the step of --network), "
                 "data, sparse (dense vs sparse inference), coder (rANS speed)")
      ->check(CLI::IsMember({"ops", "resnet20", "network", "data", "sparse", "coder"}));
  app.add_option("--threads", threads, "CPU threads")->check(CLI::PositiveNumber);
  app.add_option("--batch", batch, "batch size")->check(CLI::PositiveNumber);
  app.add_option("--width", width, "channel multiplier")->check(CLI::PositiveNumber);
  BenchNetwork network;
  app.add_option("--network", network.name,
                 "network: a zoo name (resnet56, vgg16_bn, resnet18, resnet50, mobilenetv2, ...)");
  app.add_option("--image-size", network.image_size,
                 "network: input pixels; default 224 for ImageNet networks, 32 otherwise")
      ->check(CLI::PositiveNumber);
  app.add_option("--reps", reps, "timed repetitions; the median is reported")
      ->check(CLI::PositiveNumber);
  app.add_option("--gemm-n", gemm_n, "SGEMM size")->check(CLI::PositiveNumber);
  app.add_option("--mode", mode, "resnet20, network: train or infer")
      ->check(CLI::IsMember({"train", "infer"}));
  app.add_option("--data", data_root, "data: an image folder (CIFAR-10 JPEGs)");
  app.add_option("--workers", workers, "data: loader threads")->check(CLI::NonNegativeNumber);
  std::string device = "cpu";
  app.add_option("--device", device, "resnet20, network: cpu or cuda[:i]");
  bool lilnetx = false;
  app.add_flag("--lilnetx", lilnetx, "resnet20, network: the LilNetX objective instead of vanilla");
  std::string model, checkpoint;
  app.add_option("--model", model, "sparse: a trained .lnx file instead of random sparsity");
  app.add_option("--checkpoint", checkpoint,
                 "resnet20: a LilNetX training checkpoint; times its training step with zero "
                 "slices skipped against the dense kernels");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  LNX_CHECK(checkpoint.empty() || (what == "resnet20" && mode == "train" && device == "cpu"),
            "--checkpoint times a CPU training step (resnet20 --mode train --device "
            "cpu), got '",
            what, "' with mode ", mode, " on ", device);
  LNX_CHECK(what == "network" || (network.name == "resnet20" && network.image_size == 0), "bench ",
            what, ": --network and --image-size choose the network of 'bench network', ",
            "got --network ", network.name, " with '", what, "'");
  network.width = width;
  set_num_threads(threads);
  std::printf("lilnetx bench %s: %d threads\n", what.c_str(), threads);
  if (what == "ops") bench_ops(batch, width, reps, gemm_n);
  if ((what == "resnet20" || what == "network") && checkpoint.empty())
    bench_net(network, batch, reps, mode, lilnetx, device);
  if (what == "resnet20" && !checkpoint.empty()) bench_net_checkpoint(checkpoint, batch, reps);
  if (what == "data") bench_data(data_root, workers);
  if (what == "sparse" && model.empty()) bench_sparse(reps, 0, width);
  if (what == "sparse" && !model.empty()) bench_sparse_model(model, reps);
  if (what == "coder") bench_coder(reps);
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  std::printf("peak resident memory of this process: %.0f MiB\n", ru.ru_maxrss / 1024.0);
  return 0;
}

}  // namespace lnx::tools
