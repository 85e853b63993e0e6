#include "cuda/layout.h"

#include <algorithm>

#include "core/error.h"

namespace lnx::cuda {
namespace {

// Merges axis a into the previous kept one when, for every operand, the previous stride equals
// stride[a] * size[a]; size-1 axes are dropped.
void merge_axes(const Shape& shape_in, const std::vector<const Shape*>& strides_in, Shape& shape,
                std::vector<Shape>& st) {
  const size_t k_ops = strides_in.size();
  st.assign(k_ops, Shape{});
  for (size_t a = 0; a < shape_in.size(); ++a) {
    if (shape_in[a] == 1) continue;
    bool merge = !shape.empty();
    for (size_t k = 0; k < k_ops && merge; ++k)
      merge = st[k].back() == (*strides_in[k])[a] * shape_in[a];
    if (merge) {
      shape.back() *= shape_in[a];
      for (size_t k = 0; k < k_ops; ++k) st[k].back() = (*strides_in[k])[a];
    } else {
      shape.push_back(shape_in[a]);
      for (size_t k = 0; k < k_ops; ++k) st[k].push_back((*strides_in[k])[a]);
    }
  }
}

}  // namespace

Layout make_layout(const Shape& shape_in, const std::vector<const Shape*>& strides,
                   const char* op) {
  LNX_CHECK(!strides.empty() && strides.size() <= static_cast<size_t>(kMaxOperands), op,
            ": the CUDA layout takes 1 to ", kMaxOperands, " operands, got ", strides.size());
  for (const Shape* s : strides)
    LNX_CHECK(s->size() == shape_in.size(), op, ": strides ", to_string(*s), " do not match shape ",
              to_string(shape_in));
  Layout l;
  l.numel = numel(shape_in);
  Shape shape;
  std::vector<Shape> st;
  merge_axes(shape_in, strides, shape, st);
  LNX_CHECK(shape.size() <= static_cast<size_t>(kMaxDims), op, ": shape ", to_string(shape_in),
            " with these strides needs ", shape.size(),
            " axes after merging; the CUDA kernels take at most ", kMaxDims,
            " (make the tensor contiguous first)");
  l.ndim = static_cast<int>(shape.size());
  l.contiguous = true;
  for (int a = 0; a < l.ndim; ++a) {
    l.shape[a] = shape[a];
    for (size_t k = 0; k < st.size(); ++k) l.strides[k][a] = st[k][a];
  }
  if (l.ndim > 1) l.contiguous = false;
  if (l.ndim == 1)
    for (size_t k = 0; k < st.size(); ++k) l.contiguous = l.contiguous && st[k][0] == 1;
  return l;
}

ReduceLayout make_reduce_layout(const Shape& shape, const Shape& strides,
                                const std::vector<int64_t>& axes, const char* op) {
  Shape kept_shape, kept_st, red_shape, red_st;
  for (int64_t a = 0; a < static_cast<int64_t>(shape.size()); ++a) {
    const bool reduced = std::binary_search(axes.begin(), axes.end(), a);
    (reduced ? red_shape : kept_shape).push_back(shape[a]);
    (reduced ? red_st : kept_st).push_back(strides[a]);
  }
  ReduceLayout r;
  r.n_out = numel(kept_shape);
  r.n_red = numel(red_shape);
  // The output is contiguous over the kept axes, so only the input's strides limit merging.
  Shape ks, rs;
  std::vector<Shape> kst, rst;
  merge_axes(kept_shape, {&kept_st}, ks, kst);
  merge_axes(red_shape, {&red_st}, rs, rst);
  LNX_CHECK(
      ks.size() <= static_cast<size_t>(kMaxDims) && rs.size() <= static_cast<size_t>(kMaxDims), op,
      ": shape ", to_string(shape), " needs more than ", kMaxDims,
      " kept or reduced axes after merging (make the tensor contiguous first)");
  r.kept_ndim = static_cast<int>(ks.size());
  r.red_ndim = static_cast<int>(rs.size());
  for (int a = 0; a < r.kept_ndim; ++a) {
    r.kept_shape[a] = ks[a];
    r.kept_strides[a] = kst[0][a];
  }
  for (int a = 0; a < r.red_ndim; ++a) {
    r.red_shape[a] = rs[a];
    r.red_strides[a] = rst[0][a];
  }
  return r;
}

}  // namespace lnx::cuda
