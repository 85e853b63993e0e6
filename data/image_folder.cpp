#include "data/image_folder.h"

#include <stb/stb_image.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>

#include "core/error.h"
#include "data/file_io.h"

namespace lnx::data {
namespace {

constexpr const char* kWho = "image_folder";

std::string lower(std::string s) {
  for (char& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}

bool is_image_name(const std::filesystem::path& p) {
  const std::string name = p.filename().string();
  if (name.empty() || name[0] == '.') return false;  // hidden files, editor droppings
  const auto& exts = ImageFolder::image_extensions();
  return std::find(exts.begin(), exts.end(), lower(p.extension().string())) != exts.end();
}

// Runs fn(i) for i in [0, n) on `threads` threads; the first exception is rethrown here.
template <typename Fn>
void parallel_for(int64_t n, int threads, Fn fn) {
  std::atomic<int64_t> next{0};
  std::atomic<bool> failed{false};
  std::exception_ptr error;
  std::mutex mu;
  const auto work = [&] {
    for (int64_t i; !failed && (i = next++) < n;) {
      try {
        fn(i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mu);
        if (!error) error = std::current_exception();
        failed = true;
      }
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  if (error) std::rethrow_exception(error);
}

}  // namespace

const std::vector<std::string>& ImageFolder::image_extensions() {
  static const std::vector<std::string> exts = {".jpg", ".jpeg", ".png", ".bmp", ".tga",
                                                ".gif", ".pnm",  ".ppm", ".pgm"};
  return exts;
}

Tensor decode_image(const uint8_t* bytes, size_t size, int channels, const std::string& name) {
  LNX_CHECK(channels == 1 || channels == 3, kWho, ": channels must be 1 or 3, got ", channels);
  LNX_CHECK(size <= static_cast<size_t>(INT32_MAX), kWho, ": ", name, ": file of ", size,
            " bytes is too large for stb_image");
  int w = 0, h = 0, in_file = 0;
  const std::unique_ptr<stbi_uc, void (*)(void*)> pixels(
      stbi_load_from_memory(bytes, static_cast<int>(size), &w, &h, &in_file, channels),
      stbi_image_free);
  if (!pixels)
    fail(kWho, ": ", name, ": not a readable image (stb_image: ", stbi_failure_reason(), ")");
  Tensor image = Tensor::empty({h, w, channels}, DType::UInt8);  // (H, W, C)
  std::memcpy(image.data<uint8_t>(), pixels.get(), static_cast<size_t>(h) * w * channels);
  return image;
}

Tensor decode_image_file(const std::filesystem::path& path, int channels) {
  const std::vector<uint8_t> bytes = read_file(path, kWho);
  return decode_image(bytes.data(), bytes.size(), channels, path.string());
}

ImageFolder::ImageFolder(const std::filesystem::path& root, ImageFolderOptions options)
    : root_(root), options_(options) {
  LNX_CHECK(options_.channels == 1 || options_.channels == 3, kWho,
            ": channels must be 1 or 3, got ", options_.channels);
  LNX_CHECK(std::filesystem::is_directory(root_), kWho, ": ", root_.string(),
            " is not a directory");
  std::vector<std::filesystem::path> class_dirs;
  for (const auto& entry : std::filesystem::directory_iterator(root_)) {
    const std::string name = entry.path().filename().string();
    if (entry.is_directory() && !name.empty() && name[0] != '.') class_dirs.push_back(entry.path());
  }
  LNX_CHECK(!class_dirs.empty(), kWho, ": ", root_.string(),
            " has no class folders (expected root/<class>/<image>)");
  std::sort(class_dirs.begin(), class_dirs.end(),
            [](const auto& a, const auto& b) { return a.filename() < b.filename(); });
  for (const auto& dir : class_dirs) {
    const auto label = static_cast<int64_t>(class_names_.size());
    class_names_.push_back(dir.filename().string());
    std::vector<std::filesystem::path> images;
    for (const auto& entry : std::filesystem::directory_iterator(dir))
      if (entry.is_regular_file() && is_image_name(entry.path())) images.push_back(entry.path());
    LNX_CHECK(
        !images.empty(), kWho, ": class folder ", dir.string(),
        " holds no images (looked for .jpg, .jpeg, .png, .bmp, .tga, .gif, .pnm, .ppm, .pgm)");
    std::sort(images.begin(), images.end());
    for (auto& p : images) files_.push_back({std::move(p), label});
  }
  if (options_.preload) {
    const int threads = options_.preload_threads > 0
                            ? options_.preload_threads
                            : std::max(1u, std::thread::hardware_concurrency());
    std::vector<Tensor> decoded(files_.size());
    parallel_for(size(), threads, [&](int64_t i) {
      decoded[i] = decode_image_file(files_[i].path, options_.channels);
    });
    decoded_ = std::move(decoded);
  }
}

Example ImageFolder::get(int64_t index, Generator&) const {
  check_index(kWho, index, size());
  const Entry& e = files_[index];
  if (!decoded_.empty()) return {decoded_[index], e.label};
  return {decode_image_file(e.path, options_.channels), e.label};
}

std::string ImageFolder::source(int64_t index) const {
  check_index(kWho, index, size());
  return files_[index].path.string();
}

const std::filesystem::path& ImageFolder::path(int64_t index) const {
  check_index(kWho, index, size());
  return files_[index].path;
}

int64_t ImageFolder::label(int64_t index) const {
  check_index(kWho, index, size());
  return files_[index].label;
}

}  // namespace lnx::data
