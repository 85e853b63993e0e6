#include "compress/sparse_inference.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <exception>
#include <sstream>

#include "autograd/grad_mode.h"
#include "compress/latent_layers.h"
#include "core/cpu/phases.h"
#include "core/ops.h"
#include "core/random.h"
#include "layers/batch_norm.h"
#include "layers/conv2d.h"
#include "layers/linear.h"

namespace lnx {
namespace {

Tensor bias_param(const Module& m) {
  for (const auto& [name, v] : m.named_parameters(false))
    if (name == "bias") return v.data().contiguous();
  return Tensor();
}

// The weight a convolution computes with: decoded for a latent layer.
Tensor conv_weight(const Module& m, Conv2dParams& p, const std::string& name) {
  NoGradGuard no_grad;
  if (const auto* lc = dynamic_cast<const LatentConv2d*>(&m)) {
    p = lc->params();
    // The plan picks its kernels itself (SparseMode), and its dense baseline must stay dense.
    p.skip_zero_slices = false;
    return lc->decoded_weight().data().contiguous();
  }
  if (const auto* c = dynamic_cast<const Conv2d*>(&m)) {
    p = c->params();
    return c->weight().data().contiguous();
  }
  fail("SparsePlan: module '", name, "' is a ", m.type_name(), ", expected a convolution");
}

Tensor linear_weight(const Module& m, const std::string& name) {
  NoGradGuard no_grad;
  if (const auto* ll = dynamic_cast<const LatentLinear*>(&m))
    return ll->decoded_weight().data().contiguous();
  if (const auto* l = dynamic_cast<const Linear*>(&m)) return l->weight().data().contiguous();
  fail("SparsePlan: module '", name, "' is a ", m.type_name(), ", expected a linear layer");
}

// Eval-mode batch norm as y = scale * x + shift, per channel.
void bn_affine(const Module& m, const std::string& name, std::vector<float>& scale,
               std::vector<float>& shift) {
  const auto* bn = dynamic_cast<const BatchNorm2d*>(&m);
  LNX_CHECK(bn, "SparsePlan: module '", name, "' is a ", m.type_name(), ", expected BatchNorm2d");
  const int64_t c = bn->num_features();
  const std::vector<float> mean = bn->running_mean().to_vector<float>();
  const std::vector<float> var = bn->running_var().to_vector<float>();
  std::vector<float> gamma(static_cast<size_t>(c), 1.0f), beta(static_cast<size_t>(c), 0.0f);
  if (bn->weight().defined()) gamma = bn->weight().data().to_vector<float>();
  if (bn->bias().defined()) beta = bn->bias().data().to_vector<float>();
  scale.resize(static_cast<size_t>(c));
  shift.resize(static_cast<size_t>(c));
  for (int64_t i = 0; i < c; ++i) {
    const double s = gamma[i] / std::sqrt(static_cast<double>(var[i]) + bn->eps());
    scale[i] = static_cast<float>(s);
    shift[i] = static_cast<float>(beta[i] - mean[i] * s);
  }
}

struct Folded {
  std::string name;
  Conv2dParams p;
  std::vector<float> w;  // (O, I, K, K)
  std::vector<float> b;  // (O)
  int64_t o, i, kk;
  const float* slice(int64_t oc, int64_t ic) const { return w.data() + (oc * i + ic) * kk; }
  bool slice_zero(int64_t oc, int64_t ic) const {
    const float* s = slice(oc, ic);
    return std::all_of(s, s + kk, [](float v) { return v == 0.0f; });
  }
};

// conv then batch norm, folded. Zero slices stay exactly zero (scale times 0).
Folded fold(const Module& conv, const Module& bn, const std::string& prefix) {
  Folded f;
  f.name = prefix + "conv";
  const Tensor w = conv_weight(conv, f.p, prefix);
  LNX_CHECK(w.dim() == 4, "SparsePlan: '", prefix, "' weight has shape ", to_string(w.shape()),
            ", expected (O, I, KH, KW)");
  f.o = w.size(0), f.i = w.size(1), f.kk = w.size(2) * w.size(3);
  f.w = w.to_vector<float>();
  std::vector<float> scale, shift;
  bn_affine(bn, prefix + "bn", scale, shift);
  LNX_CHECK(static_cast<int64_t>(scale.size()) == f.o, "SparsePlan: '", prefix, "' has ", f.o,
            " output channels but its batch norm has ", scale.size());
  const Tensor cb = bias_param(conv);
  const std::vector<float> cbv = cb.defined() ? cb.to_vector<float>() : std::vector<float>();
  f.b.resize(static_cast<size_t>(f.o));
  for (int64_t oc = 0; oc < f.o; ++oc) {
    for (int64_t k = 0; k < f.i * f.kk; ++k) f.w[oc * f.i * f.kk + k] *= scale[oc];
    f.b[oc] = shift[oc] + (cbv.empty() ? 0.0f : cbv[oc] * scale[oc]);
  }
  return f;
}

bool filter_zero(const Folded& f, int64_t oc) {
  for (int64_t ic = 0; ic < f.i; ++ic)
    if (!f.slice_zero(oc, ic)) return false;
  return true;
}

std::vector<int64_t> iota_vec(int64_t n) {
  std::vector<int64_t> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[i] = i;
  return v;
}

// Weight rows `outs` and columns `ins` of f, as a (outs, ins, KH, KW) tensor.
Tensor gather_weight(const Folded& f, const std::vector<int64_t>& outs,
                     const std::vector<int64_t>& ins, int64_t k) {
  std::vector<float> w;
  w.reserve(outs.size() * ins.size() * f.kk);
  for (const int64_t oc : outs)
    for (const int64_t ic : ins) w.insert(w.end(), f.slice(oc, ic), f.slice(oc, ic) + f.kk);
  return from_vector(w,
                     {static_cast<int64_t>(outs.size()), static_cast<int64_t>(ins.size()), k, k});
}

PlanConv make_conv(const Folded& f, std::vector<int64_t> outs, std::vector<int64_t> ins, bool relu,
                   const SparsePlanOptions& opt) {
  PlanConv c;
  c.name = f.name;
  c.params = f.p;
  c.out_channels = f.o, c.in_channels = f.i;
  const int64_t k = static_cast<int64_t>(std::lround(std::sqrt(static_cast<double>(f.kk))));
  c.weight = gather_weight(f, outs, ins, k);
  std::vector<float> b;
  for (const int64_t oc : outs) b.push_back(f.b[oc]);
  c.bias = from_vector(b, {static_cast<int64_t>(outs.size())});
  c.kept_out = std::move(outs);
  c.kept_in = std::move(ins);
  c.relu = relu;
  for (const int64_t oc : c.kept_out)
    for (const int64_t ic : c.kept_in) c.nonzero_slices += f.slice_zero(oc, ic) ? 0 : 1;
  const double slots = static_cast<double>(c.kept_out.size() * c.kept_in.size());
  const double density = slots > 0 ? c.nonzero_slices / slots : 1.0;
  c.sparse_kernel = opt.mode == SparseMode::Sparse && density <= opt.max_sparse_density &&
                    f.p.groups == 1 && f.p.dilation_h == 1 && f.p.dilation_w == 1;
  if (c.sparse_kernel) c.packed = pack_sparse_conv(c.weight);
  return c;
}

bool resnet_cifar_layout(const Module& net, std::string* why) {
  auto no = [&](const std::string& reason) {
    if (why) *why = reason;
    return false;
  };
  if (net.type_name() != "ResNetCifar")
    return no("a " + net.type_name() + " network (the sparse plan handles ResNetCifar)");
  for (const auto& [name, child] : net.named_children()) {
    if (name.rfind("layer", 0) != 0) continue;
    for (const auto& [bname, block] : child->named_children())
      if (block->type_name() != "BasicBlock")
        return no("block " + name + "." + bname + " is a " + block->type_name());
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

Tensor PlanConv::bias_map(int64_t h, int64_t w) {
  if (!const_values.defined()) return Tensor();
  const auto key = std::make_pair(h, w);
  auto it = bias_maps.find(key);
  if (it == bias_maps.end()) {
    // The removed constant channels as images, through their slices: exact at the borders.
    const int64_t z = const_values.size(0);
    const Tensor img = const_values.reshape({1, z, 1, 1}).expand({1, z, h, w}).contiguous();
    const Tensor m = ops::conv2d(img, const_weight, Tensor(), params);
    it = bias_maps.emplace(key, m.reshape({m.size(1), m.size(2), m.size(3)})).first;
  }
  return it->second;
}

Tensor PlanConv::forward(const Tensor& x, const Tensor& residual) {
  if (weight.numel() == 0) {  // no channel kept on one side: the output is bias and map alone
    const int64_t kh = weight.size(2), kw = weight.size(3);
    const int64_t oh = (x.size(2) + 2 * params.pad_h - kh) / params.stride_h + 1;
    const int64_t ow = (x.size(3) + 2 * params.pad_w - kw) / params.stride_w + 1;
    const int64_t o = weight.size(0);
    Tensor y = zeros({x.size(0), o, oh, ow});
    if (o == 0) return y;
    Tensor add = bias.reshape({1, o, 1, 1});
    const Tensor map = bias_map(x.size(2), x.size(3));  // (O, OH, OW)
    if (map.defined()) add = ops::add(add, map.reshape({1, o, oh, ow}));
    y = ops::add(y, add);
    if (residual.defined()) y = ops::add(y, residual);
    return relu ? ops::clamp(y, 0.0, INFINITY) : y;
  }
  const Tensor map = bias_map(x.size(2), x.size(3));
  if (sparse_kernel) return sparse_conv2d(x, packed, bias, map, params, relu, residual);
  Tensor y = ops::conv2d(x, weight, bias, params);
  if (map.defined() || relu || residual.defined()) {
    float* yp = y.data<float>();
    const float* mp = map.defined() ? map.data<float>() : nullptr;
    const float* rp = residual.defined() ? residual.data<float>() : nullptr;
    const int64_t per = y.numel() / std::max<int64_t>(y.size(0), 1);
    const int64_t n = y.size(0);
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i)
      for (int64_t k = 0; k < per; ++k) {
        const float v = yp[i * per + k] + (mp ? mp[k] : 0.0f) + (rp ? rp[i * per + k] : 0.0f);
        yp[i * per + k] = relu ? std::max(v, 0.0f) : v;
      }
  }
  return y;
}

bool SparsePlan::supports(const Module& net, std::string* why) {
  return resnet_cifar_layout(net, why);
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
  const bool structured = opt.mode != SparseMode::Dense;
  const Folded stem = fold(*net->child("conv1"), *net->child("bn1"), "");
  plan.convs_.push_back(make_conv(stem, iota_vec(stem.o), iota_vec(stem.i), true, opt));
  plan.convs_.back().name = "conv1";
  for (const auto& [sname, stage] : net->named_children()) {
    if (sname.rfind("layer", 0) != 0) continue;
    for (const auto& [bname, block] : stage->named_children()) {
      const std::string prefix = sname + "." + bname + ".";
      const Folded f1 = fold(*block->child("conv1"), *block->child("bn1"), prefix);
      const Folded f2 = fold(*block->child("conv2"), *block->child("bn2"), prefix);
      LNX_CHECK(f2.i == f1.o, "SparsePlan: ", prefix, "conv2 reads ", f2.i,
                " channels but conv1 makes ", f1.o);
      std::vector<int64_t> kept, constant;
      for (int64_t h = 0; h < f1.o; ++h) {
        bool read = false;
        for (int64_t oc = 0; oc < f2.o && !read; ++oc) read = !f2.slice_zero(oc, h);
        const bool zero = filter_zero(f1, h);
        if (!structured || (read && !zero))
          kept.push_back(h);
        else if (read && zero && std::max(f1.b[h], 0.0f) != 0.0f)
          constant.push_back(h);
        // else: never read, or a constant zero: nothing to compute and nothing to add.
      }
      PlanConv c1 = make_conv(f1, kept, iota_vec(f1.i), true, opt);
      c1.name = prefix + "conv1";
      PlanConv c2 = make_conv(f2, iota_vec(f2.o), kept, true, opt);  // relu after the addition
      c2.name = prefix + "conv2";
      if (!constant.empty()) {
        std::vector<float> vals;
        for (const int64_t h : constant) vals.push_back(std::max(f1.b[h], 0.0f));
        c2.const_values = from_vector(vals, {static_cast<int64_t>(vals.size())});
        c2.const_weight = gather_weight(f2, iota_vec(f2.o), constant, c2.weight.size(2));
      }
      const int64_t in = f1.i, planes = f2.o;
      plan.blocks_.push_back({plan.convs_.size(), plan.convs_.size() + 1, f1.p.stride_h,
                              planes != in ? (planes - in) / 2 : 0});
      plan.convs_.push_back(std::move(c1));
      plan.convs_.push_back(std::move(c2));
    }
  }
  const Module& fc = *net->child("fc");
  plan.fc_weight_ = linear_weight(fc, "fc");
  plan.fc_bias_ = bias_param(fc);
  plan.chunk_ = opt.chunk;
  const char* mode = opt.mode == SparseMode::Dense        ? "dense"
                     : opt.mode == SparseMode::Structured ? "structured"
                                                          : "sparse";
  plan.note_ = std::string("sparse plan (") + mode + "): " + net->type_name() + ", " +
               std::to_string(plan.convs_.size()) + " convolutions, batch norm folded";
  return plan;
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
  // layer, and each thread's activations stay in its own cache. The bias maps are built first so
  // that the threads only read them.
  prepare_bias_maps(x.size(2), x.size(3));
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

void SparsePlan::prepare_bias_maps(int64_t h, int64_t w) {
  // Every convolution reads the output of the one before it in convs_ (stem, then conv1 and
  // conv2 of each block), so the input sizes follow from the first.
  for (PlanConv& c : convs_) {
    c.bias_map(h, w);
    h = (h + 2 * c.params.pad_h - c.weight.size(2)) / c.params.stride_h + 1;
    w = (w + 2 * c.params.pad_w - c.weight.size(3)) / c.params.stride_w + 1;
  }
}

Tensor SparsePlan::run_chunk(const Tensor& x) {
  Tensor cur = convs_[0].forward(x);  // (N, C, H, W) residual stream
  for (const Block& b : blocks_) {
    const Tensor h = convs_[b.conv1].forward(cur);
    // The shortcut, option A: the input subsampled and zero-padded in channels.
    const PlanConv& c2 = convs_[b.conv2];
    const Tensor shortcut = b.stride != 1 || b.pad_channels != 0
                                ? option_a_shortcut(cur, b.stride, b.pad_channels, c2.out_channels)
                                : cur;
    const Tensor y = convs_[b.conv2].forward(h, shortcut);  // relu(conv2 + shortcut)
    cur = y;
  }
  const Tensor pooled = ops::mean(cur, {2, 3});                     // (N, C)
  Tensor logits = ops::matmul(pooled, fc_weight_.transpose(0, 1));  // (N, classes)
  if (fc_bias_.defined()) logits = ops::add(logits, fc_bias_);
  return logits;
}

std::string SparsePlan::summary() const {
  std::ostringstream os;
  os << note_ << "\n";
  for (const PlanConv& c : convs_) {
    const double slots = static_cast<double>(c.kept_out.size() * c.kept_in.size());
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
