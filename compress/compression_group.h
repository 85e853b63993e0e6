// A compression group (method.md section 1): the layers of one kernel shape (conv3x3, conv1x1,
// conv7x7, dense, ...) with the decoder and the probability model they share. The rate loss,
// the slice priors, the statistics and the coder all iterate the same groups.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "compress/decoder.h"
#include "compress/entropy_model.h"
#include "layers/module.h"

namespace lnx {

class LatentLayer;

class CompressionGroup final : public Module {
 public:
  // slice_size: k*k for kxk convolutions, 1 for 1x1 convolutions and dense layers.
  CompressionGroup(std::string name, int64_t slice_size, std::shared_ptr<Decoder> decoder,
                   std::shared_ptr<EntropyModel> prior);
  const std::string& name() const { return name_; }
  int64_t slice_size() const { return slice_size_; }
  Decoder& decoder() const { return *decoder_; }
  EntropyModel& prior() const { return *prior_; }
  const std::vector<LatentLayer*>& layers() const { return layers_; }
  void add_layer(LatentLayer& layer) { layers_.push_back(&layer); }
  // Every layer's latent slices stacked: (total slices, slice_size).
  Variable latent_rows() const;
  int64_t num_slices() const;

 private:
  std::string name_;
  int64_t slice_size_;
  std::shared_ptr<Decoder> decoder_;
  std::shared_ptr<EntropyModel> prior_;
  std::vector<LatentLayer*> layers_;  // non-owning: layers live in the network
};

// The groups of one network, registered on it as the child "groups" (state-dict names
// groups.conv3x3.decoder.weight, groups.conv3x3.prior.params).
class GroupSet final : public Module {
 public:
  GroupSet() : Module("CompressionGroups") {}
  CompressionGroup* find(const std::string& name) const;
  CompressionGroup& add(std::shared_ptr<CompressionGroup> group);
  const std::vector<std::shared_ptr<CompressionGroup>>& groups() const { return groups_; }
  // Throws naming the unknown group and the network's groups.
  CompressionGroup& at(const std::string& name, const char* what) const;

 private:
  std::vector<std::shared_ptr<CompressionGroup>> groups_;
};

}  // namespace lnx
