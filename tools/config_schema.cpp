#include "tools/config_schema.h"

namespace lnx::tools {

using Type = Config::Type;

// The defaults are the LilNetX recipe for CIFAR-10 ResNet-20 (docs: shared method.md section
// 5); names follow the reference configs so their users can read ours.
const std::vector<KeySpec>& schema() {
  static const std::vector<KeySpec> table = {
      {"trainer.epochs", Type::Int, "200", "training epochs"},
      {"trainer.train_batch", Type::Int, "256", "training batch size"},
      {"trainer.test_batch", Type::Int, "256", "evaluation batch size"},
      {"trainer.max_batches", Type::Int, "-1",
       "batches per training epoch, -1 for the whole dataset (for debugging)"},
      {"trainer.eval_every", Type::Int, "1", "evaluate every N epochs (and after the last)"},
      {"trainer.freeze_latents", Type::Bool, "false",
       "LilNetX: train only decoders, batch norm and biases; latents and priors stay as they "
       "are, so the coded size and the sparsity cannot change (a fine-tuning stage, with "
       "checkpoint.init_from)"},

      {"lr_schedule.arch_lr", Type::Float, "0.01",
       "peak learning rate of the network (latents, decoders, batch norm, biases)"},
      {"lr_schedule.type",
       Type::String,
       "'cosine'",
       "cosine: warm-up then cosine decay; cyclic: warm-up then linear decay to 0; step: times "
       "gamma at each of decay_steps; constant",
       {"cosine", "cyclic", "step", "constant"}},
      {"lr_schedule.warmup_epochs", Type::Float, "5",
       "linear warm-up from warmup_start_factor * arch_lr to arch_lr over this many epochs"},
      {"lr_schedule.warmup_start_factor", Type::Float, "1.0e-4",
       "the warm-up starts at this fraction of arch_lr"},
      {"lr_schedule.plateau_epochs", Type::Int, "'_copy: /trainer/epochs'",
       "cosine/cyclic stop decaying at this epoch and hold that rate to the end"},
      {"lr_schedule.decay_steps", Type::IntList, "[75, 125]",
       "step: epochs at which the rate is multiplied by gamma"},
      {"lr_schedule.gamma", Type::Float, "0.1", "step: the factor at each decay step"},
      {"lr_schedule.min_lr", Type::Float, "0.0", "floor of the cosine/cyclic decay"},
      {"lr_schedule.per_iteration", Type::Bool, "true",
       "interpolate the rate per iteration (true) or change it once per epoch"},
      {"lr_schedule.prob_lr", Type::Float, "1.0e-4",
       "learning rate of the entropy models (priors), Adam, constant"},

      {"optimizer.name",
       Type::String,
       "'adam'",
       "optimizer of the network's parameters",
       {"adam", "sgd"}},
      {"optimizer.momentum", Type::Float, "0.9", "sgd: momentum"},
      {"optimizer.use_nesterov", Type::Bool, "false", "sgd: Nesterov momentum"},
      {"optimizer.betas", Type::FloatList, "[0.9, 0.999]", "adam: beta1, beta2"},
      {"optimizer.eps", Type::Float, "1.0e-8", "adam: epsilon"},
      {"optimizer.grad_clip", Type::Float, "0.0", "clip the global gradient norm; 0: off"},

      {"dataset.name", Type::String, "'cifar10'",
       "cifar10, cifar100, imagenet, fashion_mnist, ... (the dataset registry checks it)"},
      {"dataset.trainroot", Type::String, "'datasets/cifar10/train'",
       "training data: an image folder (<class>/<image>) or the folder of IDX files"},
      {"dataset.valroot", Type::String, "'datasets/cifar10/test'",
       "test data, laid out like trainroot (may be the same folder for IDX files)"},
      {"dataset.num_workers", Type::Int, "4", "data-loading threads"},
      {"dataset.num_classes", Type::Int, "0", "0: the dataset's own number of classes"},
      {"dataset.augment", Type::Bool, "true",
       "training augmentation (CIFAR: crop 32 with padding 4 + flip; ImageNet: "
       "RandomResizedCrop 224 + flip)"},
      {"dataset.normalize_on_device", Type::String, "'auto'",
       "CIFAR: batches travel as uint8 and are normalised where the network runs (a quarter of "
       "the bytes to a GPU); auto: when common.device is cuda; true; false"},

      {"network.name", Type::String, "'resnet20'",
       "resnet20/32/44/56/110, vgg16_bn, resnet18, resnet50, mobilenetv2, ... (the model zoo "
       "checks it)"},
      {"network.vanilla", Type::Bool, "false",
       "true: an ordinary float network; false: LilNetX latents, decoders and priors"},
      {"network.width", Type::Int, "4", "channel multiplier (CIFAR ResNet: 16*width in stage 1)"},
      {"network.init_type",
       Type::String,
       "'random'",
       "decoder init: random N(0, var) or identity",
       {"random", "identity"}},
      {"network.compress_bias", Type::Bool, "false", "also quantize and code the biases"},
      {"network.mode",
       Type::String,
       "'fan_out'",
       "fan of the init: the latents' (LilNetX) or the Kaiming rule of float convolutions and "
       "classifiers (vanilla)",
       {"fan_in", "fan_out"}},
      {"network.boundary", Type::Float, "3", "b of the init: var = 24/max_fan/((2b+1)^2-1)"},
      {"network.no_shift", Type::Bool, "true",
       "decoders without an additive offset, so zero latents decode to zero weights"},
      {"network.single_prob_model", Type::Bool, "false",
       "one density for all positions of a slice instead of one per position"},
      {"network.first", Type::Bool, "true", "also compress the first convolution"},
      {"network.apply_blur", Type::Bool, "false", "blur before strided convolutions (ImageNet)"},

      {"losses.reg_weight", Type::Float, "1.0e-4",
       "lambda_I: weight of the rate loss (bits / number of slices)"},
      {"losses.reg_weight_warmup", Type::Int, "0",
       "ramp: reg_weight * (min(epoch, warmup) + 1) / (warmup + 1)"},
      {"losses.rate_model",
       Type::String,
       "'factorized'",
       "what the rate charges: every latent under the prior (method.md), or slice_flags: a flag "
       "per kernel slice, then the prior's bits of the non-zero slices only (as .lnx codes them)",
       {"factorized", "slice_flags"}},
      {"losses.wd.weights", Type::Float, "1.0e-6",
       "LilNetX: lambda_wd, L2 penalty on the latents of wd.modules; vanilla: the optimizer's "
       "weight decay on weights"},
      {"losses.wd.bn", Type::Float, "0.0", "weight decay on batch-norm weights"},
      {"losses.wd.bias", Type::Float, "0.0", "weight decay on biases"},
      {"losses.wd.decoder", Type::Float, "0.0", "weight decay on decoders (LilNetX only)"},
      {"losses.wd.modules",
       Type::StringList,
       "['conv1x1', 'conv3x3', 'dense']",
       "groups whose latents get the L2 penalty",
       {"conv1x1", "conv3x3", "conv7x7", "dense"}},
      {"losses.gd.weights", Type::Float, "1.0e-6",
       "lambda_S: weight of the slice-norm (structured sparsity) prior"},
      {"losses.gd.modules",
       Type::StringList,
       "['conv3x3', 'conv7x7']",
       "groups whose slices get the slice-norm prior",
       {"conv1x1", "conv3x3", "conv7x7", "dense"}},
      {"losses.gd.enable_l1", Type::Bool, "false", "add an L1 term with the same weight"},
      {"losses.gd.order", Type::String, "'l2'", "norm of each slice", {"l1", "l2", "linf"}},

      {"checkpoint.save_dir", Type::String, "'results/cifar10_resnet20'",
       "folder of checkpoints, the resolved config and metrics"},
      {"checkpoint.filename", Type::String, "'checkpoint.safetensors'",
       "name of the latest checkpoint in save_dir"},
      {"checkpoint.resume_path", Type::String, "''",
       "checkpoint to resume from; empty: save_dir/filename"},
      {"checkpoint.resume", Type::Bool, "false", "resume when the checkpoint exists"},
      {"checkpoint.init_from", Type::String, "''",
       "start from this checkpoint's network (weights, latents, decoders, priors, batch-norm "
       "statistics) with a fresh optimizer, schedule and epoch count; a resumable checkpoint in "
       "save_dir takes precedence"},
      {"checkpoint.stop_if_complete", Type::Bool, "true",
       "do nothing when the checkpoint already finished all epochs"},
      {"checkpoint.clear_if_exists", Type::Bool, "false", "empty save_dir before training"},

      {"logging.use_ac", Type::Bool, "true", "report the entropy-coded size at evaluation"},
      {"logging.calc_sparse_stats", Type::Bool, "true", "report sparsity at evaluation"},
      {"logging.save_freq", Type::Int, "0",
       "also keep checkpoint_<epoch> every N epochs; 0: only the latest"},
      {"logging.print_freq", Type::Int, "50", "print training progress every N iterations"},

      {"common.seed", Type::Int, "420", "one seed for init, shuffling and noise"},
      {"common.eval_only", Type::Bool, "false", "evaluate the checkpoint, do not train"},
      {"common.device", Type::String, "'cpu'", "cpu, cuda or cuda:N"},
      {"common.threads", Type::Int, "0", "CPU threads; 0: all cores"},
      {"common.anomaly", Type::Bool, "false",
       "autograd anomaly mode: name the first op that produced NaN/Inf (slow)"},
  };
  return table;
}

const std::map<std::string, std::string>& aliases() {
  static const std::map<std::string, std::string> table = {
      {"lr_schedule.lr", "lr_schedule.arch_lr"},
      {"lr_schedule.milestones", "lr_schedule.decay_steps"},
      {"lr_schedule.warmup_start", "lr_schedule.warmup_start_factor"},
      {"optimizer.nesterov", "optimizer.use_nesterov"},
      {"dataset.root", "dataset.trainroot"},
      {"network.arch", "network.name"},
      {"trainer.seed", "common.seed"},
      {"trainer.num_workers", "dataset.num_workers"},
      {"logging.print_every", "logging.print_freq"},
      {"checkpoint.every", "logging.save_freq"},
  };
  return table;
}

const std::map<std::string, const char*>& ignored_sections() {
  static const std::map<std::string, const char*> table = {
      {"dist", "multi-GPU training is not supported"},
      {"ffcv", "the FFCV data loader is not supported"},
      {"wandb", "Weights & Biases logging is not supported"},
  };
  return table;
}

}  // namespace lnx::tools
