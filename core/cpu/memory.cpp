// Memory, copies, fills and random numbers on the CPU.
#include <cstring>

#include "core/allocator.h"
#include "core/cpu/cpu_backend.h"
#include "core/cpu/strided.h"
#include "core/random.h"

namespace lnx {

CpuBackend& cpu_backend() {
  static CpuBackend b;
  return b;
}

void* CpuBackend::allocate(size_t nbytes) {
  return cpu_allocate(nbytes);
}
void CpuBackend::deallocate(void* p, size_t nbytes) {
  cpu_deallocate(p, nbytes);
}

void CpuBackend::copy_to_host(const void* src, void* dst, size_t n) {
  std::memcpy(dst, src, n);
}
void CpuBackend::copy_from_host(const void* src, void* dst, size_t n) {
  std::memcpy(dst, src, n);
}

namespace {

template <typename S, typename D>
void copy_typed(const Tensor& src, const Tensor& dst) {
  const S* s = static_cast<const S*>(src.raw_data());
  D* d = static_cast<D*>(dst.raw_data());
  cpu::for_each_row<2>(dst.shape(), {&src.strides(), &dst.strides()},
                       [&](const auto& off, int64_t n, const auto& step) {
                         const S* sp = s + off[0];
                         D* dp = d + off[1];
                         if (step[0] == 1 && step[1] == 1) {
                           for (int64_t i = 0; i < n; ++i) dp[i] = static_cast<D>(sp[i]);
                         } else {
                           for (int64_t i = 0; i < n; ++i)
                             dp[i * step[1]] = static_cast<D>(sp[i * step[0]]);
                         }
                       });
}

template <typename S>
void copy_from(const Tensor& src, const Tensor& dst) {
  switch (dst.dtype()) {
    case DType::Float32:
      return copy_typed<S, float>(src, dst);
    case DType::Int64:
      return copy_typed<S, int64_t>(src, dst);
    case DType::UInt8:
      return copy_typed<S, uint8_t>(src, dst);
  }
}

template <typename T>
void fill_typed(const Tensor& dst, T v) {
  T* d = static_cast<T*>(dst.raw_data());
  cpu::for_each_row<1>(dst.shape(), {&dst.strides()},
                       [&](const auto& off, int64_t n, const auto& step) {
                         T* p = d + off[0];
                         for (int64_t i = 0; i < n; ++i) p[i * step[0]] = v;
                       });
}

}  // namespace

void CpuBackend::copy(const Tensor& src, const Tensor& dst) {
  switch (src.dtype()) {
    case DType::Float32:
      return copy_from<float>(src, dst);
    case DType::Int64:
      return copy_from<int64_t>(src, dst);
    case DType::UInt8:
      return copy_from<uint8_t>(src, dst);
  }
}

void CpuBackend::fill(const Tensor& dst, double value) {
  switch (dst.dtype()) {
    case DType::Float32:
      return fill_typed<float>(dst, static_cast<float>(value));
    case DType::Int64:
      return fill_typed<int64_t>(dst, static_cast<int64_t>(value));
    case DType::UInt8:
      return fill_typed<uint8_t>(dst, static_cast<uint8_t>(value));
  }
}

void CpuBackend::uniform(const Tensor& out, double low, double high, uint64_t seed,
                         uint64_t offset) {
  float* p = out.data<float>();  // (numel,) contiguous: factories allocate it
  const int64_t n = out.numel();
  const auto lo = static_cast<float>(low), span = static_cast<float>(high - low);
#pragma omp parallel for schedule(static) if (n >= cpu::kParallelGrain)
  for (int64_t i = 0; i < n; ++i) p[i] = lo + span * random_uniform01(seed, offset + i);
}

void CpuBackend::normal(const Tensor& out, double mean, double std, uint64_t seed,
                        uint64_t offset) {
  float* p = out.data<float>();
  const int64_t n = out.numel();
  const auto m = static_cast<float>(mean), s = static_cast<float>(std);
#pragma omp parallel for schedule(static) if (n >= cpu::kParallelGrain)
  for (int64_t i = 0; i < n; ++i) p[i] = m + s * random_normal(seed, offset + i);
}

}  // namespace lnx
