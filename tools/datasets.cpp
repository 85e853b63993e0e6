#include "tools/datasets.h"

#include <filesystem>

#include "core/ops_nn.h"
#include "data/cifar.h"
#include "data/idx.h"
#include "data/image_folder.h"
#include "data/transforms.h"

namespace lnx::tools {
namespace {

namespace fs = std::filesystem;
using data::TransformPtr;

// The normalisation of the LilNetX recipe (method.md section 5).
const std::vector<float> kRecipeCifarMean{0.4914f, 0.4822f, 0.4465f};
const std::vector<float> kRecipeCifarStd{0.2023f, 0.1994f, 0.2010f};

std::shared_ptr<const data::Dataset> with(std::shared_ptr<const data::Dataset> base,
                                          TransformPtr t) {
  return std::make_shared<data::TransformedDataset>(std::move(base), std::move(t));
}

// CIFAR from either the official binary release or an image folder of JPEGs. The images are
// small, so a folder is decoded into memory once.
std::shared_ptr<const data::Dataset> cifar_source(const std::string& root, bool cifar100,
                                                  bool train) {
  const fs::path p(root);
  LNX_CHECK(fs::exists(p), "dataset: ", (train ? "trainroot" : "valroot"), " '", root,
            "' does not exist (for CIFAR-10 from the shared JPEG copy run scripts/unpack-cifar10)");
  const bool binary = fs::exists(p / "data_batch_1.bin") || fs::exists(p / "test_batch.bin") ||
                      fs::exists(p / "train.bin") || fs::exists(p / "cifar-10-batches-bin") ||
                      fs::exists(p / "cifar-100-binary");
  if (binary) {
    data::CifarOptions o;
    o.variant = cifar100 ? data::CifarVariant::Cifar100 : data::CifarVariant::Cifar10;
    o.train = train;
    return std::make_shared<data::CifarDataset>(p, o);
  }
  data::ImageFolderOptions o;
  o.preload = true;
  return std::make_shared<data::ImageFolder>(p, o);
}

}  // namespace

DataSplit make_datasets(const Config& config) {
  std::string name = config.get<std::string>("dataset.name");
  if (name == "fashion-mnist") name = "fashion_mnist";
  const std::string train_root = config.get<std::string>("dataset.trainroot");
  const std::string val_root = config.get<std::string>("dataset.valroot");
  const bool augment = config.get<bool>("dataset.augment");
  DataSplit s;
  const std::string on_device = config.get<std::string>("dataset.normalize_on_device");
  LNX_CHECK(on_device == "auto" || on_device == "true" || on_device == "false",
            "dataset.normalize_on_device: got '", on_device, "', expected auto, true or false");
  if (name == "cifar10" || name == "cifar100") {
    const bool c100 = name == "cifar100";
    const bool bytes =
        on_device == "true" ||
        (on_device == "auto" && Device::parse(config.get<std::string>("common.device")).is_cuda());
    TransformPtr train_t, test_t;
    if (bytes) {
      // The same draws as the float pipeline: normalised on the device, the values are equal.
      train_t = augment ? TransformPtr(std::make_shared<data::CropFlip>(32, 4, 0.5))
                        : TransformPtr(std::make_shared<data::ToChw>());
      test_t = std::make_shared<data::ToChw>();
      s.device_mean = kRecipeCifarMean;
      s.device_std = kRecipeCifarStd;
    } else {
      train_t = augment ? data::cifar_train_transform(kRecipeCifarMean, kRecipeCifarStd)
                        : data::cifar_eval_transform(kRecipeCifarMean, kRecipeCifarStd);
      test_t = data::cifar_eval_transform(kRecipeCifarMean, kRecipeCifarStd);
    }
    s.train = with(cifar_source(train_root, c100, true), train_t);
    s.test = with(cifar_source(val_root, c100, false), test_t);
  } else if (name == "imagenet" || name == "imagefolder") {
    s.train = with(std::make_shared<data::ImageFolder>(fs::path(train_root)),
                   augment ? data::imagenet_train_transform() : data::imagenet_eval_transform());
    s.test = with(std::make_shared<data::ImageFolder>(fs::path(val_root)),
                  data::imagenet_eval_transform());
    s.image_size = 224;
  } else if (name == "mnist" || name == "fashion_mnist") {
    const bool fashion = name == "fashion_mnist";
    const std::vector<std::string> classes =
        fashion ? data::fashion_mnist_class_names() : data::mnist_class_names();
    // Mean and std of the training images.
    const std::vector<float> mean{fashion ? 0.2860f : 0.1307f}, std{fashion ? 0.3530f : 0.3081f};
    const TransformPtr t = std::make_shared<data::Compose>(std::vector<TransformPtr>{
        std::make_shared<data::ToTensor>(), std::make_shared<data::Normalize>(mean, std)});
    s.train = with(std::make_shared<data::IdxDataset>(
                       data::IdxDataset::from_folder(train_root, true, classes)),
                   t);
    s.test = with(
        std::make_shared<data::IdxDataset>(data::IdxDataset::from_folder(val_root, false, classes)),
        t);
    s.in_channels = 1;
    s.image_size = 28;
  } else {
    fail("dataset.name: unknown dataset '", name,
         "', expected one of: cifar10, cifar100, imagenet, imagefolder, mnist, fashion_mnist");
  }
  s.num_classes = s.train->num_classes();
  const int64_t want = config.get<int64_t>("dataset.num_classes");
  LNX_CHECK(want == 0 || want == s.num_classes, "dataset.num_classes: config says ", want,
            " but the training data in '", train_root, "' has ", s.num_classes, " classes");
  return s;
}

Tensor images_on(const DataSplit& split, const Tensor& images, Device device) {
  const Tensor moved = images.to(device);  // (N, C, H, W)
  if (split.device_mean.empty()) return moved;
  return ops::normalize_images(moved, split.device_mean, split.device_std);
}

}  // namespace lnx::tools
