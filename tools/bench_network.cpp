#include "tools/bench_network.h"

#include <algorithm>
#include <chrono>
#include <vector>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "compress/latent_layers.h"
#include "compress/objective.h"
#include "compress/sparsity_stats.h"
#include "core/allocator.h"
#include "core/backend.h"
#include "core/checkpoint_io.h"
#include "core/random.h"
#include "layers/optim/adam.h"
#include "models/registry.h"
#include "tools/config.h"
#ifdef LNX_HAVE_CUDA
#include "cuda/allocator.h"
#endif

namespace lnx::tools {
namespace {

void reset_peak(Device dev) {
#ifdef LNX_HAVE_CUDA
  if (dev.is_cuda()) return cuda::device_allocator_reset_peak(dev.index);
#endif
  (void)dev;
  cpu_allocator_reset_peak();
}

size_t peak_bytes(Device dev) {
#ifdef LNX_HAVE_CUDA
  if (dev.is_cuda()) return cuda::device_allocator_stats(dev.index).peak_bytes_in_use;
#endif
  (void)dev;
  return cpu_allocator_stats().peak_bytes_in_use;
}

// The classes of a checkpoint's classifier; 10 when it has no fc.weight.
int64_t classes_of(const Checkpoint& state) {
  const auto fc = state.model.find("fc.weight");  // (classes, features)
  return fc != state.model.end() ? fc->second.size(0) : 10;
}

bool imagenet_network(const std::string& name) {
  return name == "resnet18" || name == "resnet34" || name == "resnet50" || name == "mobilenetv2";
}

// A zoo network with its optimizers and one training step, as the peer scripts run it.
class StepRig {
 public:
  // state: a LilNetX training checkpoint's model state to start from, or null.
  StepRig(const BenchNetwork& network, int batch, bool lilnetx, Device dev, const Checkpoint* state)
      : gen_(0) {
    const bool imagenet = imagenet_network(network.name);
    const int64_t image = network.image_size > 0 ? network.image_size : imagenet ? 224 : 32;
    const int64_t classes = state ? classes_of(*state) : imagenet ? 1000 : 10;
    ModelSpec spec{network.name, classes, static_cast<double>(network.width)};
    spec.cifar_stem = image <= 64;
    std::vector<Variable> params;
    if (lilnetx) {
      CompressedNetwork net = build_compressed_model(spec, latent_init_for(spec, 3.0), &gen_);
      model_ = net.net;  // the groups are the model's child "groups": they live and move with it
      if (state) {
        StateDict sd;
        for (const auto& [name, t] : state->model) sd.insert(name, t);
        model_->load_state_dict(sd, true);
      }
      model_->to(dev);
      // The configs' groups: slice l2 on conv3x3, decay on conv1x1, conv3x3 and dense (the
      // ResNet-20 peer's conv3x3 and dense, as ResNet-20 has no 1x1 convolutions).
      objective_ = std::make_unique<LilnetxObjective>(*net.groups, ObjectiveConfig{});
      std::vector<Variable> priors;
      for (const auto& g : net.groups->groups())
        for (const auto& [n, p] : g->prior().named_parameters()) priors.push_back(p);
      for (const auto& [n, p] : model_->named_parameters())
        if (n.find(".prior.") == std::string::npos) params.push_back(p);
      AdamOptions po;
      po.lr = 1e-4;
      prior_opt_ = std::make_unique<Adam>(priors, po);
    } else {
      model_ = build_float_model(spec, &gen_);
      model_->to(dev);
      params = model_->parameters();
    }
    AdamOptions ao;
    ao.lr = 0.01;
    opt_ = std::make_unique<Adam>(params, ao);
    x_ = normal({batch, 3, image, image}, 0, 1, &gen_).to(dev);  // (N, 3, H, W)
    std::vector<int64_t> y(static_cast<size_t>(batch));
    for (auto& v : y) v = static_cast<int64_t>(gen_.next_u64() % static_cast<uint64_t>(classes));
    labels_ = from_vector(y, {batch}).to(dev);
  }

  Module& model() { return *model_; }

  void train_step() {
    opt_->zero_grad();
    if (prior_opt_) prior_opt_->zero_grad();
    Variable loss = cross_entropy(model_->forward(Variable(x_)), labels_);
    if (objective_) loss = add(loss, objective_->compute(true, 1.0, &gen_).total);
    loss.backward();
    opt_->step();
    if (prior_opt_) prior_opt_->step();
  }

  void infer() {
    NoGradGuard ng;
    (void)model_->forward(Variable(x_));
  }

 private:
  Generator gen_;
  ModulePtr model_;
  std::unique_ptr<LilnetxObjective> objective_;
  std::unique_ptr<Adam> opt_, prior_opt_;
  Tensor x_, labels_;
};

StepTiming summarize(std::vector<double> ms, int batch, Device dev) {
  std::sort(ms.begin(), ms.end());
  StepTiming t;
  t.median_ms = ms[ms.size() / 2];
  t.min_ms = ms.front();
  t.max_ms = ms.back();
  t.images_per_second = batch / t.median_ms * 1e3;
  t.peak_mib = static_cast<double>(peak_bytes(dev)) / (1 << 20);
  return t;
}

template <typename F>
double time_ms(Backend& be, F&& step) {
  const auto t0 = std::chrono::steady_clock::now();
  step();
  be.synchronize();  // GPU kernels are queued: the step ends when they have run
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

void set_skip_zero_slices(Module& model, bool on) {
  for (const auto& [name, m] : model.named_modules())
    if (auto* conv = dynamic_cast<LatentConv2d*>(m)) conv->set_skip_zero_slices(on);
}

}  // namespace

StepTiming bench_network(const BenchNetwork& network, int batch, const std::string& mode, int reps,
                         bool lilnetx, const std::string& device) {
  LNX_CHECK(mode == "train" || mode == "infer", "bench ", network.name, ": mode '", mode,
            "', expected train or infer");
  LNX_CHECK(network.width >= 1, "bench ", network.name, ": --width ", network.width,
            ", expected >= 1");
  LNX_CHECK(network.image_size >= 0, "bench ", network.name, ": --image-size ", network.image_size,
            ", expected > 0 (or 0: the network's own)");
  const Device dev = Device::parse(device);
  Backend& be = backend(dev);
  StepRig rig(network, batch, lilnetx, dev, nullptr);
  if (mode == "infer") rig.model().eval();
  auto step = [&] { mode == "train" ? rig.train_step() : rig.infer(); };
  for (int i = 0; i < 5; ++i) step();
  be.synchronize();
  reset_peak(dev);
  std::vector<double> ms;
  for (int i = 0; i < reps; ++i) ms.push_back(time_ms(be, step));
  return summarize(std::move(ms), batch, dev);
}

SkipTiming bench_resnet20_checkpoint(const std::string& path, int batch, int reps) {
  const Checkpoint ck = load_checkpoint(path);
  const Config config = Config::parse(ck.get_string("config"), {}, path + " (stored config)");
  const auto network = config.get<std::string>("network.name");
  LNX_CHECK(network == "resnet20" && !config.get<bool>("network.vanilla"),
            "bench resnet20 --checkpoint: '", path, "' holds a ",
            config.get<bool>("network.vanilla") ? "float " : "LilNetX ", network,
            ", expected a LilNetX resnet20");
  const Device cpu = Device::parse("cpu");
  Backend& be = backend(cpu);
  const BenchNetwork resnet20{"resnet20", static_cast<int>(config.get<int64_t>("network.width")),
                              32};
  StepRig rig(resnet20, batch, true, cpu, &ck);
  SkipTiming t;
  for (const auto& [name, m] : rig.model().named_modules())
    if (const auto* conv = dynamic_cast<const LatentConv2d*>(m)) {
      const Tensor w = conv->decoded_weight().data();
      const SparsityStats s = measure_sparsity(w, 1, conv->conv_groups());
      t.slices += s.slices;
      t.zero_slices += s.zero_slices;
    }
  for (int i = 0; i < 3; ++i) {
    set_skip_zero_slices(rig.model(), i % 2 == 0);
    rig.train_step();
  }
  // Alternate step by step, so both see the same machine load and the same (slowly moving)
  // sparsity.
  std::vector<double> skipping, dense;
  for (int i = 0; i < reps; ++i) {
    set_skip_zero_slices(rig.model(), true);
    skipping.push_back(time_ms(be, [&] { rig.train_step(); }));
    set_skip_zero_slices(rig.model(), false);
    dense.push_back(time_ms(be, [&] { rig.train_step(); }));
  }
  set_skip_zero_slices(rig.model(), true);
  t.skipping = summarize(std::move(skipping), batch, cpu);
  t.dense = summarize(std::move(dense), batch, cpu);
  return t;
}

}  // namespace lnx::tools
