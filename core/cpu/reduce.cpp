// Reductions over any set of axes, and argmax.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/cpu/cpu_backend.h"
#include "core/cpu/strided.h"

namespace lnx {
namespace {

struct SumAcc {
  double init() const { return 0.0; }
  double row(const float* p, int64_t n, int64_t st) const {
    // Eight independent double lanes: a single float accumulator lost ~1e-5 relative over a
    // million elements and serialized on the add latency (it cannot vectorize without
    // reassociation); separate lanes vectorize as they are and keep sums exact to float32.
    constexpr int64_t kLanes = 8;
    double lane[kLanes] = {};
    int64_t i = 0;
    if (st == 1) {
      for (; i + kLanes <= n; i += kLanes)
        for (int64_t k = 0; k < kLanes; ++k) lane[k] += p[i + k];
    } else {
      for (; i + kLanes <= n; i += kLanes)
        for (int64_t k = 0; k < kLanes; ++k) lane[k] += p[(i + k) * st];
    }
    for (; i < n; ++i) lane[i % kLanes] += p[i * st];
    double acc = 0.0;
    for (double v : lane) acc += v;
    return acc;
  }
  double combine(double a, double b) const { return a + b; }
};

template <typename Pick>
struct PickAcc {
  Pick pick;
  double start;
  double init() const { return start; }
  double row(const float* p, int64_t n, int64_t st) const {
    float acc = static_cast<float>(start);
    for (int64_t i = 0; i < n; ++i) acc = pick(acc, p[i * st]);
    return acc;
  }
  double combine(double a, double b) const { return pick(a, b); }
};

// Reduces every output element over the reduced sub-shape of x.
template <typename Acc>
void reduce_impl(const Acc& acc, const Tensor& x, const std::vector<int64_t>& axes,
                 const Tensor& out) {
  Shape kept_shape, kept_st, red_shape, red_st;
  for (int64_t a = 0; a < x.dim(); ++a) {
    const bool reduced = std::binary_search(axes.begin(), axes.end(), a);
    (reduced ? red_shape : kept_shape).push_back(x.shape()[a]);
    (reduced ? red_st : kept_st).push_back(x.strides()[a]);
  }
  // Reduced axes that are contiguous with the next one walk as one: a (O, I, 3, 3) latent summed
  // whole is one row of O*I*9 values, not O*I*3 rows of 3, each paying the offset arithmetic.
  for (int64_t a = static_cast<int64_t>(red_shape.size()) - 2; a >= 0; --a) {
    if (red_st[a] != red_st[a + 1] * red_shape[a + 1]) continue;
    red_shape[a] *= red_shape[a + 1];
    red_st[a] = red_st[a + 1];
    red_shape.erase(red_shape.begin() + a + 1);
    red_st.erase(red_st.begin() + a + 1);
  }
  const float* xp = x.data<float>();
  float* op = out.data<float>();
  const int64_t n_out = numel(kept_shape);
  const int64_t n_red = numel(red_shape);
  if (n_red == 0) {  // reducing an empty axis: every output is the identity (0 for a sum)
    for (int64_t o = 0; o < n_out; ++o) op[o] = static_cast<float>(acc.init());
    return;
  }
  const Shape kept_cs = contiguous_strides(kept_shape);

  auto reduce_block = [&](int64_t base, int64_t first_row, int64_t last_row) {
    // Rows of the reduced sub-shape are its last axis; walk rows [first_row, last_row).
    double r = acc.init();
    if (red_shape.empty()) return static_cast<double>(xp[base]);
    const int64_t nd = static_cast<int64_t>(red_shape.size());
    const int64_t row = red_shape[nd - 1], row_st = red_st[nd - 1];
    for (int64_t q = first_row; q < last_row; ++q) {
      int64_t off = base, rem = q;
      for (int64_t a = nd - 2; a >= 0; --a) {
        off += (rem % red_shape[a]) * red_st[a];
        rem /= red_shape[a];
      }
      r = acc.combine(r, acc.row(xp + off, row, row_st));
    }
    return r;
  };
  const int64_t rows = red_shape.empty() ? 1 : n_red / red_shape.back();

  if (n_out < omp_get_max_threads() && n_red >= cpu::kParallelGrain) {
    // Few outputs, long reductions: split each reduction across threads.
    for (int64_t o = 0; o < n_out; ++o) {
      int64_t base = 0;
      for (size_t a = 0; a < kept_shape.size(); ++a)
        base += (o / kept_cs[a] % kept_shape[a]) * kept_st[a];
      const int nt = omp_get_max_threads();
      std::vector<double> part(nt, acc.init());
#pragma omp parallel num_threads(nt)
      {
        // Split by the team actually granted: inside another parallel region (or with dynamic
        // teams) it is smaller than nt, and splitting by nt silently dropped rows.
        const int t = omp_get_thread_num(), team = omp_get_num_threads();
        if (red_shape.size() == 1) {  // one row: split its values
          const int64_t lo = n_red * t / team, hi = n_red * (t + 1) / team;
          part[t] =
              acc.combine(acc.init(), acc.row(xp + base + lo * red_st[0], hi - lo, red_st[0]));
        } else {
          const int64_t lo = rows * t / team, hi = rows * (t + 1) / team;
          part[t] = reduce_block(base, lo, hi);
        }
      }
      double r = acc.init();
      for (double v : part) r = acc.combine(r, v);
      op[o] = static_cast<float>(r);
    }
    return;
  }
  if (kept_shape.size() == 1 && red_shape.size() == 1) {
    // Rows of a matrix (a slice norm's (slices, 9), say): no offset arithmetic per output.
    const int64_t kst = kept_st[0], n = red_shape[0], st = red_st[0];
#pragma omp parallel for schedule(static) if (n_out * n_red >= cpu::kParallelGrain)
    for (int64_t o = 0; o < n_out; ++o)
      op[o] = static_cast<float>(acc.combine(acc.init(), acc.row(xp + o * kst, n, st)));
    return;
  }
#pragma omp parallel for schedule(static) if (n_out * n_red >= cpu::kParallelGrain)
  for (int64_t o = 0; o < n_out; ++o) {
    int64_t base = 0;
    for (size_t a = 0; a < kept_shape.size(); ++a)
      base += (o / kept_cs[a] % kept_shape[a]) * kept_st[a];
    op[o] = static_cast<float>(reduce_block(base, 0, rows));
  }
}

}  // namespace

void CpuBackend::reduce(ReduceOp op, const Tensor& x, const std::vector<int64_t>& axes,
                        const Tensor& out) {
  constexpr double inf = std::numeric_limits<double>::infinity();
  switch (op) {
    case ReduceOp::Sum:
      return reduce_impl(SumAcc{}, x, axes, out);
    case ReduceOp::Max: {
      auto pick = [](auto a, auto b) { return b > a || std::isnan(b) ? b : a; };
      return reduce_impl(PickAcc<decltype(pick)>{pick, -inf}, x, axes, out);
    }
    case ReduceOp::Min: {
      auto pick = [](auto a, auto b) { return b < a || std::isnan(b) ? b : a; };
      return reduce_impl(PickAcc<decltype(pick)>{pick, inf}, x, axes, out);
    }
    case ReduceOp::AbsMax: {
      auto pick = [](auto a, auto b) {
        const auto ab = b < 0 ? -b : b;
        return ab > a || std::isnan(b) ? ab : a;
      };
      return reduce_impl(PickAcc<decltype(pick)>{pick, 0.0}, x, axes, out);
    }
  }
}

void CpuBackend::argmax(const Tensor& x, int64_t axis, const Tensor& out) {
  const float* xp = x.data<float>();
  int64_t* op = out.data<int64_t>();
  Shape kept_shape, kept_st;
  for (int64_t a = 0; a < x.dim(); ++a) {
    if (a == axis) continue;
    kept_shape.push_back(x.shape()[a]);
    kept_st.push_back(x.strides()[a]);
  }
  const Shape cs = contiguous_strides(kept_shape);
  const int64_t n_out = numel(kept_shape), n = x.shape()[axis], st = x.strides()[axis];
#pragma omp parallel for schedule(static) if (n_out * n >= cpu::kParallelGrain)
  for (int64_t o = 0; o < n_out; ++o) {
    int64_t base = 0;
    for (size_t a = 0; a < kept_shape.size(); ++a) base += (o / cs[a] % kept_shape[a]) * kept_st[a];
    int64_t best = 0;
    float bv = xp[base];
    for (int64_t i = 1; i < n; ++i) {
      const float v = xp[base + i * st];
      if (v > bv) {
        bv = v;
        best = i;
      }
    }
    op[o] = best;
  }
}

}  // namespace lnx
