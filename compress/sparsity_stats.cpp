#include "compress/sparsity_stats.h"

#include <vector>

namespace lnx {

SparsityStats& SparsityStats::operator+=(const SparsityStats& o) {
  elements += o.elements;
  zero_elements += o.zero_elements;
  slices += o.slices;
  zero_slices += o.zero_slices;
  in_channels += o.in_channels;
  zero_in_channels += o.zero_in_channels;
  out_channels += o.out_channels;
  zero_out_channels += o.zero_out_channels;
  dense_flops += o.dense_flops;
  sparse_flops += o.sparse_flops;
  return *this;
}

SparsityStats measure_sparsity(const Tensor& weight, int64_t output_pixels, int64_t groups) {
  LNX_CHECK(weight.dim() == 2 || weight.dim() == 4, "measure_sparsity: weight of shape ",
            to_string(weight.shape()), ", expected (O, I, kh, kw) or (O, I)");
  LNX_CHECK(groups >= 1 && weight.shape()[0] % groups == 0, "measure_sparsity: ", groups,
            " groups do not divide ", weight.shape()[0], " output channels");
  const Tensor w = weight.to(DType::Float32).cpu().contiguous();
  const int64_t out = w.shape()[0], in = w.shape()[1];
  const int64_t k = w.dim() == 4 ? w.shape()[2] * w.shape()[3] : 1;
  const float* p = w.data<float>();  // (O, I, k)
  SparsityStats s;
  s.elements = w.numel();
  s.slices = out * in;
  s.out_channels = out;
  s.in_channels = in * groups;
  std::vector<bool> in_used(in * groups, false);
  const int64_t out_per_group = out / groups;
  for (int64_t o = 0; o < out; ++o) {
    bool filter_zero = true;
    for (int64_t i = 0; i < in; ++i) {
      bool slice_zero = true;
      for (int64_t j = 0; j < k; ++j) {
        const bool zero = p[(o * in + i) * k + j] == 0.0f;
        s.zero_elements += zero;
        slice_zero = slice_zero && zero;
      }
      s.zero_slices += slice_zero;
      filter_zero = filter_zero && slice_zero;
      if (!slice_zero) in_used[(o / out_per_group) * in + i] = true;
    }
    s.zero_out_channels += filter_zero;
  }
  for (bool used : in_used) s.zero_in_channels += !used;
  s.dense_flops = static_cast<double>(s.slices) * k * output_pixels;
  s.sparse_flops = static_cast<double>(s.slices - s.zero_slices) * k * output_pixels;
  return s;
}

}  // namespace lnx
