// Decoders: the small linear map a compression group shares. Integer latents Q of a layer
// decode to its float weight W. Purely linear with no shift by default, so an all-zero latent
// slice decodes to an exactly zero weight slice (method.md section 1).
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "autograd/variable.h"
#include "core/random.h"
#include "layers/module.h"

namespace lnx {

// A Module, so its parameters appear in state dicts and optimizers under the group's name
// (groups.conv3x3.decoder.weight).
class Decoder : public Module {
 public:
  explicit Decoder(std::string type_name) : Module(std::move(type_name)) {}
  virtual std::string kind() const = 0;
  // Q (O, I, k, k) or (O, I) -> W of the same shape.
  virtual Variable decode(const Variable& q) const = 0;
};

enum class DecoderInit { Normal, Identity };

// kxk convolutions: each (out, in) slice, a row of k*k latents, times a learned (k*k, k*k)
// matrix: W_s = (Q_s + shift) Psi. The optional learned shift per position is off by default:
// it would break slice sparsity.
class MatrixDecoder final : public Decoder {
 public:
  MatrixDecoder(int64_t kernel_size, DecoderInit init, double variance, bool shift = false,
                Generator* gen = nullptr);
  std::string kind() const override { return "matrix"; }
  Variable decode(const Variable& q) const override;
  const Variable& matrix() const { return matrix_; }

 private:
  int64_t k2_;
  Variable matrix_;  // (k*k, k*k)
  Variable shift_;   // (k*k), undefined unless enabled
};

// 1x1 convolutions and fully connected layers: one learned scalar, W = (Q + shift) * scale.
class ScalarDecoder final : public Decoder {
 public:
  ScalarDecoder(DecoderInit init, double variance, bool shift = false, Generator* gen = nullptr);
  std::string kind() const override { return "scalar"; }
  Variable decode(const Variable& q) const override;
  const Variable& scale() const { return scale_; }

 private:
  Variable scale_;  // (1)
  Variable shift_;  // (1), undefined unless enabled
};

// The reference initialisation (method.md section 1): with boundary b and the network's largest
// fan, var = 24 / max_fan / ((2b+1)^2 - 1) for decoder entries, and each layer's latents
// ~ U(-B, B) with B = (sqrt(24 / (var * fan) + 1) - 1) / 2.
double decoder_init_variance(double boundary, int64_t max_fan);
double latent_init_bound(double variance, int64_t fan);

}  // namespace lnx
