#include "data/cifar.h"

#include <algorithm>

#include "core/error.h"
#include "data/file_io.h"

namespace lnx::data {
namespace {

constexpr int64_t kSide = 32, kChannels = 3, kPixels = kSide * kSide * kChannels;

const char* who(const CifarOptions& o) {
  return o.variant == CifarVariant::Cifar10 ? "cifar10" : "cifar100";
}

int64_t label_bytes(const CifarOptions& o) {
  return o.variant == CifarVariant::Cifar10 ? 1 : 2;
}

}  // namespace

const std::vector<std::string>& cifar10_class_names() {
  static const std::vector<std::string> names = {
      "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"};
  return names;
}

const std::vector<std::string>& cifar100_fine_class_names() {
  static const std::vector<std::string> names = {
      "apple",       "aquarium_fish", "baby",      "bear",       "beaver",       "bed",
      "bee",         "beetle",        "bicycle",   "bottle",     "bowl",         "boy",
      "bridge",      "bus",           "butterfly", "camel",      "can",          "castle",
      "caterpillar", "cattle",        "chair",     "chimpanzee", "clock",        "cloud",
      "cockroach",   "couch",         "crab",      "crocodile",  "cup",          "dinosaur",
      "dolphin",     "elephant",      "flatfish",  "forest",     "fox",          "girl",
      "hamster",     "house",         "kangaroo",  "keyboard",   "lamp",         "lawn_mower",
      "leopard",     "lion",          "lizard",    "lobster",    "man",          "maple_tree",
      "motorcycle",  "mountain",      "mouse",     "mushroom",   "oak_tree",     "orange",
      "orchid",      "otter",         "palm_tree", "pear",       "pickup_truck", "pine_tree",
      "plain",       "plate",         "poppy",     "porcupine",  "possum",       "rabbit",
      "raccoon",     "ray",           "road",      "rocket",     "rose",         "sea",
      "seal",        "shark",         "shrew",     "skunk",      "skyscraper",   "snail",
      "snake",       "spider",        "squirrel",  "streetcar",  "sunflower",    "sweet_pepper",
      "table",       "tank",          "telephone", "television", "tiger",        "tractor",
      "train",       "trout",         "tulip",     "turtle",     "wardrobe",     "whale",
      "willow_tree", "wolf",          "woman",     "worm"};
  return names;
}

const std::vector<std::string>& cifar100_coarse_class_names() {
  static const std::vector<std::string> names = {"aquatic_mammals",
                                                 "fish",
                                                 "flowers",
                                                 "food_containers",
                                                 "fruit_and_vegetables",
                                                 "household_electrical_devices",
                                                 "household_furniture",
                                                 "insects",
                                                 "large_carnivores",
                                                 "large_man-made_outdoor_things",
                                                 "large_natural_outdoor_scenes",
                                                 "large_omnivores_and_herbivores",
                                                 "medium_mammals",
                                                 "non-insect_invertebrates",
                                                 "people",
                                                 "reptiles",
                                                 "small_mammals",
                                                 "trees",
                                                 "vehicles_1",
                                                 "vehicles_2"};
  return names;
}

std::vector<std::filesystem::path> CifarDataset::split_files(const std::filesystem::path& root,
                                                             const CifarOptions& options) {
  std::vector<std::string> names;
  std::string release_folder;
  if (options.variant == CifarVariant::Cifar10) {
    release_folder = "cifar-10-batches-bin";
    if (options.train)
      for (int i = 1; i <= 5; ++i) names.push_back(str("data_batch_", i, ".bin"));
    else
      names.push_back("test_batch.bin");
  } else {
    release_folder = "cifar-100-binary";
    names.push_back(options.train ? "train.bin" : "test.bin");
  }
  std::filesystem::path dir = root;
  if (!std::filesystem::exists(root / names.front()) &&
      std::filesystem::exists(root / release_folder / names.front()))
    dir = root / release_folder;
  std::vector<std::filesystem::path> files;
  for (const auto& n : names) {
    const std::filesystem::path f = dir / n;
    LNX_CHECK(std::filesystem::is_regular_file(f), who(options), ": missing file ", f.string(),
              " (expected the binary release: ",
              options.variant == CifarVariant::Cifar10 ? "data_batch_1..5.bin, test_batch.bin"
                                                       : "train.bin, test.bin",
              ")");
    files.push_back(f);
  }
  return files;
}

CifarDataset::CifarDataset(const std::filesystem::path& root, CifarOptions options)
    : CifarDataset(split_files(root, options), options) {}

CifarDataset::CifarDataset(const std::vector<std::filesystem::path>& files, CifarOptions options)
    : options_(options) {
  LNX_CHECK(!files.empty(), who(options_), ": no files given");
  if (options_.variant == CifarVariant::Cifar10)
    class_names_ = cifar10_class_names();
  else
    class_names_ = options_.labels == CifarLabels::Fine ? cifar100_fine_class_names()
                                                        : cifar100_coarse_class_names();
  std::vector<uint8_t> pixels;  // (N, 32, 32, 3) as it fills
  for (const auto& f : files) load(f, pixels);
  images_ = Tensor::empty({size(), kSide, kSide, kChannels}, DType::UInt8);
  std::copy(pixels.begin(), pixels.end(), images_.data<uint8_t>());
}

void CifarDataset::load(const std::filesystem::path& file, std::vector<uint8_t>& pixels) {
  const std::vector<uint8_t> bytes = read_file(file, who(options_));
  const int64_t lead = label_bytes(options_);
  const int64_t record = lead + kPixels;
  const auto n = static_cast<int64_t>(bytes.size());
  LNX_CHECK(n > 0, who(options_), ": ", file.string(), ": the file is empty");
  LNX_CHECK(n % record == 0, who(options_), ": ", file.string(), ": size ", n,
            " is not a multiple of the ", record, "-byte record (", lead, " label byte",
            lead > 1 ? "s" : "", " + 3072 pixels)",
            options_.variant == CifarVariant::Cifar10 && n % (kPixels + 2) == 0
                ? "; it looks like CIFAR-100"
                : "",
            options_.variant == CifarVariant::Cifar100 && n % (kPixels + 1) == 0
                ? "; it looks like CIFAR-10"
                : "");
  const int64_t records = n / record;
  // CIFAR-100 stores the coarse label first, then the fine one.
  const int64_t label_at =
      options_.variant == CifarVariant::Cifar100 && options_.labels == CifarLabels::Fine ? 1 : 0;
  const auto classes = static_cast<int64_t>(class_names_.size());
  const size_t first = pixels.size();
  pixels.resize(first + records * kPixels);
  for (int64_t r = 0; r < records; ++r) {
    const uint8_t* rec = bytes.data() + r * record;
    const int64_t label = rec[label_at];
    LNX_CHECK(label < classes, who(options_), ": ", file.string(), ": record ", r, " has label ",
              label, ", expected less than ", classes);
    labels_.push_back(label);
    // The file stores planes (C, H, W); datasets hand out (H, W, C).
    const uint8_t* planes = rec + lead;
    uint8_t* dst = pixels.data() + first + r * kPixels;
    for (int64_t i = 0; i < kSide * kSide; ++i)
      for (int64_t c = 0; c < kChannels; ++c)
        dst[i * kChannels + c] = planes[c * kSide * kSide + i];
  }
  file_ends_.emplace_back(file.filename().string(), size());
}

Example CifarDataset::get(int64_t index, Generator&) const {
  check_index(who(options_), index, size());
  return {images_.select(0, index), labels_[index]};
}

std::string CifarDataset::source(int64_t index) const {
  int64_t begin = 0;
  for (const auto& [name, end] : file_ends_) {
    if (index < end) return str(name, " record ", index - begin);
    begin = end;
  }
  return Dataset::source(index);
}

}  // namespace lnx::data
