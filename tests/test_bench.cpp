#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <string>
#include <vector>

#include "autograd/grad_mode.h"
#include "compress/latent_layers.h"
#include "core/backend.h"
#include "core/checkpoint_io.h"
#include "core/random.h"
#include "tools/bench_conv.h"
#include "tools/bench_network.h"
#include "tools/commands.h"
#include "tools/config.h"
#include "tools/lnx_model.h"
#include "tools/trainer.h"

using namespace lnx;
using namespace lnx::tools;
namespace fs = std::filesystem;

namespace {

Config network_config(const std::string& name, bool vanilla) {
  return Config::parse(str("network: {name: ", name, ", vanilla: ", vanilla ? "true" : "false",
                           ", width: 1}\ncommon: {seed: 5}\n"),
                       {}, "test network");
}

// Saves the network's state with its config as a training checkpoint would.
std::string save_state(const Config& config, const Module& model, const std::string& file) {
  Checkpoint ck;
  for (const auto& [name, t] : model.state_dict()) ck.model[name] = t;
  ck.set_string("config", config.dump());
  const std::string path = (fs::temp_directory_path() / str(file, "_", ::getpid())).string();
  save_checkpoint(path, ck);
  return path;
}

}  // namespace

TEST_CASE("bench resnet20 --checkpoint trains the checkpoint's sparse network", "[bench]") {
  const Config config = network_config("resnet20", false);
  const BuiltNetwork net = build_network_from_config(config, {10, 3, 32});
  // Latents of every third 3x3 slice round to zero; the others to 1.
  int64_t slices = 0, zero = 0;
  {
    NoGradGuard ng;
    for (const auto& [name, layer] : latent_layers_by_name(*net.model)) {
      const auto* conv = dynamic_cast<const LatentConv2d*>(layer);
      if (!conv) continue;
      const Tensor& l = layer->latent().data();
      float* p = l.data<float>();
      const int64_t n = l.numel() / 9;
      for (int64_t s = 0; s < n; ++s)
        for (int64_t k = 0; k < 9; ++k) p[s * 9 + k] = s % 3 == 0 ? 0.3f : 1.2f;
      slices += n;
      zero += (n + 2) / 3;
    }
  }
  const std::string path = save_state(config, *net.model, "bench_ck.safetensors");
  const SkipTiming t = bench_resnet20_checkpoint(path, 4, 2);
  CHECK(t.slices == slices);
  CHECK(t.zero_slices == zero);
  CHECK(t.skipping.median_ms > 0);
  CHECK(t.dense.median_ms > 0);
  fs::remove(path);
}

TEST_CASE("bench resnet20 --checkpoint names what the checkpoint holds instead",
          "[bench][errors]") {
  for (const auto& [name, vanilla] : {std::pair{"resnet20", true}, {"small_cnn", false}}) {
    const Config config = network_config(name, vanilla);
    const BuiltNetwork net = build_network_from_config(config, {10, 3, 32});
    const std::string path = save_state(config, *net.model, "bench_bad.safetensors");
    INFO(name << (vanilla ? " vanilla" : " LilNetX"));
    CHECK_THROWS_WITH(bench_resnet20_checkpoint(path, 2, 1),
                      Catch::Contains(str("holds a ", vanilla ? "float" : "LilNetX", " ", name)) &&
                          Catch::Contains("expected a LilNetX resnet20"));
    fs::remove(path);
  }
}

TEST_CASE("bench --checkpoint only with a CPU training step", "[bench][errors]") {
  for (std::vector<std::string> words : {std::vector<std::string>{"bench", "sparse"},
                                         {"bench", "resnet20", "--mode", "infer"},
                                         {"bench", "resnet20", "--device", "cuda"}}) {
    words.insert(words.end(), {"--checkpoint", "ck.safetensors"});
    std::vector<char*> argv;
    for (std::string& w : words) argv.push_back(w.data());
    INFO(words[1] << " " << words[2]);
    CHECK_THROWS_WITH(bench_main(static_cast<int>(argv.size()), argv.data()),
                      Catch::Contains("--checkpoint times a CPU training step"));
  }
}

TEST_CASE("bench ops names each convolution by the channels it timed", "[bench]") {
  // At --width 2 every channel count doubles except the stem's three input colours; the names and
  // FLOP counts must say so, or a --width 4 table reads as width 1.
  const auto rows = lnx::tools::bench_resnet20_convs(/*batch=*/1, /*width=*/2, /*reps=*/1);
  REQUIRE(rows.size() == 6);
  CHECK(rows[0].name == "stem 3->32 @32");
  CHECK(rows[2].name == "32->64 s2 @32");
  CHECK(rows[5].name == "128->128 @8");
  // 128 -> 128 channels, 3x3, on an 8x8 output of one image: 2 * 64 * 128 * 128 * 9 FLOPs.
  CHECK(rows[5].gflop == Approx(2.0 * 64 * 128 * 128 * 9 / 1e9));
  for (const auto& r : rows) CHECK(r.fwd_ms > 0.0);
}

TEST_CASE("bench network times a step of every network of the paper", "[bench]") {
  // Small batches and images keep this quick; the ImageNet networks still take their ImageNet
  // stem above 64 pixels. One thread: ctest runs tests side by side, and two-thread steps then
  // spent minutes waiting on each other's descheduled threads.
  const int before = num_threads();
  set_num_threads(1);
  const std::vector<BenchNetwork> networks = {
      {"resnet56", 1, 0}, {"vgg16_bn", 1, 0}, {"resnet18", 1, 96}, {"mobilenetv2", 1, 96}};
  for (const BenchNetwork& n : networks)
    for (const bool lilnetx : {false, true}) {
      INFO(n.name << (lilnetx ? " lilnetx" : " vanilla"));
      const StepTiming t = bench_network(n, 2, "train", 1, lilnetx);
      CHECK(t.median_ms > 0);
      CHECK(t.min_ms <= t.median_ms);
      CHECK(t.median_ms <= t.max_ms);
      CHECK(t.images_per_second == Approx(2 / t.median_ms * 1e3));
      CHECK(t.peak_mib > 0);
    }
  const StepTiming infer = bench_network({"resnet50", 1, 64}, 1, "infer", 1);
  CHECK(infer.median_ms > 0);
  set_num_threads(before);
}

TEST_CASE("bench network names the network and the option it cannot take", "[bench][errors]") {
  CHECK_THROWS_WITH(bench_network({"resnet21", 1, 0}, 1, "train", 1),
                    Catch::Contains("unknown name 'resnet21'"));
  CHECK_THROWS_WITH(bench_network({"vgg16_bn", 1, 64}, 1, "infer", 1),
                    Catch::Contains("expected 32x32 inputs"));
  CHECK_THROWS_WITH(bench_network({"resnet20", 1, 0}, 1, "eval", 1),
                    Catch::Contains("bench resnet20: mode 'eval', expected train or infer"));
  std::vector<std::string> words = {"bench", "resnet20", "--network", "vgg16_bn"};
  std::vector<char*> argv;
  for (std::string& w : words) argv.push_back(w.data());
  CHECK_THROWS_WITH(bench_main(static_cast<int>(argv.size()), argv.data()),
                    Catch::Contains("got --network vgg16_bn with 'resnet20'"));
}
