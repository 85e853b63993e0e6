#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "compress/entropy_model.h"
#include "compress/latent_layers.h"
#include "compress/objective.h"
#include "core/checkpoint_io.h"
#include "core/random.h"
#include "tools/trainer.h"

using namespace lnx;
using namespace lnx::tools;
namespace fs = std::filesystem;

namespace {

void write_be32(std::ofstream& f, uint32_t v) {
  const unsigned char b[4] = {static_cast<unsigned char>(v >> 24),
                              static_cast<unsigned char>(v >> 16),
                              static_cast<unsigned char>(v >> 8), static_cast<unsigned char>(v)};
  f.write(reinterpret_cast<const char*>(b), 4);
}

// A tiny MNIST-layout data set whose class is visible in the image (a bright row per class).
void write_idx_split(const fs::path& dir, const std::string& prefix, int n, uint64_t seed) {
  Generator g(seed);
  std::ofstream img(dir / (prefix + "-images-idx3-ubyte"), std::ios::binary);
  std::ofstream lab(dir / (prefix + "-labels-idx1-ubyte"), std::ios::binary);
  write_be32(img, 0x00000803);
  write_be32(img, n);
  write_be32(img, 28);
  write_be32(img, 28);
  write_be32(lab, 0x00000801);
  write_be32(lab, n);
  for (int i = 0; i < n; ++i) {
    const auto label = static_cast<unsigned char>(g.next_u64() % 10);
    lab.put(static_cast<char>(label));
    for (int p = 0; p < 28 * 28; ++p) {
      const int row = p / 28;
      const auto noise = static_cast<unsigned char>(g.next_u64() % 60);
      img.put(static_cast<char>(row == 2 * label + 4 ? 200 + noise / 2 : noise));
    }
  }
}

struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() /
           ("lnx_trainer_" + std::to_string(::getpid()) + "_" +
            std::to_string(Generator(std::random_device{}()).next_u64() % 100000));
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

Config small_job(const fs::path& data, const fs::path& save, int64_t epochs) {
  const std::string yaml = str(
      "trainer: {epochs: ", epochs, ", train_batch: 16, test_batch: 32}\n",
      "lr_schedule: {arch_lr: 0.05, type: cosine, warmup_epochs: 0.5, warmup_start_factor: 0.1}\n",
      "optimizer: {name: sgd, momentum: 0.9}\n", "dataset: {name: mnist, trainroot: '",
      data.string(), "', valroot: '", data.string(), "', num_workers: 2}\n",
      "network: {name: small_cnn, vanilla: true, width: 1}\n",
      "losses: {wd: {weights: 5.0e-4, bn: 0.0, bias: 0.0}}\n", "checkpoint: {save_dir: '",
      save.string(), "', resume: true}\n", "common: {seed: 7, threads: 2}\n");
  return Config::parse(yaml, {}, "test job");
}

std::vector<float> flat_weights(Module& m) {
  std::vector<float> all;
  for (const auto& [name, t] : m.state_dict()) {
    if (t.dtype() != DType::Float32) continue;
    const std::vector<float> v = t.to_vector<float>();
    all.insert(all.end(), v.begin(), v.end());
  }
  return all;
}

}  // namespace

TEST_CASE("trainer learns a tiny data set and logs metrics", "[trainer]") {
  TempDir tmp;
  write_idx_split(tmp.path, "train", 160, 1);
  write_idx_split(tmp.path, "t10k", 64, 2);
  Trainer t(small_job(tmp.path, tmp.path / "run", 3), true);
  const EvalResult r = t.fit();
  CHECK(r.images == 64);
  CHECK(r.top1 > 0.8);
  std::ifstream metrics(tmp.path / "run" / "metrics.jsonl");
  int lines = 0;
  for (std::string line; std::getline(metrics, line);) {
    CHECK(line.find("\"test_acc\"") != std::string::npos);
    ++lines;
  }
  CHECK(lines == 3);
  CHECK(fs::exists(tmp.path / "run" / "checkpoint.safetensors"));
}

TEST_CASE("resuming from a checkpoint continues the run exactly", "[trainer][checkpoint]") {
  TempDir tmp;
  write_idx_split(tmp.path, "train", 96, 3);
  write_idx_split(tmp.path, "t10k", 32, 4);
  std::vector<float> straight, resumed;
  {
    Trainer t(small_job(tmp.path, tmp.path / "a", 2), true);
    t.fit();
    straight = flat_weights(t.model());
  }
  {
    Trainer t(small_job(tmp.path, tmp.path / "b", 2), true);
    t.train_epoch();
    t.save(t.checkpoint_path());
  }
  {
    Trainer t(small_job(tmp.path, tmp.path / "b", 2), true);  // resume: true
    CHECK(t.epoch() == 1);
    t.fit();
    resumed = flat_weights(t.model());
  }
  REQUIRE(straight.size() == resumed.size());
  CHECK(straight == resumed);
}

TEST_CASE("normalising uint8 batches where the network runs changes nothing", "[trainer]") {
  // A tiny CIFAR-10 binary release: 4 images in each of the five training files, 8 test images.
  TempDir tmp;
  Generator g(11);
  auto write_cifar = [&](const std::string& name, int n) {
    std::ofstream f(tmp.path / name, std::ios::binary);
    for (int i = 0; i < n; ++i) {
      f.put(static_cast<char>(g.next_u64() % 10));
      for (int p = 0; p < 3072; ++p) f.put(static_cast<char>(g.next_u64() % 256));
    }
  };
  for (int i = 1; i <= 5; ++i) write_cifar(str("data_batch_", i, ".bin"), 4);
  write_cifar("test_batch.bin", 8);
  auto job = [&](const std::string& on_device) {
    const std::string yaml =
        str("trainer: {epochs: 1, train_batch: 8, test_batch: 8}\n",
            "lr_schedule: {arch_lr: 0.05, type: cosine, warmup_epochs: 0}\n",
            "optimizer: {name: sgd, momentum: 0.9}\n", "dataset: {name: cifar10, trainroot: '",
            tmp.path.string(), "', valroot: '", tmp.path.string(),
            "', num_workers: 1, normalize_on_device: ", on_device, "}\n",
            "network: {name: resnet20, vanilla: true, width: 1}\n", "checkpoint: {save_dir: '",
            (tmp.path / on_device).string(), "'}\n", "common: {seed: 5, threads: 2}\n");
    return Config::parse(yaml, {}, "test job");
  };
  Trainer floats(job("false"), true), bytes(job("true"), true);
  const EvalResult a = floats.fit(), b = bytes.fit();
  CHECK(a.loss == b.loss);
  CHECK(flat_weights(floats.model()) == flat_weights(bytes.model()));
  CHECK_THROWS_WITH(Trainer(job("sometimes"), true),
                    Catch::Contains("dataset.normalize_on_device: got 'sometimes', expected auto, "
                                    "true or false"));
}

TEST_CASE("trainer reports bad configs and a diverging loss", "[trainer][errors]") {
  TempDir tmp;
  write_idx_split(tmp.path, "train", 48, 5);
  write_idx_split(tmp.path, "t10k", 16, 6);
  Config c = small_job(tmp.path, tmp.path / "c", 1);
  CHECK_THROWS_WITH(Trainer(Config::parse(c.dump(), {"--network.name", "resnet7"}), true),
                    Catch::Contains("resnet7"));
  CHECK_THROWS_WITH(Trainer(Config::parse(c.dump(), {"--dataset.name", "svhn"}), true),
                    Catch::Contains("svhn") && Catch::Contains("cifar10"));
  CHECK_THROWS_WITH(Trainer(Config::parse(c.dump(), {"--dataset.trainroot", "/nonexistent"}), true),
                    Catch::Contains("/nonexistent"));
  Trainer diverge(Config::parse(c.dump(), {"--lr_schedule.arch_lr", "1e30"}), true);
  CHECK_THROWS_WITH(diverge.fit(), Catch::Contains("loss is") && Catch::Contains("step"));
}

TEST_CASE("fine-tuning with frozen latents keeps the coded size and sparsity", "[trainer]") {
  TempDir tmp;
  write_idx_split(tmp.path, "train", 64, 8);
  write_idx_split(tmp.path, "t10k", 32, 9);
  const Config vanilla = small_job(tmp.path, tmp.path / "first", 1);
  const std::vector<std::string> lilnetx = {
      "--network.vanilla",     "false", "--optimizer.name",    "adam",
      "--lr_schedule.arch_lr", "0.01",  "--losses.reg_weight", "1e-3",
      "--losses.gd.weights",   "1e-4",  "--losses.gd.modules", "['conv3x3']"};
  Trainer first(Config::parse(vanilla.dump(), lilnetx), true);
  first.fit();
  const std::string trained = first.checkpoint_path();

  std::vector<std::string> tune = lilnetx;
  tune.insert(tune.end(),
              {"--trainer.epochs", "2", "--trainer.freeze_latents", "true", "--checkpoint.save_dir",
               (tmp.path / "tuned").string(), "--checkpoint.init_from", trained});
  Trainer tuned(Config::parse(vanilla.dump(), tune), true);
  CHECK(tuned.epoch() == 0);  // init_from takes the network, not the run's progress
  // What the coded size and the sparsity depend on: the latents and the priors' parameters.
  std::set<std::string> frozen_names;
  for (const auto& [prefix, m] : tuned.model().named_modules()) {
    const bool prior = dynamic_cast<EntropyModel*>(m) != nullptr;
    const bool latent = dynamic_cast<LatentLayer*>(m) != nullptr;
    for (const auto& [name, p] : m->named_parameters(false))
      if (prior || (latent && name == "weight"))
        frozen_names.insert(prefix.empty() ? name : prefix + "." + name);
  }
  auto snapshot = [&] {
    std::map<std::string, std::vector<float>> values;
    for (const auto& [name, t] : tuned.model().state_dict())
      if (t.dtype() == DType::Float32) values[name] = t.to_vector<float>();
    return values;
  };
  const auto before = snapshot();
  const CompressionSummary size_before = tuned.compression_summary();
  tuned.fit();
  const auto after = snapshot();
  int changed = 0, frozen = 0;
  for (const auto& [name, v] : before) {
    const bool same = v == after.at(name);
    if (frozen_names.count(name) != 0) {
      CHECK(same);
      ++frozen;
    } else if (!same) {
      ++changed;
    }
  }
  CHECK(frozen > 0);
  CHECK(changed > 0);  // decoders, batch norm and biases did train
  const CompressionSummary size_after = tuned.compression_summary();
  CHECK(size_after.prior_kb == size_before.prior_kb);
  CHECK(size_after.latents.slice_sparsity() == size_before.latents.slice_sparsity());

  CHECK_THROWS_WITH(
      Trainer(Config::parse(vanilla.dump(), {"--trainer.freeze_latents", "true"}), true),
      Catch::Contains("trainer.freeze_latents") && Catch::Contains("network.vanilla: false"));
  std::vector<std::string> missing = lilnetx;
  missing.insert(missing.end(), {"--checkpoint.init_from", "/nonexistent/ck.safetensors",
                                 "--checkpoint.save_dir", (tmp.path / "m").string()});
  CHECK_THROWS_WITH(
      Trainer(Config::parse(vanilla.dump(), missing), true),
      Catch::Contains("checkpoint.init_from") && Catch::Contains("/nonexistent/ck.safetensors"));
  CHECK_THROWS_WITH(
      Trainer(Config::parse(vanilla.dump(), {"--checkpoint.init_from", trained,
                                             "--checkpoint.save_dir", (tmp.path / "v").string()}),
              true),
      Catch::Contains("checkpoint.init_from") && Catch::Contains("network.*"));
}

TEST_CASE("losses.rate_model slice_flags trains and reports its own estimate", "[trainer]") {
  TempDir tmp;
  write_idx_split(tmp.path, "train", 64, 10);
  write_idx_split(tmp.path, "t10k", 32, 11);
  const Config base = small_job(tmp.path, tmp.path / "run", 1);
  Trainer t(Config::parse(base.dump(), {"--network.vanilla", "false", "--optimizer.name", "adam",
                                        "--lr_schedule.arch_lr", "0.01", "--losses.gd.weights",
                                        "1e-3", "--losses.gd.modules", "['conv3x3']",
                                        "--losses.rate_model", "slice_flags"}),
            true);
  t.fit();
  // Its estimate: flags plus the prior's bits of the non-zero slices, the objective's own.
  const CompressionSummary s = t.compression_summary();
  const CompressionReport flags = compression_report(*t.groups(), RateModel::SliceFlags);
  CHECK(s.prior_kb == Approx(flags.prior_bytes / 1000));
  CHECK(s.prior_kb > 0);
  CHECK(s.latents.slices > 0);
  std::ifstream metrics(tmp.path / "run" / "metrics.jsonl");
  std::string line;
  std::getline(metrics, line);
  CHECK(line.find("\"size_prior_kb\"") != std::string::npos);
  CHECK_THROWS_WITH(Config::parse(base.dump(), {"--losses.rate_model", "flags"}),
                    Catch::Contains("losses.rate_model") && Catch::Contains("slice_flags"));
}

TEST_CASE("the epoch log's time left reads in minutes, then hours", "[trainer]") {
  CHECK(time_left(0, 100.0) == "under a minute");
  CHECK(time_left(1, 20.0) == "under a minute");
  CHECK(time_left(3, 100.0) == "5 min");
  CHECK(time_left(120, 95.0) == "3 h 10 min");
}
