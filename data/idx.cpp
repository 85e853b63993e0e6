#include "data/idx.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "core/error.h"
#include "data/file_io.h"

namespace lnx::data {
namespace {

constexpr const char* kWho = "idx";
constexpr uint32_t kImagesMagic = 0x00000803;  // unsigned byte, 3 dimensions
constexpr uint32_t kLabelsMagic = 0x00000801;  // unsigned byte, 1 dimension

uint32_t read_be32(const std::vector<uint8_t>& b, size_t at) {
  return (uint32_t{b[at]} << 24) | (uint32_t{b[at + 1]} << 16) | (uint32_t{b[at + 2]} << 8) |
         uint32_t{b[at + 3]};
}

std::string hex(uint32_t v) {
  static const char* digits = "0123456789abcdef";
  std::string s = "0x";
  for (int shift = 28; shift >= 0; shift -= 4) s += digits[(v >> shift) & 0xF];
  return s;
}

// Checks the magic and that the header's dimensions account for every byte after it.
void check_header(const std::vector<uint8_t>& b, const std::filesystem::path& path, uint32_t magic,
                  const char* kind, size_t header_bytes) {
  if (b.size() >= 4) {
    const uint32_t found = read_be32(b, 0);
    LNX_CHECK(found == magic, kWho, ": ", path.string(), ": magic ", hex(found), " does not match ",
              hex(magic), " (", kind, ")",
              found == kLabelsMagic || found == kImagesMagic
                  ? "; are the images and labels files swapped?"
                  : "");
  }
  LNX_CHECK(b.size() >= header_bytes, kWho, ": ", path.string(), ": file of ", b.size(),
            " bytes is shorter than the ", header_bytes, "-byte ", kind, " header");
}

}  // namespace

const std::vector<std::string>& mnist_class_names() {
  static const std::vector<std::string> names = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
  return names;
}

const std::vector<std::string>& fashion_mnist_class_names() {
  static const std::vector<std::string> names = {"T-shirt/top", "Trouser",   "Pullover", "Dress",
                                                 "Coat",        "Sandal",    "Shirt",    "Sneaker",
                                                 "Bag",         "Ankle boot"};
  return names;
}

IdxDataset::IdxDataset(const std::filesystem::path& images_file,
                       const std::filesystem::path& labels_file,
                       std::vector<std::string> class_names)
    : images_name_(images_file.filename().string()), class_names_(std::move(class_names)) {
  const std::vector<uint8_t> img = read_maybe_gzip(images_file, kWho);
  check_header(img, images_file, kImagesMagic, "idx3 unsigned-byte images", 16);
  const int64_t n = read_be32(img, 4), rows = read_be32(img, 8), cols = read_be32(img, 12);
  // The header's product can overflow for a corrupt file; such a header cannot match anyway.
  const bool fits = rows == 0 || cols == 0 || n <= INT64_MAX / rows / cols;
  const int64_t expected = fits ? n * rows * cols : -1;
  const auto have = static_cast<int64_t>(img.size()) - 16;
  LNX_CHECK(fits && have == expected, kWho, ": ", images_file.string(), ": header says ", n,
            " images of ", rows, "x", cols, " = ", fits ? str(expected) : str("over 2^63"),
            " bytes after the 16-byte header, the file holds ", have);

  const std::vector<uint8_t> lab = read_maybe_gzip(labels_file, kWho);
  check_header(lab, labels_file, kLabelsMagic, "idx1 unsigned-byte labels", 8);
  const int64_t n_labels = read_be32(lab, 4);
  LNX_CHECK(static_cast<int64_t>(lab.size()) - 8 == n_labels, kWho, ": ", labels_file.string(),
            ": header says ", n_labels, " labels, the file holds ", lab.size() - 8,
            " bytes after the 8-byte header");
  LNX_CHECK(n_labels == n, kWho, ": ", labels_file.string(), " has ", n_labels, " labels but ",
            images_file.string(), " has ", n, " images");

  labels_.assign(lab.begin() + 8, lab.end());
  const int64_t max_label =
      labels_.empty() ? -1 : *std::max_element(labels_.begin(), labels_.end());
  if (class_names_.empty())
    for (int64_t c = 0; c <= max_label; ++c) class_names_.push_back(std::to_string(c));
  LNX_CHECK(max_label < static_cast<int64_t>(class_names_.size()), kWho, ": ", labels_file.string(),
            " has label ", max_label, " but only ", class_names_.size(), " class names were given");
  images_ = Tensor::empty({n, rows, cols, 1}, DType::UInt8);
  if (expected > 0) std::memcpy(images_.data<uint8_t>(), img.data() + 16, expected);
}

IdxDataset IdxDataset::from_folder(const std::filesystem::path& root, bool train,
                                   std::vector<std::string> class_names) {
  const std::string prefix = train ? "train" : "t10k";
  const auto find = [&](const std::string& kind, const std::string& idx) {
    for (const char* sep : {"-", "."})
      for (const char* ext : {"", ".gz"}) {
        const auto p = root / (prefix + "-" + kind + sep + idx + "-ubyte" + ext);
        if (std::filesystem::is_regular_file(p)) return p;
      }
    fail(kWho, ": missing file ",
         (root / (prefix + "-" + kind + "-" + idx + "-ubyte[.gz]")).string());
  };
  const std::filesystem::path images = find("images", "idx3");  // reported first when missing
  return IdxDataset(images, find("labels", "idx1"), std::move(class_names));
}

Example IdxDataset::get(int64_t index, Generator&) const {
  check_index(kWho, index, size());
  return {images_.select(0, index), labels_[index]};
}

std::string IdxDataset::source(int64_t index) const {
  return str(images_name_, " image ", index);
}

}  // namespace lnx::data
