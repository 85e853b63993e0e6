// rANS entropy coder (32-bit state, 16-bit renormalisation, byte-oriented output) over
// FrequencyTables. Element i of a stream is coded with tables[i % tables.size()], which is how a
// layer's latents (rows of C channels, one table per channel) are laid out. Values outside a
// table are coded as its escape symbol followed by a bypass code (uniform 4-bit chunks).
// The slice-occupancy variant codes rows of tables.size() values (kernel slices): a flag per row
// first, 1 when any value is non-zero, with its own table, then the values of non-zero rows
// only. Structured sparsity empties whole slices, and a flag prices an empty slice at about one
// bit where per-value tables charge each of its zeros.
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

// Whether a row (kernel slice) of n values holds a non-zero one: the flag the slice code writes.
bool slice_nonzero(const int32_t* row, size_t n);

// Ideal code lengths in bits (escapes and bypass bits included) of what rans_encode and
// rans_encode_slices write with these tables; the streams exceed them by a few bytes.
double rans_ideal_bits(const std::vector<int32_t>& values,
                       const std::vector<FrequencyTable>& tables);
double rans_slices_ideal_bits(const std::vector<int32_t>& values, const FrequencyTable& occupancy,
                              const std::vector<FrequencyTable>& tables);

// values: whole rows of tables.size(). Row r's flag uses `occupancy`; its values, when any is
// non-zero, tables[c] for column c.
std::vector<uint8_t> rans_encode_slices(const std::vector<int32_t>& values,
                                        const FrequencyTable& occupancy,
                                        const std::vector<FrequencyTable>& tables);
// Decodes `count` values (whole rows); throws lnx::Error on a truncated or corrupted stream,
// including a flag that is neither 0 nor 1.
std::vector<int32_t> rans_decode_slices(const uint8_t* data, size_t size, int64_t count,
                                        const FrequencyTable& occupancy,
                                        const std::vector<FrequencyTable>& tables);

}  // namespace lnx
