// 2-D convolution through cuDNN (NCHW float32, groups, dilation). The algorithm for each
// (direction, shapes, params) is chosen once by timing the candidates (cudnnFind*Ex on the
// call's own buffers: they are outputs, overwritten anyway) and cached. Among the algorithms
// that fit the workspace limit the fastest deterministic one wins, so a training step gives the
// same numbers every run, as on the CPU; a non-deterministic one is used only when no
// deterministic algorithm fits. Math is restricted to FMA (no TF32 tensor cores): float32
// results then agree with the CPU to float32 rounding of a different summation order.
#include <array>
#include <climits>
#include <map>
#include <mutex>
#include <string>

#include "core/error.h"
#include "cuda/check.h"
#include "cuda/cuda_backend.h"
#include "cuda/device_guard.h"

namespace lnx::cuda {
namespace {

constexpr size_t kWorkspaceLimit = size_t{256} << 20;  // bytes of scratch an algorithm may use

enum class ConvDir : int64_t { Forward, BackwardData, BackwardFilter };

// What a failing call reports: the op with its shapes and parameters (built only on failure).
struct ConvContext {
  const char* op;
  const Tensor& x;  // the image side: x, or grad_x
  const Tensor& w;  // the filter side: w, or grad_w
  const Tensor& y;  // the output side: y, or grad_y
  const Conv2dParams& p;

  std::string describe() const {
    return str(op, " (x ", to_string(x.shape()), ", w ", to_string(w.shape()), ", y ",
               to_string(y.shape()), ", stride ", p.stride_h, "x", p.stride_w, ", pad ", p.pad_h,
               "x", p.pad_w, ", dilation ", p.dilation_h, "x", p.dilation_w, ", groups ", p.groups,
               ")");
  }
};

void check_cudnn(cudnnStatus_t status, const char* call, const ConvContext& ctx) {
  if (status == CUDNN_STATUS_SUCCESS) return;
  check(status, call, ctx.describe().c_str());
}

#define LNX_CUDNN_CHECK(expr, ctx) check_cudnn((expr), #expr, (ctx))

int as_int(int64_t v, const ConvContext& ctx) {
  LNX_CHECK(v >= 0 && v <= INT_MAX, ctx.describe(), ": dimension ", v,
            " exceeds cuDNN's 32-bit limit");
  return static_cast<int>(v);
}

// RAII descriptors. Destroy results are ignored: nothing useful can be done with a failure.
class TensorDesc {
 public:
  TensorDesc(const Tensor& t, const ConvContext& ctx) {
    LNX_CUDNN_CHECK(cudnnCreateTensorDescriptor(&d_), ctx);
    LNX_CUDNN_CHECK(cudnnSetTensor4dDescriptor(d_, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT,
                                               as_int(t.size(0), ctx), as_int(t.size(1), ctx),
                                               as_int(t.size(2), ctx), as_int(t.size(3), ctx)),
                    ctx);
  }
  // (1, C, 1, 1), for the bias.
  TensorDesc(int64_t channels, const ConvContext& ctx) {
    LNX_CUDNN_CHECK(cudnnCreateTensorDescriptor(&d_), ctx);
    LNX_CUDNN_CHECK(cudnnSetTensor4dDescriptor(d_, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1,
                                               as_int(channels, ctx), 1, 1),
                    ctx);
  }
  ~TensorDesc() { (void)cudnnDestroyTensorDescriptor(d_); }
  TensorDesc(const TensorDesc&) = delete;
  TensorDesc& operator=(const TensorDesc&) = delete;
  cudnnTensorDescriptor_t get() const { return d_; }

 private:
  cudnnTensorDescriptor_t d_ = nullptr;
};

class FilterDesc {
 public:
  FilterDesc(const Tensor& w, const ConvContext& ctx) {  // (O, I/groups, KH, KW)
    LNX_CUDNN_CHECK(cudnnCreateFilterDescriptor(&d_), ctx);
    LNX_CUDNN_CHECK(cudnnSetFilter4dDescriptor(d_, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW,
                                               as_int(w.size(0), ctx), as_int(w.size(1), ctx),
                                               as_int(w.size(2), ctx), as_int(w.size(3), ctx)),
                    ctx);
  }
  ~FilterDesc() { (void)cudnnDestroyFilterDescriptor(d_); }
  FilterDesc(const FilterDesc&) = delete;
  FilterDesc& operator=(const FilterDesc&) = delete;
  cudnnFilterDescriptor_t get() const { return d_; }

 private:
  cudnnFilterDescriptor_t d_ = nullptr;
};

class ConvDesc {
 public:
  explicit ConvDesc(const ConvContext& ctx) {
    const Conv2dParams& p = ctx.p;
    LNX_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&d_), ctx);
    LNX_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(
                        d_, as_int(p.pad_h, ctx), as_int(p.pad_w, ctx), as_int(p.stride_h, ctx),
                        as_int(p.stride_w, ctx), as_int(p.dilation_h, ctx),
                        as_int(p.dilation_w, ctx), CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT),
                    ctx);
    LNX_CUDNN_CHECK(cudnnSetConvolutionGroupCount(d_, as_int(p.groups, ctx)), ctx);
    // No TF32: float32 results must match the CPU's to float32 precision.
    LNX_CUDNN_CHECK(cudnnSetConvolutionMathType(d_, CUDNN_FMA_MATH), ctx);
  }
  ~ConvDesc() { (void)cudnnDestroyConvolutionDescriptor(d_); }
  ConvDesc(const ConvDesc&) = delete;
  ConvDesc& operator=(const ConvDesc&) = delete;
  cudnnConvolutionDescriptor_t get() const { return d_; }

 private:
  cudnnConvolutionDescriptor_t d_ = nullptr;
};

// Everything an algorithm choice depends on.
using ConvKey = std::array<int64_t, 20>;

ConvKey key_of(ConvDir dir, int device, const ConvContext& ctx) {
  const Conv2dParams& p = ctx.p;
  return {static_cast<int64_t>(dir),
          device,
          ctx.x.size(0),
          ctx.x.size(1),
          ctx.x.size(2),
          ctx.x.size(3),
          ctx.w.size(0),
          ctx.w.size(2),
          ctx.w.size(3),
          ctx.y.size(2),
          ctx.y.size(3),
          p.stride_h,
          p.stride_w,
          p.pad_h,
          p.pad_w,
          p.dilation_h,
          p.dilation_w,
          p.groups,
          0,
          0};
}

struct Choice {
  int algo;          // the cudnnConvolution*Algo_t, as an int so one cache serves all three
  size_t workspace;  // bytes it needs
};

std::mutex& cache_mutex() {
  static std::mutex m;
  return m;
}
std::map<ConvKey, Choice>& cache() {
  static auto* c = new std::map<ConvKey, Choice>();  // never destroyed, like the backend
  return *c;
}

// The fastest deterministic FMA-math result within the limit, else the fastest within it.
// cuDNN returns the results sorted by time.
template <typename Perf>
Choice pick(const Perf* results, int n, const ConvContext& ctx) {
  const Perf* any = nullptr;
  for (int i = 0; i < n; ++i) {
    const Perf& r = results[i];
    if (r.status != CUDNN_STATUS_SUCCESS || r.memory > kWorkspaceLimit) continue;
    if (r.mathType == CUDNN_TENSOR_OP_MATH || r.mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION)
      continue;
    if (r.determinism == CUDNN_DETERMINISTIC) return {static_cast<int>(r.algo), r.memory};
    if (!any) any = &r;
  }
  LNX_CHECK(any, ctx.describe(), ": cuDNN found no algorithm within the ", kWorkspaceLimit >> 20,
            " MiB workspace limit (", n, " candidates tried)");
  return {static_cast<int>(any->algo), any->memory};
}

Tensor workspace(size_t bytes, const Tensor& like) {
  return Tensor::empty({static_cast<int64_t>(bytes > 0 ? bytes : 1)}, DType::UInt8, like.device());
}

// Looks the choice up, or runs `find` (given a workspace of the limit's size) and caches it.
template <typename Find>
Choice choose(ConvDir dir, int device, const ConvContext& ctx, const Tensor& like, Find find) {
  const ConvKey key = key_of(dir, device, ctx);
  {
    const std::lock_guard<std::mutex> lock(cache_mutex());
    if (auto it = cache().find(key); it != cache().end()) return it->second;
  }
  const Tensor ws = workspace(kWorkspaceLimit, like);
  const Choice c = find(ws.raw_data(), kWorkspaceLimit);
  const std::lock_guard<std::mutex> lock(cache_mutex());
  cache().emplace(key, c);
  return c;
}

Tensor contiguous_float(const Tensor& t) {
  return t.is_contiguous() ? t : t.contiguous();
}

}  // namespace

void CudaBackend::conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& bias,
                                 const Conv2dParams& p, const Tensor& y) {
  const ConvContext ctx{"conv2d_forward", x, w, y, p};
  const int d = device_of(y, "conv2d_forward");
  const DeviceGuard guard(d);
  const Tensor xc = contiguous_float(x), wc = contiguous_float(w);
  cudnnHandle_t h = cudnn(d);
  const TensorDesc xd(xc, ctx), yd(y, ctx);
  const FilterDesc wd(wc, ctx);
  const ConvDesc cd(ctx);
  const Choice c = choose(ConvDir::Forward, d, ctx, y, [&](void* ws, size_t ws_bytes) {
    std::array<cudnnConvolutionFwdAlgoPerf_t, CUDNN_CONVOLUTION_FWD_ALGO_COUNT> r{};
    int n = 0;
    LNX_CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithmEx(
                        h, xd.get(), xc.raw_data(), wd.get(), wc.raw_data(), cd.get(), yd.get(),
                        y.raw_data(), static_cast<int>(r.size()), &n, r.data(), ws, ws_bytes),
                    ctx);
    return pick(r.data(), n, ctx);
  });
  const Tensor ws = workspace(c.workspace, y);
  const float one = 1.0f, zero = 0.0f;
  LNX_CUDNN_CHECK(
      cudnnConvolutionForward(h, &one, xd.get(), xc.raw_data(), wd.get(), wc.raw_data(), cd.get(),
                              static_cast<cudnnConvolutionFwdAlgo_t>(c.algo), ws.raw_data(),
                              c.workspace, &zero, yd.get(), y.raw_data()),
      ctx);
  if (bias.defined()) {
    const Tensor bc = contiguous_float(bias);
    const TensorDesc bd(y.size(1), ctx);
    LNX_CUDNN_CHECK(cudnnAddTensor(h, &one, bd.get(), bc.raw_data(), &one, yd.get(), y.raw_data()),
                    ctx);
  }
}

void CudaBackend::conv2d_backward_input(const Tensor& grad_y, const Tensor& w,
                                        const Conv2dParams& p, const Tensor& grad_x) {
  const ConvContext ctx{"conv2d_backward_input", grad_x, w, grad_y, p};
  const int d = device_of(grad_x, "conv2d_backward_input");
  const DeviceGuard guard(d);
  const Tensor gyc = contiguous_float(grad_y), wc = contiguous_float(w);
  cudnnHandle_t h = cudnn(d);
  const TensorDesc gxd(grad_x, ctx), gyd(gyc, ctx);
  const FilterDesc wd(wc, ctx);
  const ConvDesc cd(ctx);
  const Choice c = choose(ConvDir::BackwardData, d, ctx, grad_x, [&](void* ws, size_t ws_bytes) {
    std::array<cudnnConvolutionBwdDataAlgoPerf_t, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT> r{};
    int n = 0;
    LNX_CUDNN_CHECK(cudnnFindConvolutionBackwardDataAlgorithmEx(
                        h, wd.get(), wc.raw_data(), gyd.get(), gyc.raw_data(), cd.get(), gxd.get(),
                        grad_x.raw_data(), static_cast<int>(r.size()), &n, r.data(), ws, ws_bytes),
                    ctx);
    return pick(r.data(), n, ctx);
  });
  const Tensor ws = workspace(c.workspace, grad_x);
  const float one = 1.0f, zero = 0.0f;
  LNX_CUDNN_CHECK(
      cudnnConvolutionBackwardData(h, &one, wd.get(), wc.raw_data(), gyd.get(), gyc.raw_data(),
                                   cd.get(), static_cast<cudnnConvolutionBwdDataAlgo_t>(c.algo),
                                   ws.raw_data(), c.workspace, &zero, gxd.get(), grad_x.raw_data()),
      ctx);
}

void CudaBackend::conv2d_backward_weight(const Tensor& grad_y, const Tensor& x,
                                         const Conv2dParams& p, const Tensor& grad_w) {
  const ConvContext ctx{"conv2d_backward_weight", x, grad_w, grad_y, p};
  const int d = device_of(grad_w, "conv2d_backward_weight");
  const DeviceGuard guard(d);
  const Tensor gyc = contiguous_float(grad_y), xc = contiguous_float(x);
  cudnnHandle_t h = cudnn(d);
  const TensorDesc xd(xc, ctx), gyd(gyc, ctx);
  const FilterDesc gwd(grad_w, ctx);
  const ConvDesc cd(ctx);
  const Choice c = choose(ConvDir::BackwardFilter, d, ctx, grad_w, [&](void* ws, size_t ws_bytes) {
    std::array<cudnnConvolutionBwdFilterAlgoPerf_t, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT> r{};
    int n = 0;
    LNX_CUDNN_CHECK(cudnnFindConvolutionBackwardFilterAlgorithmEx(
                        h, xd.get(), xc.raw_data(), gyd.get(), gyc.raw_data(), cd.get(), gwd.get(),
                        grad_w.raw_data(), static_cast<int>(r.size()), &n, r.data(), ws, ws_bytes),
                    ctx);
    return pick(r.data(), n, ctx);
  });
  const Tensor ws = workspace(c.workspace, grad_w);
  const float one = 1.0f, zero = 0.0f;
  LNX_CUDNN_CHECK(cudnnConvolutionBackwardFilter(
                      h, &one, xd.get(), xc.raw_data(), gyd.get(), gyc.raw_data(), cd.get(),
                      static_cast<cudnnConvolutionBwdFilterAlgo_t>(c.algo), ws.raw_data(),
                      c.workspace, &zero, gwd.get(), grad_w.raw_data()),
                  ctx);
}

}  // namespace lnx::cuda
