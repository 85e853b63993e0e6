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

RateModel parse_rate_model(const std::string& name) {
  if (name == "factorized") return RateModel::Factorized;
  if (name == "slice_flags") return RateModel::SliceFlags;
  fail("losses.rate_model: got '", name, "', expected factorized or slice_flags");
}

namespace {

struct RowMask {
  Tensor mask;        // (M, 1): 1 where a row of rounded values has a non-zero value, else 0
  int64_t count = 0;  // rows with a non-zero value
};

RowMask nonzero_rows(const Tensor& rounded) {  // (M, C)
  const int64_t m = rounded.size(0), c = rounded.size(1);
  const std::vector<float> v = rounded.contiguous().cpu().to_vector<float>();
  std::vector<float> mask(static_cast<size_t>(m), 0.0f);
  int64_t count = 0;
  for (int64_t i = 0; i < m; ++i)
    if (std::any_of(v.begin() + i * c, v.begin() + (i + 1) * c,
                    [](float x) { return x != 0.0f; })) {
      mask[i] = 1.0f;
      ++count;
    }
  return {from_vector(mask, {m, 1}), count};
}

// Bits of m flags, n of them 1, at their own frequency: what the flags' histogram table codes.
double flag_bits(int64_t m, int64_t n) {
  if (n == 0 || n == m) return 0;
  const double p = static_cast<double>(n) / static_cast<double>(m);
  return -static_cast<double>(m) * (p * std::log2(p) + (1 - p) * std::log2(1 - p));
}

}  // namespace

Variable group_rate_bits(const CompressionGroup& group, const Variable& values,
                         const Tensor& rounded, RateModel model) {
  const EntropyModel& prior = group.prior();
  const int64_t m = values.shape()[0], c = values.shape()[1];
  if (model == RateModel::Factorized || c == 1) return prior.bits(values);
  const RowMask rows = nonzero_rows(rounded);
  const int64_t n = rows.count;
  if (n == m) return prior.bits(values);
  // Zero slices' values are set to exactly 0 (so they get no gradient) and their bits at 0 are
  // taken off again, in the prior's own differentiable terms, so its parameters see only the
  // non-zero slices. With every slice zero, only the (zero) flag cost is left.
  const Variable kept = mul(values, Variable(rows.mask.to(values.data().device())));
  const Variable zero_row(zeros({1, c}, DType::Float32, values.data().device()));
  const Variable zero_slices = mul(prior.bits(zero_row), static_cast<double>(m - n));
  return add(sub(prior.bits(kept), zero_slices), flag_bits(m, n));
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
      const Tensor rounded = config_.rate_model == RateModel::SliceFlags
                                 ? ops::unary(UnaryOp::Round, rows.data())
                                 : Tensor();
      if (training) {  // additive uniform noise: a differentiable proxy for rounding
        rows = add(rows, Variable(uniform(rows.shape(), -0.5, 0.5, noise, rows.data().device())));
      } else {
        rows = round_ste(rows);
      }
      const Variable b = group_rate_bits(*g, rows, rounded, config_.rate_model);
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
  return std::min(plain, flag_bits(m, n) + empirical_bits(from_vector(nonzero, {n, c})));
}

}  // namespace

CompressionReport compression_report(const GroupSet& groups, RateModel model) {
  NoGradGuard ng;
  CompressionReport r;
  for (const auto& g : groups.groups()) {
    GroupReport gr;
    gr.name = g->name();
    const Tensor rows = ops::unary(UnaryOp::Round, g->latent_rows().data());  // (M, C)
    gr.slices = rows.size(0);
    gr.elements = rows.numel();
    gr.prior_bits = model == RateModel::Factorized
                        ? ops::sum(g->prior().bits_per_element(rows)).item()
                        : group_rate_bits(*g, Variable(rows), rows, model).item();
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
