// Image folders: root/<class>/<image>, classes sorted by folder name and numbered from 0, images
// sorted by file name within a class. Files are decoded by stb_image (JPEG, PNG, BMP, TGA, GIF,
// PNM), on every get() - the ImageNet path - or once up front into memory (preload), which suits
// small images such as CIFAR-10 as JPEG (60k 32x32 images, 180 MB decoded).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace lnx::data {

struct ImageFolderOptions {
  int channels = 3;         // 1 (gray) or 3 (RGB): stb converts whatever the file holds
  bool preload = false;     // decode everything once in the constructor
  int preload_threads = 0;  // 0: one per hardware thread
};

class ImageFolder : public Dataset {
 public:
  explicit ImageFolder(const std::filesystem::path& root, ImageFolderOptions options = {});

  int64_t size() const override { return static_cast<int64_t>(files_.size()); }
  Example get(int64_t index, Generator& rng) const override;
  const std::vector<std::string>& class_names() const override { return class_names_; }
  std::string source(int64_t index) const override;

  const std::filesystem::path& path(int64_t index) const;
  int64_t label(int64_t index) const;
  bool preloaded() const { return !decoded_.empty(); }

  // File extensions (lower case, with the dot) taken as images; other files are skipped.
  static const std::vector<std::string>& image_extensions();

 private:
  struct Entry {
    std::filesystem::path path;
    int64_t label;
  };

  std::filesystem::path root_;
  ImageFolderOptions options_;
  std::vector<std::string> class_names_;
  std::vector<Entry> files_;
  std::vector<Tensor> decoded_;  // (H, W, C) uint8 per image when preloaded
};

// Decodes one image file with stb_image into uint8 (H, W, channels); throws naming the file and
// stb's reason when it cannot.
Tensor decode_image_file(const std::filesystem::path& path, int channels);
// The same from bytes already in memory; `name` is used in errors.
Tensor decode_image(const uint8_t* bytes, size_t size, int channels, const std::string& name);

}  // namespace lnx::data
