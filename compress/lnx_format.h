// The .lnx compressed model file (layout in docs/format.md): a header, then sections that each
// carry a type tag, a length and a CRC32. This layer only serialises and parses; it never builds
// a network. Sizes that depend on the architecture (a latent's element count) are checked by the
// caller against the network the architecture section builds (tools/lnx_model.h) before the
// rANS streams are decoded, so a hostile file cannot make anything allocate beyond its own size.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "compress/frequency_table.h"

namespace lnx {

inline constexpr char kLnxMagic[4] = {'L', 'N', 'X', '\x1a'};
// The layout this program writes; it reads every version from 1 up to it.
inline constexpr uint32_t kLnxVersion = 4;

// Section tags, four ASCII bytes read as a little-endian u32.
enum class LnxSection : uint32_t {
  Arch = 0x48435241,    // "ARCH"
  Group = 0x50525247,   // "GRRP"
  Latent = 0x4e54414c,  // "LATN" (version 1)
  Code = 0x45444f43,    // "CODE" (version 2)
  Floats = 0x544f4c46,  // "FLOT"
  Prior = 0x4f495250,   // "PRIO"
};
std::string lnx_section_name(uint32_t tag);

struct LnxTensor {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> data;  // row-major, numel(shape) values
};

struct LnxArch {
  std::string config_yaml;  // the checkpoint's resolved config
  int64_t num_classes = 0, in_channels = 0, image_size = 0;
};

// How a channel's table was made (informational; decoding only reads the integers).
enum class LnxTableKind : uint8_t { Prior = 0, Histogram = 1 };

struct LnxGroup {
  std::string name;
  int64_t channels = 0;                // slice size: 9 for conv3x3, 1 for dense
  std::vector<LnxTensor> decoder;      // float32 always: decoded weights must be bit-identical
  std::vector<FrequencyTable> tables;  // one per channel
  std::vector<LnxTableKind> kinds;
};

// Version 1: one rANS stream per latent layer, with its name and shape.
struct LnxLatent {
  std::string name;   // state-dict name of the latent, e.g. "layer1.0.conv1.weight"
  std::string group;  // its compression group
  std::vector<int64_t> shape;
  std::vector<uint8_t> stream;  // rANS bytes; element i uses table i % channels
};

// Version 2: one rANS stream per group over its layers' latents, concatenated in the
// architecture's state-dict order. The architecture gives the layers and their shapes; the
// count and the layout checksum catch a file that does not belong to it. One stream per group
// pays the coder's ~4-byte flush once instead of once per layer.
// Version 3 may code slice occupancy: a flag per kernel slice (its own table), then only the
// values of non-zero slices (rans_encode_slices).
struct LnxGroupCode {
  std::string group;
  uint32_t layers = 0;
  uint32_t layout_crc = 0;  // CRC-32 of the layers' names and shapes (lnx_layout_crc)
  bool slice_occupancy = false;
  FrequencyTable occupancy;  // the flags' table, with slice_occupancy
  // Without slice flags element i of the concatenation uses table i % channels; with them,
  // rans_encode_slices's layout.
  std::vector<uint8_t> stream;
};

// Version 2: the float tensors' values, in the architecture's state-dict order, without names
// or shapes (the architecture gives both).
// Version 4 may fold batch norm: each batch norm then stores only its weight and bias, holding
// the per-channel scale and shift of its evaluation, and no running statistics.
struct LnxFloatBlock {
  uint32_t tensors = 0;
  uint32_t layout_crc = 0;
  bool folded_batch_norm = false;
  std::vector<float> values;
};

struct LnxSectionInfo {
  uint32_t tag = 0;
  std::string label;   // the group or layer it holds, when it holds one
  uint64_t bytes = 0;  // header included
};

// What one file holds. write_lnx writes `version`'s layout; version 1 uses `latents` and
// `floats`, versions 2 to 4 `codes` and `float_block` (slice occupancy needs version 3, folded
// batch norm version 4).
struct LnxModel {
  uint32_t version = kLnxVersion;
  LnxArch arch;
  std::vector<LnxGroup> groups;
  std::vector<LnxLatent> latents;   // version 1
  std::vector<LnxGroupCode> codes;  // version 2
  bool float16 = false;             // the FLOT section's storage precision
  std::vector<LnxTensor> floats;    // version 1: biases, batch-norm parameters, statistics
  LnxFloatBlock float_block;        // version 2: the same values, unnamed
  std::vector<LnxTensor> priors;    // optional: not needed to decode
  // Filled by the reader: every section as found, and the header's size.
  std::vector<LnxSectionInfo> sections;
  uint64_t header_bytes = 0;
};

// CRC-32 of names and shapes in order: ties a version-2 CODE or FLOT section to the tensors of
// the architecture it was written from.
struct LnxLayoutEntry {
  std::string name;
  std::vector<int64_t> shape;
};
uint32_t lnx_layout_crc(const std::vector<LnxLayoutEntry>& entries);

// The bytes of a table in the file (kind, min value, symbol count, LEB128 frequencies).
int64_t lnx_table_bytes(const FrequencyTable& t);

std::vector<uint8_t> write_lnx(const LnxModel& model);

struct LnxReadOptions {
  bool verify_crc = true;  // off only for fuzzing the parsers behind the checksums
};
// Every size is checked against the bytes left before anything is allocated; every problem is
// an lnx::Error that names the section and what is wrong.
LnxModel read_lnx(const uint8_t* data, size_t size, const LnxReadOptions& options = {});

void save_lnx_file(const std::string& path, const LnxModel& model);
LnxModel load_lnx_file(const std::string& path, const LnxReadOptions& options = {});

// IEEE binary16 with round-to-nearest-even (NaN stays NaN, overflow goes to infinity).
uint16_t float_to_half(float f);
float half_to_float(uint16_t h);

}  // namespace lnx
