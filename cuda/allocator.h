// The CUDA caching allocator. cudaMalloc and cudaFree synchronize the device and cost tens of
// microseconds, so freed blocks are kept in per-device size-class free lists (as on the CPU,
// core/allocator.h) and a steady-state training step never calls them.
//
// Every kernel of a device runs on that device's one stream, so a block freed on the host while
// a kernel still reads it is only reused by work queued later on the same stream: stream order
// keeps the reuse safe without events.
#pragma once

#include <cstddef>

#include "core/allocator.h"  // AllocatorStats

namespace lnx::cuda {

// Allocates on `device` (256-byte aligned, as cudaMalloc); nbytes may be 0. On out-of-memory
// the cache is released and the allocation retried once before an lnx::Error is thrown.
void* device_allocate(size_t nbytes, int device);
// Returns a block from device_allocate to its device's free list; nbytes is ignored (the block
// remembers its size class), null is a no-op.
void device_deallocate(void* p);
AllocatorStats device_allocator_stats(int device);
void device_allocator_release_cache(int device);  // cudaFree of every cached block
void device_allocator_reset_peak(int device);

}  // namespace lnx::cuda
