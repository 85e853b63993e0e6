// Integer frequency tables for the .lnx coder, per compression group and channel (method.md
// section 6): each channel gets whichever of two tables makes its part of the file smaller,
// counting the table's own bytes: the learned prior quantized over the range of the latents
// present, or the histogram of those latents. The prior can first be refit to the frozen
// latents, since during training it lags them.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "compress/compression_group.h"
#include "compress/entropy_model.h"
#include "compress/frequency_table.h"
#include "compress/lnx_format.h"

namespace lnx {

enum class TableSource { Auto, Prior, Histogram };

struct GroupTables {
  std::vector<FrequencyTable> tables;  // one per channel
  std::vector<LnxTableKind> kinds;
  double coded_bits = 0;  // ideal code length of the latents under the chosen tables
  double table_bits = 0;  // what storing the tables costs
};

// round(L) as int32, row-major; throws when a value leaves the int32 range.
std::vector<int32_t> latent_integers(const Tensor& latent, const std::string& name);
// Every layer's integer latents of the group as rows (M, channels), layer after layer.
std::vector<int32_t> group_integer_rows(const CompressionGroup& group);

// The prior's quantized probabilities P(q) = F(q + 1/2) - F(q - 1/2) of q = lo..hi per channel:
// (hi - lo + 1) values per channel, channel after channel.
std::vector<std::vector<double>> prior_pmf(const EntropyModel& prior, int32_t lo, int32_t hi);

// rows: (M, channels) integers. prior may be null (histogram tables only).
GroupTables build_group_tables(const std::vector<int32_t>& rows, int64_t channels,
                               const EntropyModel* prior, TableSource source = TableSource::Auto);

// Slice-occupancy coding of a group (rans_encode_slices): a flag per slice of `channels`
// values with its own histogram table, and per-channel tables chosen as above but over the
// non-zero slices only. None when the group's slices are single values (the flag would repeat
// the value) or when no slice, or every slice, is zero.
struct OccupancyTables {
  GroupTables values;  // over the rows of the non-zero slices
  FrequencyTable occupancy;
  double flag_bits = 0;        // ideal code length of the flags
  double flag_table_bits = 0;  // what storing the flags' table costs
  double total_bits() const {
    return values.coded_bits + values.table_bits + flag_bits + flag_table_bits;
  }
};
std::optional<OccupancyTables> build_occupancy_tables(const std::vector<int32_t>& rows,
                                                      int64_t channels, const EntropyModel* prior,
                                                      TableSource source = TableSource::Auto);

// Latents frozen, only the prior's parameters trained by Adam on the bits of round(L) for
// `steps` steps. Returns the bits before and after.
struct RefitResult {
  double bits_before = 0, bits_after = 0;
};
RefitResult refit_prior(CompressionGroup& group, int steps, double lr = 1e-2);

}  // namespace lnx
