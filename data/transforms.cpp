#include "data/transforms.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "data/sampling.h"

namespace lnx::data {

const std::vector<float> kCifar10Mean = {0.4914f, 0.4822f, 0.4465f};
const std::vector<float> kCifar10Std = {0.2470f, 0.2435f, 0.2616f};
const std::vector<float> kCifar100Mean = {0.5071f, 0.4865f, 0.4409f};
const std::vector<float> kCifar100Std = {0.2673f, 0.2564f, 0.2762f};
const std::vector<float> kImageNetMean = {0.485f, 0.456f, 0.406f};
const std::vector<float> kImageNetStd = {0.229f, 0.224f, 0.225f};

namespace {

void check_chw_float(const char* op, const Tensor& image) {
  LNX_CHECK(image.defined() && image.dtype() == DType::Float32 && image.dim() == 3, op,
            ": expects a float32 (C, H, W) image, got ",
            image.defined() ? str(dtype_name(image.dtype()), " ", to_string(image.shape()))
                            : std::string("an undefined tensor"),
            " (apply ToTensor first)");
}

void check_stats(const char* op, const std::vector<float>& mean, const std::vector<float>& std) {
  LNX_CHECK(!mean.empty() && mean.size() == std.size(), op, ": mean has ", mean.size(),
            " values and std ", std.size(), "; expected one of each per channel");
  for (float s : std) LNX_CHECK(s > 0.0f, op, ": std values must be positive, got ", s);
}

std::string join(const std::vector<float>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += str(i ? ", " : "", v[i]);
  return s + "]";
}

// The triangle filter's taps for one axis, as PIL computes them: an output pixel's center maps
// to `center` in the input, and the filter's support widens with the shrink factor so that
// every input pixel contributes (antialiasing).
struct Taps {
  std::vector<int64_t> first;  // (out,) first input index
  std::vector<int64_t> count;  // (out,) taps used
  std::vector<float> weights;  // (out, max_taps), normalized to sum 1
  int64_t max_taps = 0;
};

Taps bilinear_taps(int64_t in_size, int64_t out_size) {
  const double scale = static_cast<double>(in_size) / static_cast<double>(out_size);
  const double filter_scale = std::max(scale, 1.0);
  const double support = filter_scale;  // the triangle's support is 1
  Taps t;
  t.max_taps = static_cast<int64_t>(std::ceil(support)) * 2 + 1;
  t.first.resize(out_size);
  t.count.resize(out_size);
  t.weights.assign(out_size * t.max_taps, 0.0f);
  for (int64_t o = 0; o < out_size; ++o) {
    const double center = (static_cast<double>(o) + 0.5) * scale;
    const int64_t lo = std::max<int64_t>(static_cast<int64_t>(center - support + 0.5), 0);
    const int64_t hi = std::min<int64_t>(static_cast<int64_t>(center + support + 0.5), in_size);
    const int64_t n = std::min<int64_t>(hi - lo, t.max_taps);
    float* w = t.weights.data() + o * t.max_taps;
    double total = 0.0;
    for (int64_t k = 0; k < n; ++k) {
      const double x = (static_cast<double>(lo + k) - center + 0.5) / filter_scale;
      total += std::max(0.0, 1.0 - std::abs(x));
    }
    for (int64_t k = 0; k < n; ++k) {
      const double x = (static_cast<double>(lo + k) - center + 0.5) / filter_scale;
      w[k] = static_cast<float>(std::max(0.0, 1.0 - std::abs(x)) / total);
    }
    t.first[o] = lo;
    t.count[o] = n;
  }
  return t;
}

float to_unit(uint8_t v) {
  return static_cast<float>(v) / 255.0f;
}

// Per channel, the value ToTensor then Normalize give each byte: the fused path looks it up, and
// computing it with the same float operations keeps the two paths bit-identical.
std::vector<std::array<float, 256>> normalize_table(const std::vector<float>& mean,
                                                    const std::vector<float>& std) {
  std::vector<std::array<float, 256>> lut(mean.size());
  for (size_t c = 0; c < mean.size(); ++c)
    for (int v = 0; v < 256; ++v) lut[c][v] = (to_unit(static_cast<uint8_t>(v)) - mean[c]) / std[c];
  return lut;
}

}  // namespace

void check_hwc_image(const char* op, const Tensor& image) {
  LNX_CHECK(image.defined() && image.dtype() == DType::UInt8 && image.dim() == 3, op,
            ": expects a uint8 (H, W, C) image, got ",
            image.defined() ? str(dtype_name(image.dtype()), " ", to_string(image.shape()))
                            : std::string("an undefined tensor"));
}

Tensor crop_zero_padded(const Tensor& image, int64_t top, int64_t left, int64_t height,
                        int64_t width) {
  check_hwc_image("crop", image);
  LNX_CHECK(height > 0 && width > 0, "crop: size ", height, "x", width, " must be positive");
  const Tensor src = image.contiguous();
  const int64_t H = src.size(0), W = src.size(1), C = src.size(2);
  Tensor out = Tensor::empty({height, width, C}, DType::UInt8);  // (h, w, C)
  const uint8_t* in = src.data<uint8_t>();
  uint8_t* o = out.data<uint8_t>();
  // Columns [x0, x1) of the window fall inside the image; the rest are zeros.
  const int64_t x0 = std::clamp<int64_t>(-left, 0, width);
  const int64_t x1 = std::clamp<int64_t>(W - left, x0, width);
  for (int64_t y = 0; y < height; ++y) {
    uint8_t* row = o + y * width * C;
    const int64_t sy = top + y;
    if (sy < 0 || sy >= H) {
      std::memset(row, 0, width * C);
      continue;
    }
    std::memset(row, 0, x0 * C);
    std::memcpy(row + x0 * C, in + (sy * W + left + x0) * C, (x1 - x0) * C);
    std::memset(row + x1 * C, 0, (width - x1) * C);
  }
  return out;
}

Tensor resize_bilinear(const Tensor& image, int64_t top, int64_t left, int64_t height,
                       int64_t width, int64_t out_height, int64_t out_width) {
  check_hwc_image("resize", image);
  const Tensor src = image.contiguous();
  const int64_t H = src.size(0), W = src.size(1), C = src.size(2);
  LNX_CHECK(
      top >= 0 && left >= 0 && height > 0 && width > 0 && top + height <= H && left + width <= W,
      "resize: window (top ", top, ", left ", left, ", ", height, "x", width,
      ") is not inside the ", H, "x", W, " image");
  LNX_CHECK(out_height > 0 && out_width > 0, "resize: output size ", out_height, "x", out_width,
            " must be positive");
  const Taps tx = bilinear_taps(width, out_width);
  const Taps ty = bilinear_taps(height, out_height);
  // Horizontal pass over the rows the vertical taps read, into floats: (rows, out_w, C).
  const int64_t row0 = ty.first.front();
  const int64_t rows = ty.first.back() + ty.count.back() - row0;
  std::vector<float> tmp(rows * out_width * C);
  const uint8_t* in = src.data<uint8_t>();
  for (int64_t r = 0; r < rows; ++r) {
    const uint8_t* line = in + ((top + row0 + r) * W + left) * C;
    float* dst = tmp.data() + r * out_width * C;
    for (int64_t x = 0; x < out_width; ++x) {
      const float* w = tx.weights.data() + x * tx.max_taps;
      const uint8_t* p = line + tx.first[x] * C;
      for (int64_t c = 0; c < C; ++c) {
        float acc = 0.0f;
        for (int64_t k = 0; k < tx.count[x]; ++k) acc += w[k] * static_cast<float>(p[k * C + c]);
        dst[x * C + c] = acc;
      }
    }
  }
  Tensor out = Tensor::empty({out_height, out_width, C}, DType::UInt8);  // (h, w, C)
  uint8_t* o = out.data<uint8_t>();
  const int64_t stride = out_width * C;
  for (int64_t y = 0; y < out_height; ++y) {
    const float* w = ty.weights.data() + y * ty.max_taps;
    const float* base = tmp.data() + (ty.first[y] - row0) * stride;
    uint8_t* dst = o + y * stride;
    for (int64_t i = 0; i < stride; ++i) {
      float acc = 0.0f;
      for (int64_t k = 0; k < ty.count[y]; ++k) acc += w[k] * base[k * stride + i];
      dst[i] = static_cast<uint8_t>(std::clamp(acc + 0.5f, 0.0f, 255.0f));
    }
  }
  return out;
}

// ---- Compose ----

Compose::Compose(std::vector<TransformPtr> transforms) : transforms_(std::move(transforms)) {
  for (size_t i = 0; i < transforms_.size(); ++i)
    LNX_CHECK(transforms_[i] != nullptr, "Compose: transform ", i, " is null");
}

Tensor Compose::operator()(const Tensor& image, Generator& rng) const {
  Tensor x = image;
  for (const auto& t : transforms_) x = (*t)(x, rng);
  return x;
}

std::string Compose::name() const {
  std::string s = "Compose(";
  for (size_t i = 0; i < transforms_.size(); ++i) s += (i ? ", " : "") + transforms_[i]->name();
  return s + ")";
}

// ---- RandomCrop ----

RandomCrop::RandomCrop(int64_t height, int64_t width, int64_t padding)
    : height_(height), width_(width), padding_(padding) {
  LNX_CHECK(height > 0 && width > 0, "RandomCrop: size ", height, "x", width, " must be positive");
  LNX_CHECK(padding >= 0, "RandomCrop: padding ", padding, " must be non-negative");
}

Tensor RandomCrop::operator()(const Tensor& image, Generator& rng) const {
  check_hwc_image("RandomCrop", image);
  const int64_t H = image.size(0) + 2 * padding_, W = image.size(1) + 2 * padding_;
  LNX_CHECK(H >= height_ && W >= width_, "RandomCrop: the ", image.size(0), "x", image.size(1),
            " image padded by ", padding_, " is smaller than the ", height_, "x", width_, " crop");
  const int64_t top = uniform_int(rng, 0, H - height_);
  const int64_t left = uniform_int(rng, 0, W - width_);
  return crop_zero_padded(image, top - padding_, left - padding_, height_, width_);
}

std::string RandomCrop::name() const {
  return str("RandomCrop(", height_, "x", width_, ", padding=", padding_, ")");
}

// ---- RandomHorizontalFlip ----

RandomHorizontalFlip::RandomHorizontalFlip(double p) : p_(p) {
  LNX_CHECK(p >= 0.0 && p <= 1.0, "RandomHorizontalFlip: p ", p, " is not in [0, 1]");
}

Tensor RandomHorizontalFlip::operator()(const Tensor& image, Generator& rng) const {
  check_hwc_image("RandomHorizontalFlip", image);
  if (!(rng.next_double() < p_)) return image;
  const Tensor src = image.contiguous();
  const int64_t H = src.size(0), W = src.size(1), C = src.size(2);
  Tensor out = Tensor::empty(src.shape(), DType::UInt8);  // (H, W, C)
  const uint8_t* in = src.data<uint8_t>();
  uint8_t* o = out.data<uint8_t>();
  for (int64_t y = 0; y < H; ++y)
    for (int64_t x = 0; x < W; ++x)
      std::memcpy(o + (y * W + x) * C, in + (y * W + (W - 1 - x)) * C, C);
  return out;
}

std::string RandomHorizontalFlip::name() const {
  return str("RandomHorizontalFlip(p=", p_, ")");
}

// ---- RandomResizedCrop ----

RandomResizedCrop::RandomResizedCrop(int64_t size, double scale_min, double scale_max,
                                     double ratio_min, double ratio_max)
    : size_(size),
      scale_min_(scale_min),
      scale_max_(scale_max),
      ratio_min_(ratio_min),
      ratio_max_(ratio_max) {
  LNX_CHECK(size > 0, "RandomResizedCrop: size ", size, " must be positive");
  LNX_CHECK(0.0 < scale_min && scale_min <= scale_max && scale_max <= 1.0,
            "RandomResizedCrop: scale (", scale_min, ", ", scale_max,
            ") must satisfy 0 < min <= max <= 1");
  LNX_CHECK(0.0 < ratio_min && ratio_min <= ratio_max, "RandomResizedCrop: ratio (", ratio_min,
            ", ", ratio_max, ") must satisfy 0 < min <= max");
}

Tensor RandomResizedCrop::operator()(const Tensor& image, Generator& rng) const {
  check_hwc_image("RandomResizedCrop", image);
  const int64_t H = image.size(0), W = image.size(1);
  LNX_CHECK(H > 0 && W > 0, "RandomResizedCrop: the image is empty: ", to_string(image.shape()));
  const double area = static_cast<double>(H * W);
  const double log_lo = std::log(ratio_min_), log_hi = std::log(ratio_max_);
  for (int attempt = 0; attempt < 10; ++attempt) {
    const double target = area * uniform_real(rng, scale_min_, scale_max_);
    const double aspect = std::exp(uniform_real(rng, log_lo, log_hi));
    const auto w = static_cast<int64_t>(std::nearbyint(std::sqrt(target * aspect)));
    const auto h = static_cast<int64_t>(std::nearbyint(std::sqrt(target / aspect)));
    if (0 < w && w <= W && 0 < h && h <= H) {
      const int64_t top = uniform_int(rng, 0, H - h);
      const int64_t left = uniform_int(rng, 0, W - w);
      return resize_bilinear(image, top, left, h, w, size_, size_);
    }
  }
  // Fallback: the whole image, cut to the nearest allowed aspect ratio, centered.
  const double in_ratio = static_cast<double>(W) / static_cast<double>(H);
  int64_t w = W, h = H;
  if (in_ratio < ratio_min_)
    h = std::max<int64_t>(1, static_cast<int64_t>(std::nearbyint(W / ratio_min_)));
  else if (in_ratio > ratio_max_)
    w = std::max<int64_t>(1, static_cast<int64_t>(std::nearbyint(H * ratio_max_)));
  return resize_bilinear(image, (H - h) / 2, (W - w) / 2, h, w, size_, size_);
}

std::string RandomResizedCrop::name() const {
  return str("RandomResizedCrop(", size_, ", scale=(", scale_min_, ", ", scale_max_, "), ratio=(",
             ratio_min_, ", ", ratio_max_, "))");
}

// ---- Resize ----

Resize::Resize(int64_t shorter_side) : shorter_(shorter_side) {
  LNX_CHECK(shorter_side > 0, "Resize: size ", shorter_side, " must be positive");
}

Resize::Resize(int64_t height, int64_t width) : height_(height), width_(width) {
  LNX_CHECK(height > 0 && width > 0, "Resize: size ", height, "x", width, " must be positive");
}

Tensor Resize::operator()(const Tensor& image, Generator&) const {
  check_hwc_image("Resize", image);
  const int64_t H = image.size(0), W = image.size(1);
  LNX_CHECK(H > 0 && W > 0, "Resize: the image is empty: ", to_string(image.shape()));
  int64_t oh = height_, ow = width_;
  if (shorter_ > 0) {
    if (H <= W) {
      oh = shorter_;
      ow = shorter_ * W / H;
    } else {
      ow = shorter_;
      oh = shorter_ * H / W;
    }
  }
  if (oh == H && ow == W) return image;
  return resize_bilinear(image, 0, 0, H, W, oh, ow);
}

std::string Resize::name() const {
  return shorter_ > 0 ? str("Resize(", shorter_, ")") : str("Resize(", height_, "x", width_, ")");
}

// ---- CenterCrop ----

CenterCrop::CenterCrop(int64_t height, int64_t width) : height_(height), width_(width) {
  LNX_CHECK(height > 0 && width > 0, "CenterCrop: size ", height, "x", width, " must be positive");
}

Tensor CenterCrop::operator()(const Tensor& image, Generator&) const {
  check_hwc_image("CenterCrop", image);
  const auto offset = [](int64_t have, int64_t want) {
    return static_cast<int64_t>(std::nearbyint(static_cast<double>(have - want) / 2.0));
  };
  return crop_zero_padded(image, offset(image.size(0), height_), offset(image.size(1), width_),
                          height_, width_);
}

std::string CenterCrop::name() const {
  return str("CenterCrop(", height_, "x", width_, ")");
}

// ---- ToTensor ----

Tensor ToTensor::operator()(const Tensor& image, Generator&) const {
  check_hwc_image("ToTensor", image);
  const Tensor src = image.contiguous();
  const int64_t H = src.size(0), W = src.size(1), C = src.size(2);
  Tensor out = Tensor::empty({C, H, W});  // (C, H, W)
  const uint8_t* in = src.data<uint8_t>();
  float* o = out.data<float>();
  for (int64_t c = 0; c < C; ++c)
    for (int64_t i = 0; i < H * W; ++i) o[c * H * W + i] = to_unit(in[i * C + c]);
  return out;
}

// ---- Normalize ----

Normalize::Normalize(std::vector<float> mean, std::vector<float> std)
    : mean_(std::move(mean)), std_(std::move(std)) {
  check_stats("Normalize", mean_, std_);
}

Tensor Normalize::operator()(const Tensor& image, Generator&) const {
  check_chw_float("Normalize", image);
  const int64_t C = image.size(0);
  LNX_CHECK(C == static_cast<int64_t>(mean_.size()), "Normalize: image has ", C,
            " channels, mean/std have ", mean_.size());
  const Tensor src = image.contiguous();
  Tensor out = Tensor::empty(src.shape());  // (C, H, W)
  const int64_t plane = src.size(1) * src.size(2);
  const float* in = src.data<float>();
  float* o = out.data<float>();
  for (int64_t c = 0; c < C; ++c)
    for (int64_t i = 0; i < plane; ++i) o[c * plane + i] = (in[c * plane + i] - mean_[c]) / std_[c];
  return out;
}

std::string Normalize::name() const {
  return str("Normalize(mean=", join(mean_), ", std=", join(std_), ")");
}

namespace {

void check_crop_flip_args(const char* op, int64_t size, int64_t padding, double flip_p) {
  LNX_CHECK(size > 0, op, ": size ", size, " must be positive");
  LNX_CHECK(padding >= 0, op, ": padding ", padding, " must be non-negative");
  LNX_CHECK(flip_p >= 0.0 && flip_p <= 1.0, op, ": flip p ", flip_p, " is not in [0, 1]");
}

// The crop-and-flip walk shared by CropFlipNormalize and CropFlip: out (C, size, size) of type T,
// each pixel value(c, byte) (byte 0 in the zero padding). Same draws, same order as RandomCrop
// then RandomHorizontalFlip.
template <typename T, typename Value>
Tensor crop_flip(const char* op, const Tensor& image, Generator& rng, int64_t size, int64_t padding,
                 double flip_p, DType dtype, Value value) {
  check_hwc_image(op, image);
  const Tensor src = image.contiguous();
  const int64_t H = src.size(0), W = src.size(1), C = src.size(2);
  LNX_CHECK(H + 2 * padding >= size && W + 2 * padding >= size, op, ": the ", H, "x", W,
            " image padded by ", padding, " is smaller than the ", size, "x", size, " crop");
  const int64_t top = uniform_int(rng, 0, H + 2 * padding - size) - padding;
  const int64_t left = uniform_int(rng, 0, W + 2 * padding - size) - padding;
  const bool flip = rng.next_double() < flip_p;
  Tensor out = Tensor::empty({C, size, size}, dtype);  // (C, size, size)
  const uint8_t* in = src.data<uint8_t>();
  T* o = out.data<T>();
  const int64_t plane = size * size;
  for (int64_t y = 0; y < size; ++y) {
    const int64_t sy = top + y;
    for (int64_t x = 0; x < size; ++x) {
      const int64_t sx = left + (flip ? size - 1 - x : x);
      const bool inside = sy >= 0 && sy < H && sx >= 0 && sx < W;
      for (int64_t c = 0; c < C; ++c)
        o[c * plane + y * size + x] = value(c, inside ? in[(sy * W + sx) * C + c] : uint8_t{0});
    }
  }
  return out;
}

}  // namespace

// ---- CropFlipNormalize ----

CropFlipNormalize::CropFlipNormalize(int64_t size, int64_t padding, double flip_p,
                                     std::vector<float> mean, std::vector<float> std)
    : size_(size),
      padding_(padding),
      flip_p_(flip_p),
      mean_(std::move(mean)),
      std_(std::move(std)) {
  check_crop_flip_args("CropFlipNormalize", size, padding, flip_p);
  check_stats("CropFlipNormalize", mean_, std_);
  lut_ = normalize_table(mean_, std_);
}

Tensor CropFlipNormalize::operator()(const Tensor& image, Generator& rng) const {
  LNX_CHECK(image.dim() != 3 || image.size(2) == static_cast<int64_t>(mean_.size()),
            "CropFlipNormalize: image has ", image.size(2), " channels, mean/std have ",
            mean_.size());
  return crop_flip<float>("CropFlipNormalize", image, rng, size_, padding_, flip_p_, DType::Float32,
                          [this](int64_t c, uint8_t v) { return lut_[c][v]; });
}

std::string CropFlipNormalize::name() const {
  return str("CropFlipNormalize(", size_, ", padding=", padding_, ", flip_p=", flip_p_,
             ", mean=", join(mean_), ", std=", join(std_), ")");
}

// ---- CropFlip, ToChw ----

CropFlip::CropFlip(int64_t size, int64_t padding, double flip_p)
    : size_(size), padding_(padding), flip_p_(flip_p) {
  check_crop_flip_args("CropFlip", size, padding, flip_p);
}

Tensor CropFlip::operator()(const Tensor& image, Generator& rng) const {
  return crop_flip<uint8_t>("CropFlip", image, rng, size_, padding_, flip_p_, DType::UInt8,
                            [](int64_t, uint8_t v) { return v; });
}

std::string CropFlip::name() const {
  return str("CropFlip(", size_, ", padding=", padding_, ", flip_p=", flip_p_, ")");
}

Tensor ToChw::operator()(const Tensor& image, Generator&) const {
  check_hwc_image("ToChw", image);
  const Tensor src = image.contiguous();
  const int64_t H = src.size(0), W = src.size(1), C = src.size(2);
  Tensor out = Tensor::empty({C, H, W}, DType::UInt8);  // (C, H, W)
  const uint8_t* in = src.data<uint8_t>();
  uint8_t* o = out.data<uint8_t>();
  for (int64_t c = 0; c < C; ++c)
    for (int64_t i = 0; i < H * W; ++i) o[c * H * W + i] = in[i * C + c];
  return out;
}

// ---- ready pipelines ----

TransformPtr cifar_train_transform(const std::vector<float>& mean, const std::vector<float>& std) {
  return std::make_shared<CropFlipNormalize>(32, 4, 0.5, mean, std);
}

TransformPtr cifar_eval_transform(const std::vector<float>& mean, const std::vector<float>& std) {
  return std::make_shared<Compose>(std::vector<TransformPtr>{
      std::make_shared<ToTensor>(), std::make_shared<Normalize>(mean, std)});
}

TransformPtr imagenet_train_transform(int64_t size) {
  return std::make_shared<Compose>(std::vector<TransformPtr>{
      std::make_shared<RandomResizedCrop>(size), std::make_shared<RandomHorizontalFlip>(),
      std::make_shared<ToTensor>(), std::make_shared<Normalize>(kImageNetMean, kImageNetStd)});
}

TransformPtr imagenet_eval_transform(int64_t size) {
  return std::make_shared<Compose>(std::vector<TransformPtr>{
      std::make_shared<Resize>(size * 8 / 7), std::make_shared<CenterCrop>(size),
      std::make_shared<ToTensor>(), std::make_shared<Normalize>(kImageNetMean, kImageNetStd)});
}

}  // namespace lnx::data
