// `lilnetx train` and `lilnetx eval`.
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "compress/sparse_inference.h"
#include "core/checkpoint_io.h"
#include "tools/commands.h"
#include "tools/lnx_model.h"
#include "tools/trainer.h"

namespace lnx::tools {
namespace {

// The built-in job the README runs first: a small CNN on Debian's Fashion-MNIST.
constexpr const char* kDefaultJob = R"yaml(
trainer: {epochs: 3, train_batch: 128, test_batch: 500}
lr_schedule: {arch_lr: 0.05, type: cosine, warmup_epochs: 0}
optimizer: {name: sgd, momentum: 0.9}
dataset: {name: fashion_mnist, trainroot: /usr/share/datasets/fashion-mnist,
          valroot: /usr/share/datasets/fashion-mnist, num_workers: 2}
network: {name: small_cnn, vanilla: true, width: 1}
losses: {wd: {weights: 5.0e-4, bn: 0.0, bias: 0.0}}
checkpoint: {save_dir: runs/fashion_mnist_small_cnn}
logging: {print_freq: 100}
)yaml";

struct Args {
  std::string config_path, checkpoint, model;
  std::vector<std::string> overrides;
  bool help = false;
  bool sparse = false;  // eval: through a sparse inference plan
};

// --config F and --checkpoint C; everything else is a --section.key override for the config.
Args parse(int argc, char** argv, const char* cmd) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string w = argv[i];
    if (w == "-h" || w == "--help") {
      a.help = true;
    } else if (w == "--sparse") {
      a.sparse = true;
    } else if (w == "--config" || w == "--checkpoint") {
      LNX_CHECK(i + 1 < argc, cmd, ": ", w, " needs a file name");
      (w == "--config" ? a.config_path : a.checkpoint) = argv[++i];
    } else if (w == "--model") {
      LNX_CHECK(i + 1 < argc, cmd, ": --model needs a file name");
      a.model = argv[++i];
    } else if (w.rfind("--config=", 0) == 0) {
      a.config_path = w.substr(9);
    } else if (w.rfind("--checkpoint=", 0) == 0) {
      a.checkpoint = w.substr(13);
    } else {
      a.overrides.push_back(w);
    }
  }
  return a;
}

Config load_config(const Args& a) {
  if (!a.config_path.empty()) return Config::load(a.config_path, a.overrides);
  if (!a.checkpoint.empty())
    return Config::parse(load_checkpoint(a.checkpoint).get_string("config"), a.overrides,
                         a.checkpoint + " (stored config)");
  return Config::parse(kDefaultJob, a.overrides, "the built-in Fashion-MNIST job");
}

void print_eval(const char* what, const EvalResult& r) {
  std::printf("%s: top-1 %.2f%%, top-5 %.2f%%, loss %.4f on %lld images\n", what, 100 * r.top1,
              100 * r.top5, r.loss, static_cast<long long>(r.images));
}

// Dense, or through a sparse plan built from the trained (eval-mode) network.
EvalResult evaluate(Trainer& trainer, bool sparse) {
  if (!sparse) return trainer.evaluate();
  trainer.model().eval();
  SparsePlan plan = SparsePlan::build(trainer.model_ptr());
  std::cout << plan.summary() << "\n";
  if (!plan.note().empty()) std::cout << plan.note() << "\n";
  return trainer.evaluate([&plan](const Tensor& images) { return plan.forward(images).data(); });
}

}  // namespace

int train_main(int argc, char** argv) {
  const Args a = parse(argc, argv, "train");
  if (a.help) {
    std::cout << "usage: lilnetx train [--config FILE.yaml] [--section.key value ...]\n\n"
                 "Trains the network the config describes (configs/ has ready ones; every key\n"
                 "and its default: configs/README.md). Without --config, runs the built-in job:\n"
                 "a small CNN on Fashion-MNIST for a few minutes.\n";
    return 0;
  }
  Trainer trainer(load_config(a));
  const EvalResult r = trainer.fit();
  print_eval("test", r);
  return 0;
}

int eval_main(int argc, char** argv) {
  const Args a = parse(argc, argv, "eval");
  if (a.help || a.checkpoint.empty() == a.model.empty()) {
    std::cout << "usage: lilnetx eval --checkpoint FILE [--config FILE.yaml] [--sparse] "
                 "[--section.key v]\n"
                 "       lilnetx eval --model MODEL.lnx [--sparse] [--section.key v]\n\n"
                 "Evaluates a checkpoint on the test set of its config (the one stored in the\n"
                 "checkpoint unless --config is given), or a .lnx file on the test set of the\n"
                 "config stored in it. --sparse runs the sparse inference plan (zero channels\n"
                 "removed, zero kernel slices skipped) instead of the dense network.\n";
    return a.help ? 0 : 1;
  }
  if (!a.model.empty()) {
    const LoadedNetwork net = load_lnx_network(load_lnx_file(a.model));
    std::vector<std::string> overrides = a.overrides;
    overrides.push_back("--checkpoint.resume=false");
    overrides.push_back("--checkpoint.resume_path=");
    Trainer trainer(Config::parse(net.config.dump(), overrides, a.model + " (stored config)"));
    trainer.model().load_state_dict(net.net.model->state_dict(), true);
    print_eval("test", evaluate(trainer, a.sparse));
    return 0;
  }
  std::vector<std::string> overrides = a.overrides;
  overrides.push_back("--checkpoint.resume_path=" + a.checkpoint);
  Args b = a;
  b.overrides = overrides;
  Trainer trainer(load_config(b));
  print_eval("test", evaluate(trainer, a.sparse));
  return 0;
}

}  // namespace lnx::tools
