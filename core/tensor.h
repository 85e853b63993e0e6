// Tensor: data only - shape, strides, dtype, device and a shared handle to storage.
// Copying a Tensor is cheap and aliases the same memory; views (reshape of a contiguous tensor,
// slice, transpose, permute, expand) share storage too. Math lives in core/ops.h and, with
// gradients, in autograd/.
#pragma once

#include <cstdint>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "core/device.h"
#include "core/dtype.h"
#include "core/error.h"
#include "core/shape.h"
#include "core/storage.h"

namespace lnx {

class Generator;

class Tensor {
 public:
  Tensor() = default;  // undefined: defined() is false
  static Tensor empty(const Shape& shape, DType dtype = DType::Float32,
                      Device device = Device::cpu());

  bool defined() const { return storage_ != nullptr; }
  const Shape& shape() const { return shape_; }
  const Shape& strides() const { return strides_; }
  int64_t offset() const { return offset_; }  // in elements
  int64_t dim() const { return static_cast<int64_t>(shape_.size()); }
  int64_t size(int64_t axis) const;  // negative axes count from the end
  int64_t numel() const { return lnx::numel(shape_); }
  DType dtype() const { return dtype_; }
  Device device() const { return storage_ ? storage_->device() : Device::cpu(); }
  bool is_contiguous() const;
  const std::shared_ptr<Storage>& storage() const { return storage_; }

  // Pointer to the first element (offset applied); checks the dtype. Valid on any device.
  template <typename T>
  T* data() const {
    LNX_CHECK(dtype_ == dtype_of<T>::value, "Tensor::data: tensor has dtype ", dtype_,
              ", accessor asks for ", dtype_of<T>::value);
    return static_cast<T*>(raw_data());
  }
  void* raw_data() const;

  // Autograd's in-place check reads this; every in-place write below bumps it.
  uint64_t version() const { return storage_ ? storage_->version() : 0; }
  void bump_version() const {
    if (storage_) storage_->bump_version();
  }

  // ---- views (no copy) ----
  Tensor view(Shape shape) const;     // one -1 allowed; needs a contiguous tensor
  Tensor reshape(Shape shape) const;  // a view when contiguous, else a copy
  Tensor flatten(int64_t start_axis = 0, int64_t end_axis = -1) const;
  Tensor slice(int64_t axis, int64_t start, int64_t end, int64_t step = 1) const;
  Tensor select(int64_t axis, int64_t index) const;  // drops the axis
  Tensor transpose(int64_t a, int64_t b) const;
  Tensor permute(const std::vector<int64_t>& order) const;
  Tensor expand(const Shape& shape) const;  // broadcast view: stride 0 on expanded axes
  Tensor unsqueeze(int64_t axis) const;
  Tensor squeeze(int64_t axis) const;

  // ---- copies ----
  Tensor contiguous() const;  // itself when already contiguous
  Tensor clone() const;       // always a fresh contiguous copy
  Tensor to(Device device) const;
  Tensor to(DType dtype) const;
  Tensor cpu() const { return to(Device::cpu()); }

  // ---- in place (bump the version) ----
  const Tensor& fill_(double value) const;
  const Tensor& zero_() const { return fill_(0.0); }
  const Tensor& copy_(const Tensor& src) const;  // src broadcast to this shape, any device

  // ---- reading values back ----
  double item() const;  // single-element tensors only
  template <typename T>
  std::vector<T> to_vector() const;  // row-major copy on the host
  std::string to_string(int64_t max_per_axis = 6) const;

 private:
  Tensor(std::shared_ptr<Storage> storage, Shape shape, Shape strides, int64_t offset, DType dtype);
  Tensor with_geometry(Shape shape, Shape strides, int64_t offset) const;

  std::shared_ptr<Storage> storage_;
  Shape shape_;
  Shape strides_;
  int64_t offset_ = 0;
  DType dtype_ = DType::Float32;
};

std::ostream& operator<<(std::ostream& os, const Tensor& t);

// ---- factories ----
Tensor zeros(const Shape& shape, DType dtype = DType::Float32, Device device = Device::cpu());
Tensor ones(const Shape& shape, DType dtype = DType::Float32, Device device = Device::cpu());
Tensor full(const Shape& shape, double value, DType dtype = DType::Float32,
            Device device = Device::cpu());
Tensor arange(double start, double end, double step = 1.0, DType dtype = DType::Float32,
              Device device = Device::cpu());
// Random factories draw from `gen`, or from the global generator when null (see core/random.h).
Tensor uniform(const Shape& shape, double low = 0.0, double high = 1.0, Generator* gen = nullptr,
               Device device = Device::cpu());
Tensor normal(const Shape& shape, double mean = 0.0, double std = 1.0, Generator* gen = nullptr,
              Device device = Device::cpu());
Tensor from_vector(const std::vector<float>& values, const Shape& shape,
                   Device device = Device::cpu());
Tensor from_vector(const std::vector<int64_t>& values, const Shape& shape,
                   Device device = Device::cpu());
Tensor from_vector(const std::vector<uint8_t>& values, const Shape& shape,
                   Device device = Device::cpu());

}  // namespace lnx
