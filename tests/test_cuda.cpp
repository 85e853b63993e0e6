// The CUDA backend, checked against the CPU backend. Without a GPU (or in a build without
// CUDA) the GPU tests pass with a visible "skipped" warning; the tests at the end run anywhere.
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>

#include "autograd/ops.h"
#include "compress/factorized_prior.h"
#include "compress/latent_layers.h"
#include "compress/objective.h"
#include "core/backend.h"
#include "core/batch_norm_affine.h"
#include "core/ops.h"
#include "core/ops_nn.h"
#include "core/random.h"
#include "core/tensor.h"
#include "models/registry.h"
#ifdef LNX_HAVE_CUDA
#include "cuda/allocator.h"
#include "cuda/check.h"
#include "cuda/cuda_backend.h"
#include "cuda/layout.h"
#endif

using namespace lnx;

namespace {

Tensor gpu(const Tensor& t) {
  return t.to(Device::cuda());
}

// Element-wise comparison of a GPU result with the CPU's; NaNs must match NaNs.
void check_close(const Tensor& got, const Tensor& want, double tol) {
  REQUIRE(got.shape() == want.shape());
  const std::vector<float> g = got.to(DType::Float32).to_vector<float>();
  const std::vector<float> w = want.to(DType::Float32).to_vector<float>();
  for (size_t i = 0; i < g.size(); ++i) {
    INFO("element " << i << " of shape " << to_string(want.shape()));
    if (std::isnan(w[i])) {
      CHECK(std::isnan(g[i]));
    } else if (std::isinf(w[i])) {
      CHECK(g[i] == w[i]);
    } else {
      CHECK(g[i] == Approx(w[i]).epsilon(tol).margin(tol));
    }
  }
}

// max |got - want| / max |want|, for products whose rounding depends on summation order.
double rel_err(const Tensor& got, const Tensor& want) {
  const std::vector<float> g = got.to_vector<float>(), w = want.to_vector<float>();
  double num = 0, den = 0;
  for (size_t i = 0; i < g.size(); ++i) {
    num = std::max(num, std::abs(static_cast<double>(g[i]) - w[i]));
    den = std::max(den, std::abs(static_cast<double>(w[i])));
  }
  return den > 0 ? num / den : num;
}

Tensor empty_like(const Tensor& t, Device d) {
  return Tensor::empty(t.shape(), t.dtype(), d);
}

constexpr UnaryOp kUnaryOps[] = {
    UnaryOp::Neg,   UnaryOp::Exp,     UnaryOp::Log,  UnaryOp::Sqrt,       UnaryOp::Square,
    UnaryOp::Abs,   UnaryOp::Sigmoid, UnaryOp::Tanh, UnaryOp::Softplus,   UnaryOp::Relu,
    UnaryOp::Relu6, UnaryOp::Round,   UnaryOp::Sign, UnaryOp::Reciprocal, UnaryOp::IsFinite};
constexpr BinaryOp kBinaryOps[] = {
    BinaryOp::Add,     BinaryOp::Sub,     BinaryOp::Mul,     BinaryOp::Div,  BinaryOp::Pow,
    BinaryOp::Maximum, BinaryOp::Minimum, BinaryOp::Greater, BinaryOp::Less, BinaryOp::Equal};

// Values that hit every branch: signs, zero, the relu6 edges, round's halves, large magnitudes.
Tensor interesting_values() {
  std::vector<float> v = {-8.0f, -6.0f, -2.5f, -1.5f, -0.5f, -0.0f, 0.0f,   0.5f,
                          1.5f,  2.5f,  3.0f,  6.0f,  7.0f,  20.0f, -20.0f, 1e-3f};
  Generator g(3);
  const std::vector<float> r = uniform({48}, -7, 7, &g).to_vector<float>();
  v.insert(v.end(), r.begin(), r.end());
  return from_vector(v, {8, 8});
}

}  // namespace

TEST_CASE("cuda: host-device round trip and the caching allocator", "[cuda]") {
  if (!cuda_available()) {
    WARN("skipped: " << cuda_unavailable_reason());
    return;
  }
  const Tensor f = arange(0, 24).view({4, 6});
  CHECK(gpu(f).device() == Device::cuda());
  CHECK(gpu(f).cpu().to_vector<float>() == f.to_vector<float>());
  const Tensor i64 = from_vector(std::vector<int64_t>{-3, 0, 1LL << 40, 7}, {2, 2});
  CHECK(gpu(i64).cpu().to_vector<int64_t>() == i64.to_vector<int64_t>());
  const Tensor u8 = from_vector(std::vector<uint8_t>{0, 1, 200, 255}, {4});
  CHECK(gpu(u8).cpu().to_vector<uint8_t>() == u8.to_vector<uint8_t>());
  // A contiguous view with an offset into its storage, and a strided one.
  const Tensor rows = f.slice(0, 1, 3);
  CHECK(gpu(rows).cpu().to_vector<float>() == rows.to_vector<float>());
  CHECK(gpu(f.transpose(0, 1)).cpu().to_vector<float>() ==
        f.transpose(0, 1).contiguous().to_vector<float>());
  CHECK(gpu(f).slice(1, 1, 6, 2).cpu().to_vector<float>() ==
        f.slice(1, 1, 6, 2).contiguous().to_vector<float>());
  CHECK(gpu(from_vector(std::vector<float>{2.5f}, {})).item() == 2.5);
  CHECK(gpu(zeros({0, 3})).cpu().numel() == 0);

#ifdef LNX_HAVE_CUDA  // reaching into the backend's own API
  // A freed block is reused for the next request of its size class.
  const AllocatorStats before = cuda::device_allocator_stats(0);
  { const Tensor t = Tensor::empty({1000}, DType::Float32, Device::cuda()); }
  { const Tensor t = Tensor::empty({1000}, DType::Float32, Device::cuda()); }
  const AllocatorStats after = cuda::device_allocator_stats(0);
  CHECK(after.allocations == before.allocations + 2);
  CHECK(after.cache_hits >= before.cache_hits + 1);
  CHECK(after.bytes_in_use == before.bytes_in_use);
  CHECK(after.peak_bytes_in_use >= after.bytes_in_use);
  cuda::device_allocator_release_cache(0);
  CHECK(cuda::device_allocator_stats(0).bytes_cached == 0);
  CHECK(gpu(f).cpu().to_vector<float>() == f.to_vector<float>());  // allocates afresh
  backend(Device::cuda()).synchronize();

  // The per-device handles exist and are created once.
  auto& dev = dynamic_cast<cuda::CudaBackend&>(backend(Device::cuda()));
  CHECK(dev.cudnn(0) != nullptr);
  CHECK(dev.cudnn(0) == dev.cudnn(0));
  CHECK(dev.cublas(0) != nullptr);
  CHECK(dev.stream(0) == dev.stream(0));
  CHECK_THROWS_WITH(dev.stream(dev.device_count()), Catch::Contains("out of range"));
#endif
}

TEST_CASE("cuda: fill and strided copies with dtype conversion", "[cuda]") {
  if (!cuda_available()) {
    WARN("skipped: " << cuda_unavailable_reason());
    return;
  }
  CHECK(full({3, 5}, 1.25, DType::Float32, Device::cuda()).cpu().to_vector<float>() ==
        std::vector<float>(15, 1.25f));
  CHECK(full({4}, -7, DType::Int64, Device::cuda()).cpu().to_vector<int64_t>() ==
        std::vector<int64_t>(4, -7));
  CHECK(full({4}, 200, DType::UInt8, Device::cuda()).cpu().to_vector<uint8_t>() ==
        std::vector<uint8_t>(4, 200));

  // Filling a strided view leaves the rest alone.
  const Tensor c = arange(0, 60).view({3, 4, 5});
  const Tensor g = gpu(c);
  c.slice(2, 1, 5, 2).transpose(0, 1).fill_(-1);
  g.slice(2, 1, 5, 2).transpose(0, 1).fill_(-1);
  CHECK(g.cpu().to_vector<float>() == c.to_vector<float>());

  // Strided reads: permuted, stepped, broadcast.
  const Tensor p = c.permute({2, 0, 1});
  check_close(g.permute({2, 0, 1}).contiguous(), p.contiguous(), 0);
  check_close(g.slice(1, 0, 4, 3).contiguous(), c.slice(1, 0, 4, 3).contiguous(), 0);
  const Tensor row = from_vector(std::vector<float>{1, 2, 3, 4, 5}, {5});
  const Tensor dst_c = zeros({3, 4, 5}), dst_g = zeros({3, 4, 5}, DType::Float32, Device::cuda());
  dst_c.copy_(row);
  dst_g.copy_(gpu(row));
  check_close(dst_g, dst_c, 0);
  // Strided writes: copy into a transposed destination.
  const Tensor t_c = zeros({5, 4, 3}), t_g = zeros({5, 4, 3}, DType::Float32, Device::cuda());
  t_c.permute({2, 1, 0}).copy_(c);
  t_g.permute({2, 1, 0}).copy_(g);
  check_close(t_g, t_c, 0);

  // Every dtype pair, read through a transposed view. Values stay in uint8's range, where
  // float -> uint8 is defined.
  const Tensor v =
      from_vector(std::vector<float>{0.0f, 0.5f, 2.9f, 7.0f, 100.0f, 255.0f, 1.0f, 3.75f}, {2, 4});
  for (DType from : {DType::Float32, DType::Int64, DType::UInt8}) {
    for (DType to : {DType::Float32, DType::Int64, DType::UInt8}) {
      INFO(dtype_name(from) << " -> " << dtype_name(to));
      const Tensor src_c = v.to(from).transpose(0, 1);
      const Tensor src_g = gpu(v.to(from)).transpose(0, 1);
      check_close(src_g.to(to), src_c.to(to), 0);
      CHECK(src_g.to(to).dtype() == to);
    }
  }
  // int64 -> uint8 wraps as static_cast does.
  const Tensor wide = from_vector(std::vector<int64_t>{256 + 5, -1, 1000}, {3});
  CHECK(gpu(wide).to(DType::UInt8).cpu().to_vector<uint8_t>() ==
        wide.to(DType::UInt8).to_vector<uint8_t>());
}

TEST_CASE("cuda: every unary op and its backward match the CPU", "[cuda]") {
  if (!cuda_available()) {
    WARN("skipped: " << cuda_unavailable_reason());
    return;
  }
  const float inf = std::numeric_limits<float>::infinity();
  const Tensor x = interesting_values();
  Generator gen(11);
  const Tensor grad = uniform({8, 8}, -1, 1, &gen);
  Backend& cpu = backend(Device::cpu());
  Backend& dev = backend(Device::cuda());
  for (UnaryOp op : kUnaryOps) {
    INFO("op " << unary_op_name(op));
    // Transposed inputs exercise the strided index path, contiguous ones the fast path.
    for (bool transposed : {false, true}) {
      const Tensor xc = transposed ? x.transpose(0, 1) : x;
      const Tensor xg = transposed ? gpu(x).transpose(0, 1) : gpu(x);
      const Tensor yc = empty_like(xc, Device::cpu()), yg = empty_like(xc, Device::cuda());
      cpu.unary(op, xc, yc);
      dev.unary(op, xg, yg);
      check_close(yg, yc, 1e-5);

      const Tensor gc = transposed ? grad.transpose(0, 1) : grad;
      const Tensor gg = transposed ? gpu(grad).transpose(0, 1) : gpu(grad);
      const Tensor dc = empty_like(xc, Device::cpu()), dg = empty_like(xc, Device::cuda());
      cpu.unary_backward(op, xc, yc, gc, dc);
      dev.unary_backward(op, xg, gpu(yc), gg, dg);
      check_close(dg, dc, 1e-5);
    }
  }
  const Tensor special = from_vector(std::vector<float>{inf, -inf, std::nanf(""), 1.0f}, {4});
  const Tensor out = empty_like(special, Device::cuda());
  dev.unary(UnaryOp::IsFinite, gpu(special), out);
  CHECK(out.cpu().to_vector<float>() == std::vector<float>{0, 0, 0, 1});
}

TEST_CASE("cuda: binary ops broadcast like the CPU", "[cuda]") {
  if (!cuda_available()) {
    WARN("skipped: " << cuda_unavailable_reason());
    return;
  }
  Generator gen(5);
  // Positive bases keep pow real; rounding makes some pairs equal for the comparisons.
  const Tensor a = ops::unary(UnaryOp::Round, uniform({2, 3, 4}, 0.5, 4, &gen));
  const Tensor b_col = ops::unary(UnaryOp::Round, uniform({3, 1}, 0.5, 3, &gen));
  const Tensor b_row = uniform({4}, -2, 2, &gen);
  const Tensor b_full = uniform({4, 3, 2}, -2, 2, &gen).permute({2, 1, 0});  // strided
  for (BinaryOp op : kBinaryOps) {
    INFO("op " << binary_op_name(op));
    for (const Tensor& b : {b_col, b_row, b_full}) {
      INFO("b of shape " << to_string(b.shape()));
      const Tensor bg =
          b.dim() == 3 ? gpu(b.permute({2, 1, 0}).contiguous()).permute({2, 1, 0}) : gpu(b);
      check_close(ops::binary(op, gpu(a), bg), ops::binary(op, a, b), 1e-5);
      check_close(ops::binary(op, bg, gpu(a)), ops::binary(op, b, a), 1e-5);
    }
  }
  // In place with a broadcast operand, into a strided destination.
  const Tensor acc_c = a.clone(), acc_g = gpu(a);
  ops::add_(acc_c.transpose(0, 2), b_col, 0.5);
  ops::add_(acc_g.transpose(0, 2), gpu(b_col), 0.5);
  check_close(acc_g, acc_c, 1e-6);
}

TEST_CASE("cuda: scalar ops and clamp match the CPU", "[cuda]") {
  if (!cuda_available()) {
    WARN("skipped: " << cuda_unavailable_reason());
    return;
  }
  const Tensor x = ops::unary(UnaryOp::Abs, interesting_values());  // pow needs x >= 0
  for (BinaryOp op : kBinaryOps) {
    for (bool first : {false, true}) {
      INFO("op " << binary_op_name(op) << (first ? ", scalar first" : ", scalar second"));
      check_close(ops::binary_scalar(op, gpu(x).transpose(0, 1), 2.5, first),
                  ops::binary_scalar(op, x.transpose(0, 1), 2.5, first), 1e-5);
    }
  }
  const Tensor v = interesting_values();
  Generator gen(9);
  const Tensor g = uniform({8, 8}, -1, 1, &gen);
  check_close(ops::clamp(gpu(v), -1.5, 6), ops::clamp(v, -1.5, 6), 0);
  check_close(ops::clamp_backward(gpu(v), -1.5, 6, gpu(g)), ops::clamp_backward(v, -1.5, 6, g), 0);
  // In place on the device (output aliases input), through a strided view.
  const Tensor vg = gpu(v);
  ops::mul_(vg.transpose(0, 1), 3.0);
  check_close(vg, ops::mul(v, 3.0), 0);
}

TEST_CASE("cuda: uniform and normal give the CPU's numbers for a seed", "[cuda]") {
  if (!cuda_available()) {
    WARN("skipped: " << cuda_unavailable_reason());
    return;
  }
  Generator gc(1234), gg(1234);
  for (int draw = 0; draw < 2; ++draw) {  // the second draw starts at a non-zero offset
    INFO("draw " << draw);
    check_close(uniform({257, 33}, -2, 3, &gg, Device::cuda()), uniform({257, 33}, -2, 3, &gc),
                1e-6);
    check_close(normal({100, 41}, 0.5, 2, &gg, Device::cuda()), normal({100, 41}, 0.5, 2, &gc),
                1e-6);
  }
  CHECK(gc.offset() == gg.offset());
}

TEST_CASE("cuda: gemm through cuBLAS matches the CPU", "[cuda]") {
  if (!cuda_available()) {
    WARN("skipped: " << cuda_unavailable_reason());
    return;
  }
  Generator gen(21);
  const int64_t m = 37, n = 29, k = 53;
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      INFO("trans_a " << ta << ", trans_b " << tb);
      const Tensor a = uniform(ta ? Shape{k, m} : Shape{m, k}, -1, 1, &gen);
      const Tensor b = uniform(tb ? Shape{n, k} : Shape{k, n}, -1, 1, &gen);
      const Tensor c0 = uniform({m, n}, -1, 1, &gen);
      const Tensor cc = c0.clone(), cg = gpu(c0);
      ops::gemm(ta, tb, 1.5f, a, b, 0.5f, cc);
      ops::gemm(ta, tb, 1.5f, gpu(a), gpu(b), 0.5f, cg);
      CHECK(rel_err(cg, cc) < 1e-4);
      // The same products through transposed views (unit stride along rows).
      const Tensor at = a.transpose(0, 1).contiguous(), bt = b.transpose(0, 1).contiguous();
      const Tensor cv = gpu(c0);
      ops::gemm(ta, tb, 1.5f, gpu(at).transpose(0, 1), gpu(bt).transpose(0, 1), 0.5f, cv);
      CHECK(rel_err(cv, cc) < 1e-4);
    }
  }
  // A row-strided view (leading dimension above its width), a broadcast operand (copied to
  // contiguous first) and beta = 0 over a C full of NaN, which cuBLAS must not read.
  const Tensor big = uniform({m, 2 * k}, -1, 1, &gen);
  const Tensor b_row = uniform({1, n}, -1, 1, &gen);
  const Tensor cc = zeros({m, n});
  ops::gemm(false, false, 1.0f, big.slice(1, 3, 3 + k), b_row.expand({k, n}).contiguous(), 0.0f,
            cc);
  const Tensor cg = full({m, n}, std::nan(""), DType::Float32, Device::cuda());
  ops::gemm(false, false, 1.0f, gpu(big).slice(1, 3, 3 + k), gpu(b_row).expand({k, n}), 0.0f, cg);
  CHECK(rel_err(cg, cc) < 1e-4);
  const Tensor a2 = uniform({m, k}, -1, 1, &gen), b2 = uniform({k, n}, -1, 1, &gen);
  CHECK(rel_err(ops::matmul(gpu(a2), gpu(b2)), ops::matmul(a2, b2)) < 1e-4);
  // An empty inner dimension: C = beta * C.
  const Tensor c3 = uniform({m, n}, -1, 1, &gen), c3g = gpu(c3);
  ops::gemm(false, false, 1.0f, zeros({m, 0}, DType::Float32, Device::cuda()),
            zeros({0, n}, DType::Float32, Device::cuda()), 0.5f, c3g);
  check_close(c3g, ops::mul(c3, 0.5), 1e-6);
}

TEST_CASE("cuda: reductions and argmax match the CPU", "[cuda]") {
  if (!cuda_available()) {
    WARN("skipped: " << cuda_unavailable_reason());
    return;
  }
  Generator gen(8);
  const Tensor small = uniform({3, 4, 5}, -3, 3, &gen);
  const Tensor wide = uniform({4, 50000}, -1, 1, &gen);  // few outputs, long rows: split
  const Tensor huge = uniform({1 << 20}, -1, 1, &gen);   // one output
  const Tensor tall = uniform({70000, 3}, -1, 1, &gen);  // many outputs
  const std::vector<std::pair<Tensor, std::vector<int64_t>>> cases = {
      {small, {0}},
      {small, {1}},
      {small, {2}},
      {small, {0, 2}},
      {small, {0, 1, 2}},
      {wide, {1}},
      {wide, {0}},
      {huge, {0}},
      {tall, {1}},
      {tall, {0}},
      {small.transpose(0, 2), {1, 2}}};
  for (ReduceOp op : {ReduceOp::Sum, ReduceOp::Max, ReduceOp::Min, ReduceOp::AbsMax}) {
    for (const auto& [x, axes] : cases) {
      INFO("op " << static_cast<int>(op) << ", shape " << to_string(x.shape()) << ", "
                 << axes.size() << " axes starting at " << axes[0]);
      // The one strided case is small.transpose(0, 2); build the same view on the device.
      const Tensor xg = x.is_contiguous() ? gpu(x) : gpu(small).transpose(0, 2);
      const Tensor want = ops::reduce(op, x, axes, true);
      const Tensor got = ops::reduce(op, xg, axes, true);
      // Float sums of up to a million terms in another order (the CPU adds them one by one).
      check_close(got, want, op == ReduceOp::Sum ? 2e-3 : 0);
    }
  }
  for (int64_t axis : {0, 1, 2}) {
    INFO("argmax axis " << axis);
    CHECK(ops::argmax(gpu(small), axis).cpu().to_vector<int64_t>() ==
          ops::argmax(small, axis).to_vector<int64_t>());
  }
  CHECK(ops::argmax(gpu(wide), 1).cpu().to_vector<int64_t>() ==
        ops::argmax(wide, 1).to_vector<int64_t>());
}

// cuDNN sums in another order than the CPU's im2col+GEMM; with TF32 off (conv_cudnn.cpp) the
// results still agree to float32 rounding, hence the usual 1e-4 relative to the largest value.
TEST_CASE("cuda: conv2d forward and both backwards through cuDNN match the CPU", "[cuda]") {
  if (!cuda_available()) {
    WARN("skipped: " << cuda_unavailable_reason());
    return;
  }
  struct Case {
    Shape x, w;
    Conv2dParams p;
    bool bias;
  };
  const std::vector<Case> cases = {
      {{4, 3, 9, 9}, {8, 3, 3, 3}, {1, 1, 1, 1, 1, 1, 1}, true},
      {{2, 8, 10, 7}, {6, 8, 3, 3}, {2, 2, 1, 1, 1, 1, 1}, false},
      {{2, 4, 11, 11}, {6, 2, 3, 3}, {1, 2, 2, 0, 2, 1, 2}, true},  // groups 2, dilation
      {{3, 6, 8, 8}, {6, 1, 3, 3}, {1, 1, 1, 1, 1, 1, 6}, false},   // depthwise
      {{2, 5, 6, 6}, {7, 5, 1, 1}, {1, 1, 0, 0, 1, 1, 1}, true}};   // 1x1
  Generator g(11);
  for (const Case& c : cases) {
    INFO("x " << to_string(c.x) << ", w " << to_string(c.w) << ", groups " << c.p.groups);
    const Tensor x = normal(c.x, 0, 1, &g), w = normal(c.w, 0, 0.5, &g);
    const Tensor b = c.bias ? normal({c.w[0]}, 0, 1, &g) : Tensor();
    const Tensor y = ops::conv2d(x, w, b, c.p);
    const Tensor y_gpu = ops::conv2d(gpu(x), gpu(w), c.bias ? gpu(b) : Tensor(), c.p);
    CHECK(rel_err(y_gpu.cpu(), y) < 1e-4);
    const Tensor gy = normal(y.shape(), 0, 1, &g);
    CHECK(rel_err(ops::conv2d_backward_input(gpu(gy), gpu(w), c.x, c.p).cpu(),
                  ops::conv2d_backward_input(gy, w, c.x, c.p)) < 1e-4);
    CHECK(rel_err(ops::conv2d_backward_weight(gpu(gy), gpu(x), c.w, c.p).cpu(),
                  ops::conv2d_backward_weight(gy, x, c.w, c.p)) < 1e-4);
    // A second call takes the cached algorithm and must give the same numbers.
    CHECK(ops::conv2d(gpu(x), gpu(w), c.bias ? gpu(b) : Tensor(), c.p).cpu().to_vector<float>() ==
          y_gpu.cpu().to_vector<float>());
  }
}

TEST_CASE("cuda: max and average pooling forward and backward match the CPU", "[cuda]") {
  if (!cuda_available()) {
    WARN("skipped: " << cuda_unavailable_reason());
    return;
  }
  Generator g(12);
  const Tensor x = normal({2, 3, 9, 8}, 0, 1, &g);
  std::vector<Pool2dParams> params = {{2, 2, 2, 2, 0, 0, true},
                                      {3, 3, 2, 2, 1, 1, true},
                                      {3, 2, 1, 2, 1, 1, true},
                                      {3, 3, 2, 2, 1, 1, false}};
  for (const Pool2dParams& p : params) {
    INFO("kernel " << p.kernel_h << "x" << p.kernel_w << " stride " << p.stride_h << "x"
                   << p.stride_w << " pad " << p.pad_h << " include_pad " << p.count_include_pad);
    const ops::MaxPool2dResult mc = ops::max_pool2d(x, p);
    const ops::MaxPool2dResult mg = ops::max_pool2d(gpu(x), p);
    check_close(mg.y.cpu(), mc.y, 1e-6);
    CHECK(mg.indices.cpu().to_vector<int64_t>() == mc.indices.to_vector<int64_t>());
    const Tensor gy = normal(mc.y.shape(), 0, 1, &g);
    // Overlapping windows add atomically on the GPU: equal up to the order of two adds.
    check_close(ops::max_pool2d_backward(gpu(gy), mg.indices, x.shape()).cpu(),
                ops::max_pool2d_backward(gy, mc.indices, x.shape()), 1e-5);
    check_close(ops::avg_pool2d(gpu(x), p).cpu(), ops::avg_pool2d(x, p), 1e-5);
    check_close(ops::avg_pool2d_backward(gpu(gy), p, x.shape()).cpu(),
                ops::avg_pool2d_backward(gy, p, x.shape()), 1e-5);
  }
}

TEST_CASE("cuda: batch norm train, eval and backward match the CPU", "[cuda]") {
  if (!cuda_available()) {
    WARN("skipped: " << cuda_unavailable_reason());
    return;
  }
  Generator g(13);
  for (const Shape& shape : {Shape{6, 5, 7, 3}, Shape{33, 4}, Shape{1, 3, 1, 1}}) {
    INFO("x " << to_string(shape));
    const int64_t c = shape[1];
    const Tensor x = normal(shape, 2, 3, &g);
    const Tensor gamma = normal({c}, 1, 0.3, &g), beta = normal({c}, 0, 1, &g);
    const Tensor rm = normal({c}, 0, 1, &g), rv = uniform({c}, 0.5, 2, &g);
    for (const bool track : {true, false}) {
      INFO("running stats " << track);
      const Tensor rm_c = rm.clone(), rv_c = rv.clone();
      const Tensor rm_g = gpu(rm), rv_g = gpu(rv);
      const ops::BatchNormTrainResult rc = ops::batch_norm_train(
          x, gamma, beta, track ? rm_c : Tensor(), track ? rv_c : Tensor(), 0.1, 1e-5);
      const ops::BatchNormTrainResult rg =
          ops::batch_norm_train(gpu(x), gpu(gamma), gpu(beta), track ? rm_g : Tensor(),
                                track ? rv_g : Tensor(), 0.1, 1e-5);
      CHECK(rel_err(rg.y.cpu(), rc.y) < 1e-5);
      check_close(rg.save_mean.cpu(), rc.save_mean, 1e-5);
      check_close(rg.save_invstd.cpu(), rc.save_invstd, 1e-5);
      if (track) {
        check_close(rm_g.cpu(), rm_c, 1e-5);
        check_close(rv_g.cpu(), rv_c, 1e-5);
      }
      const Tensor gy = normal(shape, 0, 1, &g);
      for (const bool affine : {true, false}) {
        const ops::BatchNormGrads bc =
            ops::batch_norm_backward(gy, x, gamma, rc.save_mean, rc.save_invstd, affine);
        const ops::BatchNormGrads bg = ops::batch_norm_backward(
            gpu(gy), gpu(x), gpu(gamma), rg.save_mean, rg.save_invstd, affine);
        CHECK(rel_err(bg.grad_x.cpu(), bc.grad_x) < 1e-4);
        CHECK(bg.grad_gamma.defined() == affine);
        if (affine) {
          CHECK(rel_err(bg.grad_gamma.cpu(), bc.grad_gamma) < 1e-4);
          CHECK(rel_err(bg.grad_beta.cpu(), bc.grad_beta) < 1e-4);
        }
      }
    }
    check_close(ops::batch_norm_eval(gpu(x), gpu(gamma), gpu(beta), gpu(rm), gpu(rv), 1e-5).cpu(),
                ops::batch_norm_eval(x, gamma, beta, rm, rv, 1e-5), 1e-5);
    // Batch norm folded as .lnx version 4 stores it: the kernel applies the same scale and
    // shift, so the GPU's output is bit for bit its output from the trained statistics.
    std::vector<float> scale(c), shift(c);
    const std::vector<float> gv = gamma.to_vector<float>(), bv = beta.to_vector<float>(),
                             mv = rm.to_vector<float>(), vv = rv.to_vector<float>();
    for (int64_t i = 0; i < c; ++i) {
      const ChannelAffine a = batch_norm_affine(gv[i], bv[i], mv[i], vv[i], 1e-5);
      scale[i] = a.scale;
      shift[i] = a.shift;
    }
    const Tensor trained =
        ops::batch_norm_eval(gpu(x), gpu(gamma), gpu(beta), gpu(rm), gpu(rv), 1e-5).cpu();
    const Tensor folded =
        ops::batch_norm_eval(gpu(x), gpu(from_vector(scale, {c})), gpu(from_vector(shift, {c})),
                             gpu(zeros({c})), gpu(full({c}, identity_running_var(1e-5))), 1e-5)
            .cpu();
    CHECK(trained.to_vector<float>() == folded.to_vector<float>());
  }
}

TEST_CASE("cuda: the fused joins (add_relu, batch_norm_relu) match the CPU", "[cuda]") {
  if (!cuda_available()) {
    WARN("skipped: " << cuda_unavailable_reason());
    return;
  }
  Generator g(17);
  const Tensor a = normal({6, 4, 5, 5}, 0, 1, &g), b = normal({4, 1, 1}, 0, 1, &g);
  check_close(ops::add_relu(gpu(a), gpu(b)).cpu(), ops::add_relu(a, b), 1e-6);
  const Tensor gamma = normal({4}, 1, 0.3, &g), beta = normal({4}, 0, 1, &g);
  const ops::BatchNormTrainResult rc =
      ops::batch_norm_train(a, gamma, beta, Tensor(), Tensor(), 0.1, 1e-5, true);
  const ops::BatchNormTrainResult rg =
      ops::batch_norm_train(gpu(a), gpu(gamma), gpu(beta), Tensor(), Tensor(), 0.1, 1e-5, true);
  CHECK(rel_err(rg.y.cpu(), rc.y) < 1e-5);
  const Tensor gy = normal(a.shape(), 0, 1, &g);
  const ops::BatchNormGrads bc =
      ops::batch_norm_relu_backward(gy, rc.y, a, gamma, rc.save_mean, rc.save_invstd, true);
  const ops::BatchNormGrads bg = ops::batch_norm_relu_backward(gpu(gy), rg.y, gpu(a), gpu(gamma),
                                                               rg.save_mean, rg.save_invstd, true);
  CHECK(rel_err(bg.grad_x.cpu(), bc.grad_x) < 1e-4);
  CHECK(rel_err(bg.grad_gamma.cpu(), bc.grad_gamma) < 1e-4);
  CHECK(rel_err(bg.grad_beta.cpu(), bc.grad_beta) < 1e-4);
}

TEST_CASE("cuda: normalising uint8 batches gives the CPU's bits", "[cuda]") {
  if (!cuda_available()) {
    WARN("skipped: " << cuda_unavailable_reason());
    return;
  }
  std::vector<uint8_t> px(4 * 3 * 5 * 7);
  for (size_t i = 0; i < px.size(); ++i) px[i] = static_cast<uint8_t>(i * 37 % 256);
  const Tensor x = from_vector(px, {4, 3, 5, 7});
  const std::vector<float> mean{0.4914f, 0.4822f, 0.4465f}, std{0.2023f, 0.1994f, 0.2010f};
  CHECK(ops::normalize_images(gpu(x), mean, std).cpu().to_vector<float>() ==
        ops::normalize_images(x, mean, std).to_vector<float>());
}

TEST_CASE("cuda: log-softmax and NLL loss forward and backward match the CPU", "[cuda]") {
  if (!cuda_available()) {
    WARN("skipped: " << cuda_unavailable_reason());
    return;
  }
  Generator g(14);
  for (const Shape& shape : {Shape{7, 10}, Shape{3, 1000}, Shape{300, 3}}) {
    INFO("x " << to_string(shape));
    const Tensor x = normal(shape, 0, 20, &g);  // large logits: the max must be subtracted
    const Tensor y = ops::log_softmax(x);
    const Tensor y_gpu = ops::log_softmax(gpu(x));
    check_close(y_gpu.cpu(), y, 1e-5);
    const Tensor gy = normal(shape, 0, 1, &g);
    CHECK(rel_err(ops::log_softmax_backward(gpu(gy), y_gpu).cpu(),
                  ops::log_softmax_backward(gy, y)) < 1e-5);
    std::vector<int64_t> lab(shape[0]);
    for (auto& l : lab) l = static_cast<int64_t>(g.next_u64() % shape[1]);
    const Tensor labels = from_vector(lab, {shape[0]});
    CHECK(ops::nll_loss(y_gpu, gpu(labels)).item() ==
          Approx(ops::nll_loss(y, labels).item()).epsilon(1e-5));
    const Tensor go = from_vector(std::vector<float>{1.7f}, {});
    check_close(ops::nll_loss_backward(gpu(go), gpu(labels), shape).cpu(),
                ops::nll_loss_backward(go, labels, shape), 1e-6);
  }
}

TEST_CASE("cuda: the fused factorized rate and its gradients match the CPU", "[cuda]") {
  if (!cuda_available()) {
    WARN("skipped: " << cuda_unavailable_reason());
    return;
  }
  Generator g(15);
  for (const Shape& shape : {Shape{1000, 7}, Shape{3, 2}, Shape{20000, 1}}) {
    INFO("values " << to_string(shape));
    // Values far in the tails too, where the sign trick and the clamp at 50 bits matter.
    const Tensor values = normal(shape, 0, 8, &g);
    const Tensor params = normal({shape[1], kFactorizedParams}, 0, 0.5, &g);
    const RateResult rc = factorized_rate(values, params, true);
    const RateResult rg = factorized_rate(gpu(values), gpu(params), true);
    CHECK(rg.total_bits == Approx(rc.total_bits).epsilon(1e-4));
    CHECK(rg.grad_values.device() == Device::cuda());
    CHECK(rel_err(rg.grad_values.cpu(), rc.grad_values) < 1e-4);
    CHECK(rel_err(rg.grad_params.cpu(), rc.grad_params) < 1e-4);
    const FactorizedPrior prior(params);
    const FactorizedPrior prior_gpu(gpu(params));
    CHECK(rel_err(prior_gpu.bits_per_element(gpu(values)).cpu(), prior.bits_per_element(values)) <
          1e-4);
    // Deterministic: a second run gives the same bits and gradients to the last bit.
    const RateResult again = factorized_rate(gpu(values), gpu(params), true);
    CHECK(again.total_bits == rg.total_bits);
    CHECK(again.grad_params.cpu().to_vector<float>() == rg.grad_params.cpu().to_vector<float>());
  }
  CHECK_THROWS_WITH(factorized_rate(gpu(zeros({4, 3})), zeros({3, kFactorizedParams}), false),
                    Catch::Contains("factorized_rate") && Catch::Contains("one device"));
}

// One LilNetX training step of ResNet-20 (forward, cross-entropy plus the LilNetX objective,
// backward) built from the same seed on both devices. Twenty layers of float32 with batch norm
// amplify summation-order differences, so the network-level tolerance is 1e-3.
TEST_CASE("cuda: a LilNetX ResNet-20 training step matches the CPU", "[cuda]") {
  if (!cuda_available()) {
    WARN("skipped: " << cuda_unavailable_reason());
    return;
  }
  struct Step {
    double loss = 0;
    std::vector<std::pair<std::string, Tensor>> grads;  // on the CPU
  };
  auto step = [](Device dev, RateModel rate_model) {
    Generator gen(21);
    const ModelSpec spec{"resnet20", 10, 1.0};
    CompressedNetwork net = build_compressed_model(spec, latent_init_for(spec, 3.0), &gen);
    // One layer's slices all rounding to zero, so the slice-flag rate has empty slices to skip.
    net.groups->at("conv3x3", "test").layers()[1]->latent().data().fill_(0.2);
    net.net->to(dev);
    ObjectiveConfig oc;
    oc.decay_groups = {"conv3x3", "dense"};
    oc.rate_model = rate_model;
    const LilnetxObjective objective(*net.groups, oc);
    const Tensor x = normal({8, 3, 32, 32}, 0, 1, &gen).to(dev);  // (N, 3, 32, 32)
    std::vector<int64_t> y(8);
    for (auto& v : y) v = static_cast<int64_t>(gen.next_u64() % 10);
    const Tensor labels = from_vector(y, {8}).to(dev);
    Generator noise(22);
    Variable loss = cross_entropy(net.net->forward(Variable(x)), labels);
    loss = add(loss, objective.compute(true, 1.0, &noise).total);
    loss.backward();
    Step s;
    s.loss = loss.data().item();
    for (const auto& [name, p] : net.net->named_parameters())
      if (p.grad().defined()) s.grads.emplace_back(name, p.grad().cpu());
    return s;
  };
  for (const RateModel rate_model : {RateModel::Factorized, RateModel::SliceFlags}) {
    INFO("rate model " << (rate_model == RateModel::SliceFlags ? "slice_flags" : "factorized"));
    const Step c = step(Device::cpu(), rate_model), gs = step(Device::cuda(), rate_model);
    CHECK(gs.loss == Approx(c.loss).epsilon(1e-3));
    REQUIRE(gs.grads.size() == c.grads.size());
    REQUIRE(c.grads.size() > 3);
    // The first and last layers' gradients, one from the middle, and every prior's.
    for (size_t i = 0; i < c.grads.size(); ++i) {
      const bool pick = i == 0 || i == c.grads.size() - 1 || i == c.grads.size() / 2 ||
                        c.grads[i].first.find(".prior.") != std::string::npos;
      if (!pick) continue;
      INFO("gradient of " << c.grads[i].first);
      REQUIRE(gs.grads[i].first == c.grads[i].first);
      CHECK(rel_err(gs.grads[i].second, c.grads[i].second) < 1e-3);
    }
  }
}

TEST_CASE("cuda: moving a tensor to a missing GPU names the reason", "[cuda]") {
  if (cuda_available()) {
    SUCCEED("a GPU is present; the round-trip test covers to(cuda)");
    return;
  }
  const std::string reason = cuda_unavailable_reason();
  CHECK(reason == cuda_unavailable_reason());  // probed once
  const Tensor t = ones({2, 2});
  CHECK_THROWS_AS(t.to(Device::cuda()), Error);
  CHECK_THROWS_WITH(t.to(Device::cuda()), Catch::Contains("to(cuda") && Catch::Contains(reason));
  CHECK_THROWS_WITH(zeros({2}, DType::Float32, Device::cuda()), Catch::Contains(reason));
#ifdef LNX_HAVE_CUDA
  CHECK_THAT(reason,
             Catch::Contains("no CUDA device found") && Catch::Contains("cudaGetDeviceCount"));
#else
  CHECK_THAT(reason, Catch::Contains("no CUDA backend"));
#endif
}

#ifdef LNX_HAVE_CUDA
TEST_CASE("cuda: error checks name the call, the op and the error", "[cuda]") {
  CHECK_THROWS_WITH(LNX_CUDA_CHECK(cudaErrorInvalidValue, "my_op"),
                    Catch::Contains("my_op") && Catch::Contains("cudaErrorInvalidValue") &&
                        Catch::Contains("invalid argument"));
  CHECK_THROWS_AS(LNX_CUDA_CHECK(cudaErrorMemoryAllocation, "my_op"), Error);
  CHECK_THROWS_WITH(LNX_CUDA_CHECK(CUBLAS_STATUS_INVALID_VALUE, "gemm"),
                    Catch::Contains("gemm") && Catch::Contains("CUBLAS_STATUS_INVALID_VALUE"));
  CHECK_THROWS_WITH(LNX_CUDA_CHECK(CUDNN_STATUS_BAD_PARAM, "conv2d"),
                    Catch::Contains("conv2d") && Catch::Contains("CUDNN_STATUS_BAD_PARAM"));
  CHECK_NOTHROW(LNX_CUDA_CHECK(cudaSuccess, "my_op"));
}

TEST_CASE("cuda: layouts merge axes the way the kernels expect", "[cuda]") {
  using cuda::Layout;
  const Shape shape = {2, 3, 4};
  const Shape cs = contiguous_strides(shape);
  Layout l = cuda::make_layout(shape, {&cs, &cs}, "test");
  CHECK(l.ndim == 1);
  CHECK(l.contiguous);
  CHECK(l.numel == 24);

  // A transposed operand keeps two axes; a broadcast one merges into stride 0.
  const Shape tr = {1, 8, 2}, bc = {0, 0, 1};
  l = cuda::make_layout(shape, {&tr, &bc, &cs}, "test");
  CHECK_FALSE(l.contiguous);
  REQUIRE(l.ndim == 3);  // no pair of axes is mergeable in all three operands
  CHECK(l.strides[1][0] == 0);
  CHECK(l.strides[1][1] == 0);
  CHECK(l.strides[2][2] == 1);

  const Shape bc_all = {0, 0, 0};
  l = cuda::make_layout(shape, {&bc_all}, "test");
  CHECK(l.ndim == 1);
  CHECK_FALSE(l.contiguous);
  CHECK(l.strides[0][0] == 0);

  // Size-1 axes vanish; a scalar has no axes and is one element.
  const Shape one = {1, 1}, one_st = {5, 7};
  l = cuda::make_layout(one, {&one_st}, "test");
  CHECK(l.ndim == 0);
  CHECK(l.numel == 1);

  // Nine axes that cannot merge are refused with a message.
  const Shape nine = {2, 2, 2, 2, 2, 2, 2, 2, 2};
  const Shape odd = {1, 3, 9, 27, 81, 243, 729, 2187, 6561};
  CHECK_THROWS_WITH(cuda::make_layout(nine, {&odd}, "myop"),
                    Catch::Contains("myop") && Catch::Contains("at most 8"));

  const cuda::ReduceLayout r = cuda::make_reduce_layout(shape, cs, {1}, "test");
  CHECK(r.n_out == 8);
  CHECK(r.n_red == 3);
  CHECK(r.kept_ndim == 2);
  CHECK(r.kept_strides[0] == 12);
  CHECK(r.red_ndim == 1);
  CHECK(r.red_strides[0] == 4);
  const cuda::ReduceLayout all = cuda::make_reduce_layout(shape, cs, {0, 1, 2}, "test");
  CHECK(all.n_out == 1);
  CHECK(all.red_ndim == 1);
  CHECK(all.n_red == 24);
}
#endif

#ifdef LNX_HAVE_CUDA
// The kernels' index maps are host-device functions: run them here, on CPU tensors, the way the
// copy and reduce kernels do, so their arithmetic is checked on machines without a GPU.
TEST_CASE("cuda: kernel index maps visit the right elements", "[cuda]") {
  const Tensor base = arange(0, 120).view({4, 5, 6});
  const std::vector<Tensor> sources = {base, base.transpose(0, 2), base.slice(1, 1, 5, 2),
                                       base.permute({1, 2, 0}).slice(2, 1, 3),
                                       base.select(1, 2).unsqueeze(1).expand({4, 3, 6})};
  for (const Tensor& src : sources) {
    INFO("source shape " << to_string(src.shape()) << ", strides " << to_string(src.strides()));
    // Into a contiguous destination, and into a transposed view of one.
    for (bool strided_dst : {false, true}) {
      const Tensor dst_store =
          zeros(strided_dst ? Shape{src.shape()[2], src.shape()[1], src.shape()[0]} : src.shape());
      const Tensor dst = strided_dst ? dst_store.permute({2, 1, 0}) : dst_store;
      const cuda::Layout l = cuda::make_layout(dst.shape(), {&src.strides(), &dst.strides()}, "t");
      const float* s = src.data<float>();
      float* d = dst.data<float>();
      for (int64_t i = 0; i < l.numel; ++i) {
        int64_t off[2];
        cuda::offsets_of(l, i, off);
        d[off[1]] = s[off[0]];
      }
      CHECK(dst.contiguous().to_vector<float>() == src.contiguous().to_vector<float>());
    }
  }
  const Tensor x = base.transpose(0, 2);  // (6, 5, 4), strided
  for (const std::vector<int64_t>& axes :
       {std::vector<int64_t>{0}, {1}, {2}, {0, 2}, {1, 2}, {0, 1, 2}}) {
    INFO(axes.size() << " axes starting at " << axes[0]);
    const cuda::ReduceLayout l = cuda::make_reduce_layout(x.shape(), x.strides(), axes, "t");
    std::vector<float> got(l.n_out);
    for (int64_t o = 0; o < l.n_out; ++o) {
      const float* p = x.data<float>() + cuda::kept_offset(l, o);
      for (int64_t r = 0; r < l.n_red; ++r) got[o] += p[cuda::reduced_offset(l, r)];
    }
    CHECK(got == ops::sum(x, axes, true).to_vector<float>());
  }
}
#endif
