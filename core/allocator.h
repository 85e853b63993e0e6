// The CPU caching allocator. glibc returns large blocks to the OS on free and faults them back
// in on the next malloc, which costs 20-50% of a training step here; keeping freed blocks in
// size-class free lists makes a steady-state step allocation-free.
#pragma once

#include <cstddef>
#include <cstdint>

namespace lnx {

struct AllocatorStats {
  uint64_t allocations = 0;  // requests served
  uint64_t cache_hits = 0;   // requests served from the free lists
  size_t bytes_in_use = 0;
  size_t bytes_cached = 0;  // held in free lists
  size_t peak_bytes_in_use = 0;
};

// The block size a request of n bytes is served with: small sizes round to 512 bytes, larger ones
// to 1/8 of their power of two, so a cached block is reused for requests at most 12.5% smaller.
// Shared by the CPU and CUDA caching allocators.
size_t allocation_size_class(size_t n);

void* cpu_allocate(size_t nbytes);  // 64-byte aligned; nbytes may be 0
void cpu_deallocate(void* p, size_t nbytes);
AllocatorStats cpu_allocator_stats();
void cpu_allocator_release_cache();  // frees every cached block back to the system
void cpu_allocator_reset_peak();

}  // namespace lnx
