#include "tools/bench_network.h"

#include <algorithm>
#include <chrono>
#include <vector>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "compress/objective.h"
#include "core/allocator.h"
#include "core/backend.h"
#include "core/random.h"
#include "layers/optim/adam.h"
#include "models/registry.h"
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

}  // namespace

StepTiming bench_resnet20(int batch, int width, const std::string& mode, int reps, bool lilnetx,
                          const std::string& device) {
  LNX_CHECK(mode == "train" || mode == "infer", "bench resnet20: mode '", mode,
            "', expected train or infer");
  const Device dev = Device::parse(device);
  Backend& be = backend(dev);
  Generator gen(0);
  const ModelSpec spec{"resnet20", 10, static_cast<double>(width)};
  ModulePtr model;
  std::unique_ptr<LilnetxObjective> objective;
  std::unique_ptr<Adam> prior_opt;
  std::vector<Variable> params;
  if (lilnetx) {
    CompressedNetwork net = build_compressed_model(spec, latent_init_for(spec, 3.0), &gen);
    model = net.net;
    model->to(dev);      // the groups are the model's children: they move with it
    ObjectiveConfig oc;  // the peer's: conv3x3 slice l2, decay on conv3x3 and dense
    oc.decay_groups = {"conv3x3", "dense"};
    objective = std::make_unique<LilnetxObjective>(*net.groups, oc);
    std::vector<Variable> priors;
    for (const auto& g : net.groups->groups())
      for (const auto& [n, p] : g->prior().named_parameters()) priors.push_back(p);
    for (const auto& [n, p] : model->named_parameters())
      if (n.find(".prior.") == std::string::npos) params.push_back(p);
    AdamOptions po;
    po.lr = 1e-4;
    prior_opt = std::make_unique<Adam>(priors, po);
    // Keep the groups alive with the model: they are its child "groups".
  } else {
    model = build_float_model(spec, &gen);
    model->to(dev);
    params = model->parameters();
  }
  AdamOptions ao;
  ao.lr = 0.01;
  Adam opt(params, ao);
  const Tensor x = normal({batch, 3, 32, 32}, 0, 1, &gen).to(dev);  // (N, 3, 32, 32)
  std::vector<int64_t> y(batch);
  for (auto& v : y) v = static_cast<int64_t>(gen.next_u64() % 10);
  const Tensor labels = from_vector(y, {batch}).to(dev);

  auto train_step = [&] {
    opt.zero_grad();
    if (prior_opt) prior_opt->zero_grad();
    Variable loss = cross_entropy(model->forward(Variable(x)), labels);
    if (objective) loss = add(loss, objective->compute(true, 1.0, &gen).total);
    loss.backward();
    opt.step();
    if (prior_opt) prior_opt->step();
  };
  auto infer = [&] {
    NoGradGuard ng;
    (void)model->forward(Variable(x));
  };
  if (mode == "infer") model->eval();
  for (int i = 0; i < 5; ++i) mode == "train" ? train_step() : infer();
  be.synchronize();
  reset_peak(dev);
  std::vector<double> ms;
  for (int i = 0; i < reps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    mode == "train" ? train_step() : infer();
    be.synchronize();  // GPU kernels are queued: the step ends when they have run
    ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  StepTiming t;
  t.median_ms = ms[ms.size() / 2];
  t.min_ms = ms.front();
  t.max_ms = ms.back();
  t.images_per_second = batch / t.median_ms * 1e3;
  t.peak_mib = static_cast<double>(peak_bytes(dev)) / (1 << 20);
  return t;
}

}  // namespace lnx::tools
