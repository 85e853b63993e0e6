#include "compress/plan_conv.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <mutex>

#include "autograd/grad_mode.h"
#include "compress/latent_layers.h"
#include "core/batch_norm_affine.h"
#include "core/ops.h"
#include "layers/batch_norm.h"
#include "layers/conv2d.h"
#include "layers/linear.h"

namespace lnx {
namespace {

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
    const ChannelAffine a = batch_norm_affine(gamma[i], beta[i], mean[i], var[i], bn->eps());
    scale[i] = a.scale;
    shift[i] = a.shift;
  }
}

}  // namespace

bool is_conv(const Module& m) {
  return dynamic_cast<const LatentConv2d*>(&m) || dynamic_cast<const Conv2d*>(&m);
}

bool is_linear(const Module& m) {
  return dynamic_cast<const LatentLinear*>(&m) || dynamic_cast<const Linear*>(&m);
}

Tensor bias_param(const Module& m) {
  for (const auto& [name, v] : m.named_parameters(false))
    if (name == "bias") return v.data().contiguous();
  return Tensor();
}

// The weight a convolution computes with: decoded for a latent layer.
Tensor linear_weight(const Module& m, const std::string& name) {
  NoGradGuard no_grad;
  if (const auto* ll = dynamic_cast<const LatentLinear*>(&m))
    return ll->decoded_weight().data().contiguous();
  if (const auto* l = dynamic_cast<const Linear*>(&m)) return l->weight().data().contiguous();
  fail("SparsePlan: module '", name, "' is a ", m.type_name(), ", expected a linear layer");
}

Folded fold(const Module& conv, const std::string& name, const Module* bn,
            const std::string& bn_name) {
  Folded f;
  f.name = name;
  const Tensor w = conv_weight(conv, f.p, name);
  LNX_CHECK(w.dim() == 4, "SparsePlan: '", name, "' weight has shape ", to_string(w.shape()),
            ", expected (O, I, KH, KW)");
  f.o = w.size(0), f.i = w.size(1), f.kk = w.size(2) * w.size(3);
  f.w = w.to_vector<float>();
  std::vector<float> scale(static_cast<size_t>(f.o), 1.0f), shift(static_cast<size_t>(f.o), 0.0f);
  if (bn) bn_affine(*bn, bn_name, scale, shift);
  LNX_CHECK(static_cast<int64_t>(scale.size()) == f.o, "SparsePlan: '", name, "' has ", f.o,
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

bool input_read(const Folded& f, int64_t ic) {
  for (int64_t oc = 0; oc < f.o; ++oc)
    if (!f.slice_zero(oc, ic)) return true;
  return false;
}

ChannelSplit split_channels(const Folded& f, const std::function<bool(int64_t)>& read,
                            bool structured, float relu_max) {
  ChannelSplit s;
  for (int64_t h = 0; h < f.o; ++h) {
    if (!structured) {
      s.kept.push_back(h);
      continue;
    }
    if (!read(h)) continue;
    if (!filter_zero(f, h)) {
      s.kept.push_back(h);
    } else if (const float v = std::min(std::max(f.b[h], 0.0f), relu_max); v != 0.0f) {
      s.constant.push_back(h);
      s.const_values.push_back(v);
    }
  }
  return s;
}

Tensor gather_weight(const Folded& f, const std::vector<int64_t>& outs,
                     const std::vector<int64_t>& ins, int64_t k) {
  std::vector<float> w;
  w.reserve(outs.size() * ins.size() * f.kk);
  for (const int64_t oc : outs)
    for (const int64_t ic : ins) w.insert(w.end(), f.slice(oc, ic), f.slice(oc, ic) + f.kk);
  return from_vector(w,
                     {static_cast<int64_t>(outs.size()), static_cast<int64_t>(ins.size()), k, k});
}

void add_constant_inputs(PlanConv& c, const Folded& f, const ChannelSplit& in) {
  if (in.constant.empty()) return;
  c.const_values = from_vector(in.const_values, {static_cast<int64_t>(in.constant.size())});
  c.const_weight = gather_weight(f, c.kept_out, in.constant, c.weight.size(2));
}

PlanConv make_depthwise(const Folded& f, std::vector<int64_t> kept, bool relu) {
  LNX_CHECK(f.i == 1 && f.p.groups == f.o, "SparsePlan: '", f.name, "' is not depthwise (", f.o,
            " outputs in ", f.p.groups, " groups of ", f.i, " inputs)");
  const int64_t k = static_cast<int64_t>(std::lround(std::sqrt(static_cast<double>(f.kk))));
  PlanConv c;
  c.name = f.name;
  c.params = f.p;
  c.params.groups = static_cast<int64_t>(kept.size());
  c.out_channels = c.in_channels = f.o;
  c.weight = gather_weight(f, kept, {0}, k);
  std::vector<float> b;
  for (const int64_t h : kept) {
    b.push_back(f.b[h]);
    c.nonzero_slices += f.slice_zero(h, 0) ? 0 : 1;
  }
  c.bias = from_vector(b, {static_cast<int64_t>(kept.size())});
  c.kept_in = kept;
  c.kept_out = std::move(kept);
  c.relu = relu;
  return c;
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

Tensor PlanConv::bias_map(int64_t h, int64_t w) {
  if (!const_values.defined()) return Tensor();
  // The chunks of a batch run through the plan on several threads: the first to need a size
  // builds its map, under the lock.
  static std::mutex mutex;
  const std::lock_guard<std::mutex> lock(mutex);
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
    return relu ? ops::clamp(y, 0.0, relu_max) : y;
  }
  const Tensor map = bias_map(x.size(2), x.size(3));
  if (sparse_kernel) {
    const Tensor y = sparse_conv2d(x, packed, bias, map, params, relu, residual);
    return relu && std::isfinite(relu_max) ? ops::clamp(y, 0.0, relu_max) : y;
  }
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
        yp[i * per + k] = relu ? std::min(std::max(v, 0.0f), relu_max) : v;
      }
  }
  return y;
}

}  // namespace lnx
