#include "core/tensor.h"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <sstream>

#include "core/backend.h"
#include "core/random.h"

namespace lnx {

Tensor::Tensor(std::shared_ptr<Storage> storage, Shape shape, Shape strides, int64_t offset,
               DType dtype)
    : storage_(std::move(storage)),
      shape_(std::move(shape)),
      strides_(std::move(strides)),
      offset_(offset),
      dtype_(dtype) {}

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  for (int64_t d : shape)
    LNX_CHECK(d >= 0, "Tensor::empty: shape ", lnx::to_string(shape), " has a negative size");
  auto storage = std::make_shared<Storage>(lnx::numel(shape) * dtype_size(dtype), device);
  return Tensor(std::move(storage), shape, contiguous_strides(shape), 0, dtype);
}

Tensor Tensor::with_geometry(Shape shape, Shape strides, int64_t offset) const {
  return Tensor(storage_, std::move(shape), std::move(strides), offset, dtype_);
}

int64_t Tensor::size(int64_t axis) const {
  return shape_[normalize_axis(axis, dim(), "Tensor::size")];
}

bool Tensor::is_contiguous() const {
  int64_t expected = 1;
  for (size_t i = shape_.size(); i-- > 0;) {
    if (shape_[i] == 1) continue;
    if (strides_[i] != expected) return false;
    expected *= shape_[i];
  }
  return true;
}

void* Tensor::raw_data() const {
  LNX_CHECK(defined(), "Tensor::data: tensor is undefined");
  return static_cast<char*>(storage_->data()) + offset_ * dtype_size(dtype_);
}

Tensor Tensor::view(Shape shape) const {
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      LNX_CHECK(infer < 0, "view: shape ", lnx::to_string(shape), " has more than one -1");
      infer = static_cast<int64_t>(i);
    } else {
      LNX_CHECK(shape[i] >= 0, "view: shape ", lnx::to_string(shape), " has a negative size");
      known *= shape[i];
    }
  }
  if (infer >= 0) {
    LNX_CHECK(known > 0 && numel() % known == 0, "view: cannot view ", lnx::to_string(shape_), " (",
              numel(), " elements) as ", lnx::to_string(shape));
    shape[infer] = numel() / known;
  }
  LNX_CHECK(lnx::numel(shape) == numel(), "view: cannot view ", lnx::to_string(shape_), " (",
            numel(), " elements) as ", lnx::to_string(shape), " (", lnx::numel(shape),
            " elements)");
  LNX_CHECK(is_contiguous(), "view: tensor of shape ", lnx::to_string(shape_), " with strides ",
            lnx::to_string(strides_), " is not contiguous; use reshape()");
  Shape st = contiguous_strides(shape);
  return with_geometry(std::move(shape), std::move(st), offset_);
}

Tensor Tensor::reshape(Shape shape) const {
  return is_contiguous() ? view(std::move(shape)) : contiguous().view(std::move(shape));
}

Tensor Tensor::flatten(int64_t start_axis, int64_t end_axis) const {
  if (dim() == 0) return reshape({1});
  const int64_t s = normalize_axis(start_axis, dim(), "flatten");
  const int64_t e = normalize_axis(end_axis, dim(), "flatten");
  LNX_CHECK(s <= e, "flatten: start axis ", start_axis, " is after end axis ", end_axis);
  Shape out(shape_.begin(), shape_.begin() + s);
  int64_t n = 1;
  for (int64_t i = s; i <= e; ++i) n *= shape_[i];
  out.push_back(n);
  out.insert(out.end(), shape_.begin() + e + 1, shape_.end());
  return reshape(std::move(out));
}

Tensor Tensor::slice(int64_t axis, int64_t start, int64_t end, int64_t step) const {
  const int64_t a = normalize_axis(axis, dim(), "slice");
  LNX_CHECK(step > 0, "slice: step must be positive, got ", step);
  const int64_t n = shape_[a];
  if (start < 0) start += n;
  if (end < 0) end += n;
  start = std::clamp<int64_t>(start, 0, n);
  end = std::clamp<int64_t>(end, start, n);
  Shape sh = shape_, st = strides_;
  sh[a] = (end - start + step - 1) / step;
  st[a] = strides_[a] * step;
  return with_geometry(std::move(sh), std::move(st), offset_ + start * strides_[a]);
}

Tensor Tensor::select(int64_t axis, int64_t index) const {
  const int64_t a = normalize_axis(axis, dim(), "select");
  LNX_CHECK(index >= -shape_[a] && index < shape_[a], "select: index ", index,
            " is out of range for axis ", a, " of size ", shape_[a], " (shape ",
            lnx::to_string(shape_), ")");
  if (index < 0) index += shape_[a];
  Shape sh = shape_, st = strides_;
  sh.erase(sh.begin() + a);
  st.erase(st.begin() + a);
  return with_geometry(std::move(sh), std::move(st), offset_ + index * strides_[a]);
}

Tensor Tensor::transpose(int64_t a, int64_t b) const {
  a = normalize_axis(a, dim(), "transpose");
  b = normalize_axis(b, dim(), "transpose");
  Shape sh = shape_, st = strides_;
  std::swap(sh[a], sh[b]);
  std::swap(st[a], st[b]);
  return with_geometry(std::move(sh), std::move(st), offset_);
}

Tensor Tensor::permute(const std::vector<int64_t>& order) const {
  LNX_CHECK(static_cast<int64_t>(order.size()) == dim(), "permute: order has ", order.size(),
            " axes, tensor of shape ", lnx::to_string(shape_), " has ", dim());
  std::vector<bool> seen(dim(), false);
  Shape sh(dim()), st(dim());
  for (int64_t i = 0; i < dim(); ++i) {
    const int64_t a = normalize_axis(order[i], dim(), "permute");
    LNX_CHECK(!seen[a], "permute: axis ", a, " appears twice in the order");
    seen[a] = true;
    sh[i] = shape_[a];
    st[i] = strides_[a];
  }
  return with_geometry(std::move(sh), std::move(st), offset_);
}

Tensor Tensor::expand(const Shape& shape) const {
  LNX_CHECK(shape.size() >= shape_.size(), "expand: cannot expand ", lnx::to_string(shape_), " to ",
            lnx::to_string(shape));
  const size_t lead = shape.size() - shape_.size();
  Shape st(shape.size(), 0);
  for (size_t i = 0; i < shape_.size(); ++i) {
    const int64_t want = shape[lead + i];
    LNX_CHECK(shape_[i] == want || shape_[i] == 1, "expand: cannot expand ", lnx::to_string(shape_),
              " to ", lnx::to_string(shape), " (axis ", i, ": ", shape_[i], " vs ", want, ")");
    st[lead + i] = shape_[i] == want ? strides_[i] : 0;
  }
  return with_geometry(shape, std::move(st), offset_);
}

Tensor Tensor::unsqueeze(int64_t axis) const {
  const int64_t a = normalize_axis(axis, dim() + 1, "unsqueeze");
  Shape sh = shape_, st = strides_;
  const int64_t stride = a < dim() ? strides_[a] * shape_[a] : 1;
  sh.insert(sh.begin() + a, 1);
  st.insert(st.begin() + a, stride);
  return with_geometry(std::move(sh), std::move(st), offset_);
}

Tensor Tensor::squeeze(int64_t axis) const {
  const int64_t a = normalize_axis(axis, dim(), "squeeze");
  LNX_CHECK(shape_[a] == 1, "squeeze: axis ", a, " of shape ", lnx::to_string(shape_), " has size ",
            shape_[a], ", expected 1");
  Shape sh = shape_, st = strides_;
  sh.erase(sh.begin() + a);
  st.erase(st.begin() + a);
  return with_geometry(std::move(sh), std::move(st), offset_);
}

Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  return clone();
}

Tensor Tensor::clone() const {
  LNX_CHECK(defined(), "clone: tensor is undefined");
  Tensor out = empty(shape_, dtype_, device());
  backend(device()).copy(*this, out);
  return out;
}

Tensor Tensor::to(Device device) const {
  LNX_CHECK(defined(), "to: tensor is undefined");
  if (device == this->device()) return *this;
  if (device.is_cuda())
    LNX_CHECK(cuda_available(), "to(", device.name(), "): ", cuda_unavailable_reason());
  const Tensor src = contiguous();
  Tensor out = empty(shape_, dtype_, device);
  const size_t nbytes = numel() * dtype_size(dtype_);
  if (device.is_cpu()) {
    backend(src.device()).copy_to_host(src.raw_data(), out.raw_data(), nbytes);
  } else if (src.device().is_cpu()) {
    backend(device).copy_from_host(src.raw_data(), out.raw_data(), nbytes);
  } else {
    return src.cpu().to(device);  // between two GPUs: through the host, rare enough
  }
  return out;
}

Tensor Tensor::to(DType dtype) const {
  if (dtype == dtype_) return *this;
  Tensor out = empty(shape_, dtype, device());
  backend(device()).copy(*this, out);
  return out;
}

const Tensor& Tensor::fill_(double value) const {
  LNX_CHECK(defined(), "fill_: tensor is undefined");
  backend(device()).fill(*this, value);
  bump_version();
  return *this;
}

const Tensor& Tensor::copy_(const Tensor& src) const {
  LNX_CHECK(defined() && src.defined(), "copy_: tensor is undefined");
  const Tensor s = src.device() == device() ? src : src.to(device());
  backend(device()).copy(s.expand(shape_), *this);
  bump_version();
  return *this;
}

double Tensor::item() const {
  LNX_CHECK(numel() == 1, "item: tensor of shape ", lnx::to_string(shape_), " has ", numel(),
            " elements, expected 1");
  const Tensor h = to(Device::cpu()).contiguous();
  switch (dtype_) {
    case DType::Float32:
      return *h.data<float>();
    case DType::Int64:
      return static_cast<double>(*h.data<int64_t>());
    case DType::UInt8:
      return *h.data<uint8_t>();
  }
  return 0;
}

template <typename T>
std::vector<T> Tensor::to_vector() const {
  const Tensor h = to(Device::cpu()).contiguous();
  const T* p = h.data<T>();
  return std::vector<T>(p, p + numel());
}
template std::vector<float> Tensor::to_vector<float>() const;
template std::vector<int64_t> Tensor::to_vector<int64_t>() const;
template std::vector<uint8_t> Tensor::to_vector<uint8_t>() const;

namespace {

void print_rec(std::ostream& os, const Tensor& t, const std::vector<double>& v, int64_t axis,
               int64_t base, int64_t max_per_axis, int indent) {
  const Shape& s = t.shape();
  const int64_t n = s[axis];
  const int64_t inner = numel(Shape(s.begin() + axis + 1, s.end()));
  const bool last = axis == t.dim() - 1;
  os << "[";
  for (int64_t i = 0; i < n; ++i) {
    if (n > max_per_axis && i == max_per_axis / 2) {
      os << (last ? "..., " : "...,\n" + std::string(indent + 1, ' '));
      i = n - max_per_axis / 2;
    }
    if (last) {
      os << v[base + i];
    } else {
      print_rec(os, t, v, axis + 1, base + i * inner, max_per_axis, indent + 1);
    }
    if (i + 1 < n) os << (last ? ", " : ",\n" + std::string(indent + 1, ' '));
  }
  os << "]";
}

}  // namespace

std::string Tensor::to_string(int64_t max_per_axis) const {
  if (!defined()) return "Tensor(undefined)";
  std::ostringstream os;
  os << "Tensor(shape=" << lnx::to_string(shape_) << ", dtype=" << dtype_ << ", device=" << device()
     << ")\n";
  std::vector<double> v;
  const Tensor f = to(DType::Float32);
  for (float x : f.to_vector<float>()) v.push_back(x);
  os << std::setprecision(5);
  if (dim() == 0) {
    os << v[0];
  } else {
    print_rec(os, *this, v, 0, 0, std::max<int64_t>(max_per_axis, 2), 0);
  }
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) {
  return os << t.to_string();
}

Tensor zeros(const Shape& shape, DType dtype, Device device) {
  return full(shape, 0.0, dtype, device);
}

Tensor ones(const Shape& shape, DType dtype, Device device) {
  return full(shape, 1.0, dtype, device);
}

Tensor full(const Shape& shape, double value, DType dtype, Device device) {
  Tensor t = Tensor::empty(shape, dtype, device);
  backend(device).fill(t, value);
  return t;
}

Tensor arange(double start, double end, double step, DType dtype, Device device) {
  LNX_CHECK(step != 0, "arange: step must be non-zero");
  const auto n = static_cast<int64_t>(std::max(0.0, std::ceil((end - start) / step)));
  if (dtype == DType::Int64) {  // not through float32, which is exact only up to 2^24
    std::vector<int64_t> v(n);
    for (int64_t i = 0; i < n; ++i) v[i] = static_cast<int64_t>(start + i * step);
    return from_vector(v, {n}, device);
  }
  std::vector<float> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = static_cast<float>(start + i * step);
  return from_vector(v, {n}, device).to(dtype);
}

Tensor uniform(const Shape& shape, double low, double high, Generator* gen, Device device) {
  LNX_CHECK(low <= high, "uniform: low ", low, " is greater than high ", high);
  Generator& g = gen ? *gen : default_generator();
  Tensor t = Tensor::empty(shape, DType::Float32, device);
  backend(device).uniform(t, low, high, g.seed(), g.advance(t.numel()));
  return t;
}

Tensor normal(const Shape& shape, double mean, double std, Generator* gen, Device device) {
  LNX_CHECK(std >= 0, "normal: std must be non-negative, got ", std);
  Generator& g = gen ? *gen : default_generator();
  Tensor t = Tensor::empty(shape, DType::Float32, device);
  backend(device).normal(t, mean, std, g.seed(), g.advance(t.numel()));
  return t;
}

namespace {
template <typename T>
Tensor from_vector_impl(const std::vector<T>& values, const Shape& shape, Device device) {
  LNX_CHECK(static_cast<int64_t>(values.size()) == numel(shape), "from_vector: ", values.size(),
            " values do not fill shape ", lnx::to_string(shape), " (", numel(shape), " elements)");
  Tensor t = Tensor::empty(shape, dtype_of<T>::value, Device::cpu());
  std::copy(values.begin(), values.end(), t.data<T>());
  return t.to(device);
}
}  // namespace

Tensor from_vector(const std::vector<float>& v, const Shape& s, Device d) {
  return from_vector_impl(v, s, d);
}
Tensor from_vector(const std::vector<int64_t>& v, const Shape& s, Device d) {
  return from_vector_impl(v, s, d);
}
Tensor from_vector(const std::vector<uint8_t>& v, const Shape& s, Device d) {
  return from_vector_impl(v, s, d);
}

}  // namespace lnx
