// The slice-sparse convolution against the dense one, and the sparse inference plans of a CIFAR
// ResNet and of VGG against the network itself in eval mode, with pruned slices and channels.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <functional>
#include <string>
#include <tuple>
#include <utility>

#include "autograd/grad_mode.h"
#include "compress/latent_layers.h"
#include "compress/sparse_inference.h"
#include "core/cpu/sparse_conv.h"
#include "core/ops.h"
#include "core/random.h"
#include "layers/batch_norm.h"
#include "layers/conv2d.h"
#include "models/registry.h"

using namespace lnx;

namespace {

// max |a - b| / max(|b|, 1e-6) over all elements: the relative error of the whole tensor.
double rel_error(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  const std::vector<float> av = a.contiguous().to_vector<float>();
  const std::vector<float> bv = b.contiguous().to_vector<float>();
  double diff = 0, scale = 1e-6;
  for (size_t i = 0; i < av.size(); ++i) {
    diff = std::max(diff, std::abs(static_cast<double>(av[i]) - bv[i]));
    scale = std::max(scale, std::abs(static_cast<double>(bv[i])));
  }
  return diff / scale;
}

struct ConvCase {
  int64_t n, c, h, w, o, k, stride, pad;
};

}  // namespace

TEST_CASE("sparse_conv2d matches the dense convolution", "[sparse]") {
  Generator gen(7);
  const ConvCase cases[] = {
      {2, 16, 32, 32, 16, 3, 1, 1},  // ResNet-20 stage 1, images over threads
      {1, 16, 32, 32, 32, 3, 2, 1},  // stage 2 entry, one image: tiles over threads
      {3, 32, 16, 16, 32, 3, 1, 1},  // 16-wide rows
      {2, 64, 8, 8, 64, 3, 1, 1},    // 8-wide rows, two per vector
      {1, 32, 16, 16, 64, 3, 2, 1},  // 8-wide output from stride 2
      {2, 3, 64, 64, 4, 3, 2, 1},    // stride 2, 32-wide output: a vector starting mid-row
      {2, 3, 12, 32, 4, 3, 2, 1},    // stride 2, 16-wide output, vectors past the end
      {2, 3, 12, 16, 4, 3, 2, 1},    // stride 2, 8-wide output, a tile three quarters full
      {2, 3, 12, 15, 4, 3, 2, 1},    // stride 2 on an odd width: the phase path
      {2, 5, 7, 9, 6, 3, 2, 1},      // odd sizes: the gather path and a tail tile
      {2, 5, 11, 5, 7, 3, 1, 1},     // a "same" convolution on odd sizes: masked tail lanes
      {1, 4, 40, 48, 8, 3, 1, 1},    // 48-wide rows: tile vectors straddle rows
      {2, 3, 5, 32, 4, 3, 1, 1},     // shared rows, 32 wide, a half tile at the end
      {2, 3, 7, 16, 4, 3, 1, 1},     // shared rows, 16 wide, a tile three quarters past the end
      {2, 3, 5, 8, 4, 3, 1, 1},      // shared rows, 8 wide, half a vector and one past the end
      {2, 4, 10, 10, 5, 3, 1, 0},    // stride 1 without padding: the phase path, 8-wide rows
      {2, 3, 9, 13, 4, 3, 1, 2},     // padding 2: the phase path, gathers
      {2, 6, 6, 6, 4, 1, 1, 0},      // 1x1: the plain loop
  };
  for (const ConvCase& cc : cases)
    for (const double fraction : {0.0, 0.5, 0.9, 1.0})
      for (const bool relu : {false, true}) {
        CAPTURE(cc.n, cc.c, cc.h, cc.w, cc.o, cc.k, cc.stride, fraction, relu);
        const Tensor x = normal({cc.n, cc.c, cc.h, cc.w}, 0, 1, &gen);
        const Tensor w = normal({cc.o, cc.c, cc.k, cc.k}, 0, 1, &gen);
        zero_random_slices(w, fraction, gen);
        const Tensor b = normal({cc.o}, 0, 1, &gen);
        Conv2dParams p;
        p.stride_h = p.stride_w = cc.stride;
        p.pad_h = p.pad_w = cc.pad;
        Tensor ref = ops::conv2d(x, w, b, p);
        const Tensor map = normal({ref.size(1), ref.size(2), ref.size(3)}, 0, 1, &gen);
        ref = ops::add(ref, map);
        // With the relu, also a residual added before it (a block's shortcut).
        const Tensor res = relu ? normal(ref.shape(), 0, 1, &gen) : Tensor();
        if (relu) ref = ops::clamp(ops::add(ref, res), 0.0, INFINITY);
        const SparseConvWeights packed = pack_sparse_conv(w);
        const Tensor y = sparse_conv2d(x, packed, b, map, p, relu, res);
        CHECK(rel_error(y, ref) < 1e-5);
        if (fraction == 1.0) CHECK(packed.entries() == 0);
        if (fraction == 0.0) CHECK(packed.entries() == cc.o * cc.c);
      }
}

TEST_CASE("sparse_conv2d without bias or map", "[sparse]") {
  Generator gen(3);
  const Tensor x = normal({2, 8, 16, 16}, 0, 1, &gen);
  const Tensor w = normal({8, 8, 3, 3}, 0, 1, &gen);
  zero_random_slices(w, 0.6, gen);
  Conv2dParams p;
  p.pad_h = p.pad_w = 1;
  CHECK(rel_error(sparse_conv2d(x, pack_sparse_conv(w), Tensor(), Tensor(), p, false),
                  ops::conv2d(x, w, Tensor(), p)) < 1e-5);
}

TEST_CASE("sparse_conv2d rejects what it does not handle", "[sparse]") {
  const Tensor w = ones({4, 4, 3, 3});
  const SparseConvWeights packed = pack_sparse_conv(w);
  Conv2dParams p;
  p.pad_h = p.pad_w = 1;
  CHECK_THROWS_WITH(sparse_conv2d(ones({1, 3, 8, 8}), packed, Tensor(), Tensor(), p, false),
                    Catch::Contains("channels"));
  CHECK_THROWS_WITH(sparse_conv2d(ones({1, 4, 8, 8}), packed, ones({3}), Tensor(), p, false),
                    Catch::Contains("bias has shape [3]"));
  CHECK_THROWS_WITH(sparse_conv2d(ones({1, 4, 8, 8}), packed, Tensor(), ones({4, 4, 4}), p, false),
                    Catch::Contains("bias_map has shape"));
  Conv2dParams dil = p;
  dil.dilation_h = 2;
  CHECK_THROWS_WITH(sparse_conv2d(ones({1, 4, 8, 8}), packed, Tensor(), Tensor(), dil, false),
                    Catch::Contains("dilation"));
  CHECK_THROWS_WITH(
      sparse_conv2d(ones({1, 4, 8, 8}), packed, Tensor(), Tensor(), p, true, ones({1, 4, 4, 4})),
      Catch::Contains("residual has shape"));
  CHECK_THROWS_WITH(pack_sparse_conv(ones({4, 4})), Catch::Contains("4-D"));
}

namespace {

// Batch norms with statistics far from the identity, so that folding them is tested, and half
// of the constant channels (relu of the shift) non-zero.
void randomize_batch_norms(Module& net, Generator& gen) {
  for (auto& [name, m] : net.named_modules())
    if (auto* bn = dynamic_cast<BatchNorm2d*>(m)) {
      const int64_t c = bn->num_features();
      bn->weight().data().copy_(uniform({c}, 0.5, 1.5, &gen));
      bn->bias().data().copy_(normal({c}, 0.0, 0.5, &gen));
      bn->running_mean().copy_(normal({c}, 0.0, 0.5, &gen));
      bn->running_var().copy_(uniform({c}, 0.5, 2.0, &gen));
    }
}

// `name` in LilNetX form with random batch norms, each convolution's latent slices zeroed with
// probability `fraction`, then shape(layer name, latent) for the channels a test wants pruned.
CompressedNetwork pruned_network(
    const std::string& name, double fraction, uint64_t seed,
    const std::function<void(const std::string&, const Tensor&)>& shape) {
  Generator gen(seed);
  ModelSpec spec;
  spec.name = name;
  CompressedNetwork cn = build_compressed_model(spec, latent_init_for(spec, 3.0), &gen);
  randomize_batch_norms(*cn.net, gen);
  for (auto& [lname, m] : cn.net->named_modules()) {
    if (auto* ll = dynamic_cast<LatentLinear*>(m)) shape(lname, ll->latent().data());
    auto* lc = dynamic_cast<LatentConv2d*>(m);
    if (!lc) continue;
    const Tensor l = lc->latent().data();  // (O, I, KH, KW)
    zero_random_slices(l, fraction, gen);
    shape(lname, l);
  }
  cn.net->eval();
  return cn;
}

void zero_out(const Tensor& latent, int64_t oc) {
  latent.select(0, oc).zero_();
}
void zero_in(const Tensor& latent, int64_t ic) {
  latent.select(1, ic).zero_();
}

// A resnet20 with pruned slices and channels:
// - layer1.0.conv1 output 3 zero: a constant block-internal channel (folded into a bias map);
// - layer1.0.conv2 output 5 and the stem's output 1 zero: constants that feed residual additions;
// - layer1.1.conv2 input 7 zero: conv1's channel 7 is never read;
// - layer2.0.conv1 input 2 zero: a residual channel conv1 ignores (but the shortcut keeps);
// - layer3.2.conv1 entirely zero: a block whose branch is constant.
CompressedNetwork pruned_resnet(double fraction, uint64_t seed) {
  return pruned_network("resnet20", fraction, seed, [](const std::string& name, const Tensor& l) {
    if (name == "layer1.0.conv1") zero_out(l, 3);
    if (name == "layer1.0.conv2") zero_out(l, 5);
    if (name == "conv1") zero_out(l, 1);
    if (name == "layer1.1.conv2") zero_in(l, 7);
    if (name == "layer2.0.conv1") zero_in(l, 2);
    if (name == "layer3.2.conv1") l.zero_();
  });
}

Tensor module_logits(Module& net, const Tensor& x) {
  NoGradGuard no_grad;
  return net.forward(Variable(x)).data();
}

// The plan of net in `mode`, checked against the network's logits ref on x with the default
// chunk and with `other_chunk`.
SparsePlan checked_plan(const ModulePtr& net, SparseMode mode, const Tensor& x, const Tensor& ref,
                        int64_t other_chunk) {
  SparsePlanOptions opt;
  opt.mode = mode;
  SparsePlan plan = SparsePlan::build(net, opt);
  REQUIRE_FALSE(plan.is_fallback());
  CHECK(rel_error(plan.run(x), ref) < 1e-4);
  opt.chunk = other_chunk;
  CHECK(rel_error(SparsePlan::build(net, opt).run(x), ref) < 1e-4);
  return plan;
}

}  // namespace

TEST_CASE("the sparse plan of a pruned resnet20 equals the network in eval mode", "[sparse]") {
  for (const double fraction : {0.0, 0.6, 0.95}) {
    CAPTURE(fraction);
    CompressedNetwork cn = pruned_resnet(fraction, 11);
    Generator gen(5);
    const Tensor x = normal({3, 3, 32, 32}, 0, 1, &gen);
    const Tensor ref = module_logits(*cn.net, x);
    for (const SparseMode mode : {SparseMode::Dense, SparseMode::Structured, SparseMode::Sparse}) {
      CAPTURE(static_cast<int>(mode));
      SparsePlan plan = checked_plan(cn.net, mode, x, ref, 2);  // chunks of 2 and 1
      // One image and another input size: tiles over threads, a second bias map.
      const Tensor x1 = normal({1, 3, 24, 24}, 0, 1, &gen);
      CHECK(rel_error(plan.forward(x1).data(), module_logits(*cn.net, x1)) < 1e-4);
      int64_t sparse_convs = 0;
      for (const PlanConv& c : plan.convs()) {
        sparse_convs += c.sparse_kernel ? 1 : 0;
        // The latent layers' hint is dropped: the plan chooses, and its dense kernels stay dense.
        CHECK_FALSE(c.params.skip_zero_slices);
      }
      if (mode != SparseMode::Sparse) CHECK(sparse_convs == 0);
      if (mode == SparseMode::Sparse && fraction > 0.5) CHECK(sparse_convs >= 10);
      if (mode == SparseMode::Structured) {
        const std::string s = plan.summary();
        CHECK_THAT(s, Catch::Contains("constant inputs"));  // layer1.0's folded channel
        // layer3.2.conv1 computes nothing; layer1.1.conv1 skips the channel conv2 ignores.
        for (const PlanConv& c : plan.convs()) {
          if (c.name == "layer3.2.conv1") CHECK(c.kept_out.empty());
          if (c.name == "layer1.1.conv1") CHECK(c.kept_out.size() <= 15);
          if (c.name == "layer1.0.conv2") CHECK(c.kept_out.size() == 16);  // residual: kept
        }
      }
    }
  }
}

namespace {

// A VGG-16-BN with pruned slices and channels:
// - features.0 output 5 zero: a constant input of features.3 (a bias map);
// - features.3 output 2 zero: a constant that passes the max pool into features.7;
// - features.10 entirely zero: features.14 reads constants only;
// - features.17 input 4 zero: features.14's channel 4 is never read;
// - the last convolution's (features.40) output 6 zero: a constant folded into dense1's bias;
// - dense1 input 9 zero: the last convolution's channel 9 is never read.
CompressedNetwork pruned_vgg(double fraction, uint64_t seed) {
  return pruned_network("vgg16_bn", fraction, seed, [](const std::string& name, const Tensor& l) {
    if (name == "classifier.0") zero_in(l, 9);
    if (name == "features.0") zero_out(l, 5);
    if (name == "features.3") zero_out(l, 2);
    if (name == "features.10") l.zero_();
    if (name == "features.17") zero_in(l, 4);
    if (name == "features.40") zero_out(l, 6);  // the last convolution
  });
}

}  // namespace

TEST_CASE("the sparse plan of a pruned VGG-16-BN equals the network in eval mode", "[sparse]") {
  for (const double fraction : {0.0, 0.7}) {
    CAPTURE(fraction);
    CompressedNetwork cn = pruned_vgg(fraction, 3);
    Generator gen(8);
    const Tensor x = normal({3, 3, 32, 32}, 0, 1, &gen);
    const Tensor ref = module_logits(*cn.net, x);
    for (const SparseMode mode : {SparseMode::Dense, SparseMode::Structured, SparseMode::Sparse}) {
      CAPTURE(static_cast<int>(mode));
      // Also the whole batch at once, each layer spread over threads.
      SparsePlan plan = checked_plan(cn.net, mode, x, ref, 0);
      CHECK(plan.convs().size() == 13);
      CHECK(plan.convs().back().name == "features.40");  // pruned_vgg's last convolution
      if (mode == SparseMode::Dense) continue;
      int64_t constant_inputs = 0;
      for (const PlanConv& c : plan.convs()) {
        if (c.const_values.defined()) constant_inputs += c.const_values.size(0);
        if (c.name == "features.10") CHECK(c.kept_out.empty());
        if (c.name == "features.14") CHECK(c.kept_in.empty());
        if (c.name == "features.0" && fraction == 0.0) CHECK(c.kept_out.size() == 63);
      }
      CHECK(constant_inputs >= 2);  // features.0's 5 and features.3's 2, when relu(shift) > 0
    }
  }
}

TEST_CASE("the sparse plan of a float VGG-11 without batch norm folds the convolution bias",
          "[sparse]") {
  Generator gen(4);
  ModelSpec spec;
  spec.name = "vgg11";
  ModulePtr net = build_float_model(spec, &gen);
  for (auto& [name, m] : net->named_modules())
    if (auto* c = dynamic_cast<Conv2d*>(m)) {
      c->bias().data().copy_(normal({c->bias().size(0)}, 0.0, 0.5, &gen));
      if (name == "features.3") c->weight().data().select(0, 1).zero_();  // a constant channel
    }
  net->eval();
  const Tensor x = normal({2, 3, 32, 32}, 0, 1, &gen);
  SparsePlan plan = SparsePlan::build(net);
  REQUIRE_FALSE(plan.is_fallback());
  CHECK(rel_error(plan.run(x), module_logits(*net, x)) < 1e-4);
  // The classifier reads 512 features: only 32x32 inputs reach a 1x1 map.
  CHECK_THROWS_WITH(plan.run(ones({1, 3, 64, 64})), Catch::Contains("expected 1x1"));
}

namespace {

// ImageNet ResNets with pruned slices and channels. ResNet-18:
// - the stem's output 2 zero: a residual constant through the max pool;
// - layer1.0.conv1 output 3 zero: a constant input of conv2 (a bias map);
// - layer2.0.downsample.0 output 4 zero: the projection's constant joins the sum;
// - layer3.1.conv2 input 5 zero: conv1's channel 5 is never read;
// - layer4.1.conv1 entirely zero: a block whose branch is constant.
// ResNet-50 (bottlenecks):
// - layer1.0.conv1 output 7 and layer1.0.conv2 output 1 zero: constants into the 3x3 conv2 and
//   the 1x1 conv3;
// - layer2.0.conv3 input 3 zero: conv2's channel 3 (stride 2) is never read;
// - layer3.0.conv2 entirely zero: conv3 reads constants only.
CompressedNetwork pruned_imagenet_resnet(const std::string& name, double fraction) {
  return pruned_network(name, fraction, 6, [](const std::string& layer, const Tensor& l) {
    if (layer == "conv1") zero_out(l, 2);
    if (layer == "layer1.0.conv1") zero_out(l, 3);
    if (layer == "layer2.0.downsample.0") zero_out(l, 4);
    if (layer == "layer3.1.conv2") zero_in(l, 5);
    if (layer == "layer4.1.conv1") l.zero_();
    if (layer == "layer1.0.conv1") zero_out(l, 7);
    if (layer == "layer1.0.conv2") zero_out(l, 1);
    if (layer == "layer2.0.conv3") zero_in(l, 3);
    if (layer == "layer3.0.conv2") l.zero_();
  });
}

}  // namespace

TEST_CASE("the sparse plans of pruned ImageNet ResNet-18 and -50 equal the networks", "[sparse]") {
  // ResNet-50 (23 M latents) once: building its plans is most of this test's time.
  for (const auto& [name, convs, fraction] :
       {std::tuple<std::string, size_t, double>{"resnet18", 20, 0.0},
        {"resnet18", 20, 0.6},
        {"resnet50", 53, 0.6}}) {
    CAPTURE(name, fraction);
    CompressedNetwork cn = pruned_imagenet_resnet(name, fraction);
    Generator gen(9);
    const Tensor x = normal({3, 3, 32, 32}, 0, 1, &gen);
    const Tensor ref = module_logits(*cn.net, x);
    for (const SparseMode mode : {SparseMode::Dense, SparseMode::Sparse}) {
      CAPTURE(static_cast<int>(mode));
      SparsePlan plan = checked_plan(cn.net, mode, x, ref, 2);
      CHECK(plan.convs().size() == convs);
      if (mode == SparseMode::Dense) continue;
      int64_t constant_inputs = 0;
      for (const PlanConv& c : plan.convs()) {
        if (c.const_values.defined()) constant_inputs += c.const_values.size(0);
        if (name == "resnet18" && c.name == "layer4.1.conv1") CHECK(c.kept_out.empty());
        if (name == "resnet50" && c.name == "layer3.0.conv3") CHECK(c.kept_in.empty());
        if (c.name == "conv1") CHECK(c.kept_out.size() == 64);  // the residual stream
      }
      CHECK(constant_inputs >= 1);
    }
  }
}

namespace {

// MobileNet-V2 (CIFAR stem) with pruned slices and channels:
// - features.2.conv.1.0 (depthwise) filter 5 zero: a constant input of the projection;
// - features.3.conv.2 (projection) input 7 zero: hidden channel 7 is computed by neither the
//   expansion nor the depthwise convolution;
// - features.4.conv.0.0 (expansion) filter 3 zero: computed anyway (not constant after the
//   depthwise convolution's padding);
// - features.18.0 (the last 1x1) filter 11 zero: a constant folded into the classifier's bias;
// - classifier.1 input 13 zero: the last convolution's channel 13 is never read.
CompressedNetwork pruned_mobilenet(double fraction) {
  return pruned_network("mobilenetv2", fraction, 12, [](const std::string& layer, const Tensor& l) {
    if (layer == "features.2.conv.1.0") zero_out(l, 5);
    if (layer == "features.3.conv.2") zero_in(l, 7);
    if (layer == "features.4.conv.0.0") zero_out(l, 3);
    if (layer == "features.18.0") zero_out(l, 11);
    if (layer == "classifier.1") zero_in(l, 13);
  });
}

}  // namespace

TEST_CASE("the sparse plan of a pruned MobileNet-V2 equals the network in eval mode", "[sparse]") {
  for (const double fraction : {0.0, 0.5}) {
    CAPTURE(fraction);
    CompressedNetwork cn = pruned_mobilenet(fraction);
    Generator gen(10);
    const Tensor x = normal({3, 3, 32, 32}, 0, 1, &gen);
    const Tensor ref = module_logits(*cn.net, x);
    for (const SparseMode mode : {SparseMode::Dense, SparseMode::Structured, SparseMode::Sparse}) {
      CAPTURE(static_cast<int>(mode));
      SparsePlan plan = checked_plan(cn.net, mode, x, ref, 2);
      // Stem, 16 blocks of three convolutions and one of two, the last 1x1.
      CHECK(plan.convs().size() == 1 + 16 * 3 + 2 + 1);
      if (mode == SparseMode::Dense) continue;
      for (const PlanConv& c : plan.convs()) {
        if (c.name == "features.2.conv.2") CHECK(c.const_values.defined());
        if (c.name == "features.3.conv.0.0") CHECK(c.kept_out.size() < 144);
        if (c.name == "features.3.conv.1.0") CHECK(c.kept_out.size() < 144);
        if (c.name == "features.18.0") CHECK(c.kept_out.size() <= 1278);
      }
      CHECK_THAT(plan.summary(), Catch::Contains("features.3.conv.1.0: out"));
    }
  }
}

TEST_CASE("the sparse plan falls back or rejects what it does not handle", "[sparse]") {
  Generator gen(1);
  ModelSpec spec;
  spec.name = "small_cnn";
  spec.in_channels = 1;
  ModulePtr net = build_float_model(spec, &gen);
  std::string why;
  CHECK_FALSE(SparsePlan::supports(*net, &why));
  CHECK_THAT(why, Catch::Contains("ResNetCifar, ResNet, VGG and MobileNetV2"));
  SparsePlan plan = SparsePlan::build(net);
  CHECK(plan.is_fallback());
  CHECK_THAT(plan.note(), Catch::Contains("dense fallback"));
  const Tensor x = normal({2, 1, 28, 28}, 0, 1, &gen);
  net->eval();
  CHECK(rel_error(plan.run(x), module_logits(*net, x)) < 1e-6);

  CompressedNetwork cn = pruned_resnet(0.5, 2);
  SparsePlan rp = SparsePlan::build(cn.net);
  CHECK_THROWS_WITH(rp.run(ones({1, 4, 32, 32})), Catch::Contains("expects 3"));
  CHECK_THROWS_WITH(rp.run(ones({3, 32, 32})), Catch::Contains("(N, C, H, W)"));
  CHECK_THROWS_WITH(SparsePlan::build(nullptr), Catch::Contains("null"));
}
