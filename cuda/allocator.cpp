#include "cuda/allocator.h"

#include <map>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "core/allocator.h"
#include "core/error.h"
#include "cuda/check.h"
#include "cuda/device_guard.h"

namespace lnx::cuda {
namespace {

struct Block {
  size_t size_class;
  int device;
};

struct DeviceCache {
  std::map<size_t, std::vector<void*>> free;  // size class -> blocks
  AllocatorStats stats;
};

struct Cache {
  std::mutex mu;
  std::map<int, DeviceCache> devices;
  std::unordered_map<void*, Block> live;  // blocks handed out, so deallocate knows their class
};

Cache& cache() {
  static Cache* c = new Cache();  // never destroyed: tensors may outlive static destructors
  return *c;
}

// cudaFree of every cached block of one device; the caller holds the lock.
void release_locked(DeviceCache& dc, int device) {
  const DeviceGuard guard(device);
  // A cached block may still be read by kernels queued before its tensor was freed.
  LNX_CUDA_CHECK(cudaDeviceSynchronize(), "cuda allocator release_cache");
  for (auto& [cls, blocks] : dc.free)
    for (void* p : blocks) LNX_CUDA_CHECK(cudaFree(p), "cuda allocator release_cache");
  dc.free.clear();
  dc.stats.bytes_cached = 0;
}

// Takes a cached block of class `cls`, or returns null; the caller holds the lock.
void* take_cached_locked(DeviceCache& dc, size_t cls) {
  auto it = dc.free.find(cls);
  if (it == dc.free.end() || it->second.empty()) return nullptr;
  void* p = it->second.back();
  it->second.pop_back();
  dc.stats.cache_hits++;
  dc.stats.bytes_cached -= cls;
  return p;
}

void* malloc_on(int device, size_t cls) {
  const DeviceGuard guard(device);
  void* p = nullptr;
  cudaError_t err = cudaMalloc(&p, cls);
  if (err == cudaErrorMemoryAllocation) {
    (void)cudaGetLastError();
    {
      Cache& c = cache();
      std::lock_guard<std::mutex> lock(c.mu);
      release_locked(c.devices[device], device);
    }
    err = cudaMalloc(&p, cls);
  }
  if (err == cudaErrorMemoryAllocation) {
    (void)cudaGetLastError();
    const AllocatorStats s = device_allocator_stats(device);
    fail("cuda allocate: out of memory on cuda:", device, " allocating ", cls, " bytes (",
         s.bytes_in_use, " bytes in use by tensors, cache released)");
  }
  LNX_CUDA_CHECK(err, "cuda allocate");
  return p;
}

}  // namespace

void* device_allocate(size_t nbytes, int device) {
  const size_t cls = allocation_size_class(nbytes);
  Cache& c = cache();
  void* p = nullptr;
  {
    std::lock_guard<std::mutex> lock(c.mu);
    p = take_cached_locked(c.devices[device], cls);
  }
  // cudaMalloc runs without the lock: it is slow and may synchronize the device.
  if (!p) p = malloc_on(device, cls);
  std::lock_guard<std::mutex> lock(c.mu);
  DeviceCache& dc = c.devices[device];
  dc.stats.allocations++;
  dc.stats.bytes_in_use += cls;
  if (dc.stats.bytes_in_use > dc.stats.peak_bytes_in_use)
    dc.stats.peak_bytes_in_use = dc.stats.bytes_in_use;
  c.live.emplace(p, Block{cls, device});
  return p;
}

void device_deallocate(void* p) {
  if (!p) return;
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  const auto it = c.live.find(p);
  LNX_CHECK(it != c.live.end(), "cuda deallocate: pointer ", p,
            " was not allocated by the CUDA caching allocator (or was freed twice)");
  const Block b = it->second;
  c.live.erase(it);
  DeviceCache& dc = c.devices[b.device];
  dc.stats.bytes_in_use -= b.size_class;
  dc.stats.bytes_cached += b.size_class;
  dc.free[b.size_class].push_back(p);
}

AllocatorStats device_allocator_stats(int device) {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  return c.devices[device].stats;
}

void device_allocator_release_cache(int device) {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  release_locked(c.devices[device], device);
}

void device_allocator_reset_peak(int device) {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  DeviceCache& dc = c.devices[device];
  dc.stats.peak_bytes_in_use = dc.stats.bytes_in_use;
}

}  // namespace lnx::cuda
