#include "compress/latent_factory.h"

#include "compress/factorized_prior.h"
#include "compress/latent_layers.h"
#include "layers/init.h"
#include "layers/linear.h"

namespace lnx {

LatentLayerFactory::LatentLayerFactory(LatentInit init, Generator* gen)
    : init_(std::move(init)),
      gen_(gen),
      variance_(decoder_init_variance(init_.boundary, init_.max_fan)) {}

CompressionGroup& LatentLayerFactory::group(const std::string& name, int64_t slice_size) {
  if (CompressionGroup* g = groups_->find(name)) {
    LNX_CHECK(g->slice_size() == slice_size, "compression group '", name, "' holds slices of ",
              g->slice_size(), "; a layer with slices of ", slice_size, " cannot join it");
    return *g;
  }
  const auto div = init_.decoder_divisor.find(name);
  const double var = variance_ / (div == init_.decoder_divisor.end() ? 1.0 : div->second);
  std::shared_ptr<Decoder> decoder;
  if (slice_size == 1) {
    decoder = std::make_shared<ScalarDecoder>(init_.decoder_init, var, init_.shift, gen_);
  } else {
    int64_t k = 1;
    while (k * k < slice_size) ++k;
    decoder = std::make_shared<MatrixDecoder>(k, init_.decoder_init, var, init_.shift, gen_);
  }
  return groups_->add(std::make_shared<CompressionGroup>(
      name, slice_size, decoder, std::make_shared<FactorizedPrior>(slice_size, gen_)));
}

ModulePtr LatentLayerFactory::conv2d(int64_t in, int64_t out, int64_t kernel_size,
                                     const Conv2dOptions& options, const std::string& group_name) {
  const bool first = !first_conv_seen_;
  first_conv_seen_ = true;
  if (first && !init_.compress_first) {  // network.first: false keeps the stem a float layer
    auto conv = std::make_shared<Conv2d>(in, out, kernel_size, options, gen_);
    init::kaiming_normal_(conv->weight().data(), 0.0, init::FanMode::FanOut, "relu", gen_);
    return conv;
  }
  CompressionGroup& g = group(group_name.empty() ? default_group(kernel_size, false) : group_name,
                              kernel_size * kernel_size);
  const int64_t fan = init_.fan_out ? out * kernel_size * kernel_size
                                    : in / options.groups * kernel_size * kernel_size;
  const double bound = latent_init_bound(variance_, fan);
  return std::make_shared<LatentConv2d>(in, out, kernel_size, options, g, bound, gen_);
}

ModulePtr LatentLayerFactory::linear(int64_t in, int64_t out, bool bias,
                                     const std::string& group_name) {
  CompressionGroup& g = group(group_name.empty() ? default_group(1, true) : group_name, 1);
  const double bound =
      latent_init_bound(variance_, init_.fan_out ? out : in) / init_.dense_bound_divisor;
  return std::make_shared<LatentLinear>(in, out, bias, g, bound, gen_);
}

}  // namespace lnx
