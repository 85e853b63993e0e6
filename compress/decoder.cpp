#include "compress/decoder.h"

#include <cmath>

#include "autograd/ops.h"

namespace lnx {

MatrixDecoder::MatrixDecoder(int64_t kernel_size, DecoderInit init, double variance, bool shift,
                             Generator* gen)
    : Decoder("MatrixDecoder"), k2_(kernel_size * kernel_size) {
  LNX_CHECK(kernel_size >= 1, "MatrixDecoder: kernel size must be at least 1, got ", kernel_size);
  LNX_CHECK(variance > 0, "MatrixDecoder: init variance must be positive, got ", variance);
  Tensor m = init == DecoderInit::Identity ? zeros({k2_, k2_})
                                           : normal({k2_, k2_}, 0.0, std::sqrt(variance), gen);
  if (init == DecoderInit::Identity)
    for (int64_t i = 0; i < k2_; ++i) m.data<float>()[i * k2_ + i] = 1.0f;
  matrix_ = register_parameter("weight", m);
  if (shift) shift_ = register_parameter("bias", zeros({k2_}));
}

Variable MatrixDecoder::decode(const Variable& q) const {
  LNX_CHECK(q.dim() == 4 && q.size(2) * q.size(3) == k2_, "MatrixDecoder: latent of shape ",
            to_string(q.shape()), " does not match a ", k2_, "-entry kernel slice");
  Variable rows = reshape(q, {q.size(0) * q.size(1), k2_});  // (O*I, k*k)
  if (shift_.defined()) rows = add(rows, shift_);
  return reshape(matmul(rows, matrix_), q.shape());
}

ScalarDecoder::ScalarDecoder(DecoderInit init, double variance, bool shift, Generator* gen)
    : Decoder("ScalarDecoder") {
  LNX_CHECK(variance > 0, "ScalarDecoder: init variance must be positive, got ", variance);
  scale_ = register_parameter("weight", init == DecoderInit::Identity
                                            ? ones({1})
                                            : normal({1}, 0.0, std::sqrt(variance), gen));
  if (shift) shift_ = register_parameter("bias", zeros({1}));
}

Variable ScalarDecoder::decode(const Variable& q) const {
  return mul(shift_.defined() ? add(q, shift_) : q, scale_);
}

double decoder_init_variance(double boundary, int64_t max_fan) {
  LNX_CHECK(boundary > 0 && max_fan > 0, "decoder_init_variance: boundary ", boundary,
            " and max_fan ", max_fan, " must be positive");
  const double levels = 2 * boundary + 1;
  return 24.0 / static_cast<double>(max_fan) / (levels * levels - 1);
}

double latent_init_bound(double variance, int64_t fan) {
  LNX_CHECK(variance > 0 && fan > 0, "latent_init_bound: variance ", variance, " and fan ", fan,
            " must be positive");
  return (std::sqrt(24.0 / (variance * static_cast<double>(fan)) + 1.0) - 1.0) / 2.0;
}

}  // namespace lnx
