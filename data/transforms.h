// Image transforms. Geometric ones work on uint8 (H, W, C) images as datasets return them;
// ToTensor turns those into float (C, H, W) in [0, 1]; Normalize works on float (C, H, W).
// Every random choice is drawn from the Generator passed in, in a fixed order, so a sample's
// augmentation depends only on its generator (the DataLoader derives one per sample).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/random.h"
#include "core/tensor.h"

namespace lnx::data {

class Transform {
 public:
  virtual ~Transform() = default;
  virtual Tensor operator()(const Tensor& image, Generator& rng) const = 0;
  virtual std::string name() const = 0;  // "RandomCrop(32, padding=4)", for logs
};

using TransformPtr = std::shared_ptr<const Transform>;

// Applies its transforms in order.
class Compose : public Transform {
 public:
  explicit Compose(std::vector<TransformPtr> transforms);
  Tensor operator()(const Tensor& image, Generator& rng) const override;
  std::string name() const override;
  const std::vector<TransformPtr>& transforms() const { return transforms_; }

 private:
  std::vector<TransformPtr> transforms_;
};

// A (height, width) crop at a random offset of the image zero-padded by `padding` on every
// side. Draws the top offset, then the left offset.
class RandomCrop : public Transform {
 public:
  RandomCrop(int64_t height, int64_t width, int64_t padding = 0);
  Tensor operator()(const Tensor& image, Generator& rng) const override;
  std::string name() const override;

 private:
  int64_t height_, width_, padding_;
};

// Mirrors left-right with probability p (one draw per call, whatever p).
class RandomHorizontalFlip : public Transform {
 public:
  explicit RandomHorizontalFlip(double p = 0.5);
  Tensor operator()(const Tensor& image, Generator& rng) const override;
  std::string name() const override;

 private:
  double p_;
};

// torchvision's RandomResizedCrop: an area fraction in `scale` and a log-uniform aspect ratio in
// `ratio`, ten tries, then a center crop with the ratio clamped; resized to (size, size).
class RandomResizedCrop : public Transform {
 public:
  explicit RandomResizedCrop(int64_t size, double scale_min = 0.08, double scale_max = 1.0,
                             double ratio_min = 3.0 / 4.0, double ratio_max = 4.0 / 3.0);
  Tensor operator()(const Tensor& image, Generator& rng) const override;
  std::string name() const override;

 private:
  int64_t size_;
  double scale_min_, scale_max_, ratio_min_, ratio_max_;
};

// Bilinear resize, antialiased when shrinking (the triangle filter widened by the scale, as in
// PIL and torchvision's antialias=True). One argument: the shorter side becomes `size` and the
// longer one keeps the aspect ratio (truncated, as torchvision does); two: exact (height, width).
class Resize : public Transform {
 public:
  explicit Resize(int64_t shorter_side);
  Resize(int64_t height, int64_t width);
  Tensor operator()(const Tensor& image, Generator& rng) const override;
  std::string name() const override;

 private:
  int64_t shorter_ = 0, height_ = 0, width_ = 0;
};

// The central (height, width) window; an image smaller than that is zero-padded around.
class CenterCrop : public Transform {
 public:
  CenterCrop(int64_t height, int64_t width);
  explicit CenterCrop(int64_t size) : CenterCrop(size, size) {}
  Tensor operator()(const Tensor& image, Generator& rng) const override;
  std::string name() const override;

 private:
  int64_t height_, width_;
};

// uint8 (H, W, C) -> float (C, H, W), each value divided by 255.
class ToTensor : public Transform {
 public:
  Tensor operator()(const Tensor& image, Generator& rng) const override;
  std::string name() const override { return "ToTensor()"; }
};

// (x - mean[c]) / std[c] on float (C, H, W).
class Normalize : public Transform {
 public:
  Normalize(std::vector<float> mean, std::vector<float> std);
  Tensor operator()(const Tensor& image, Generator& rng) const override;
  std::string name() const override;

 private:
  std::vector<float> mean_, std_;
};

// RandomCrop + RandomHorizontalFlip + ToTensor + Normalize in one pass over the pixels, with the
// same draws in the same order, so its output equals the composed pipeline bit for bit. This is
// the CIFAR training path: no intermediate images.
class CropFlipNormalize : public Transform {
 public:
  CropFlipNormalize(int64_t size, int64_t padding, double flip_p, std::vector<float> mean,
                    std::vector<float> std);
  Tensor operator()(const Tensor& image, Generator& rng) const override;
  std::string name() const override;

 private:
  int64_t size_, padding_;
  double flip_p_;
  std::vector<float> mean_, std_;
  std::vector<std::array<float, 256>> lut_;  // (C, 256): each byte's normalized value
};

// RandomCrop + RandomHorizontalFlip to uint8 (C, H, W), with CropFlipNormalize's draws: the
// bytes of a batch that is normalised where it is used (ops::normalize_images, e.g. on a GPU,
// which then receives a quarter of the bytes), giving CropFlipNormalize's values bit for bit.
class CropFlip : public Transform {
 public:
  CropFlip(int64_t size, int64_t padding, double flip_p);
  Tensor operator()(const Tensor& image, Generator& rng) const override;
  std::string name() const override;

 private:
  int64_t size_, padding_;
  double flip_p_;
};

// uint8 (H, W, C) -> uint8 (C, H, W): ToTensor without the conversion to float.
class ToChw : public Transform {
 public:
  Tensor operator()(const Tensor& image, Generator& rng) const override;
  std::string name() const override { return "ToChw()"; }
};

// ---- ready pipelines ----
// CIFAR channel statistics of the training set.
extern const std::vector<float> kCifar10Mean, kCifar10Std, kCifar100Mean, kCifar100Std;
extern const std::vector<float> kImageNetMean, kImageNetStd;

// Pad 4, random 32x32 crop, flip, normalize (fused).
TransformPtr cifar_train_transform(const std::vector<float>& mean, const std::vector<float>& std);
TransformPtr cifar_eval_transform(const std::vector<float>& mean, const std::vector<float>& std);
// RandomResizedCrop(size) + flip + normalize; eval: Resize(size * 8 / 7) + CenterCrop(size).
TransformPtr imagenet_train_transform(int64_t size = 224);
TransformPtr imagenet_eval_transform(int64_t size = 224);

// ---- building blocks, exposed for tests and other transforms ----
// The (height, width) window of a uint8 (H, W, C) image whose top-left corner is (top, left);
// the window may reach outside the image, where it reads zeros.
Tensor crop_zero_padded(const Tensor& image, int64_t top, int64_t left, int64_t height,
                        int64_t width);
// Resamples the window (top, left, height, width) of a uint8 (H, W, C) image to
// (out_height, out_width) with the antialiased bilinear filter Resize uses.
Tensor resize_bilinear(const Tensor& image, int64_t top, int64_t left, int64_t height,
                       int64_t width, int64_t out_height, int64_t out_width);
// Throws naming `op` unless `image` is a uint8 (H, W, C) tensor.
void check_hwc_image(const char* op, const Tensor& image);

}  // namespace lnx::data
