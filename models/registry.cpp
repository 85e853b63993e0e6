#include "models/registry.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>

#include "models/mobilenet_v2.h"
#include "models/resnet_cifar.h"
#include "models/resnet_imagenet.h"
#include "models/small_cnn.h"
#include "models/vgg.h"

namespace lnx {
namespace {

using Builder = std::function<ModulePtr(const ModelSpec&, LayerFactory&)>;

int64_t integer_width(const ModelSpec& s) {
  LNX_CHECK(s.width >= 1 && std::floor(s.width) == s.width, "model '", s.name, "': width ", s.width,
            " must be a positive integer for this architecture");
  return static_cast<int64_t>(s.width);
}

const std::map<std::string, Builder>& builders() {
  static const std::map<std::string, Builder> b = [] {
    std::map<std::string, Builder> m;
    for (int64_t depth : {20, 32, 44, 56, 110, 1202})
      m[str("resnet", depth)] = [depth](const ModelSpec& s, LayerFactory& l) {
        return resnet_cifar(depth, integer_width(s), s.num_classes, l);
      };
    for (int64_t depth : {11, 13, 16, 19}) {
      m[str("vgg", depth)] = [depth](const ModelSpec& s, LayerFactory& l) {
        return vgg(depth, false, s.num_classes, l);
      };
      m[str("vgg", depth, "_bn")] = [depth](const ModelSpec& s, LayerFactory& l) {
        return vgg(depth, true, s.num_classes, l);
      };
    }
    for (int64_t depth : {18, 34, 50})
      m[str("resnet", depth)] = [depth](const ModelSpec& s, LayerFactory& l) {
        return resnet_imagenet(depth, s.num_classes, l);
      };
    m["mobilenetv2"] = [](const ModelSpec& s, LayerFactory& l) {
      return mobilenet_v2(s.width, s.num_classes, s.cifar_stem, l);
    };
    m["small_cnn"] = [](const ModelSpec& s, LayerFactory& l) {
      return small_cnn(s.in_channels, s.num_classes, integer_width(s), l);
    };
    return m;
  }();
  return b;
}

}  // namespace

ModulePtr build_model(const ModelSpec& spec, LayerFactory& layers) {
  const auto it = builders().find(spec.name);
  if (it == builders().end()) {
    std::string known;
    for (const std::string& n : model_names()) known += (known.empty() ? "" : ", ") + n;
    fail("model: unknown name '", spec.name, "', expected one of: ", known);
  }
  LNX_CHECK(spec.num_classes >= 1, "model '", spec.name, "': num_classes must be positive, got ",
            spec.num_classes);
  return it->second(spec, layers);
}

LinearInit linear_init_for(const std::string& name) {
  if (name == "mobilenetv2") return LinearInit::Normal001;
  if (name == "resnet18" || name == "resnet34" || name == "resnet50" || name == "small_cnn")
    return LinearInit::PyTorchDefault;
  return LinearInit::KaimingNormalFanOut;
}

ModulePtr build_float_model(const ModelSpec& spec, Generator* gen, init::FanMode fan) {
  FloatLayerFactory factory(linear_init_for(spec.name), gen, fan);
  return build_model(spec, factory);
}

LatentInit latent_init_for(const ModelSpec& spec, double boundary) {
  LatentInit init;
  init.boundary = boundary;
  const std::string& n = spec.name;
  if (n.rfind("vgg", 0) == 0) {
    init.max_fan = 512;
    init.decoder_divisor = {{"conv3x3", 3.0}};
    init.dense_bound_divisor = 5.0;
  } else if (n == "resnet18" || n == "resnet34") {
    init.max_fan = 512;
    init.decoder_divisor = {{"conv7x7", 7.0}, {"conv3x3", 3.0}};
  } else if (n == "resnet50") {
    init.max_fan = 2048;
    init.decoder_divisor = {{"conv7x7", 7.0}, {"conv3x3", 3.0}};
  } else if (n == "mobilenetv2") {
    init.max_fan = 1280;
    init.decoder_divisor = {{"first", 3.0}, {"conv3x3", 3.0}};
  } else if (n == "small_cnn") {
    init.max_fan = 32 * static_cast<int64_t>(spec.width);
  } else {  // CIFAR ResNets: 64 * width, as the reference
    init.max_fan = 64 * static_cast<int64_t>(std::max(1.0, spec.width));
  }
  return init;
}

CompressedNetwork build_compressed_model(const ModelSpec& spec, const LatentInit& init,
                                         Generator* gen) {
  LatentLayerFactory factory(init, gen);
  CompressedNetwork c;
  c.net = build_model(spec, factory);
  c.groups = factory.groups();
  LNX_CHECK(!c.groups->groups().empty(), "model '", spec.name, "': no compressed layers");
  c.net->register_module("groups", c.groups);
  return c;
}

std::vector<std::string> model_names() {
  std::vector<std::string> names;
  for (const auto& [n, b] : builders()) names.push_back(n);
  return names;
}

}  // namespace lnx
