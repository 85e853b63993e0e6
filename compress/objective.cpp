#include "compress/objective.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "compress/latent_layers.h"
#include "core/ops.h"

namespace lnx {

bool group_selected(const std::vector<std::string>& entries, const std::string& name) {
  for (const std::string& e : entries)
    if (e == name || (e == "dense" && name.rfind("dense", 0) == 0)) return true;
  return false;
}

LilnetxObjective::LilnetxObjective(const GroupSet& groups, ObjectiveConfig config)
    : groups_(groups), config_(std::move(config)) {
  const ObjectiveConfig& c = config_;
  LNX_CHECK(c.rate_weight >= 0, "losses.reg_weight: got ", c.rate_weight,
            ", expected a non-negative weight");
  LNX_CHECK(c.slice_weight >= 0, "losses.gd.weights: got ", c.slice_weight,
            ", expected a non-negative weight");
  LNX_CHECK(c.decay_weight >= 0, "losses.wd.weights: got ", c.decay_weight,
            ", expected a non-negative weight");
  slice_priors_.push_back(make_sparsity_prior(c.slice_prior));
  if (c.slice_l1) slice_priors_.push_back(make_sparsity_prior("l1"));
  decay_ = make_sparsity_prior("l2_decay");
  for (const auto& g : groups_.groups()) total_slices_ += g->num_slices();
  LNX_CHECK(total_slices_ > 0, "LilNetX objective: the network has no latent slices");
}

ObjectiveTerms LilnetxObjective::compute(bool training, double rate_scale, Generator* noise) const {
  ObjectiveTerms t;
  std::vector<Variable> terms;
  const double rate_w = config_.rate_weight * rate_scale;
  if (rate_w > 0) {
    Variable bits;
    for (const auto& g : groups_.groups()) {
      Variable rows = g->latent_rows();  // (slices, slice_size)
      if (training) {  // additive uniform noise: a differentiable proxy for rounding
        rows = add(rows, Variable(uniform(rows.shape(), -0.5, 0.5, noise, rows.data().device())));
      } else {
        rows = round_ste(rows);
      }
      const Variable b = g->prior().bits(rows);
      bits = bits.defined() ? add(bits, b) : b;
    }
    t.bits = bits.item();
    const Variable rate = mul(bits, rate_w / static_cast<double>(total_slices_));
    t.rate_loss = rate.item();
    terms.push_back(rate);
  }
  for (const auto& g : groups_.groups()) {
    for (LatentLayer* layer : g->layers()) {
      if (config_.slice_weight > 0 && group_selected(config_.slice_groups, g->name()))
        for (const auto& prior : slice_priors_) {
          const Variable p = mul(prior->penalty(layer->latent()), config_.slice_weight);
          t.slice_loss += p.item();
          terms.push_back(p);
        }
      if (config_.decay_weight > 0 && group_selected(config_.decay_groups, g->name())) {
        const Variable p = mul(decay_->penalty(layer->latent()), config_.decay_weight);
        t.decay_loss += p.item();
        terms.push_back(p);
      }
    }
  }
  for (const Variable& v : terms) t.total = t.total.defined() ? add(t.total, v) : v;
  return t;
}

namespace {

// Entropy coded per channel with tables fitted to the values present, in bits.
double empirical_bits(const Tensor& rounded_rows) {  // (M, C) integers in float32
  const int64_t m = rounded_rows.size(0), c = rounded_rows.size(1);
  const std::vector<float> v = rounded_rows.to_vector<float>();
  double bits = 0;
  for (int64_t ch = 0; ch < c; ++ch) {
    std::map<float, int64_t> hist;
    for (int64_t i = 0; i < m; ++i) hist[v[i * c + ch]]++;
    for (const auto& [value, count] : hist)
      bits -= static_cast<double>(count) * std::log2(static_cast<double>(count) / m);
  }
  return bits;
}

// The same coded as .lnx version 3 codes it when that is smaller: a flag per row (slice), then
// per-channel entropy over the non-zero rows only. Single-value rows gain nothing from flags.
double slice_flag_bits(const Tensor& rounded_rows) {  // (M, C)
  const int64_t m = rounded_rows.size(0), c = rounded_rows.size(1);
  const double plain = empirical_bits(rounded_rows);
  if (c == 1) return plain;
  const std::vector<float> v = rounded_rows.to_vector<float>();
  std::vector<float> nonzero;
  for (int64_t i = 0; i < m; ++i) {
    const auto row = v.begin() + i * c;
    if (std::any_of(row, row + c, [](float x) { return x != 0.0f; }))
      nonzero.insert(nonzero.end(), row, row + c);
  }
  const auto n = static_cast<int64_t>(nonzero.size()) / c;
  if (n == 0 || n == m) return plain;
  const double p = static_cast<double>(n) / static_cast<double>(m);
  const double flags = -static_cast<double>(m) * (p * std::log2(p) + (1 - p) * std::log2(1 - p));
  return std::min(plain, flags + empirical_bits(from_vector(nonzero, {n, c})));
}

}  // namespace

CompressionReport compression_report(const GroupSet& groups) {
  NoGradGuard ng;
  CompressionReport r;
  for (const auto& g : groups.groups()) {
    GroupReport gr;
    gr.name = g->name();
    const Tensor rows = ops::unary(UnaryOp::Round, g->latent_rows().data());  // (M, C)
    gr.slices = rows.size(0);
    gr.elements = rows.numel();
    gr.prior_bits = ops::sum(g->prior().bits_per_element(rows)).item();
    gr.empirical_bits = empirical_bits(rows);
    gr.slice_flag_bits = slice_flag_bits(rows);
    r.prior_bytes += gr.prior_bits / 8;
    r.empirical_bytes += gr.empirical_bits / 8;
    r.slice_flag_bytes += gr.slice_flag_bits / 8;
    r.groups.push_back(gr);
    for (LatentLayer* layer : g->layers()) {
      if (layer->latent().dim() != 4) continue;  // sparsity and FLOPs over convolutions
      const Tensor q = ops::unary(UnaryOp::Round, layer->latent().data());
      r.latents += measure_sparsity(q, layer->output_pixels(), layer->conv_groups());
      r.weights += measure_sparsity(layer->decoded_weight().data(), layer->output_pixels(),
                                    layer->conv_groups());
    }
  }
  return r;
}

}  // namespace lnx
