#include "tools/trainer.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "compress/latent_layers.h"
#include "core/checkpoint_io.h"
#include "core/random.h"
#include "layers/batch_norm.h"
#include "layers/optim/adam.h"
#include "layers/optim/sgd.h"
#include "models/registry.h"

namespace lnx::tools {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// Parameters split by kind, because the reference applies a different weight decay to each:
// weights of conv/linear layers (losses.wd.weights), batch-norm affine parameters
// (losses.wd.bn) and biases (losses.wd.bias).
// LilNetX networks add latents (no optimizer decay: their penalties are in the loss), decoders
// (losses.wd.decoder) and priors (their own optimizer).
struct ParamSplit {
  std::vector<Variable> weights, bn, biases, latents, decoders, priors;
};

ParamSplit split_parameters(Module& model) {
  ParamSplit s;
  for (auto& [name, m] : model.named_modules()) {
    const bool is_bn = dynamic_cast<BatchNorm2d*>(m) != nullptr;
    const auto* latent = dynamic_cast<LatentLayer*>(m);
    for (auto& [pname, p] : m->named_parameters(false)) {
      if (dynamic_cast<EntropyModel*>(m)) {
        s.priors.push_back(p);
      } else if (dynamic_cast<Decoder*>(m)) {
        s.decoders.push_back(p);
      } else if (latent && pname == "weight") {
        s.latents.push_back(p);
      } else if (is_bn) {
        s.bn.push_back(p);
      } else if (p.dim() >= 2) {
        s.weights.push_back(p);
      } else {
        s.biases.push_back(p);
      }
    }
  }
  return s;
}

// freeze_latents leaves the latents out: they get no updates (and no gradients).
std::unique_ptr<Optimizer> make_optimizer(const Config& c, Module& model, bool freeze_latents) {
  ParamSplit split = split_parameters(model);
  if (freeze_latents) split.latents.clear();
  const double lr = c.get<double>("lr_schedule.arch_lr");
  LNX_CHECK(lr > 0, "lr_schedule.arch_lr: got ", lr, ", expected a positive learning rate");
  const double wd_w = c.get<double>("losses.wd.weights"), wd_bn = c.get<double>("losses.wd.bn"),
               wd_b = c.get<double>("losses.wd.bias");
  for (const auto& [key, v] :
       {std::pair{"losses.wd.weights", wd_w}, {"losses.wd.bn", wd_bn}, {"losses.wd.bias", wd_b}})
    LNX_CHECK(v >= 0, key, ": got ", v, ", expected a non-negative weight decay");
  const std::string name = c.get<std::string>("optimizer.name");
  struct Part {
    const std::vector<Variable>* params;
    double wd;
    const char* name;
  };
  // In LilNetX networks losses.wd.weights is the latents' L2 penalty in the loss, not decay.
  const double wd_dec = c.get<double>("losses.wd.decoder");
  LNX_CHECK(wd_dec >= 0, "losses.wd.decoder: got ", wd_dec, ", expected >= 0");
  const Part parts[] = {{&split.weights, wd_w, "weights"},
                        {&split.bn, wd_bn, "bn"},
                        {&split.biases, wd_b, "biases"},
                        {&split.latents, 0.0, "latents"},
                        {&split.decoders, wd_dec, "decoders"}};
  if (name == "sgd") {
    std::vector<SGDParamGroup> groups;
    for (const Part& p : parts) {
      if (p.params->empty()) continue;
      SGDOptions o;
      o.lr = lr;
      o.momentum = c.get<double>("optimizer.momentum");
      o.nesterov = c.get<bool>("optimizer.use_nesterov");
      o.weight_decay = p.wd;
      groups.push_back({*p.params, o, p.name});
    }
    return std::make_unique<SGD>(std::move(groups));
  }
  LNX_CHECK(name == "adam", "optimizer.name: got '", name, "', expected adam or sgd");
  const std::vector<double> betas = c.get<std::vector<double>>("optimizer.betas");
  LNX_CHECK(betas.size() == 2, "optimizer.betas: got ", betas.size(), " values, expected 2");
  std::vector<AdamParamGroup> groups;
  for (const Part& p : parts) {
    if (p.params->empty()) continue;
    AdamOptions o;
    o.lr = lr;
    o.beta1 = betas[0];
    o.beta2 = betas[1];
    o.eps = c.get<double>("optimizer.eps");
    o.weight_decay = p.wd;
    groups.push_back({*p.params, o, p.name});
  }
  return std::make_unique<Adam>(std::move(groups));
}

std::unique_ptr<LRSchedule> make_lr_schedule(const Config& c) {
  ScheduleConfig s;
  s.lr = c.get<double>("lr_schedule.arch_lr");
  s.total_epochs = static_cast<double>(c.get<int64_t>("trainer.epochs"));
  s.min_lr = c.get<double>("lr_schedule.min_lr");
  s.warmup_epochs = c.get<double>("lr_schedule.warmup_epochs");
  s.warmup_start_factor = c.get<double>("lr_schedule.warmup_start_factor");
  s.plateau_epoch = static_cast<double>(c.get<int64_t>("lr_schedule.plateau_epochs"));
  for (int64_t m : c.get<std::vector<int64_t>>("lr_schedule.decay_steps"))
    s.milestones.push_back(static_cast<double>(m));
  s.gamma = c.get<double>("lr_schedule.gamma");
  std::string type = c.get<std::string>("lr_schedule.type");
  if (type == "cyclic") type = "triangle";
  return make_schedule(type, s);
}

bool stderr_is_terminal() {
  return isatty(fileno(stderr)) != 0;
}

}  // namespace

BuiltNetwork build_network_from_config(const Config& c, const DataShape& data) {
  ModelSpec spec;
  spec.name = c.get<std::string>("network.name");
  spec.num_classes = data.num_classes;
  spec.width = static_cast<double>(c.get<int64_t>("network.width"));
  spec.in_channels = data.in_channels;
  spec.cifar_stem = data.image_size <= 64;
  Generator init_gen(static_cast<uint64_t>(c.get<int64_t>("common.seed")));
  const bool fan_out = c.get<std::string>("network.mode") == "fan_out";
  if (c.get<bool>("network.vanilla"))
    return {
        build_float_model(spec, &init_gen, fan_out ? init::FanMode::FanOut : init::FanMode::FanIn),
        nullptr};
  LatentInit li = latent_init_for(spec, c.get<double>("network.boundary"));
  li.fan_out = fan_out;
  li.decoder_init = c.get<std::string>("network.init_type") == "identity" ? DecoderInit::Identity
                                                                          : DecoderInit::Normal;
  li.shift = !c.get<bool>("network.no_shift");
  li.compress_first = c.get<bool>("network.first");
  CompressedNetwork cn = build_compressed_model(spec, li, &init_gen);
  return {cn.net, cn.groups};
}

Trainer::Trainer(Config config, bool quiet) : config_(std::move(config)), quiet_(quiet) {
  const Config& c = config_;
  for (const std::string& n : c.notices()) print(n);
  const int64_t threads = c.get<int64_t>("common.threads");
  LNX_CHECK(threads >= 0, "common.threads: got ", threads, ", expected 0 (all cores) or more");
  set_num_threads(threads > 0
                      ? static_cast<int>(threads)
                      : static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  set_anomaly_mode(c.get<bool>("common.anomaly"));
  device_ = Device::parse(c.get<std::string>("common.device"));
  if (device_.is_cuda())
    LNX_CHECK(cuda_available(), "common.device: '", device_.name(), "' requested but ",
              cuda_unavailable_reason());
  const auto seed = static_cast<uint64_t>(c.get<int64_t>("common.seed"));
  manual_seed(seed);
  max_batches_ = c.get<int64_t>("trainer.max_batches");

  data_ = make_datasets(c);
  data::LoaderOptions lo;
  lo.batch_size = c.get<int64_t>("trainer.train_batch");
  LNX_CHECK(lo.batch_size >= 1, "trainer.train_batch: got ", lo.batch_size, ", expected >= 1");
  lo.shuffle = true;
  lo.drop_last = true;
  lo.num_workers = static_cast<int>(c.get<int64_t>("dataset.num_workers"));
  lo.seed = seed;
  lo.byte_images = !data_.device_mean.empty();
  train_loader_ = std::make_unique<data::DataLoader>(data_.train, lo);
  lo.batch_size = c.get<int64_t>("trainer.test_batch");
  LNX_CHECK(lo.batch_size >= 1, "trainer.test_batch: got ", lo.batch_size, ", expected >= 1");
  lo.shuffle = false;
  lo.drop_last = false;
  test_loader_ = std::make_unique<data::DataLoader>(data_.test, lo);

  const BuiltNetwork built =
      build_network_from_config(c, {data_.num_classes, data_.in_channels, data_.image_size});
  model_ = built.model;
  groups_ = built.groups;
  if (groups_) {
    ObjectiveConfig oc;
    oc.rate_weight = c.get<double>("losses.reg_weight");
    oc.rate_model = parse_rate_model(c.get<std::string>("losses.rate_model"));
    oc.slice_weight = c.get<double>("losses.gd.weights");
    oc.slice_prior = "slice_" + c.get<std::string>("losses.gd.order");
    oc.slice_l1 = c.get<bool>("losses.gd.enable_l1");
    oc.slice_groups = c.get<std::vector<std::string>>("losses.gd.modules");
    oc.decay_weight = c.get<double>("losses.wd.weights");
    oc.decay_groups = c.get<std::vector<std::string>>("losses.wd.modules");
    objective_ = std::make_unique<LilnetxObjective>(*groups_, oc);
  }
  freeze_latents_ = c.get<bool>("trainer.freeze_latents");
  LNX_CHECK(!freeze_latents_ || groups_,
            "trainer.freeze_latents: true needs a LilNetX network (network.vanilla: false); "
            "a float network has no latents to freeze");
  model_->to(device_);
  if (freeze_latents_) {
    // Everything the coded size and the sparsity depend on: the latents and their priors.
    const ParamSplit split = split_parameters(*model_);
    for (Variable v : split.latents) v.set_requires_grad(false);
    for (Variable v : split.priors) v.set_requires_grad(false);
  }
  optimizer_ = make_optimizer(c, *model_, freeze_latents_);
  if (groups_) {
    const double prob_lr = c.get<double>("lr_schedule.prob_lr");
    LNX_CHECK(prob_lr > 0, "lr_schedule.prob_lr: got ", prob_lr, ", expected a positive rate");
    AdamOptions ao;
    ao.lr = prob_lr;
    prior_optimizer_ = std::make_unique<Adam>(split_parameters(*model_).priors, ao);
  }
  schedule_ = make_lr_schedule(c);

  const std::string resume_path = c.get<std::string>("checkpoint.resume_path");
  const std::string init_path = c.get<std::string>("checkpoint.init_from");
  if (!resume_path.empty()) {
    load(resume_path);
  } else if (c.get<bool>("checkpoint.resume") && fs::exists(checkpoint_path())) {
    load(checkpoint_path());
  } else if (!init_path.empty()) {
    init_from(init_path);
  }
}

void Trainer::init_from(const std::string& path) {
  LNX_CHECK(fs::exists(path), "checkpoint.init_from: '", path,
            "' not found, expected a checkpoint written by lilnetx train");
  const Checkpoint ck = load_checkpoint(path);
  StateDict state;
  for (const auto& [name, t] : ck.model) state.insert(name, t);
  try {
    model_->load_state_dict(state, true);
  } catch (const std::exception& e) {
    throw Error(str("checkpoint.init_from: '", path,
                    "' does not fit the network of this config (network.* must match the run "
                    "that wrote it): ",
                    e.what()));
  }
  print(str("trainer: starting from the network of ", path, " (epoch ", ck.get_int("epoch"),
            "), fresh optimizer and schedule"));
}

Trainer::~Trainer() = default;

std::string Trainer::checkpoint_path() const {
  return (fs::path(config_.get<std::string>("checkpoint.save_dir")) /
          config_.get<std::string>("checkpoint.filename"))
      .string();
}

void Trainer::print(const std::string& line) const {
  if (!quiet_) std::cerr << line << "\n";
}

EpochResult Trainer::train_epoch() {
  EpochResult r;
  r.epoch = epoch_;
  model_->train();
  train_loader_->start_epoch(epoch_);
  int64_t iters = train_loader_->num_batches();
  if (max_batches_ > 0) iters = std::min(iters, max_batches_);
  LNX_CHECK(iters > 0, "trainer: the training set has fewer images than one batch (",
            config_.get<int64_t>("trainer.train_batch"), ")");
  const bool per_iter = config_.get<bool>("lr_schedule.per_iteration");
  const double clip = config_.get<double>("optimizer.grad_clip");
  const int64_t print_freq = std::max<int64_t>(1, config_.get<int64_t>("logging.print_freq"));
  const bool bar = stderr_is_terminal() && !quiet_;
  const auto t0 = Clock::now();
  double loss_sum = 0, correct = 0, bits_sum = 0;
  int64_t seen = 0;
  // losses.reg_weight_warmup: the rate weight ramps up linearly over that many epochs.
  const auto warmup = static_cast<double>(config_.get<int64_t>("losses.reg_weight_warmup"));
  auto rate_scale = [&](int64_t it, int64_t n) {
    if (warmup <= 0) return 1.0;
    return std::min(1.0, (static_cast<double>(epoch_) + static_cast<double>(it) / n) / warmup);
  };
  for (int64_t it = 0; it < iters; ++it) {
    std::optional<data::Batch> batch = train_loader_->next();
    if (!batch) break;
    schedule_->apply(*optimizer_, epoch_, per_iter ? it : 0, iters);
    const Tensor images = images_on(data_, batch->images, device_);  // (N, C, H, W)
    const Tensor labels = batch->labels.to(device_);                 // (N,)
    const Variable logits = model_->forward(Variable(images));
    Variable loss = cross_entropy(logits, labels);
    if (objective_ && !freeze_latents_) {
      const ObjectiveTerms terms = objective_->compute(true, rate_scale(it, iters), nullptr);
      loss = add(loss, terms.total);
      bits_sum += terms.bits;
    }
    const double lv = loss.item();
    LNX_CHECK(std::isfinite(lv), "train: the loss is ", lv, " at epoch ", epoch_ + 1, " step ",
              it + 1,
              "; rerun with --common.anomaly true to name the op that produced it. The "
              "last checkpoint (",
              checkpoint_path(), ") is intact");
    optimizer_->zero_grad();
    const bool step_priors = prior_optimizer_ && !freeze_latents_;
    if (step_priors) prior_optimizer_->zero_grad();
    loss.backward();
    if (clip > 0) clip_grad_norm(optimizer_->parameters(), clip);
    optimizer_->step();
    if (step_priors) prior_optimizer_->step();
    const int64_t n = images.size(0);
    loss_sum += lv * static_cast<double>(n);
    correct += topk_accuracy(logits.data(), labels, 1) * static_cast<double>(n);
    seen += n;
    if (!quiet_ && (bar || (it + 1) % print_freq == 0 || it + 1 == iters)) {
      const double secs = seconds_since(t0);
      char line[256];
      std::snprintf(line, sizeof line,
                    "epoch %lld [%5lld/%lld] loss %.4f acc %.2f%% lr %.3g %.0f img/s",
                    static_cast<long long>(epoch_ + 1), static_cast<long long>(it + 1),
                    static_cast<long long>(iters), loss_sum / seen, 100.0 * correct / seen,
                    optimizer_->lr(0), seen / std::max(secs, 1e-9));
      std::cerr << (bar ? "\r" : "") << line << (bar ? "" : "\n") << std::flush;
    }
  }
  if (bar) std::cerr << "\n";
  train_loader_->stop();
  r.seconds = seconds_since(t0);
  r.train_loss = loss_sum / std::max<int64_t>(seen, 1);
  r.train_top1 = correct / std::max<int64_t>(seen, 1);
  r.lr = optimizer_->lr(0);
  r.images_per_second = seen / std::max(r.seconds, 1e-9);
  r.train_bits = bits_sum / static_cast<double>(std::max<int64_t>(iters, 1));
  ++epoch_;
  return r;
}

EvalResult Trainer::evaluate() {
  return evaluate(
      [this](const Tensor& images) { return model_->forward(Variable(images)).data(); });
}

EvalResult Trainer::evaluate(const std::function<Tensor(const Tensor&)>& forward) {
  model_->eval();
  NoGradGuard no_grad;
  EvalResult r;
  double loss_sum = 0, top1 = 0, top5 = 0;
  test_loader_->start_epoch(0);
  while (std::optional<data::Batch> batch = test_loader_->next()) {
    const Tensor images = images_on(data_, batch->images, device_);
    const Tensor labels = batch->labels.to(device_);
    const Tensor logits = forward(images);  // (N, classes)
    const auto n = static_cast<double>(images.size(0));
    loss_sum += cross_entropy(Variable(logits), labels).item() * n;
    top1 += topk_accuracy(logits, labels, 1) * n;
    top5 += topk_accuracy(logits, labels, std::min<int64_t>(5, logits.size(1))) * n;
    r.images += images.size(0);
  }
  const double total = std::max<double>(1.0, static_cast<double>(r.images));
  r.loss = loss_sum / total;
  r.top1 = top1 / total;
  r.top5 = top5 / total;
  model_->train();
  return r;
}

CompressionSummary Trainer::compression_summary() const {
  CompressionSummary s;
  if (!groups_) return s;
  const CompressionReport r = compression_report(*groups_, objective_->config().rate_model);
  s.prior_kb = r.prior_bytes / 1000;
  s.empirical_kb = r.empirical_bytes / 1000;
  s.slice_flag_kb = r.slice_flag_bytes / 1000;
  s.latents = r.latents;
  s.weights = r.weights;
  return s;
}

std::string time_left(int64_t epochs_left, double epoch_seconds) {
  const auto minutes = std::llround(static_cast<double>(epochs_left) * epoch_seconds / 60);
  if (minutes < 1) return "under a minute";
  if (minutes < 60) return str(minutes, " min");
  return str(minutes / 60, " h ", minutes % 60, " min");
}

void Trainer::log_epoch(const EpochResult& r) const {
  char line[256];
  const int64_t epochs = config_.get<int64_t>("trainer.epochs");
  std::snprintf(line, sizeof line, "epoch %lld of %lld done in %.1f s",
                static_cast<long long>(r.epoch + 1), static_cast<long long>(epochs), r.seconds);
  std::string msg = line;
  // Long runs span sittings: the rest at this epoch's pace.
  if (r.epoch + 1 < epochs)
    msg += str(" (", time_left(epochs - r.epoch - 1, r.seconds), " left at this pace)");
  std::snprintf(line, sizeof line, ": train loss %.4f acc %.2f%%", r.train_loss,
                100 * r.train_top1);
  msg += line;
  if (r.evaluated) {
    std::snprintf(line, sizeof line, ", test loss %.4f acc %.2f%% (top-5 %.2f%%)", r.test.loss,
                  100 * r.test.top1, 100 * r.test.top5);
    msg += line;
  }
  print(msg);
  const CompressionSummary& cs = r.compression;
  if (r.compressed) {
    std::snprintf(
        line, sizeof line,
        "  size %.1f KB (prior%s) / %.1f KB (fitted tables) / %.1f KB (slice flags), "
        "slice sparsity %.1f%%, zero weights %.1f%%, FLOPs %.2f M -> %.2f M (%.2fx)",
        cs.prior_kb,
        objective_->config().rate_model == RateModel::SliceFlags ? " with slice flags" : "",
        cs.empirical_kb, cs.slice_flag_kb, 100 * cs.latents.slice_sparsity(),
        100 * cs.latents.element_sparsity(), cs.latents.dense_flops / 1e6,
        cs.latents.sparse_flops / 1e6, cs.latents.flops_reduction());
    print(line);
  }
  const fs::path dir(config_.get<std::string>("checkpoint.save_dir"));
  fs::create_directories(dir);
  nlohmann::json j = {{"epoch", r.epoch + 1},      {"train_loss", r.train_loss},
                      {"train_acc", r.train_top1}, {"lr", r.lr},
                      {"epoch_time_s", r.seconds}, {"images_per_s", r.images_per_second}};
  if (r.evaluated) {
    j["test_loss"] = r.test.loss;
    j["test_acc"] = r.test.top1;
    j["test_top5"] = r.test.top5;
  }
  if (r.compressed) {
    if (!freeze_latents_) j["train_bits"] = r.train_bits;  // frozen runs compute no rate
    j["size_prior_kb"] = cs.prior_kb;
    j["size_fitted_kb"] = cs.empirical_kb;
    j["size_slice_flags_kb"] = cs.slice_flag_kb;
    for (const auto& [prefix, st] : {std::pair{"latent", cs.latents}, {"weight", cs.weights}}) {
      j[str(prefix, "_element_sparsity")] = st.element_sparsity();
      j[str(prefix, "_slice_sparsity")] = st.slice_sparsity();
      j[str(prefix, "_in_channel_sparsity")] = st.in_channel_sparsity();
      j[str(prefix, "_out_channel_sparsity")] = st.out_channel_sparsity();
    }
    j["flops_dense"] = cs.latents.dense_flops;
    j["flops_sparse"] = cs.latents.sparse_flops;
  }
  std::ofstream(dir / "metrics.jsonl", std::ios::app) << j.dump() << "\n";
}

EvalResult Trainer::fit() {
  const int64_t epochs = config_.get<int64_t>("trainer.epochs");
  LNX_CHECK(epochs >= 1, "trainer.epochs: got ", epochs, ", expected at least 1");
  const int64_t eval_every = std::max<int64_t>(1, config_.get<int64_t>("trainer.eval_every"));
  const int64_t save_freq = config_.get<int64_t>("logging.save_freq");
  EvalResult last;
  if (epoch_ >= epochs) {
    print(str("trainer: checkpoint already at epoch ", epoch_, " of ", epochs, "; evaluating"));
    return evaluate();
  }
  if (epoch_ > 0) print(str("trainer: resuming after epoch ", epoch_));
  while (epoch_ < epochs) {
    EpochResult r = train_epoch();
    if (epoch_ % eval_every == 0 || epoch_ == epochs) {
      r.test = evaluate();
      r.evaluated = true;
      if (groups_ && config_.get<bool>("logging.calc_sparse_stats")) {
        r.compressed = true;
        r.compression = compression_summary();
      }
      last = r.test;
      best_top1_ = std::max(best_top1_, r.test.top1);
    }
    log_epoch(r);
    save(checkpoint_path());
    if (save_freq > 0 && epoch_ % save_freq == 0)
      save((fs::path(config_.get<std::string>("checkpoint.save_dir")) /
            str("checkpoint_", epoch_, ".safetensors"))
               .string());
  }
  return last;
}

void Trainer::save(const std::string& path) const {
  Checkpoint ck;
  for (const auto& [name, t] : model_->state_dict()) ck.model[name] = t;
  for (const auto& [name, t] : optimizer_->state_dict()) ck.optimizer["main." + name] = t;
  if (prior_optimizer_)
    for (const auto& [name, t] : prior_optimizer_->state_dict()) ck.optimizer["prior." + name] = t;
  ck.set_int("epoch", epoch_);
  ck.set_double("best_top1", best_top1_);
  ck.set_int("rng_seed", static_cast<int64_t>(default_generator().seed()));
  ck.set_int("rng_offset", static_cast<int64_t>(default_generator().offset()));
  ck.set_string("config", config_.dump());
  fs::create_directories(fs::path(path).parent_path());
  save_checkpoint(path, ck);
}

void Trainer::load(const std::string& path) {
  const Checkpoint ck = load_checkpoint(path);
  StateDict model_state, optim_state, prior_state;
  for (const auto& [name, t] : ck.model) model_state.insert(name, t);
  for (const auto& [name, t] : ck.optimizer) {
    if (name.rfind("main.", 0) == 0) {
      optim_state.insert(name.substr(5), t);
    } else if (name.rfind("prior.", 0) == 0) {
      prior_state.insert(name.substr(6), t);
    } else {  // checkpoints written before the prior optimizer existed
      optim_state.insert(name, t);
    }
  }
  model_->load_state_dict(model_state, true);
  optimizer_->load_state_dict(optim_state);
  if (prior_optimizer_) prior_optimizer_->load_state_dict(prior_state);
  epoch_ = ck.get_int("epoch");
  best_top1_ = ck.get_double("best_top1");
  default_generator().set_state(static_cast<uint64_t>(ck.get_int("rng_seed")),
                                static_cast<uint64_t>(ck.get_int("rng_offset")));
}

}  // namespace lnx::tools
