#include "compress/compression_group.h"

#include "autograd/ops.h"
#include "compress/latent_layers.h"

namespace lnx {

CompressionGroup::CompressionGroup(std::string name, int64_t slice_size,
                                   std::shared_ptr<Decoder> decoder,
                                   std::shared_ptr<EntropyModel> prior)
    : Module("CompressionGroup"),
      name_(std::move(name)),
      slice_size_(slice_size),
      decoder_(register_module("decoder", std::move(decoder))),
      prior_(register_module("prior", std::move(prior))) {
  LNX_CHECK(prior_->channels() == slice_size_, "compression group '", name_, "': prior has ",
            prior_->channels(), " channels for slices of ", slice_size_);
}

Variable CompressionGroup::latent_rows() const {
  LNX_CHECK(!layers_.empty(), "compression group '", name_, "' has no layers");
  if (layers_.size() == 1) return layers_.front()->latent_rows();
  std::vector<Variable> rows;
  rows.reserve(layers_.size());
  for (const LatentLayer* l : layers_) rows.push_back(l->latent_rows());
  return cat(rows, 0);
}

int64_t CompressionGroup::num_slices() const {
  int64_t n = 0;
  for (const LatentLayer* l : layers_) n += l->latent().numel() / slice_size_;
  return n;
}

CompressionGroup* GroupSet::find(const std::string& name) const {
  for (const auto& g : groups_)
    if (g->name() == name) return g.get();
  return nullptr;
}

CompressionGroup& GroupSet::add(std::shared_ptr<CompressionGroup> group) {
  LNX_CHECK(find(group->name()) == nullptr, "compression groups: '", group->name(),
            "' added twice");
  const std::string name = group->name();  // before the move below
  groups_.push_back(register_module(name, std::move(group)));
  return *groups_.back();
}

CompressionGroup& GroupSet::at(const std::string& name, const char* what) const {
  if (CompressionGroup* g = find(name)) return *g;
  std::string known;
  for (const auto& g : groups_) known += (known.empty() ? "" : ", ") + g->name();
  fail(what, ": the network has no compression group '", name, "'; its groups are: ", known);
}

}  // namespace lnx
