// SparsePlan::build's per-network parts: the ResNets (CIFAR and ImageNet), MobileNet-V2 and VGG,
// and the classifier head they share. What each removes and why it stays exact:
// compress/sparse_inference.h.
#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "compress/sparse_inference.h"
#include "layers/activation.h"
#include "layers/batch_norm.h"
#include "layers/pooling.h"

namespace lnx {

void SparsePlan::build_resnet(const Module& net, const SparsePlanOptions& opt) {
  topology_ = Topology::ResNet;
  const bool structured = opt.mode != SparseMode::Dense;
  // The stem's outputs are the residual stream: every channel kept.
  const Folded stem = fold(*net.child("conv1"), "conv1", net.child("bn1").get(), "bn1");
  convs_.push_back(make_conv(stem, iota_vec(stem.o), iota_vec(stem.i), true, opt));
  pools_.emplace_back();
  for (const auto& [name, m] : net.named_children())
    if (const auto* pool = dynamic_cast<const MaxPool2d*>(m.get())) pools_.back() = pool->params();

  for (const auto& [sname, stage] : net.named_children()) {
    if (sname.rfind("layer", 0) != 0) continue;
    for (const auto& [bname, block] : stage->named_children()) {
      const std::string prefix = sname + "." + bname + ".";
      // The branch: conv1, conv2 (and conv3 in a bottleneck), each with its batch norm.
      std::vector<Folded> branch;
      for (int k = 1; block->has_child("conv" + std::to_string(k)); ++k) {
        const std::string conv = prefix + "conv" + std::to_string(k);
        const std::string bn = "bn" + std::to_string(k);
        branch.push_back(fold(*block->child("conv" + std::to_string(k)), conv,
                              block->child(bn).get(), prefix + bn));
        LNX_CHECK(branch.size() == 1 || branch.back().i == branch[branch.size() - 2].o,
                  "SparsePlan: ", conv, " reads ", branch.back().i,
                  " channels but the convolution before it makes ", branch[branch.size() - 2].o);
      }
      LNX_CHECK(branch.size() >= 2, "SparsePlan: block ", sname, ".", bname, " has ", branch.size(),
                " convolutions, expected 2 or 3");
      Block b;
      // Each branch convolution computes the channels the next one reads; the last one's
      // outputs join the residual stream and are all kept (relu after the addition).
      ChannelSplit in_split;
      in_split.kept = iota_vec(branch.front().i);
      for (size_t k = 0; k < branch.size(); ++k) {
        const Folded& f = branch[k];
        ChannelSplit split;
        if (k + 1 < branch.size()) {
          const Folded& next = branch[k + 1];
          split = split_channels(
              f, [&next](int64_t h) { return input_read(next, h); }, structured);
        } else {
          split.kept = iota_vec(f.o);
        }
        PlanConv c = make_conv(f, split.kept, in_split.kept, true, opt);
        add_constant_inputs(c, f, in_split);
        b.branch.push_back(convs_.size());
        convs_.push_back(std::move(c));
        pools_.emplace_back();
        in_split = std::move(split);
      }
      const int64_t in = branch.front().i, out = branch.back().o;
      if (block->has_child("downsample")) {
        // The projection shortcut: a 1x1 convolution and its batch norm, no relu.
        const Module& down = *block->child("downsample");
        const Folded f = fold(*down.child("0"), prefix + "downsample.0", down.child("1").get(),
                              prefix + "downsample.1");
        LNX_CHECK(f.i == in && f.o == out, "SparsePlan: ", prefix, "downsample maps ", f.i, " to ",
                  f.o, " channels, the block ", in, " to ", out);
        b.projection = convs_.size();
        convs_.push_back(make_conv(f, iota_vec(f.o), iota_vec(f.i), false, opt));
        pools_.emplace_back();
      } else {
        // Option A (CIFAR): subsample and zero-pad; with equal shapes, the identity.
        for (const Folded& f : branch) b.stride *= f.p.stride_h;
        b.pad_channels = out != in ? (out - in) / 2 : 0;
      }
      blocks_.push_back(std::move(b));
    }
  }
  const Module& fc = *net.child("fc");
  head_.push_back({linear_weight(fc, "fc"), bias_param(fc), false});
}

void SparsePlan::build_mobilenet(const Module& net, const SparsePlanOptions& opt) {
  topology_ = Topology::ResNet;
  const bool structured = opt.mode != SparseMode::Dense;
  // A Sequential of a convolution and its batch norm (and a relu6, when `relu6`).
  auto conv_bn = [](const Module& seq, const std::string& name, bool relu6) {
    const auto& parts = seq.named_children();
    LNX_CHECK(parts.size() == (relu6 ? 3u : 2u) && (!relu6 || is<ReLU6>(*parts[2].second)),
              "SparsePlan: ", name, " is not a convolution, batch norm", relu6 ? " and relu6" : "");
    return fold(*parts[0].second, name + ".0", parts[1].second.get(), name + ".1");
  };
  const auto& features = net.child("features")->named_children();
  const Folded stem = conv_bn(*features.front().second, "features.0", true);
  convs_.push_back(make_conv(stem, iota_vec(stem.o), iota_vec(stem.i), true, opt));
  convs_.back().relu_max = 6;
  pools_.emplace_back();

  for (size_t i = 1; i + 1 < features.size(); ++i) {
    // conv: [expansion (1x1, bn, relu6)], depthwise (3x3, bn, relu6), projection 1x1, bn.
    const std::string block = "features." + features[i].first + ".conv", prefix = block + ".";
    const auto& parts = features[i].second->child("conv")->named_children();
    LNX_CHECK(parts.size() == 3 || parts.size() == 4, "SparsePlan: ", block, " has ", parts.size(),
              " parts, expected 3 or 4");
    const bool expand = parts.size() == 4;
    const size_t d = expand ? 1 : 0;
    std::optional<Folded> fe;
    if (expand) fe = conv_bn(*parts[0].second, prefix + parts[0].first, true);
    const Folded fd = conv_bn(*parts[d].second, prefix + parts[d].first, true);
    const Folded fp = fold(*parts[d + 1].second, prefix + parts[d + 1].first,
                           parts[d + 2].second.get(), prefix + parts[d + 2].first);
    const int64_t in = expand ? fe->i : fd.o;
    LNX_CHECK((!expand || fe->o == fd.o) && fp.i == fd.o, "SparsePlan: ", block,
              ": the depthwise convolution has ", fd.o, " channels, the expansion makes ",
              expand ? fe->o : fd.o, " and the projection reads ", fp.i);
    // The hidden channels: computed, constant (zero depthwise filter) or dropped. Without an
    // expansion the depthwise convolution reads the stream itself, which is never narrowed.
    ChannelSplit hidden;
    for (int64_t h = 0; h < fd.o; ++h) {
      if (!structured || !expand) {
        hidden.kept.push_back(h);
      } else if (input_read(fp, h)) {
        if (!fd.slice_zero(h, 0)) {
          hidden.kept.push_back(h);
        } else if (const float v = std::clamp(fd.b[h], 0.0f, 6.0f); v != 0.0f) {
          hidden.constant.push_back(h);
          hidden.const_values.push_back(v);
        }
      }
    }
    Block b;
    b.shortcut = fd.p.stride_h == 1 && in == fp.o;
    if (expand) {
      b.branch.push_back(convs_.size());
      convs_.push_back(make_conv(*fe, hidden.kept, iota_vec(fe->i), true, opt));
      convs_.back().relu_max = 6;
      pools_.emplace_back();
    }
    b.branch.push_back(convs_.size());
    convs_.push_back(make_depthwise(fd, hidden.kept, true));
    convs_.back().relu_max = 6;
    pools_.emplace_back();
    b.branch.push_back(convs_.size());
    PlanConv project = make_conv(fp, iota_vec(fp.o), hidden.kept, false, opt);
    add_constant_inputs(project, fp, hidden);
    convs_.push_back(std::move(project));
    pools_.emplace_back();
    blocks_.push_back(std::move(b));
  }

  // The last 1x1 convolution, global average pooling and the classifier.
  for (const auto& [name, m] : net.child("classifier")->named_children())
    if (is_linear(*m)) head_.push_back({linear_weight(*m, "classifier." + name), bias_param(*m)});
  LNX_CHECK(head_.size() == 1, "SparsePlan: the MobileNetV2 classifier has ", head_.size(),
            " linear layers, expected 1");
  const Folded last = conv_bn(*features.back().second, "features." + features.back().first, true);
  LNX_CHECK(head_.front().weight.size(1) == last.o, "SparsePlan: the classifier reads ",
            head_.front().weight.size(1), " features, the last convolution makes ", last.o);
  const ChannelSplit split = split_channels(last, head_reads(), structured, 6.0f);
  tail_.push_back(convs_.size());
  convs_.push_back(make_conv(last, split.kept, iota_vec(last.i), true, opt));
  convs_.back().relu_max = 6;
  pools_.emplace_back();
  fold_into_head(split);
}

void SparsePlan::build_vgg(const Module& net, const SparsePlanOptions& opt) {
  topology_ = Topology::Chain;
  // The chain: conv [batch norm] relu, then a max pool where one follows.
  std::vector<Folded> layers;
  const auto& features = net.child("features")->named_children();
  for (size_t i = 0; i < features.size(); ++i) {
    const std::string name = "features." + features[i].first;
    const Module& m = *features[i].second;
    if (const auto* pool = dynamic_cast<const MaxPool2d*>(&m)) {
      LNX_CHECK(!layers.empty() && !pools_.back(), "SparsePlan: ", name,
                " is a max pool that does not follow a convolution's relu");
      pools_.back() = pool->params();
      continue;
    }
    LNX_CHECK(is_conv(m), "SparsePlan: ", name, " is a ", m.type_name(),
              ", expected a convolution or a max pool");
    const Module* bn = nullptr;
    std::string bn_name;
    size_t next = i + 1;
    if (next < features.size() && is<BatchNorm2d>(*features[next].second)) {
      bn = features[next].second.get();
      bn_name = "features." + features[next].first;
      ++next;
    }
    LNX_CHECK(next < features.size() && is<ReLU>(*features[next].second), "SparsePlan: ", name,
              " is not followed by a relu (after its batch norm, if any)");
    layers.push_back(fold(m, name, bn, bn_name));
    LNX_CHECK(layers.size() == 1 || layers.back().i == layers[layers.size() - 2].o,
              "SparsePlan: ", name, " reads ", layers.back().i,
              " channels but the convolution before it makes ", layers[layers.size() - 2].o);
    pools_.emplace_back();
    i = next;
  }
  LNX_CHECK(!layers.empty(), "SparsePlan: the VGG has no convolutions");
  for (const auto& [name, m] : net.child("classifier")->named_children()) {
    if (is_linear(*m)) {
      head_.push_back({linear_weight(*m, "classifier." + name), bias_param(*m), false});
    } else if (is<ReLU>(*m)) {
      LNX_CHECK(!head_.empty() && !head_.back().relu, "SparsePlan: classifier.", name,
                " is a relu that does not follow a linear layer");
      head_.back().relu = true;
    }  // dropout: the identity in eval mode
  }
  LNX_CHECK(!head_.empty(), "SparsePlan: the VGG classifier has no linear layer");
  const Tensor& w1 = head_.front().weight;  // (out, C): the features end at 1x1
  LNX_CHECK(w1.dim() == 2 && w1.size(1) == layers.back().o, "SparsePlan: the classifier reads ",
            w1.size(1), " features, the last convolution makes ", layers.back().o,
            " channels; expected 1x1 feature maps");

  // Each convolution's output channels as the next layer reads them.
  const bool structured = opt.mode != SparseMode::Dense;
  ChannelSplit in_split;  // the previous layer's: its constants are this layer's constant inputs
  in_split.kept = iota_vec(layers.front().i);
  for (size_t l = 0; l < layers.size(); ++l) {
    const Folded& f = layers[l];
    ChannelSplit split =
        l + 1 < layers.size()
            ? split_channels(
                  f, [&next = layers[l + 1]](int64_t h) { return input_read(next, h); }, structured)
            : split_channels(f, head_reads(), structured);
    PlanConv c = make_conv(f, split.kept, in_split.kept, true, opt);
    add_constant_inputs(c, f, in_split);
    convs_.push_back(std::move(c));
    in_split = std::move(split);
  }

  fold_into_head(in_split);
}

std::function<bool(int64_t)> SparsePlan::head_reads() const {
  const Tensor& weight = head_.front().weight;  // (out, C)
  return [w = weight.to_vector<float>(), outs = weight.size(0), c = weight.size(1)](int64_t h) {
    for (int64_t o = 0; o < outs; ++o)
      if (w[static_cast<size_t>(o * c + h)] != 0.0f) return true;
    return false;
  };
}

void SparsePlan::fold_into_head(const ChannelSplit& split) {
  // The first head layer reads the kept channels; the constant ones (constant maps, so constant
  // after pooling or flattening a 1x1 map) become bias.
  Dense& d = head_.front();
  const std::vector<float> w1 = d.weight.to_vector<float>();
  const int64_t outs = d.weight.size(0), c = d.weight.size(1);
  std::vector<float> w, b(static_cast<size_t>(outs), 0.0f);
  if (d.bias.defined()) b = d.bias.to_vector<float>();
  for (int64_t o = 0; o < outs; ++o) {
    for (const int64_t h : split.kept) w.push_back(w1[static_cast<size_t>(o * c + h)]);
    for (size_t k = 0; k < split.constant.size(); ++k)
      b[static_cast<size_t>(o)] +=
          w1[static_cast<size_t>(o * c + split.constant[k])] * split.const_values[k];
  }
  d.weight = from_vector(w, {outs, static_cast<int64_t>(split.kept.size())});
  d.bias = from_vector(b, {outs});
}

}  // namespace lnx
