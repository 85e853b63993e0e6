#include "compress/sparse_inference.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <exception>
#include <sstream>

#include "autograd/grad_mode.h"
#include "core/cpu/phases.h"
#include "core/ops.h"
#include "core/ops_nn.h"
#include "core/random.h"
#include "layers/activation.h"
#include "layers/batch_norm.h"
#include "layers/dropout.h"
#include "layers/pooling.h"

namespace lnx {
namespace {

// Stages of BasicBlock or Bottleneck blocks.
bool resnet_layout(const Module& net, std::string* why) {
  for (const auto& [name, child] : net.named_children()) {
    if (name.rfind("layer", 0) != 0) continue;
    for (const auto& [bname, block] : child->named_children())
      if (block->type_name() != "BasicBlock" && block->type_name() != "Bottleneck") {
        if (why) *why = "block " + name + "." + bname + " is a " + block->type_name();
        return false;
      }
  }
  return true;
}

// features: a conv-bn-relu6 stem, inverted residuals, a conv-bn-relu6 1x1 convolution;
// classifier: dropout and one linear layer. build_mobilenet checks the insides.
bool mobilenet_layout(const Module& net, std::string* why) {
  const auto& features = net.child("features")->named_children();
  for (size_t i = 0; i < features.size(); ++i) {
    const std::string& type = features[i].second->type_name();
    const bool end = i == 0 || i + 1 == features.size();
    if (type != (end ? "Sequential" : "InvertedResidual")) {
      if (why) *why = "features." + features[i].first + " is a " + type;
      return false;
    }
  }
  if (features.size() < 3) {
    if (why) *why = "features with " + std::to_string(features.size()) + " parts";
    return false;
  }
  return true;
}

// features: convolutions, batch norms, relus and max pools; classifier: linear layers, relus and
// dropouts. build_vgg checks the order.
bool vgg_layout(const Module& net, std::string* why) {
  auto feature = [](const Module& m) {
    return is_conv(m) || is<BatchNorm2d>(m) || is<ReLU>(m) || is<MaxPool2d>(m);
  };
  auto classifier = [](const Module& m) { return is_linear(m) || is<ReLU>(m) || is<Dropout>(m); };
  for (const char* section : {"features", "classifier"})
    for (const auto& [name, m] : net.child(section)->named_children())
      if (!(section == std::string("features") ? feature(*m) : classifier(*m))) {
        if (why) *why = std::string(section) + "." + name + " is a " + m->type_name();
        return false;
      }
  return true;
}

// The shortcut of option A: x (N, C, H, W) subsampled by `stride` and zero-padded to `planes`
// channels, `pad` on the low side.
Tensor option_a_shortcut(const Tensor& x, int64_t stride, int64_t pad, int64_t planes) {
  const int64_t n = x.size(0), cin = x.size(1), ih = x.size(2), iw = x.size(3);
  const int64_t oh = (ih - 1) / stride + 1, ow = (iw - 1) / stride + 1;
  Tensor shortcut = zeros({n, planes, oh, ow});
  float* sp = shortcut.data<float>();
  const float* xp = x.data<float>();
  for (int64_t i = 0; i < n; ++i)
    for (int64_t ic = 0; ic < cin; ++ic) {
      float* so = sp + (i * planes + ic + pad) * oh * ow;
      const float* xo = xp + (i * cin + ic) * ih * iw;
      for (int64_t r = 0; r < oh; ++r, so += ow, xo += stride * iw)
        subsample_row(xo, ow, stride, so);
    }
  return shortcut;
}

}  // namespace

bool SparsePlan::supports(const Module& net, std::string* why) {
  if (net.type_name() == "ResNetCifar" || net.type_name() == "ResNet")
    return resnet_layout(net, why);
  if (net.type_name() == "VGG") return vgg_layout(net, why);
  if (net.type_name() == "MobileNetV2") return mobilenet_layout(net, why);
  if (why)
    *why = "a " + net.type_name() +
           " network (the sparse plan handles ResNetCifar, ResNet, VGG and MobileNetV2)";
  return false;
}

SparsePlan SparsePlan::build(const ModulePtr& net, const SparsePlanOptions& opt) {
  LNX_CHECK(net != nullptr, "SparsePlan::build: network is null");
  SparsePlan plan;
  std::string why;
  if (!supports(*net, &why)) {
    plan.fallback_ = net;
    plan.note_ = "sparse plan: dense fallback (module forward in eval mode) for " + why;
    return plan;
  }
  if (net->type_name() == "VGG")
    plan.build_vgg(*net, opt);
  else if (net->type_name() == "MobileNetV2")
    plan.build_mobilenet(*net, opt);
  else
    plan.build_resnet(*net, opt);
  plan.chunk_ = opt.chunk;
  const char* mode = opt.mode == SparseMode::Dense        ? "dense"
                     : opt.mode == SparseMode::Structured ? "structured"
                                                          : "sparse";
  plan.note_ = std::string("sparse plan (") + mode + "): " + net->type_name() + ", " +
               std::to_string(plan.convs_.size()) + " convolutions, batch norm folded";
  return plan;
}

Tensor SparsePlan::Dense::forward(const Tensor& x) const {
  Tensor y = weight.size(1) > 0 ? ops::matmul(x, weight.transpose(0, 1))
                                : zeros({x.size(0), weight.size(0)});  // nothing read
  if (bias.defined()) y = ops::add(y, bias);
  return relu ? ops::clamp(y, 0.0, INFINITY) : y;
}

Tensor SparsePlan::run(const Tensor& x) {
  if (fallback_) {
    NoGradGuard no_grad;
    const bool was_training = fallback_->is_training();
    fallback_->eval();
    Tensor y = fallback_->forward(Variable(x)).data();
    fallback_->train(was_training);
    return y;
  }
  LNX_CHECK(x.defined() && x.dim() == 4 && x.device().is_cpu() && x.dtype() == DType::Float32,
            "SparsePlan::run: input must be a float32 CPU tensor (N, C, H, W), got shape ",
            x.defined() ? to_string(x.shape()) : std::string("undefined"));
  LNX_CHECK(x.size(1) == convs_[0].in_channels, "SparsePlan::run: input has ", x.size(1),
            " channels, the network expects ", convs_[0].in_channels, " (input shape ",
            to_string(x.shape()), ")");
  if (chunk_ <= 0 || x.size(0) <= chunk_) return run_chunk(x.contiguous());
  // Chunks run in parallel, one thread each through the whole network: no fork and join per
  // layer, and each thread's activations stay in its own cache.
  const int64_t n = x.size(0), chunks = (n + chunk_ - 1) / chunk_;
  std::vector<Tensor> parts(static_cast<size_t>(chunks));
  std::exception_ptr error;
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t k = 0; k < chunks; ++k) {
    omp_set_num_threads(1);  // the kernels inside take their one-thread paths
    try {
      parts[static_cast<size_t>(k)] =
          run_chunk(x.slice(0, k * chunk_, std::min((k + 1) * chunk_, n)).contiguous());
    } catch (...) {
#pragma omp critical(sparse_plan_error)
      if (!error) error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);
  return ops::cat(parts, 0);
}

Tensor SparsePlan::run_chunk(const Tensor& x) {
  Tensor cur;  // (N, C, H, W)
  if (topology_ == Topology::ResNet) {
    cur = convs_[0].forward(x);  // the residual stream
    if (pools_[0]) cur = ops::max_pool2d(cur, *pools_[0]).y;
    for (const Block& b : blocks_) {
      Tensor h = cur;
      for (size_t k = 0; k + 1 < b.branch.size(); ++k) h = convs_[b.branch[k]].forward(h);
      const PlanConv& last = convs_[b.branch.back()];
      Tensor shortcut = cur;
      if (!b.shortcut)
        shortcut = Tensor();
      else if (b.projection)
        shortcut = convs_[*b.projection].forward(cur);
      else if (b.stride != 1 || b.pad_channels != 0)
        shortcut = option_a_shortcut(cur, b.stride, b.pad_channels, last.out_channels);
      cur = convs_[b.branch.back()].forward(h, shortcut);  // relu(branch + shortcut)
    }
    for (const size_t i : tail_) cur = convs_[i].forward(cur);
    cur = ops::mean(cur, {2, 3});  // (N, C)
  } else {
    cur = x;
    for (size_t i = 0; i < convs_.size(); ++i) {
      cur = convs_[i].forward(cur);
      if (pools_[i]) cur = ops::max_pool2d(cur, *pools_[i]).y;
    }
    LNX_CHECK(cur.size(2) == 1 && cur.size(3) == 1, "SparsePlan::run: the features end at ",
              cur.size(2), "x", cur.size(3), " for input ", to_string(x.shape()),
              "; expected 1x1 (32x32 inputs)");
    cur = cur.reshape({cur.size(0), cur.size(1)});  // (N, C)
  }
  for (const Dense& d : head_) cur = d.forward(cur);
  return cur;  // (N, classes)
}

std::string SparsePlan::summary() const {
  std::ostringstream os;
  os << note_ << "\n";
  for (const PlanConv& c : convs_) {
    // A depthwise convolution has one slice per channel.
    const double slots = static_cast<double>(
        c.params.groups > 1 ? c.kept_out.size() : c.kept_out.size() * c.kept_in.size());
    os << "  " << c.name << ": out " << c.kept_out.size() << "/" << c.out_channels << ", in "
       << c.kept_in.size() << "/" << c.in_channels << ", slice density "
       << (slots > 0 ? c.nonzero_slices / slots : 0.0)
       << (c.const_values.defined() ? ", constant inputs " + std::to_string(c.const_values.size(0))
                                    : std::string())
       << ", " << (c.sparse_kernel ? "sparse" : "dense") << " kernel\n";
  }
  return os.str();
}

void zero_random_slices(const Tensor& w, double fraction, Generator& gen) {
  LNX_CHECK(w.dim() == 4 && w.is_contiguous() && w.device().is_cpu(),
            "zero_random_slices: expected a contiguous (O, I, KH, KW) CPU weight, got shape ",
            to_string(w.shape()));
  const int64_t slices = w.size(0) * w.size(1), kk = w.size(2) * w.size(3);
  const std::vector<float> u = uniform({slices}, 0.0, 1.0, &gen).to_vector<float>();
  float* p = w.data<float>();
  for (int64_t s = 0; s < slices; ++s)
    if (u[s] < fraction) std::fill(p + s * kk, p + (s + 1) * kk, 0.0f);
  w.bump_version();
}

}  // namespace lnx
