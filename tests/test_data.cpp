// data/: datasets, transforms and the DataLoader. Every input file is written at test time into a
// temporary folder: CIFAR binaries, IDX files (plain and gzip), image folders (PNG/BMP/JPEG
// through stb_image_write).
#include <unistd.h>
#include <zlib.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/ops_nn.h"
#include "core/random.h"
#include "core/tensor.h"
#include "data/cifar.h"
#include "data/dataset.h"
#include "data/idx.h"
#include "data/image_folder.h"
#include "data/loader.h"
#include "data/sampling.h"
#include "data/throughput.h"
#include "data/transforms.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wall"
#pragma GCC diagnostic ignored "-Wextra"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>
#pragma GCC diagnostic pop

using namespace lnx;
using namespace lnx::data;
namespace fs = std::filesystem;

namespace {

// A fresh folder under the system temp dir, removed with everything in it at scope exit.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = fs::temp_directory_path() / str("lnx_test_data_", getpid(), "_", counter++);
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }
  fs::path operator/(const std::string& name) const { return path_ / name; }

 private:
  fs::path path_;
};

void write_bytes(const fs::path& path, const std::vector<uint8_t>& bytes) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out.good());
}

void write_gzip(const fs::path& path, const std::vector<uint8_t>& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  REQUIRE(f != nullptr);
  REQUIRE(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())) ==
          static_cast<int>(bytes.size()));
  REQUIRE(gzclose(f) == Z_OK);
}

// The pixel byte of CIFAR record `r`, channel c, position i = y * 32 + x.
uint8_t cifar_pixel(int64_t r, int64_t c, int64_t i) {
  return static_cast<uint8_t>((r * 7 + c * 50 + i) % 256);
}

// `records` CIFAR records; labels come from `label_of(r)` (one byte each, in order).
std::vector<uint8_t> cifar_bytes(int64_t records, int64_t first_record,
                                 const std::function<std::vector<uint8_t>(int64_t)>& label_of) {
  std::vector<uint8_t> out;
  for (int64_t r = first_record; r < first_record + records; ++r) {
    for (uint8_t l : label_of(r)) out.push_back(l);
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t i = 0; i < 1024; ++i) out.push_back(cifar_pixel(r, c, i));
  }
  return out;
}

std::vector<uint8_t> be32(uint32_t v) {
  return {static_cast<uint8_t>(v >> 24), static_cast<uint8_t>(v >> 16),
          static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v)};
}

std::vector<uint8_t> idx_images(uint32_t n, uint32_t rows, uint32_t cols) {
  std::vector<uint8_t> out;
  for (uint32_t v : {0x00000803u, n, rows, cols})
    for (uint8_t b : be32(v)) out.push_back(b);
  for (uint32_t i = 0; i < n * rows * cols; ++i) out.push_back(static_cast<uint8_t>(i * 3 % 256));
  return out;
}

std::vector<uint8_t> idx_labels(uint32_t n) {
  std::vector<uint8_t> out;
  for (uint32_t v : {0x00000801u, n})
    for (uint8_t b : be32(v)) out.push_back(b);
  for (uint32_t i = 0; i < n; ++i) out.push_back(static_cast<uint8_t>((i * 3) % 10));
  return out;
}

// A uint8 (H, W, C) image whose value at (y, x, c) is 100 * c + 10 * y + x (small sizes only).
Tensor coded_image(int64_t h, int64_t w, int64_t c) {
  std::vector<uint8_t> v;
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x)
      for (int64_t k = 0; k < c; ++k) v.push_back(static_cast<uint8_t>(100 * k + 10 * y + x));
  return from_vector(v, {h, w, c});
}

uint8_t at(const Tensor& hwc, int64_t y, int64_t x, int64_t c) {
  const Tensor t = hwc.contiguous();
  return t.data<uint8_t>()[(y * t.size(1) + x) * t.size(2) + c];
}

float atf(const Tensor& chw, int64_t c, int64_t y, int64_t x) {
  const Tensor t = chw.contiguous();
  return t.data<float>()[(c * t.size(1) + y) * t.size(2) + x];
}

// An RGB image with a pattern that depends on (seed, y, x, c), written lossless.
std::vector<uint8_t> pattern(int w, int h, int seed) {
  std::vector<uint8_t> px(static_cast<size_t>(w) * h * 3);
  for (size_t i = 0; i < px.size(); ++i) px[i] = static_cast<uint8_t>((i * 13 + seed * 31) % 256);
  return px;
}

void write_png(const fs::path& path, int w, int h, const std::vector<uint8_t>& rgb) {
  fs::create_directories(path.parent_path());
  REQUIRE(stbi_write_png(path.c_str(), w, h, 3, rgb.data(), w * 3) != 0);
}

void write_bmp(const fs::path& path, int w, int h, const std::vector<uint8_t>& rgb) {
  fs::create_directories(path.parent_path());
  REQUIRE(stbi_write_bmp(path.c_str(), w, h, 3, rgb.data()) != 0);
}

std::shared_ptr<const Dataset> transformed(std::shared_ptr<const Dataset> base, TransformPtr t) {
  return std::make_shared<TransformedDataset>(std::move(base), std::move(t));
}

// A dataset of `n` float (1, 2, 2) images filled with the index; label = index % 3. Its
// transform-free samples make batch contents easy to check.
class CountingDataset : public Dataset {
 public:
  explicit CountingDataset(int64_t n) : n_(n) {}
  int64_t size() const override { return n_; }
  Example get(int64_t index, Generator& rng) const override {
    check_index("counting", index, n_);
    // One draw from the sample's generator makes augmentation determinism visible.
    return {full({1, 2, 2}, static_cast<double>(index) + rng.next_double() * 0.5), index % 3};
  }
  const std::vector<std::string>& class_names() const override { return names_; }

 private:
  int64_t n_;
  std::vector<std::string> names_ = {"a", "b", "c"};
};

std::vector<Batch> read_epoch(DataLoader& loader, int64_t epoch) {
  loader.start_epoch(epoch);
  std::vector<Batch> out;
  while (auto b = loader.next()) out.push_back(std::move(*b));
  return out;
}

}  // namespace

// ---------------------------------------------------------------- CIFAR

TEST_CASE("cifar10 reads labels and pixels from the binary batches", "[data][cifar]") {
  TempDir dir;
  const auto label = [](int64_t r) { return std::vector<uint8_t>{static_cast<uint8_t>(r % 10)}; };
  for (int i = 1; i <= 5; ++i)
    write_bytes(dir / str("data_batch_", i, ".bin"), cifar_bytes(2, 2 * (i - 1), label));
  write_bytes(dir / "test_batch.bin", cifar_bytes(3, 100, label));

  CifarDataset train(dir.path(), {.variant = CifarVariant::Cifar10, .train = true});
  REQUIRE(train.size() == 10);
  CHECK(train.num_classes() == 10);
  CHECK(train.class_names()[0] == "airplane");
  CHECK(train.class_names()[9] == "truck");
  Generator g(0);
  for (int64_t r = 0; r < 10; ++r) {
    const Example e = train.get(r, g);
    CHECK(e.label == r % 10);
    REQUIRE(e.image.shape() == Shape{32, 32, 3});
    CHECK(e.image.dtype() == DType::UInt8);
    // The file's planes (C, H, W) come out (H, W, C).
    CHECK(at(e.image, 0, 0, 0) == cifar_pixel(r, 0, 0));
    CHECK(at(e.image, 5, 7, 2) == cifar_pixel(r, 2, 5 * 32 + 7));
    CHECK(at(e.image, 31, 31, 1) == cifar_pixel(r, 1, 1023));
  }
  CHECK(train.source(3) == "data_batch_2.bin record 1");

  CifarDataset test(dir.path(), {.variant = CifarVariant::Cifar10, .train = false});
  REQUIRE(test.size() == 3);
  CHECK(test.get(2, g).label == 102 % 10);
  CHECK(at(test.get(2, g).image, 1, 2, 1) == cifar_pixel(102, 1, 34));
  CHECK_THROWS_WITH(test.get(3, g), Catch::Contains("index 3 is out of range for 3"));
}

TEST_CASE("cifar10 finds the release folder inside root", "[data][cifar]") {
  TempDir dir;
  const auto label = [](int64_t) { return std::vector<uint8_t>{4}; };
  write_bytes(dir / "cifar-10-batches-bin" / "test_batch.bin", cifar_bytes(1, 0, label));
  CifarDataset test(dir.path(), {.variant = CifarVariant::Cifar10, .train = false});
  Generator g(0);
  CHECK(test.get(0, g).label == 4);
}

TEST_CASE("cifar100 reads fine or coarse labels", "[data][cifar]") {
  TempDir dir;
  const auto labels = [](int64_t r) {  // coarse byte first, then fine
    return std::vector<uint8_t>{static_cast<uint8_t>(r % 20), static_cast<uint8_t>(50 + r)};
  };
  write_bytes(dir / "train.bin", cifar_bytes(4, 0, labels));
  CifarDataset fine(dir.path(), {.variant = CifarVariant::Cifar100, .train = true});
  CifarDataset coarse(
      dir.path(),
      {.variant = CifarVariant::Cifar100, .train = true, .labels = CifarLabels::Coarse});
  CHECK(fine.num_classes() == 100);
  CHECK(coarse.num_classes() == 20);
  CHECK(fine.class_names()[99] == "worm");
  CHECK(coarse.class_names()[19] == "vehicles_2");
  Generator g(0);
  for (int64_t r = 0; r < 4; ++r) {
    CHECK(fine.get(r, g).label == 50 + r);
    CHECK(coarse.get(r, g).label == r);
    CHECK(at(fine.get(r, g).image, 3, 4, 2) == cifar_pixel(r, 2, 3 * 32 + 4));
  }
}

TEST_CASE("cifar reports malformed files", "[data][cifar][errors]") {
  TempDir dir;
  const CifarOptions c10{.variant = CifarVariant::Cifar10, .train = true};
  const auto label = [](int64_t) { return std::vector<uint8_t>{1}; };

  SECTION("missing file") {
    write_bytes(dir / "data_batch_1.bin", cifar_bytes(1, 0, label));
    write_bytes(dir / "data_batch_2.bin", cifar_bytes(1, 0, label));
    CHECK_THROWS_WITH(CifarDataset(dir.path(), c10),
                      Catch::Contains("missing file") && Catch::Contains("data_batch_3.bin"));
  }
  SECTION("size not a multiple of the record") {
    write_bytes(dir / "data_batch_1.bin", std::vector<uint8_t>(30000, 0));
    CHECK_THROWS_WITH(
        CifarDataset(std::vector<fs::path>{dir / "data_batch_1.bin"}, c10),
        Catch::Contains("data_batch_1.bin: size 30000 is not a multiple of the 3073-byte record"));
  }
  SECTION("a CIFAR-100 file read as CIFAR-10") {
    const auto two = [](int64_t) { return std::vector<uint8_t>{1, 2}; };
    write_bytes(dir / "train.bin", cifar_bytes(3, 0, two));
    CHECK_THROWS_WITH(
        CifarDataset(std::vector<fs::path>{dir / "train.bin"}, c10),
        Catch::Contains("3073-byte record") && Catch::Contains("it looks like CIFAR-100"));
  }
  SECTION("empty file") {
    write_bytes(dir / "data_batch_1.bin", {});
    CHECK_THROWS_WITH(CifarDataset(std::vector<fs::path>{dir / "data_batch_1.bin"}, c10),
                      Catch::Contains("data_batch_1.bin: the file is empty"));
  }
  SECTION("label out of range") {
    const auto bad = [](int64_t r) { return std::vector<uint8_t>{static_cast<uint8_t>(r * 12)}; };
    write_bytes(dir / "data_batch_1.bin", cifar_bytes(2, 0, bad));
    CHECK_THROWS_WITH(CifarDataset(std::vector<fs::path>{dir / "data_batch_1.bin"}, c10),
                      Catch::Contains("data_batch_1.bin: record 1 has label 12") &&
                          Catch::Contains("less than 10"));
  }
}

// ---------------------------------------------------------------- IDX

TEST_CASE("idx reads plain and gzip MNIST-style files", "[data][idx]") {
  TempDir dir;
  const auto images = idx_images(5, 3, 4), labels = idx_labels(5);
  write_bytes(dir / "train-images-idx3-ubyte", images);
  write_bytes(dir / "train-labels-idx1-ubyte", labels);
  write_gzip(dir / "t10k-images-idx3-ubyte.gz", images);
  write_gzip(dir / "t10k-labels-idx1-ubyte.gz", labels);

  const IdxDataset plain = IdxDataset::from_folder(dir.path(), true);
  const IdxDataset gz = IdxDataset::from_folder(dir.path(), false, mnist_class_names());
  Generator g(0);
  for (const IdxDataset* ds : {&plain, &gz}) {
    REQUIRE(ds->size() == 5);
    for (int64_t i = 0; i < 5; ++i) {
      const Example e = ds->get(i, g);
      REQUIRE(e.image.shape() == Shape{3, 4, 1});
      CHECK(e.label == (i * 3) % 10);
      CHECK(at(e.image, 2, 1, 0) == static_cast<uint8_t>((i * 12 + 2 * 4 + 1) * 3 % 256));
    }
  }
  CHECK(plain.num_classes() == 10);  // labels 0, 3, 6, 9, 2: "0".."9" up to the largest
  CHECK(gz.num_classes() == 10);
  CHECK(plain.source(2) == "train-images-idx3-ubyte image 2");
}

TEST_CASE("idx reports malformed files", "[data][idx][errors]") {
  TempDir dir;
  const fs::path img = dir / "img", lab = dir / "lab";
  SECTION("magic mismatch") {
    auto bytes = idx_images(2, 2, 2);
    bytes[3] = 0x02;
    write_bytes(img, bytes);
    write_bytes(lab, idx_labels(2));
    CHECK_THROWS_WITH(IdxDataset(img, lab),
                      Catch::Contains("magic 0x00000802 does not match 0x00000803"));
  }
  SECTION("images and labels swapped") {
    write_bytes(img, idx_images(2, 2, 2));
    write_bytes(lab, idx_labels(2));
    CHECK_THROWS_WITH(IdxDataset(lab, img),
                      Catch::Contains("lab: magic 0x00000801") && Catch::Contains("swapped"));
  }
  SECTION("header dimensions do not match the file size") {
    auto bytes = idx_images(3, 2, 2);
    bytes.pop_back();
    write_gzip(img, bytes);
    write_bytes(lab, idx_labels(3));
    CHECK_THROWS_WITH(
        IdxDataset(img, lab),
        Catch::Contains("header says 3 images of 2x2 = 12 bytes") && Catch::Contains("holds 11"));
  }
  SECTION("image and label counts differ") {
    write_bytes(img, idx_images(3, 2, 2));
    write_bytes(lab, idx_labels(4));
    CHECK_THROWS_WITH(IdxDataset(img, lab),
                      Catch::Contains("has 4 labels but") && Catch::Contains("has 3 images"));
  }
  SECTION("label count does not match the file") {
    auto bytes = idx_labels(4);
    bytes.push_back(0);
    write_bytes(img, idx_images(4, 2, 2));
    write_bytes(lab, bytes);
    CHECK_THROWS_WITH(IdxDataset(img, lab), Catch::Contains("header says 4 labels"));
  }
  SECTION("truncated gzip") {
    write_gzip(img, idx_images(50, 8, 8));
    std::vector<uint8_t> gz;
    {
      std::ifstream in(img, std::ios::binary);
      gz.assign(std::istreambuf_iterator<char>(in), {});
    }
    gz.resize(gz.size() / 2);
    write_bytes(img, gz);
    write_bytes(lab, idx_labels(50));
    CHECK_THROWS_WITH(IdxDataset(img, lab), Catch::Contains("img: cannot decompress"));
  }
  SECTION("missing files") {
    CHECK_THROWS_WITH(IdxDataset(img, lab),
                      Catch::Contains("cannot open") && Catch::Contains("img"));
    CHECK_THROWS_WITH(
        IdxDataset::from_folder(dir.path(), true),
        Catch::Contains("missing file") && Catch::Contains("train-images-idx3-ubyte"));
  }
  SECTION("too few class names") {
    write_bytes(img, idx_images(5, 2, 2));
    write_bytes(lab, idx_labels(5));
    CHECK_THROWS_WITH(IdxDataset(img, lab, {"a", "b"}),
                      Catch::Contains("has label 9 but only 2 class names"));
  }
}

TEST_CASE("Fashion-MNIST from the Debian package", "[data][idx][real]") {
  const fs::path root = "/usr/share/datasets/fashion-mnist";
  if (!fs::exists(root / "t10k-images-idx3-ubyte.gz")) {
    WARN("skipped: " << root << " is not installed (apt-get install dataset-fashion-mnist)");
    return;
  }
  const IdxDataset test = IdxDataset::from_folder(root, false, fashion_mnist_class_names());
  REQUIRE(test.size() == 10000);
  CHECK(test.num_classes() == 10);
  std::vector<int64_t> per_class(10, 0);
  Generator g(0);
  for (int64_t i = 0; i < test.size(); ++i) per_class[test.get(i, g).label]++;
  CHECK(per_class == std::vector<int64_t>(10, 1000));
  const Example e = test.get(0, g);
  CHECK(e.image.shape() == Shape{28, 28, 1});
  CHECK(e.label == 9);  // the first test image is an ankle boot
}

// ---------------------------------------------------------------- image folders

TEST_CASE("image folder sorts classes and decodes PNG and BMP exactly", "[data][image_folder]") {
  TempDir dir;
  const auto a0 = pattern(5, 4, 0), a1 = pattern(5, 4, 1), b0 = pattern(3, 6, 2);
  // Classes are numbered by sorted folder name, whatever the creation order.
  write_png(dir / "zebra" / "img_b.png", 3, 6, b0);
  write_png(dir / "ant" / "2.png", 5, 4, a1);
  write_bmp(dir / "ant" / "1.bmp", 5, 4, a0);
  write_bytes(dir / "ant" / "notes.txt", {'h', 'i'});  // not an image extension: skipped
  write_bytes(dir / "ant" / ".hidden.png", {'x'});     // hidden: skipped

  ImageFolder ds(dir.path());
  REQUIRE(ds.size() == 3);
  CHECK(ds.class_names() == std::vector<std::string>{"ant", "zebra"});
  CHECK(ds.path(0).filename() == "1.bmp");
  CHECK(ds.path(1).filename() == "2.png");
  CHECK(ds.label(2) == 1);
  Generator g(0);
  const Example e0 = ds.get(0, g), e1 = ds.get(1, g), e2 = ds.get(2, g);
  CHECK(e0.label == 0);
  CHECK(e2.label == 1);
  REQUIRE(e0.image.shape() == Shape{4, 5, 3});
  REQUIRE(e2.image.shape() == Shape{6, 3, 3});
  CHECK(e0.image.to_vector<uint8_t>() == a0);
  CHECK(e1.image.to_vector<uint8_t>() == a1);
  CHECK(e2.image.to_vector<uint8_t>() == b0);

  ImageFolder preloaded(dir.path(), {.preload = true, .preload_threads = 2});
  CHECK(preloaded.preloaded());
  for (int64_t i = 0; i < 3; ++i)
    CHECK(preloaded.get(i, g).image.to_vector<uint8_t>() ==
          ds.get(i, g).image.to_vector<uint8_t>());

  ImageFolder gray(dir.path(), {.channels = 1});
  CHECK(gray.get(0, g).image.shape() == Shape{4, 5, 1});
}

TEST_CASE("image folder reports bad layouts and files", "[data][image_folder][errors]") {
  TempDir dir;
  SECTION("no class folders") {
    write_png(dir / "loose.png", 2, 2, pattern(2, 2, 0));
    CHECK_THROWS_WITH(ImageFolder(dir.path()), Catch::Contains("has no class folders"));
  }
  SECTION("root is not a directory") {
    CHECK_THROWS_WITH(ImageFolder(dir / "nope"), Catch::Contains("nope is not a directory"));
  }
  SECTION("empty class folder") {
    write_png(dir / "cat" / "a.png", 2, 2, pattern(2, 2, 0));
    fs::create_directories(dir / "dog");
    write_bytes(dir / "dog" / "readme.txt", {'x'});
    CHECK_THROWS_WITH(ImageFolder(dir.path()),
                      Catch::Contains("class folder") && Catch::Contains("dog holds no images"));
  }
  SECTION("a file that is not an image") {
    write_png(dir / "cat" / "a.png", 2, 2, pattern(2, 2, 0));
    write_bytes(dir / "cat" / "b.png",
                {'n', 'o', 't', ' ', 'a', 'n', ' ', 'i', 'm', 'a', 'g', 'e'});
    ImageFolder lazy(dir.path());
    Generator g(0);
    CHECK_THROWS_WITH(lazy.get(1, g), Catch::Contains("b.png: not a readable image (stb_image: "));
    CHECK_THROWS_WITH(ImageFolder(dir.path(), {.preload = true, .preload_threads = 2}),
                      Catch::Contains("b.png: not a readable image"));
  }
}

// ---------------------------------------------------------------- transforms

TEST_CASE("crop_zero_padded places the window and pads with zeros", "[data][transforms]") {
  const Tensor img = coded_image(3, 4, 2);
  const Tensor c = crop_zero_padded(img, -1, 2, 3, 3);  // rows -1..1, columns 2..4
  REQUIRE(c.shape() == Shape{3, 3, 2});
  CHECK(at(c, 0, 0, 0) == 0);                 // row -1
  CHECK(at(c, 1, 0, 1) == 100 + 0 * 10 + 2);  // (0, 2, 1)
  CHECK(at(c, 2, 1, 0) == 10 + 3);            // (1, 3, 0)
  CHECK(at(c, 2, 2, 0) == 0);                 // column 4
  CHECK(crop_zero_padded(img, 0, 0, 3, 4).to_vector<uint8_t>() == img.to_vector<uint8_t>());
}

TEST_CASE("RandomCrop draws every offset of the padded image", "[data][transforms]") {
  const Tensor img = coded_image(4, 4, 1);
  const RandomCrop crop(4, 4, 2);
  std::set<std::pair<int64_t, int64_t>> offsets;
  for (uint64_t s = 0; s < 400; ++s) {
    Generator g(s);
    const Tensor c = crop(img, g);
    REQUIRE(c.shape() == Shape{4, 4, 1});
    // Replay the draws RandomCrop makes (top, then left, in [0, 4]) to know the window.
    Generator replay(s);
    const int64_t top = uniform_int(replay, 0, 4) - 2;
    const int64_t left = uniform_int(replay, 0, 4) - 2;
    offsets.insert({top, left});
    CHECK(c.to_vector<uint8_t>() == crop_zero_padded(img, top, left, 4, 4).to_vector<uint8_t>());
  }
  CHECK(offsets.size() == 25);  // top, left in [-2, 2]
  Generator g(0);
  CHECK_THROWS_WITH(RandomCrop(8, 8, 1)(img, g), Catch::Contains("smaller than the 8x8 crop"));
  CHECK_THROWS_WITH(crop(from_vector(std::vector<float>(16, 0.f), {4, 4, 1}), g),
                    Catch::Contains("RandomCrop: expects a uint8 (H, W, C) image, got float32"));
}

TEST_CASE("RandomHorizontalFlip mirrors columns", "[data][transforms]") {
  const Tensor img = coded_image(2, 3, 2);
  Generator always(1), never(1);
  const Tensor f = RandomHorizontalFlip(1.0)(img, always);
  CHECK(at(f, 0, 0, 0) == at(img, 0, 2, 0));
  CHECK(at(f, 1, 2, 1) == at(img, 1, 0, 1));
  CHECK(at(f, 1, 1, 1) == at(img, 1, 1, 1));
  CHECK(RandomHorizontalFlip(0.0)(img, never).to_vector<uint8_t>() == img.to_vector<uint8_t>());
  int flips = 0;
  for (uint64_t s = 0; s < 1000; ++s) {
    Generator g(s);
    flips += at(RandomHorizontalFlip(0.5)(img, g), 0, 0, 0) != at(img, 0, 0, 0);
  }
  CHECK(flips > 400);
  CHECK(flips < 600);
}

TEST_CASE("ToTensor and Normalize", "[data][transforms]") {
  const Tensor img = from_vector(std::vector<uint8_t>{0, 255, 51, 102, 204, 0}, {1, 2, 3});
  Generator g(0);
  const Tensor t = ToTensor()(img, g);
  REQUIRE(t.shape() == Shape{3, 1, 2});
  CHECK(t.to_vector<float>() ==
        std::vector<float>{0.0f, 102 / 255.0f, 1.0f, 204 / 255.0f, 51 / 255.0f, 0.0f});
  const Tensor n = Normalize({0.5f, 0.0f, 1.0f}, {0.5f, 2.0f, 0.25f})(t, g);
  CHECK(atf(n, 0, 0, 0) == Approx(-1.0f));
  CHECK(atf(n, 0, 0, 1) == Approx((102 / 255.0f - 0.5f) / 0.5f));
  CHECK(atf(n, 1, 0, 0) == Approx(0.5f));
  CHECK(atf(n, 2, 0, 1) == Approx(-4.0f));
  CHECK_THROWS_WITH(Normalize({0.5f}, {0.5f})(t, g),
                    Catch::Contains("Normalize: image has 3 channels, mean/std have 1"));
  CHECK_THROWS_WITH(Normalize({0.5f}, {0.0f}), Catch::Contains("must be positive"));
  CHECK_THROWS_WITH(Normalize({0.5f}, {0.5f})(img, g), Catch::Contains("apply ToTensor first"));
}

TEST_CASE("Resize is bilinear with half-pixel centers and antialiased when shrinking",
          "[data][transforms]") {
  Generator g(0);
  // Up: [0, 100] -> sources at -0.25 (clamped), 0.25, 0.75, 1.25 (clamped).
  const Tensor row = from_vector(std::vector<uint8_t>{0, 100}, {1, 2, 1});
  CHECK(Resize(1, 4)(row, g).to_vector<uint8_t>() == std::vector<uint8_t>{0, 25, 75, 100});
  // 2x2 -> 4x4: separable, so the corners keep their values and the middle averages.
  const Tensor sq = from_vector(std::vector<uint8_t>{0, 100, 200, 40}, {2, 2, 1});
  const Tensor up = Resize(4, 4)(sq, g);
  CHECK(at(up, 0, 0, 0) == 0);
  CHECK(at(up, 3, 3, 0) == 40);
  CHECK(at(up, 0, 1, 0) == 25);
  CHECK(at(up, 1, 1, 0) == 59);  // 0.75 * (0.75 * 0 + 0.25 * 100) + 0.25 * (0.75 * 200 + 0.25 * 40)
  // Down by 2: the triangle filter widened to support 2 over [0, 40, 80, 120]: output 0 is
  // centered at 1.0 with taps 0, 1, 2 weighted 0.75, 0.75, 0.25 (normalized by 1.75).
  const Tensor line = from_vector(std::vector<uint8_t>{0, 40, 80, 120}, {1, 4, 1});
  CHECK(Resize(1, 2)(line, g).to_vector<uint8_t>() == std::vector<uint8_t>{29, 91});
  // Shorter side: (4, 8) -> (2, 4); (9, 6) -> shorter 4, longer 4 * 9 / 6 = 6.
  CHECK(Resize(2)(coded_image(4, 8, 3), g).shape() == Shape{2, 4, 3});
  CHECK(Resize(4)(coded_image(9, 6, 1), g).shape() == Shape{6, 4, 1});
  // A constant image stays constant at any size.
  const Tensor flat = from_vector(std::vector<uint8_t>(7 * 5 * 3, 77), {7, 5, 3});
  CHECK(Resize(3, 11)(flat, g).to_vector<uint8_t>() == std::vector<uint8_t>(3 * 11 * 3, 77));
}

TEST_CASE("CenterCrop takes the middle, padding small images", "[data][transforms]") {
  Generator g(0);
  const Tensor img = coded_image(5, 6, 1);
  const Tensor c = CenterCrop(3, 2)(img, g);  // top 1, left 2
  REQUIRE(c.shape() == Shape{3, 2, 1});
  CHECK(at(c, 0, 0, 0) == 12);
  CHECK(at(c, 2, 1, 0) == 33);
  const Tensor big = CenterCrop(7)(coded_image(5, 5, 1), g);  // padded by 1 all round
  CHECK(at(big, 0, 0, 0) == 0);
  CHECK(at(big, 1, 1, 0) == 0 /* pixel (0, 0) */);
  CHECK(at(big, 2, 3, 0) == 12);
  CHECK(at(big, 6, 6, 0) == 0);
}

TEST_CASE("RandomResizedCrop picks a window in range and resizes it", "[data][transforms]") {
  const Tensor img = coded_image(8, 8, 3);
  // Scale 1 and ratio 1: the whole image, resized to itself.
  Generator g(3);
  CHECK(RandomResizedCrop(8, 1.0, 1.0, 1.0, 1.0)(img, g).to_vector<uint8_t>() ==
        img.to_vector<uint8_t>());
  // Defaults: always (size, size), and the same generator state gives the same crop.
  const RandomResizedCrop rrc(5);
  for (uint64_t s = 0; s < 50; ++s) {
    Generator a(s), b(s);
    const Tensor x = rrc(coded_image(9, 17, 3), a);
    CHECK(x.shape() == Shape{5, 5, 3});
    CHECK(x.to_vector<uint8_t>() == rrc(coded_image(9, 17, 3), b).to_vector<uint8_t>());
  }
  // Impossible ratios fall back to a centered crop of the allowed ratio: a 2x8 image with ratio
  // fixed at 1 becomes its centered 2x2 window, columns 3 and 4.
  Generator f(0);
  const Tensor fb = RandomResizedCrop(2, 1.0, 1.0, 1.0, 1.0)(coded_image(2, 8, 1), f);
  CHECK(fb.to_vector<uint8_t>() == std::vector<uint8_t>{3, 4, 13, 14});
}

TEST_CASE("the fused CIFAR transform equals crop + flip + ToTensor + Normalize",
          "[data][transforms]") {
  std::vector<uint8_t> px(32 * 32 * 3);
  for (size_t i = 0; i < px.size(); ++i) px[i] = static_cast<uint8_t>(i * 7 % 251);
  const Tensor img = from_vector(px, {32, 32, 3});
  const Compose composed({std::make_shared<RandomCrop>(32, 32, 4),
                          std::make_shared<RandomHorizontalFlip>(0.5), std::make_shared<ToTensor>(),
                          std::make_shared<Normalize>(kCifar10Mean, kCifar10Std)});
  const TransformPtr fused = cifar_train_transform(kCifar10Mean, kCifar10Std);
  for (uint64_t s = 0; s < 64; ++s) {
    Generator a(s), b(s);
    const Tensor x = composed(img, a), y = (*fused)(img, b);
    REQUIRE(y.shape() == Shape{3, 32, 32});
    CHECK(x.to_vector<float>() == y.to_vector<float>());
    CHECK(a.offset() == b.offset());  // same number of draws
  }
  CHECK(composed.name().find("RandomCrop(32x32, padding=4)") != std::string::npos);
}

TEST_CASE("CropFlip bytes normalised later equal the fused CIFAR transform", "[data][transforms]") {
  std::vector<uint8_t> px(32 * 32 * 3);
  for (size_t i = 0; i < px.size(); ++i) px[i] = static_cast<uint8_t>(i * 13 % 256);
  const Tensor img = from_vector(px, {32, 32, 3});
  const TransformPtr fused = cifar_train_transform(kCifar10Mean, kCifar10Std);
  const CropFlip bytes(32, 4, 0.5);
  for (uint64_t s = 0; s < 32; ++s) {
    Generator a(s), b(s);
    const Tensor want = (*fused)(img, a), got = bytes(img, b);
    REQUIRE(got.dtype() == DType::UInt8);
    REQUIRE(got.shape() == Shape{3, 32, 32});
    CHECK(a.offset() == b.offset());
    const Tensor normalised = ops::normalize_images(got.view({1, 3, 32, 32}), kCifar10Mean,
                                                    kCifar10Std);  // (1, 3, 32, 32)
    CHECK(normalised.to_vector<float>() == want.to_vector<float>());
  }
  Generator g(0);
  const Tensor chw = ToChw()(img, g);  // (3, 32, 32)
  CHECK(chw.dtype() == DType::UInt8);
  CHECK(chw.to_vector<uint8_t>()[1 * 1024 + 5] == px[5 * 3 + 1]);
  CHECK_THROWS_WITH(CropFlip(0, 4, 0.5), Catch::Contains("CropFlip: size 0 must be positive"));
  CHECK_THROWS_WITH(ToChw()(chw.view({3, 32, 32}).to(DType::Float32), g),
                    Catch::Contains("ToChw: expects a uint8 (H, W, C) image"));
}

TEST_CASE("normalize_images reports bad input", "[data][transforms][errors]") {
  const Tensor u8 = zeros({2, 3, 4, 4}, DType::UInt8);
  CHECK_THROWS_WITH(ops::normalize_images(zeros({2, 3, 4, 4}), kCifar10Mean, kCifar10Std),
                    Catch::Contains("normalize_images: expects uint8 images (N, C, H, W), got "
                                    "float32 [2, 3, 4, 4]"));
  CHECK_THROWS_WITH(ops::normalize_images(u8, {0.5f}, {0.5f}),
                    Catch::Contains("images have 3 channels, mean has 1 values and std 1"));
  CHECK_THROWS_WITH(ops::normalize_images(u8, {0, 0, 0}, {1, 0, 1}),
                    Catch::Contains("std holds 0, expected positive values"));
}

TEST_CASE("ready pipelines produce normalized CHW tensors", "[data][transforms]") {
  Generator g(0);
  const Tensor img = coded_image(40, 60, 3);
  CHECK((*imagenet_train_transform(16))(img, g).shape() == Shape{3, 16, 16});
  CHECK((*imagenet_eval_transform(16))(img, g).shape() == Shape{3, 16, 16});
  const Tensor e = (*cifar_eval_transform(kCifar10Mean, kCifar10Std))(coded_image(32, 32, 3), g);
  CHECK(e.shape() == Shape{3, 32, 32});
  CHECK(atf(e, 1, 0, 0) == Approx((100 / 255.0f - kCifar10Mean[1]) / kCifar10Std[1]));
}

// ---------------------------------------------------------------- DataLoader

TEST_CASE("DataLoader batches in order with a smaller last batch", "[data][loader]") {
  auto ds = std::make_shared<CountingDataset>(10);
  DataLoader loader(ds, {.batch_size = 4, .shuffle = false, .num_workers = 2});
  CHECK(loader.num_batches() == 3);
  const auto batches = read_epoch(loader, 0);
  REQUIRE(batches.size() == 3);
  CHECK(batches[0].images.shape() == Shape{4, 1, 2, 2});
  CHECK(batches[2].images.shape() == Shape{2, 1, 2, 2});
  CHECK(batches[2].labels.shape() == Shape{2});
  CHECK(batches[2].labels.dtype() == DType::Int64);
  CHECK(batches[1].indices == std::vector<int64_t>{4, 5, 6, 7});
  CHECK(batches[1].labels.to_vector<int64_t>() == std::vector<int64_t>{1, 2, 0, 1});
  const auto v = batches[1].images.to_vector<float>();
  for (int64_t i = 0; i < 4; ++i) {  // sample 4 + i, four equal values in [4 + i, 4.5 + i)
    CHECK(v[i * 4] >= 4 + i);
    CHECK(v[i * 4] < 4.5 + i);
    CHECK(v[i * 4 + 3] == v[i * 4]);
  }
  CHECK_FALSE(loader.next().has_value());  // stays finished
}

TEST_CASE("DataLoader drop_last drops the partial batch", "[data][loader]") {
  auto ds = std::make_shared<CountingDataset>(10);
  DataLoader loader(ds, {.batch_size = 4, .drop_last = true, .num_workers = 1});
  CHECK(loader.num_batches() == 2);
  const auto batches = read_epoch(loader, 0);
  REQUIRE(batches.size() == 2);
  CHECK(batches[1].labels.numel() == 4);
  DataLoader tiny(std::make_shared<CountingDataset>(3), {.batch_size = 4, .drop_last = true});
  CHECK(read_epoch(tiny, 0).empty());
}

TEST_CASE("DataLoader shuffles by (seed, epoch) whatever the worker count", "[data][loader]") {
  auto ds = std::make_shared<CountingDataset>(37);
  const auto run = [&](int workers, uint64_t seed, int64_t epoch, int prefetch) {
    DataLoader loader(ds, {.batch_size = 5,
                           .shuffle = true,
                           .num_workers = workers,
                           .prefetch_batches = prefetch,
                           .seed = seed});
    std::vector<int64_t> indices;
    std::vector<float> values;
    for (const Batch& b : read_epoch(loader, epoch)) {
      indices.insert(indices.end(), b.indices.begin(), b.indices.end());
      const auto v = b.images.to_vector<float>();
      values.insert(values.end(), v.begin(), v.end());
    }
    return std::make_pair(indices, values);
  };
  const auto ref = run(0, 7, 1, 0);
  std::vector<int64_t> sorted = ref.first;
  std::sort(sorted.begin(), sorted.end());
  std::vector<int64_t> all(37);
  std::iota(all.begin(), all.end(), 0);
  CHECK(sorted == all);           // a permutation: every sample once
  CHECK(ref.first != all);        // and shuffled
  CHECK(run(1, 7, 1, 1) == ref);  // same batches, same augmentation draws
  CHECK(run(3, 7, 1, 2) == ref);
  CHECK(run(4, 7, 1, 8) == ref);
  CHECK(run(3, 7, 2, 4).first != ref.first);  // another epoch, another order
  CHECK(run(3, 8, 1, 4).first != ref.first);  // another seed, another order
  // Without shuffling, epochs keep the order but draw new augmentations.
  DataLoader plain(ds, {.batch_size = 37, .num_workers = 2});
  const auto e0 = read_epoch(plain, 0), e1 = read_epoch(plain, 1);
  CHECK(e0[0].indices == e1[0].indices);
  CHECK(e0[0].images.to_vector<float>() != e1[0].images.to_vector<float>());
  CHECK(plain.epoch_order(5) == all);
}

TEST_CASE("DataLoader stops cleanly when the consumer leaves early", "[data][loader]") {
  auto ds = std::make_shared<CountingDataset>(1000);
  {
    DataLoader loader(ds,
                      {.batch_size = 3, .shuffle = true, .num_workers = 3, .prefetch_batches = 2});
    loader.start_epoch(0);
    REQUIRE(loader.next().has_value());
    // Restarting mid-epoch gives the new epoch from its start.
    loader.start_epoch(1);
    const auto b = loader.next();
    REQUIRE(b.has_value());
    CHECK(b->index == 0);
    const std::vector<int64_t> order = loader.epoch_order(1);
    CHECK(b->indices == std::vector<int64_t>(order.begin(), order.begin() + 3));
    loader.stop();
    CHECK_FALSE(loader.next().has_value());
    loader.start_epoch(2);
    REQUIRE(loader.next().has_value());
  }  // destroyed mid-epoch with workers blocked on a full window: must not hang
  DataLoader idle(ds, {.num_workers = 2});
  CHECK_THROWS_WITH(idle.next(), Catch::Contains("call start_epoch first"));
  CHECK_THROWS_WITH(idle.start_epoch(-1), Catch::Contains("epoch must be non-negative, got -1"));
}

TEST_CASE("DataLoader rethrows worker errors with the file name", "[data][loader][errors]") {
  TempDir dir;
  for (int i = 0; i < 6; ++i)
    write_png(dir / "cls" / str("img", i, ".png"), 4, 4, pattern(4, 4, i));
  write_bytes(dir / "cls" / "img3.png", {'b', 'r', 'o', 'k', 'e', 'n'});
  auto folder = std::make_shared<ImageFolder>(dir.path());
  auto ds = transformed(folder, std::make_shared<ToTensor>());
  for (int workers : {0, 2}) {
    DataLoader loader(ds, {.batch_size = 2, .num_workers = workers});
    loader.start_epoch(0);
    REQUIRE(loader.next().has_value());  // images 0, 1
    CHECK_THROWS_WITH(loader.next(), Catch::Contains("DataLoader: sample 3") &&
                                         Catch::Contains("img3.png: not a readable image"));
    CHECK_FALSE(loader.next().has_value());  // the epoch ended with the error
  }
  DataLoader raw(folder, {.batch_size = 2, .num_workers = 1});
  raw.start_epoch(0);
  CHECK_THROWS_WITH(raw.next(),
                    Catch::Contains("is uint8 [4, 4, 3]") && Catch::Contains("add ToTensor"));
}

TEST_CASE("DataLoader rejects samples of different shapes", "[data][loader][errors]") {
  TempDir dir;
  write_png(dir / "a" / "0.png", 4, 4, pattern(4, 4, 0));
  write_png(dir / "a" / "1.png", 5, 4, pattern(5, 4, 1));
  auto ds = transformed(std::make_shared<ImageFolder>(dir.path()), std::make_shared<ToTensor>());
  DataLoader loader(ds, {.batch_size = 2, .num_workers = 0});
  loader.start_epoch(0);
  CHECK_THROWS_WITH(loader.next(), Catch::Contains("has shape [3, 4, 5]") &&
                                       Catch::Contains("first sample has [3, 4, 4]"));
  CHECK_THROWS_WITH(DataLoader(ds, {.batch_size = 0}),
                    Catch::Contains("batch_size must be positive"));
}

TEST_CASE("CIFAR batches through the loader", "[data][loader][cifar]") {
  TempDir dir;
  const auto label = [](int64_t r) { return std::vector<uint8_t>{static_cast<uint8_t>(r % 10)}; };
  write_bytes(dir / "test_batch.bin", cifar_bytes(20, 0, label));
  auto cifar = std::make_shared<CifarDataset>(dir.path(), CifarOptions{.train = false});
  auto ds = transformed(cifar, cifar_train_transform(kCifar10Mean, kCifar10Std));
  DataLoader loader(ds, {.batch_size = 8, .shuffle = true, .num_workers = 2, .seed = 3});
  const auto batches = read_epoch(loader, 0);
  REQUIRE(batches.size() == 3);
  CHECK(batches[0].images.shape() == Shape{8, 3, 32, 32});
  for (const Batch& b : batches)
    for (size_t i = 0; i < b.indices.size(); ++i)
      CHECK(b.labels.to_vector<int64_t>()[i] == b.indices[i] % 10);
}

TEST_CASE("DataLoader batches uint8 images when asked to", "[data][loader]") {
  TempDir dir;
  const auto label = [](int64_t r) { return std::vector<uint8_t>{static_cast<uint8_t>(r % 10)}; };
  write_bytes(dir / "test_batch.bin", cifar_bytes(12, 0, label));
  auto cifar = std::make_shared<CifarDataset>(dir.path(), CifarOptions{.train = false});
  // Bytes through the loader, normalised afterwards, equal the float pipeline's batches.
  DataLoader bytes(
      transformed(cifar, std::make_shared<CropFlip>(32, 4, 0.5)),
      {.batch_size = 5, .shuffle = true, .num_workers = 2, .seed = 4, .byte_images = true});
  DataLoader floats(transformed(cifar, cifar_train_transform(kCifar10Mean, kCifar10Std)),
                    {.batch_size = 5, .shuffle = true, .num_workers = 1, .seed = 4});
  const auto b = read_epoch(bytes, 1), f = read_epoch(floats, 1);
  REQUIRE(b.size() == 3);
  REQUIRE(f.size() == 3);
  for (size_t i = 0; i < b.size(); ++i) {
    CHECK(b[i].images.dtype() == DType::UInt8);
    CHECK(ops::normalize_images(b[i].images, kCifar10Mean, kCifar10Std).to_vector<float>() ==
          f[i].images.to_vector<float>());
  }
  // A byte loader fed float images says what it expected.
  DataLoader wrong(transformed(cifar, std::make_shared<ToTensor>()),
                   {.batch_size = 4, .num_workers = 0, .byte_images = true});
  wrong.start_epoch(0);
  CHECK_THROWS_WITH(wrong.next(), Catch::Contains("is float32 [3, 32, 32]") &&
                                      Catch::Contains("this loader takes uint8 (C, H, W) images"));
}

// ---------------------------------------------------------------- throughput (printed only)

TEST_CASE("throughput of decode + augment for CIFAR-sized images", "[data][throughput]") {
  TempDir dir;
  constexpr int kImages = 2000;
  for (int i = 0; i < kImages; ++i) {
    const auto px = pattern(32, 32, i);
    const fs::path p = dir / str("c", i % 10) / str(i, ".jpg");
    if (i < 10) fs::create_directories(p.parent_path());
    REQUIRE(stbi_write_jpg(p.c_str(), 32, 32, 3, px.data(), 90) != 0);
  }
  const auto aug = cifar_train_transform(kCifar10Mean, kCifar10Std);
  auto lazy = transformed(std::make_shared<ImageFolder>(dir.path()), aug);
  const double jpeg =
      measure_loader_images_per_second(*lazy, {.num_workers = 2, .max_images = kImages});

  const auto label = [](int64_t r) { return std::vector<uint8_t>{static_cast<uint8_t>(r % 10)}; };
  write_bytes(dir / "bin" / "test_batch.bin", cifar_bytes(kImages, 0, label));
  auto binary =
      transformed(std::make_shared<CifarDataset>(dir / "bin", CifarOptions{.train = false}), aug);
  const double bin =
      measure_loader_images_per_second(*binary, {.num_workers = 2, .max_images = kImages});
  std::printf(
      "data throughput, 2 workers, 32x32 crop+flip+normalize: JPEG decode %.0f images/s, "
      "CIFAR binary %.0f images/s\n",
      jpeg, bin);
  CHECK(jpeg > 0.0);
  CHECK(bin > 0.0);
}
