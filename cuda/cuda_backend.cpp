#include "cuda/cuda_backend.h"

#include "core/error.h"
#include "cuda/allocator.h"
#include "cuda/check.h"
#include "cuda/device_guard.h"
#include "cuda/kernels.h"
#include "cuda/layout.h"

namespace lnx {
namespace cuda {
namespace {

float* fptr(const Tensor& t) {
  return t.data<float>();
}

}  // namespace

CudaBackend::CudaBackend(int device_count) {
  for (int d = 0; d < device_count; ++d) devices_.push_back(std::make_unique<PerDevice>());
}

CudaBackend::PerDevice& CudaBackend::state(int device) {
  LNX_CHECK(device >= 0 && device < device_count(), "cuda: device index ", device,
            " is out of range; this machine has ", device_count(), " CUDA device(s)");
  return *devices_[device];
}

int CudaBackend::device_of(const Tensor& t, const char* op) const {
  LNX_CHECK(t.defined(), op, ": a CUDA kernel got an undefined tensor");
  LNX_CHECK(t.device().is_cuda(), op, ": tensor of shape ", to_string(t.shape()), " is on ",
            t.device().name(), ", expected a CUDA device");
  const int d = t.device().index;
  LNX_CHECK(d >= 0 && d < device_count(), op, ": device cuda:", d,
            " does not exist; this machine has ", device_count(), " CUDA device(s)");
  // Storage is allocated on the current device (Backend::allocate has no device index), which
  // is cuda:0 unless changed; refuse rather than let kernels on cuda:d read another GPU's memory.
  LNX_CHECK(d == 0, op, ": tensors on cuda:", d,
            " are not supported yet (Backend::allocate takes no device index); use cuda:0");
  return d;
}

cudaStream_t CudaBackend::stream(int device) {
  PerDevice& s = state(device);
  std::call_once(s.stream_once, [&] {
    const DeviceGuard guard(device);
    // Non-blocking: no implicit ordering with the legacy default stream, which we never use.
    LNX_CUDA_CHECK(cudaStreamCreateWithFlags(&s.stream, cudaStreamNonBlocking), "cuda stream");
    s.has_stream.store(true, std::memory_order_release);
  });
  return s.stream;
}

cublasHandle_t CudaBackend::cublas(int device) {
  PerDevice& s = state(device);
  cudaStream_t st = stream(device);
  std::call_once(s.cublas_once, [&] {
    const DeviceGuard guard(device);
    LNX_CUDA_CHECK(cublasCreate(&s.cublas), "gemm");
    LNX_CUDA_CHECK(cublasSetStream(s.cublas, st), "gemm");
  });
  return s.cublas;
}

cudnnHandle_t CudaBackend::cudnn(int device) {
  PerDevice& s = state(device);
  cudaStream_t st = stream(device);
  std::call_once(s.cudnn_once, [&] {
    const DeviceGuard guard(device);
    LNX_CUDA_CHECK(cudnnCreate(&s.cudnn), "cudnn");
    LNX_CUDA_CHECK(cudnnSetStream(s.cudnn, st), "cudnn");
  });
  return s.cudnn;
}

// ---- memory ----

void* CudaBackend::allocate(size_t nbytes) {
  int device = 0;
  LNX_CUDA_CHECK(cudaGetDevice(&device), "cuda allocate");
  return device_allocate(nbytes, device);
}

void CudaBackend::deallocate(void* p, size_t) {
  device_deallocate(p);
}

namespace {

// The device that owns a device pointer (which may point inside an allocation).
int owning_device(const void* p, const char* op) {
  cudaPointerAttributes attr{};
  LNX_CUDA_CHECK(cudaPointerGetAttributes(&attr, p), op);
  LNX_CHECK(attr.type == cudaMemoryTypeDevice, op, ": pointer ", p,
            " is not CUDA device memory (cudaPointerGetAttributes type ",
            static_cast<int>(attr.type), ")");
  return attr.device;
}

}  // namespace

void CudaBackend::copy_to_host(const void* src, void* host_dst, size_t nbytes) {
  if (nbytes == 0) return;
  const int d = owning_device(src, "copy_to_host");
  const DeviceGuard guard(d);
  cudaStream_t s = stream(d);
  LNX_CUDA_CHECK(cudaMemcpyAsync(host_dst, src, nbytes, cudaMemcpyDeviceToHost, s), "copy_to_host");
  LNX_CUDA_CHECK(cudaStreamSynchronize(s), "copy_to_host");
}

void CudaBackend::copy_from_host(const void* host_src, void* dst, size_t nbytes) {
  if (nbytes == 0) return;
  const int d = owning_device(dst, "copy_from_host");
  const DeviceGuard guard(d);
  cudaStream_t s = stream(d);
  LNX_CUDA_CHECK(cudaMemcpyAsync(dst, host_src, nbytes, cudaMemcpyHostToDevice, s),
                 "copy_from_host");
  // The host buffer may be freed as soon as we return.
  LNX_CUDA_CHECK(cudaStreamSynchronize(s), "copy_from_host");
}

void CudaBackend::copy(const Tensor& src, const Tensor& dst) {
  const int d = device_of(dst, "copy");
  LNX_CHECK(device_of(src, "copy") == d, "copy: source on ", src.device().name(),
            " and destination on ", dst.device().name(), "; copy between GPUs goes through to()");
  const DeviceGuard guard(d);
  const Layout l = make_layout(dst.shape(), {&src.strides(), &dst.strides()}, "copy");
  launch_copy(l, src.raw_data(), src.dtype(), dst.raw_data(), dst.dtype(), stream(d));
}

void CudaBackend::fill(const Tensor& dst, double value) {
  const int d = device_of(dst, "fill");
  const DeviceGuard guard(d);
  const Layout l = make_layout(dst.shape(), {&dst.strides()}, "fill");
  launch_fill(l, dst.raw_data(), dst.dtype(), value, stream(d));
}

void CudaBackend::synchronize() {
  for (int d = 0; d < device_count(); ++d) {
    const PerDevice& s = state(d);
    if (!s.has_stream.load(std::memory_order_acquire)) continue;  // never used: nothing queued
    const DeviceGuard guard(d);
    LNX_CUDA_CHECK(cudaStreamSynchronize(s.stream), "synchronize");
  }
}

// ---- element-wise ----

void CudaBackend::unary(UnaryOp op, const Tensor& x, const Tensor& out) {
  const int d = device_of(out, unary_op_name(op));
  const DeviceGuard guard(d);
  const Layout l = make_layout(out.shape(), {&x.strides(), &out.strides()}, unary_op_name(op));
  launch_unary(op, l, fptr(x), fptr(out), stream(d));
}

void CudaBackend::unary_backward(UnaryOp op, const Tensor& x, const Tensor& y,
                                 const Tensor& grad_out, const Tensor& grad_in) {
  const char* name = unary_op_name(op);
  const int d = device_of(grad_in, name);
  const DeviceGuard guard(d);
  // Ops whose derivative needs neither x nor y read grad_out in its place, so x and y may be
  // undefined for them.
  const bool needs_saved =
      op != UnaryOp::Neg && op != UnaryOp::Round && op != UnaryOp::Sign && op != UnaryOp::IsFinite;
  const Tensor& saved = !needs_saved ? grad_out : (unary_backward_uses_output(op) ? y : x);
  LNX_CHECK(saved.defined(), name, " backward: the saved ",
            unary_backward_uses_output(op) ? "output y" : "input x", " is undefined");
  const Layout l = make_layout(grad_in.shape(),
                               {&grad_out.strides(), &saved.strides(), &grad_in.strides()}, name);
  launch_unary_backward(op, l, fptr(grad_out), fptr(saved), fptr(grad_in), stream(d));
}

void CudaBackend::binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) {
  const int d = device_of(out, binary_op_name(op));
  const DeviceGuard guard(d);
  const Layout l =
      make_layout(out.shape(), {&a.strides(), &b.strides(), &out.strides()}, binary_op_name(op));
  launch_binary(op, l, fptr(a), fptr(b), fptr(out), stream(d));
}

void CudaBackend::binary_scalar(BinaryOp op, const Tensor& a, double s, bool scalar_first,
                                const Tensor& out) {
  const int d = device_of(out, binary_op_name(op));
  const DeviceGuard guard(d);
  const Layout l = make_layout(out.shape(), {&a.strides(), &out.strides()}, binary_op_name(op));
  launch_binary_scalar(op, l, fptr(a), static_cast<float>(s), scalar_first, fptr(out), stream(d));
}

void CudaBackend::clamp(const Tensor& x, double lo, double hi, const Tensor& out) {
  const int d = device_of(out, "clamp");
  const DeviceGuard guard(d);
  const Layout l = make_layout(out.shape(), {&x.strides(), &out.strides()}, "clamp");
  launch_clamp(l, fptr(x), static_cast<float>(lo), static_cast<float>(hi), fptr(out), stream(d));
}

void CudaBackend::clamp_backward(const Tensor& x, double lo, double hi, const Tensor& grad_out,
                                 const Tensor& grad_in) {
  const int d = device_of(grad_in, "clamp_backward");
  const DeviceGuard guard(d);
  const Layout l = make_layout(
      grad_in.shape(), {&grad_out.strides(), &x.strides(), &grad_in.strides()}, "clamp_backward");
  launch_clamp_backward(l, fptr(grad_out), fptr(x), static_cast<float>(lo), static_cast<float>(hi),
                        fptr(grad_in), stream(d));
}

// ---- reductions ----

void CudaBackend::reduce(ReduceOp op, const Tensor& x, const std::vector<int64_t>& axes,
                         const Tensor& out) {
  const int d = device_of(out, "reduce");
  const DeviceGuard guard(d);
  const ReduceLayout l = make_reduce_layout(x.shape(), x.strides(), axes, "reduce");
  const int64_t scratch_n = reduce_scratch_floats(l);
  // Freed right after the launch: the allocator only reuses it for work queued behind it.
  const Tensor scratch =
      scratch_n > 0 ? Tensor::empty({scratch_n}, DType::Float32, out.device()) : Tensor();
  launch_reduce(op, l, fptr(x), fptr(out), scratch_n > 0 ? fptr(scratch) : nullptr, stream(d));
}

void CudaBackend::argmax(const Tensor& x, int64_t axis, const Tensor& out) {
  const int d = device_of(out, "argmax");
  const DeviceGuard guard(d);
  const ReduceLayout l = make_reduce_layout(x.shape(), x.strides(), {axis}, "argmax");
  launch_argmax(l, fptr(x), out.data<int64_t>(), stream(d));
}

// ---- random numbers ----

void CudaBackend::uniform(const Tensor& out, double low, double high, uint64_t seed,
                          uint64_t offset) {
  const int d = device_of(out, "uniform");
  LNX_CHECK(out.is_contiguous(), "uniform: output of shape ", to_string(out.shape()),
            " must be contiguous");
  const DeviceGuard guard(d);
  // The same float conversions as CpuBackend::uniform.
  launch_uniform(fptr(out), out.numel(), static_cast<float>(low), static_cast<float>(high - low),
                 seed, offset, stream(d));
}

void CudaBackend::normal(const Tensor& out, double mean, double std, uint64_t seed,
                         uint64_t offset) {
  const int d = device_of(out, "normal");
  LNX_CHECK(out.is_contiguous(), "normal: output of shape ", to_string(out.shape()),
            " must be contiguous");
  const DeviceGuard guard(d);
  launch_normal(fptr(out), out.numel(), static_cast<float>(mean), static_cast<float>(std), seed,
                offset, stream(d));
}

}  // namespace cuda

// ---- the probe ----

namespace {

struct Probe {
  std::unique_ptr<cuda::CudaBackend> backend;
  std::string message;
};

Probe run_probe() {
  int n = 0;
  const cudaError_t err = cudaGetDeviceCount(&n);
  if (err != cudaSuccess) {
    (void)cudaGetLastError();
    return {nullptr,
            str("no CUDA device found (cudaGetDeviceCount: ", cudaGetErrorString(err), ")")};
  }
  if (n <= 0) return {nullptr, "no CUDA device found (cudaGetDeviceCount: 0 devices)"};
  cudaDeviceProp prop{};
  const cudaError_t perr = cudaGetDeviceProperties(&prop, 0);
  if (perr != cudaSuccess) {
    (void)cudaGetLastError();
    return {nullptr, str("CUDA device 0 cannot be queried (cudaGetDeviceProperties: ",
                         cudaGetErrorString(perr), ")")};
  }
  // A GPU older than the architectures this build was compiled for has no kernel image; say so
  // now rather than at the first launch.
  const cudaError_t image = cuda::probe_kernel_image();
  if (image != cudaSuccess) {
    (void)cudaGetLastError();
    return {nullptr,
            str("CUDA device 0 (", prop.name, ", compute capability ", prop.major, ".", prop.minor,
                ") cannot run this build's kernels (", cudaGetErrorString(image),
                "); rebuild with CMAKE_CUDA_ARCHITECTURES=", prop.major, prop.minor)};
  }
  return {
      std::make_unique<cuda::CudaBackend>(n),
      str("CUDA backend available: ", n, " device(s); cuda:0 is ", prop.name,
          " (compute capability ", prop.major, ".", prop.minor, "), cuDNN ", cudnnGetVersion())};
}

const Probe& probe() {
  // Never destroyed: tensors freed during static destruction still reach the backend.
  static const Probe* p = new Probe(run_probe());
  return *p;
}

}  // namespace

Backend* cuda_backend_or_null() {
  return probe().backend.get();
}
std::string cuda_probe_message() {
  return probe().message;
}

}  // namespace lnx
