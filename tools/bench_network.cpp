#include "tools/bench_network.h"

#include <algorithm>
#include <chrono>
#include <vector>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "core/allocator.h"
#include "core/random.h"
#include "layers/optim/adam.h"
#include "models/registry.h"

namespace lnx::tools {

StepTiming bench_resnet20(int batch, int width, const std::string& mode, int reps) {
  LNX_CHECK(mode == "train" || mode == "infer", "bench resnet20: mode '", mode,
            "', expected train or infer");
  Generator gen(0);
  const ModulePtr model = build_float_model({"resnet20", 10, static_cast<double>(width)}, &gen);
  AdamOptions ao;
  ao.lr = 0.01;
  Adam opt(model->parameters(), ao);
  const Tensor x = normal({batch, 3, 32, 32}, 0, 1, &gen);  // (N, 3, 32, 32)
  std::vector<int64_t> y(batch);
  for (auto& v : y) v = static_cast<int64_t>(gen.next_u64() % 10);
  const Tensor labels = from_vector(y, {batch});

  auto train_step = [&] {
    opt.zero_grad();
    const Variable loss = cross_entropy(model->forward(Variable(x)), labels);
    loss.backward();
    opt.step();
  };
  auto infer = [&] {
    NoGradGuard ng;
    (void)model->forward(Variable(x));
  };
  if (mode == "infer") model->eval();
  for (int i = 0; i < 5; ++i) mode == "train" ? train_step() : infer();
  cpu_allocator_reset_peak();
  std::vector<double> ms;
  for (int i = 0; i < reps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    mode == "train" ? train_step() : infer();
    ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  StepTiming t;
  t.median_ms = ms[ms.size() / 2];
  t.min_ms = ms.front();
  t.max_ms = ms.back();
  t.images_per_second = batch / t.median_ms * 1e3;
  t.peak_mib = static_cast<double>(cpu_allocator_stats().peak_bytes_in_use) / (1 << 20);
  return t;
}

}  // namespace lnx::tools
