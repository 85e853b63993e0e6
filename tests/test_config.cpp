#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "tools/config.h"

using lnx::tools::Config;
namespace fs = std::filesystem;

namespace {

const std::string kConfigDir = LNX_FIXTURE_DIR "/../../configs";

// A reference-style config, including the sections we accept and ignore.
const char* const kReferenceStyle = R"(
dist:
  enabled: False
  world_size: 1
checkpoint:
  save_dir: 'results/cifar10_r20'
  filename: 'checkpoint.pth'
  resume: False
trainer:
  epochs: 10
  train_batch: 256
ffcv:
  enabled: False
lr_schedule:
  arch_lr: 0.01
  type: 'cosine'
  decay_steps: [75, 125]
  warmup_epochs: 5
  prob_lr: 1.0e-4
  plateau_epochs: '_copy: /trainer/epochs'
wandb:
  dir: '_copy: /checkpoint/save_dir'
dataset:
  name: 'cifar10'
  trainroot: 'data/'
  valroot: '_copy: /dataset/trainroot'
network:
  name: 'resnet20'
  vanilla: False
  width: 4
losses:
  reg_weight: 1.0e-4
  wd:
    weights: 1.0e-6
    modules: ['conv1x1', 'conv3x3', 'dense']
  gd:
    weights: 1.0e-6
    modules: ['conv3x3']
    order: 'l2'
)";

}  // namespace

TEST_CASE("config: a reference-style file loads with typed values", "[config]") {
  const Config c = Config::parse(kReferenceStyle, {}, "ref.yaml");
  CHECK(c.get<int64_t>("trainer.epochs") == 10);
  CHECK(c.get<int>("trainer.train_batch") == 256);
  CHECK(c.get<double>("lr_schedule.arch_lr") == 0.01);
  CHECK(c.get<double>("losses.reg_weight") == 1e-4);
  CHECK(c.get<double>("losses.wd.weights") == 1e-6);
  CHECK(c.get<bool>("network.vanilla") == false);
  CHECK(c.get<std::string>("lr_schedule.type") == "cosine");
  CHECK(c.get<std::vector<int64_t>>("lr_schedule.decay_steps") == std::vector<int64_t>{75, 125});
  CHECK(c.get<std::vector<double>>("lr_schedule.decay_steps") == std::vector<double>{75, 125});
  CHECK(c.get<std::vector<std::string>>("losses.gd.modules") ==
        std::vector<std::string>{"conv3x3"});
  CHECK(c.get<std::vector<double>>("optimizer.betas") == std::vector<double>{0.9, 0.999});
  // An integer key reads as a double too; keys not in the file keep their defaults.
  CHECK(c.get<double>("trainer.epochs") == 10.0);
  CHECK(c.get<int64_t>("common.seed") == 420);
  // _copy resolves, also with the default of a key the file does not name.
  CHECK(c.get<int64_t>("lr_schedule.plateau_epochs") == 10);
  CHECK(c.get<std::string>("dataset.valroot") == "data/");
  // Aliases read the canonical key.
  CHECK(c.get<double>("lr_schedule.lr") == 0.01);
  CHECK(c.get<std::vector<int64_t>>("lr_schedule.milestones") == std::vector<int64_t>{75, 125});
  CHECK(c.has("trainer.seed"));
  CHECK_FALSE(c.has("trainer.bogus"));
}

TEST_CASE("config: ignored sections give one notice each", "[config]") {
  const Config c = Config::parse(kReferenceStyle, {"--wandb.enabled", "true"}, "ref.yaml");
  REQUIRE(c.notices().size() == 4);  // dist, ffcv, wandb from the file, wandb from the command line
  CHECK_THAT(c.notices()[0], Catch::Contains("section 'dist'") && Catch::Contains("ignored"));
  CHECK_THAT(c.notices()[1], Catch::Contains("section 'ffcv'"));
  CHECK_THAT(c.notices()[2], Catch::Contains("section 'wandb'") && Catch::Contains("ref.yaml"));
  CHECK_THAT(c.notices()[3], Catch::Contains("section 'wandb'") && Catch::Contains("command line"));
  CHECK(Config::defaults().notices().empty());
}

TEST_CASE("config: command-line overrides parse as YAML scalars", "[config]") {
  const Config c = Config::parse(kReferenceStyle, {"--trainer.train_batch",
                                                   "512",
                                                   "--lr_schedule.arch_lr=3e-3",
                                                   "--network.vanilla",
                                                   "true",
                                                   "--lr_schedule.type",
                                                   "step",
                                                   "--lr_schedule.decay_steps",
                                                   "[1,2]",
                                                   "--losses.gd.modules",
                                                   "[conv3x3, conv7x7]",
                                                   "--optimizer.betas",
                                                   "[0.5, 0.99]",
                                                   "--checkpoint.save_dir",
                                                   "out dir/x",
                                                   "--trainer.epochs",
                                                   "30",
                                                   "--dataset.trainroot",
                                                   "",
                                                   "--lr_schedule.lr",
                                                   "0.2"});
  CHECK(c.get<int64_t>("trainer.train_batch") == 512);
  CHECK(c.get<double>("lr_schedule.arch_lr") == 0.2);  // the alias, later, wins
  CHECK(c.get<bool>("network.vanilla"));
  CHECK(c.get<std::string>("lr_schedule.type") == "step");
  CHECK(c.get<std::vector<int64_t>>("lr_schedule.decay_steps") == std::vector<int64_t>{1, 2});
  CHECK(c.get<std::vector<std::string>>("losses.gd.modules") ==
        std::vector<std::string>{"conv3x3", "conv7x7"});
  CHECK(c.get<std::vector<double>>("optimizer.betas") == std::vector<double>{0.5, 0.99});
  CHECK(c.get<std::string>("checkpoint.save_dir") == "out dir/x");
  // Copies resolve after the overrides.
  CHECK(c.get<int64_t>("lr_schedule.plateau_epochs") == 30);
  CHECK(c.get<std::string>("dataset.valroot") == "");

  const Config d = Config::parse(
      "", {"--lr_schedule.arch_lr", "3e-3", "--trainer.epochs", "9", "--lr_schedule.plateau_epochs",
           "_copy: /trainer/epochs", "--dataset.valroot", "_copy: /checkpoint/save_dir",
           "--dataset.name", "'quoted'", "--network.name", "[odd"});
  CHECK(d.get<double>("lr_schedule.arch_lr") == 3e-3);
  CHECK(d.get<int64_t>("lr_schedule.plateau_epochs") == 9);
  CHECK(d.get<std::string>("dataset.valroot") == d.get<std::string>("checkpoint.save_dir"));
  CHECK(d.get<std::string>("dataset.name") == "quoted");
  CHECK(d.get<std::string>("network.name") == "[odd");

  CHECK_THROWS_WITH(Config::parse("", {"trainer.epochs", "3"}),
                    Catch::Contains("should look like --section.key value"));
  CHECK_THROWS_WITH(Config::parse("", {"--trainer.epochs"}),
                    Catch::Contains("'--trainer.epochs' has no value"));
  CHECK_THROWS_WITH(Config::parse("", {"--trainer", "3"}), Catch::Contains("names a section"));
  CHECK_THROWS_WITH(Config::parse("", {"--trainer.epoch", "3"}),
                    Catch::Contains("unknown key 'trainer.epoch'") &&
                        Catch::Contains("command line") &&
                        Catch::Contains("did you mean 'trainer.epochs'"));
  CHECK_THROWS_WITH(Config::parse("", {"--optimizer.betas", "[0.5"}),
                    Catch::Contains("'--optimizer.betas' has value '[0.5' that is not YAML"));
}

TEST_CASE("config: _copy resolves chains and reports cycles", "[config]") {
  const Config c = Config::parse(R"(
checkpoint:
  save_dir: '_copy: /dataset/valroot'
  resume_path: '_copy: /checkpoint/save_dir'
dataset:
  trainroot: 'root'
  valroot: '_copy: /dataset/trainroot'
trainer:
  epochs: '_copy: /trainer/test_batch'
  test_batch: 64
)");
  CHECK(c.get<std::string>("checkpoint.resume_path") == "root");
  CHECK(c.get<std::string>("checkpoint.save_dir") == "root");
  CHECK(c.get<int64_t>("trainer.epochs") == 64);
  CHECK(c.get<int64_t>("lr_schedule.plateau_epochs") == 64);  // default copy of a copy

  CHECK_THROWS_WITH(Config::parse(R"(
dataset:
  trainroot: '_copy: /checkpoint/save_dir'
  valroot: '_copy: /dataset/trainroot'
checkpoint:
  save_dir: '_copy: /dataset/valroot'
)"),
                    Catch::Contains("'_copy' cycle") &&
                        Catch::Contains("dataset.trainroot -> checkpoint.save_dir -> "
                                        "dataset.valroot -> dataset.trainroot"));
  CHECK_THROWS_WITH(Config::parse("trainer:\n  epochs: '_copy: /trainer/epochs'\n"),
                    Catch::Contains("cycle: trainer.epochs -> trainer.epochs"));
  CHECK_THROWS_WITH(Config::parse("trainer:\n  epochs: '_copy: /trainer/epoch'\n"),
                    Catch::Contains("'trainer.epochs' copies '/trainer/epoch'") &&
                        Catch::Contains("did you mean 'trainer.epochs'"));
  CHECK_THROWS_WITH(Config::parse("trainer:\n  epochs: '_copy: trainer/epochs'\n"),
                    Catch::Contains("absolute path"));
  CHECK_THROWS_WITH(Config::parse("trainer:\n  epochs: '_copy: /wandb/dir'\n"),
                    Catch::Contains("ignored section 'wandb'"));
  // A copied value is checked against the type of the key that copies it.
  CHECK_THROWS_WITH(Config::parse("trainer:\n  epochs: '_copy: /dataset/name'\n"),
                    Catch::Contains("'trainer.epochs' is 'cifar10' (copied from /dataset/name") &&
                        Catch::Contains("expected an integer"));
}

TEST_CASE("config: unknown keys name the key and the close matches", "[config]") {
  CHECK_THROWS_WITH(Config::parse("trainer:\n  train_bacth: 3\n", {}, "my.yaml"),
                    Catch::Contains("unknown key 'trainer.train_bacth' (in my.yaml)") &&
                        Catch::Contains("did you mean 'trainer.train_batch'") &&
                        Catch::Contains("Keys of 'trainer': epochs train_batch test_batch"));
  CHECK_THROWS_WITH(Config::parse("losses:\n  gd:\n    oder: l1\n"),
                    Catch::Contains("unknown key 'losses.gd.oder'") &&
                        Catch::Contains("'losses.gd.order'") &&
                        Catch::Contains("Keys of 'losses.gd': weights modules enable_l1 order"));
  CHECK_THROWS_WITH(Config::parse("traner:\n  epochs: 3\n"),
                    Catch::Contains("unknown key 'traner'") &&
                        Catch::Contains("did you mean 'trainer'") &&
                        Catch::Contains("Sections: trainer lr_schedule"));
  CHECK_THROWS_WITH(
      Config::parse("losses:\n  foo: 1\n"),
      Catch::Contains("Keys of 'losses': reg_weight reg_weight_warmup rate_model wd.* gd.*"));
  // A key of the wrong section points to where it lives.
  CHECK_THROWS_WITH(Config::parse("trainer:\n  momentum: 0.5\n"),
                    Catch::Contains("did you mean 'optimizer.momentum'"));
  CHECK_THROWS_WITH(
      Config::defaults().get<double>("losses.regweight"),
      Catch::Contains("unknown key 'losses.regweight'") && Catch::Contains("'losses.reg_weight'"));
}

TEST_CASE("config: type errors name the key, the value and the expected type", "[config]") {
  CHECK_THROWS_WITH(
      Config::parse("trainer:\n  train_batch: abc\n", {}, "f.yaml"),
      Catch::Contains("'trainer.train_batch' is 'abc' (in f.yaml), expected an integer"));
  CHECK_THROWS_WITH(
      Config::parse("trainer:\n  epochs: 3.5\n"),
      Catch::Contains("'trainer.epochs' is '3.5'") && Catch::Contains("expected an integer"));
  CHECK_THROWS_WITH(Config::parse("", {"--network.vanilla", "maybe"}),
                    Catch::Contains("'network.vanilla' is 'maybe' (from --network.vanilla on the "
                                    "command line), expected a boolean"));
  CHECK_THROWS_WITH(
      Config::parse("losses:\n  reg_weight: [1]\n"),
      Catch::Contains("'losses.reg_weight' is [1]") && Catch::Contains("expected a number"));
  CHECK_THROWS_WITH(Config::parse("lr_schedule:\n  decay_steps: 30\n"),
                    Catch::Contains("'lr_schedule.decay_steps' is '30'") &&
                        Catch::Contains("expected a list of integers"));
  CHECK_THROWS_WITH(Config::parse("lr_schedule:\n  decay_steps: [30, x]\n"),
                    Catch::Contains("item 1 'x'") && Catch::Contains("list of integers"));
  CHECK_THROWS_WITH(Config::parse("optimizer:\n  name: adamw\n"),
                    Catch::Contains("'optimizer.name' is 'adamw'") &&
                        Catch::Contains("expected one of: adam, sgd"));
  CHECK_THROWS_WITH(Config::parse("losses:\n  gd:\n    modules: [conv3x3, conv5x5]\n"),
                    Catch::Contains("'losses.gd.modules' is 'conv5x5'") &&
                        Catch::Contains("conv1x1, conv3x3, conv7x7, dense"));
  CHECK_THROWS_WITH(Config::parse("trainer: 3\n"),
                    Catch::Contains("'trainer' is a section and needs a mapping"));
  CHECK_THROWS_WITH(Config::parse("trainer:\n  epochs:\n    a: 1\n"),
                    Catch::Contains("'trainer.epochs' is a key, not a section"));
  CHECK_THROWS_WITH(Config::parse("trainer:\n  epochs: [1\n", {}, "broken.yaml"),
                    Catch::Contains("broken.yaml: YAML syntax error at line"));
  CHECK_THROWS_WITH(Config::parse("- 1\n- 2\n"), Catch::Contains("mapping of sections"));
  CHECK_THROWS_WITH(Config::load("/nonexistent/x.yaml"),
                    Catch::Contains("cannot open '/nonexistent/x.yaml'"));

  const Config c = Config::defaults();
  CHECK_THROWS_WITH(c.get<int64_t>("lr_schedule.arch_lr"),
                    Catch::Contains("get<int64_t>('lr_schedule.arch_lr'): the key holds a number"));
  CHECK_THROWS_WITH(c.get<std::string>("trainer.epochs"),
                    Catch::Contains("the key holds an integer (200)"));
  CHECK_THROWS_WITH(c.get<std::vector<std::string>>("optimizer.betas"),
                    Catch::Contains("a list of numbers ([0.9, 0.999])"));
}

TEST_CASE("config: booleans, numbers and empty values in YAML spellings", "[config]") {
  const Config c = Config::parse(R"(
network:
  vanilla: True
  first: off
lr_schedule:
  arch_lr: 1e-3
  warmup_epochs: 2
  gamma: .5
checkpoint:
  resume_path:
trainer:
  max_batches: -1
  epochs: +7
)");
  CHECK(c.get<bool>("network.vanilla"));
  CHECK_FALSE(c.get<bool>("network.first"));
  CHECK(c.get<double>("lr_schedule.arch_lr") == 1e-3);
  CHECK(c.get<double>("lr_schedule.warmup_epochs") == 2.0);
  CHECK(c.get<double>("lr_schedule.gamma") == 0.5);
  CHECK(c.get<std::string>("checkpoint.resume_path").empty());
  CHECK(c.get<int64_t>("trainer.max_batches") == -1);
  CHECK(c.get<int64_t>("trainer.epochs") == 7);
}

TEST_CASE("config: dump is the resolved config and loads back to the same values", "[config]") {
  const Config c = Config::parse(
      kReferenceStyle, {"--checkpoint.save_dir", "it's: here", "--lr_schedule.arch_lr", "0.1"});
  const std::string text = c.dump();
  CHECK_THAT(text, Catch::Contains("trainer:\n  epochs: 10\n"));
  CHECK_THAT(text, Catch::Contains("  plateau_epochs: 10\n"));  // resolved, not the _copy
  CHECK_THAT(text, Catch::Contains("  arch_lr: 0.1\n"));
  CHECK_THAT(text, Catch::Contains("  reg_weight: 0.0001\n"));
  CHECK_THAT(text, Catch::Contains("  wd:\n    weights: 1.0e-06\n"));
  CHECK_THAT(text, Catch::Contains("  save_dir: 'it''s: here'\n"));
  CHECK_THAT(text, Catch::Contains("  modules: ['conv3x3']\n"));
  CHECK_THAT(text, Catch::Contains("  boundary: 3.0\n"));
  CHECK_THAT(text, !Catch::Contains("wandb") && !Catch::Contains("_copy"));

  const Config back = Config::parse(text);
  CHECK(back.dump() == text);
  CHECK(back.get<std::string>("checkpoint.save_dir") == "it's: here");
  CHECK(back.get<double>("losses.wd.weights") == 1e-6);

  // Some sections only: theirs load back, the others take their defaults.
  const std::string part = c.dump_sections({"network", "losses"});
  CHECK_THAT(part, Catch::Contains("network:\n") && Catch::Contains("losses:\n  reg_weight: "));
  CHECK_THAT(part, !Catch::Contains("trainer:") && !Catch::Contains("save_dir"));
  const Config some = Config::parse(part);
  CHECK(some.dump_sections({"network", "losses"}) == part);
  CHECK(some.get<double>("losses.reg_weight") == c.get<double>("losses.reg_weight"));
  CHECK(some.get<double>("lr_schedule.arch_lr") ==
        Config::defaults().get<double>("lr_schedule.arch_lr"));
  CHECK(c.dump_sections({}) == text);
}

TEST_CASE("config: the embedded defaults document and load every key", "[config]") {
  const std::string& yaml = Config::default_yaml();
  const Config d = Config::defaults();
  for (const std::string& key : d.keys()) {
    INFO(key);
    const std::string leaf = key.substr(key.rfind('.') + 1);
    CHECK_THAT(yaml, Catch::Contains("  " + leaf + ": "));
  }
  const Config from_text = Config::parse(yaml);
  CHECK(from_text.dump() == d.dump());
  // The LilNetX CIFAR-10 ResNet-20 recipe.
  CHECK(d.get<std::string>("optimizer.name") == "adam");
  CHECK(d.get<double>("lr_schedule.arch_lr") == 0.01);
  CHECK(d.get<double>("lr_schedule.warmup_epochs") == 5.0);
  CHECK(d.get<int64_t>("trainer.train_batch") == 256);
  CHECK(d.get<double>("losses.reg_weight") == 1e-4);
  CHECK(d.get<double>("losses.gd.weights") == 1e-6);
  CHECK_FALSE(d.get<bool>("network.vanilla"));
  CHECK(d.get<int64_t>("lr_schedule.plateau_epochs") == d.get<int64_t>("trainer.epochs"));

  // configs/README.md carries a copy; regenerate it when a key changes.
  std::ifstream readme(kConfigDir + "/README.md");
  const std::string doc{std::istreambuf_iterator<char>(readme), std::istreambuf_iterator<char>()};
  CHECK_THAT(doc, Catch::Contains("```yaml\n" + yaml + "```"));
}

TEST_CASE("config: every file in configs/ loads", "[config][configs]") {
  REQUIRE(fs::is_directory(kConfigDir));
  int count = 0;
  for (const auto& entry : fs::directory_iterator(kConfigDir)) {
    if (entry.path().extension() != ".yaml") continue;
    INFO(entry.path().string());
    Config c;
    REQUIRE_NOTHROW(c = Config::load(entry.path().string()));
    CHECK(c.notices().empty());
    CHECK(c.get<int64_t>("trainer.epochs") > 0);
    CHECK(Config::parse(c.dump()).dump() == c.dump());
    const bool lilnetx = entry.path().filename().string().rfind("lilnetx_", 0) == 0;
    CHECK(c.get<bool>("network.vanilla") == !lilnetx);
    ++count;
  }
  CHECK(count >= 18);

  const Config r20 = Config::load(kConfigDir + "/cifar10_resnet20.yaml");
  CHECK(r20.get<std::string>("optimizer.name") == "sgd");
  CHECK(r20.get<double>("optimizer.momentum") == 0.9);
  CHECK(r20.get<double>("losses.wd.weights") == 5e-4);
  CHECK(r20.get<std::string>("lr_schedule.type") == "cosine");
  CHECK(r20.get<int64_t>("trainer.train_batch") == 128);
  CHECK(r20.get<int64_t>("trainer.epochs") == 60);

  const Config lil =
      Config::load(kConfigDir + "/lilnetx_cifar10_resnet20.yaml", {"--trainer.epochs", "12"});
  CHECK(lil.get<std::string>("optimizer.name") == "adam");
  CHECK(lil.get<double>("lr_schedule.arch_lr") == 0.01);
  CHECK(lil.get<double>("losses.reg_weight") == 1e-4);
  CHECK(lil.get<double>("losses.gd.weights") == 1e-6);
  CHECK(lil.get<int64_t>("lr_schedule.plateau_epochs") == 12);

  const Config fm = Config::load(kConfigDir + "/fashion_mnist_small.yaml");
  CHECK(fm.get<std::string>("dataset.valroot") == "/usr/share/datasets/fashion-mnist");
}
