#include "compress/lnx_tables.h"

#include <algorithm>
#include <cmath>

#include "autograd/grad_mode.h"
#include "compress/latent_layers.h"
#include "compress/range_coder.h"
#include "core/error.h"
#include "core/ops.h"
#include "layers/optim/adam.h"

namespace lnx {
namespace {

// Tables wider than this code the outliers through the escape instead.
constexpr int64_t kMaxTableSpan = 4096;

// [lo, hi] covering the channel's values, trimmed around the median when too wide.
std::pair<int32_t, int32_t> channel_range(std::vector<int32_t> v) {
  std::sort(v.begin(), v.end());
  int64_t lo = v.front(), hi = v.back();
  if (hi - lo + 1 > kMaxTableSpan) {
    const int64_t median = v[v.size() / 2];
    lo = std::max(lo, median - kMaxTableSpan / 2);
    hi = std::min(hi, lo + kMaxTableSpan - 1);
  }
  return {static_cast<int32_t>(lo), static_cast<int32_t>(hi)};
}

double table_cost(const FrequencyTable& t, const std::vector<int32_t>& values) {
  double bits = 0;
  for (int32_t v : values) bits += t.cost_bits(v);
  return bits;
}

}  // namespace

std::vector<int32_t> latent_integers(const Tensor& latent, const std::string& name) {
  const std::vector<float> v = latent.contiguous().to_vector<float>();
  std::vector<int32_t> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    const float r = std::nearbyint(v[i]);
    LNX_CHECK(std::isfinite(r) && r >= -2147483648.0f && r < 2147483648.0f,
              "lnx compress: latent '", name, "' element ", i, " is ", v[i],
              ", outside the int32 range a file can code");
    out[i] = static_cast<int32_t>(r);
  }
  return out;
}

std::vector<int32_t> group_integer_rows(const CompressionGroup& group) {
  std::vector<int32_t> rows;
  for (const LatentLayer* layer : group.layers()) {
    const std::vector<int32_t> q = latent_integers(layer->latent().data(), group.name());
    rows.insert(rows.end(), q.begin(), q.end());
  }
  return rows;
}

std::vector<std::vector<double>> prior_pmf(const EntropyModel& prior, int32_t lo, int32_t hi) {
  const int64_t c = prior.channels(), n = static_cast<int64_t>(hi) - lo + 1;
  LNX_CHECK(n >= 1 && n <= kMaxTableSpan, "prior_pmf: range [", lo, ", ", hi, "] has ", n,
            " values, expected 1 to ", kMaxTableSpan);
  std::vector<float> x(static_cast<size_t>((n + 1) * c));  // (n + 1, C): the half-integer edges
  for (int64_t j = 0; j <= n; ++j)
    for (int64_t ch = 0; ch < c; ++ch) x[j * c + ch] = static_cast<float>(lo + j - 0.5);
  NoGradGuard ng;
  const std::vector<float> f = prior.cdf(from_vector(x, {n + 1, c})).to_vector<float>();
  std::vector<std::vector<double>> pmf(static_cast<size_t>(c), std::vector<double>(n));
  for (int64_t ch = 0; ch < c; ++ch)
    for (int64_t j = 0; j < n; ++j)
      pmf[ch][j] = std::max(0.0, static_cast<double>(f[(j + 1) * c + ch]) - f[j * c + ch]);
  return pmf;
}

GroupTables build_group_tables(const std::vector<int32_t>& rows, int64_t channels,
                               const EntropyModel* prior, TableSource source) {
  LNX_CHECK(channels >= 1 && !rows.empty() && rows.size() % channels == 0,
            "build_group_tables: ", rows.size(), " values do not form rows of ", channels);
  LNX_CHECK(source != TableSource::Prior || prior,
            "build_group_tables: prior tables asked for "
            "but no prior given");
  if (prior)
    LNX_CHECK(prior->channels() == channels, "build_group_tables: the prior has ",
              prior->channels(), " channels, the latents ", channels);
  const int64_t m = static_cast<int64_t>(rows.size()) / channels;
  GroupTables g;
  for (int64_t ch = 0; ch < channels; ++ch) {
    std::vector<int32_t> v(static_cast<size_t>(m));
    for (int64_t i = 0; i < m; ++i) v[i] = rows[i * channels + ch];
    const auto [lo, hi] = channel_range(v);
    struct Candidate {
      FrequencyTable table;
      LnxTableKind kind;
      double coded, stored;
    };
    std::vector<Candidate> cands;
    if (source != TableSource::Histogram && prior) {
      FrequencyTable t = FrequencyTable::from_pmf(lo, prior_pmf(*prior, lo, hi)[ch]);
      const double coded = table_cost(t, v);
      cands.push_back({std::move(t), LnxTableKind::Prior, coded, 0});
    }
    if (source != TableSource::Prior) {
      FrequencyTable t = FrequencyTable::from_values(v.data(), m);
      const double coded = table_cost(t, v);
      cands.push_back({std::move(t), LnxTableKind::Histogram, coded, 0});
    }
    for (Candidate& c : cands) c.stored = 8.0 * static_cast<double>(lnx_table_bytes(c.table));
    const auto best =
        std::min_element(cands.begin(), cands.end(), [](const Candidate& a, const Candidate& b) {
          return a.coded + a.stored < b.coded + b.stored;
        });
    g.coded_bits += best->coded;
    g.table_bits += best->stored;
    g.kinds.push_back(best->kind);
    g.tables.push_back(std::move(best->table));
  }
  return g;
}

std::optional<OccupancyTables> build_occupancy_tables(const std::vector<int32_t>& rows,
                                                      int64_t channels, const EntropyModel* prior,
                                                      TableSource source) {
  LNX_CHECK(channels >= 1 && rows.size() % channels == 0, "build_occupancy_tables: ", rows.size(),
            " values do not form rows of ", channels);
  if (channels == 1) return std::nullopt;
  std::vector<int32_t> flags, nonzero_rows;  // (M,), (M', C)
  for (size_t r = 0; r < rows.size(); r += channels) {
    const bool nonzero = slice_nonzero(rows.data() + r, static_cast<size_t>(channels));
    flags.push_back(nonzero ? 1 : 0);
    if (nonzero)
      nonzero_rows.insert(nonzero_rows.end(), rows.begin() + static_cast<int64_t>(r),
                          rows.begin() + static_cast<int64_t>(r) + channels);
  }
  if (nonzero_rows.empty() || nonzero_rows.size() == rows.size()) return std::nullopt;
  OccupancyTables o;
  o.values = build_group_tables(nonzero_rows, channels, prior, source);
  o.occupancy = FrequencyTable::from_values(flags.data(), static_cast<int64_t>(flags.size()));
  o.flag_bits = table_cost(o.occupancy, flags);
  o.flag_table_bits = 8.0 * static_cast<double>(lnx_table_bytes(o.occupancy));
  return o;
}

RefitResult refit_prior(CompressionGroup& group, int steps, double lr) {
  LNX_CHECK(steps >= 0, "refit_prior: steps is ", steps, ", expected >= 0");
  const std::vector<int32_t> q = group_integer_rows(group);
  const int64_t c = group.slice_size();
  std::vector<float> qf(q.begin(), q.end());
  const Variable rows(from_vector(qf, {static_cast<int64_t>(q.size()) / c, c}));  // (M, C)
  EntropyModel& prior = group.prior();
  RefitResult r;
  {
    NoGradGuard ng;
    r.bits_before = ops::sum(prior.bits_per_element(rows.data())).item();
  }
  // Training needs the graph even when the caller evaluates under a NoGradGuard.
  struct GradOn {
    bool prev = grad_enabled();
    GradOn() { set_grad_enabled(true); }
    ~GradOn() { set_grad_enabled(prev); }
  } grad_on;
  AdamOptions o;
  o.lr = lr;
  Adam adam(prior.parameters(), o);
  for (int s = 0; s < steps; ++s) {
    adam.zero_grad();
    Variable bits = prior.bits(rows);
    bits.backward();
    adam.step();
  }
  adam.zero_grad();
  NoGradGuard ng;
  r.bits_after = ops::sum(prior.bits_per_element(rows.data())).item();
  return r;
}

}  // namespace lnx
