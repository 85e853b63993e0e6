// rANS entropy coder (32-bit state, 16-bit renormalisation, byte-oriented output) over
// FrequencyTables. Element i of a stream is coded with tables[i % tables.size()], which is how a
// layer's latents (rows of C channels, one table per channel) are laid out. Values outside a
// table are coded as its escape symbol followed by a bypass code (uniform 4-bit chunks).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "compress/frequency_table.h"

namespace lnx {

std::vector<uint8_t> rans_encode(const std::vector<int32_t>& values,
                                 const std::vector<FrequencyTable>& tables);
// Decodes exactly `count` values; throws lnx::Error (never reads out of bounds) on a truncated
// or corrupted stream.
std::vector<int32_t> rans_decode(const uint8_t* data, size_t size, int64_t count,
                                 const std::vector<FrequencyTable>& tables);

}  // namespace lnx
