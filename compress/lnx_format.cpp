#include "compress/lnx_format.h"

#include <zlib.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include "core/error.h"

namespace lnx {
namespace {

constexpr uint64_t kHeaderBytes = 12;         // magic, version, section count
constexpr uint64_t kSectionHeaderBytes = 16;  // tag, length, crc
constexpr uint32_t kMaxDims = 8;
constexpr int64_t kMaxDim = int64_t{1} << 31;
constexpr int64_t kMaxChannels = 4096;
constexpr uint32_t kMaxConfigBytes = 1u << 20;  // bounds what a deflated config may inflate to
constexpr uint32_t kMaxLayers = 1u << 20;

uint32_t crc32_of(const uint8_t* p, size_t n) {
  uLong crc = crc32(0L, Z_NULL, 0);
  while (n > 0) {  // zlib takes uInt lengths
    const uInt chunk = static_cast<uInt>(std::min<size_t>(n, 1u << 30));
    crc = crc32(crc, p, chunk);
    p += chunk;
    n -= chunk;
  }
  return static_cast<uint32_t>(crc);
}

float read_value(const uint8_t* e, bool half) {
  if (half) return half_to_float(static_cast<uint16_t>(e[0] | e[1] << 8));
  uint32_t u = 0;
  for (int k = 0; k < 4; ++k) u |= static_cast<uint32_t>(e[k]) << (8 * k);
  return std::bit_cast<float>(u);
}

class Writer {
 public:
  void u8(uint8_t v) { out_.push_back(v); }
  void u16(uint16_t v) { le(v, 2); }
  void u32(uint32_t v) { le(v, 4); }
  void u64(uint64_t v) { le(v, 8); }
  void i32(int32_t v) { le(static_cast<uint32_t>(v), 4); }
  void f32(float v) { u32(std::bit_cast<uint32_t>(v)); }
  void value(float v, bool half) { half ? u16(float_to_half(v)) : f32(v); }
  void bytes(const uint8_t* p, size_t n) { out_.insert(out_.end(), p, p + n); }
  // LEB128: 7 bits a byte, low bits first, the high bit set on all but the last byte.
  void varint(uint32_t v) {
    for (; v >= 0x80; v >>= 7) out_.push_back(static_cast<uint8_t>(v | 0x80));
    out_.push_back(static_cast<uint8_t>(v));
  }
  void string(const std::string& s) {
    u32(static_cast<uint32_t>(s.size()));
    bytes(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  }
  void shape(const std::vector<int64_t>& shape) {
    u32(static_cast<uint32_t>(shape.size()));
    for (int64_t d : shape) u64(static_cast<uint64_t>(d));
  }
  void tensor(const LnxTensor& t, bool half) {
    string(t.name);
    shape(t.shape);
    for (float v : t.data) value(v, half);
  }
  std::vector<uint8_t>& buffer() { return out_; }

 private:
  void le(uint64_t v, int n) {
    for (int i = 0; i < n; ++i) out_.push_back(static_cast<uint8_t>(v >> (8 * i)));
  }
  std::vector<uint8_t> out_;
};

void write_section(Writer& file, LnxSection tag, const std::vector<uint8_t>& payload) {
  file.u32(static_cast<uint32_t>(tag));
  file.u64(payload.size());
  file.u32(crc32_of(payload.data(), payload.size()));
  file.bytes(payload.data(), payload.size());
}

// Reads one section's payload (or the header) with every length checked against what is left.
class Reader {
 public:
  Reader(const uint8_t* p, size_t n, std::string where)
      : p_(p), end_(p + n), where_(std::move(where)) {}
  void set_label(const std::string& label) { label_ = label; }
  [[noreturn]] void bad(const std::string& problem) const {
    fail("lnx: ", where_, label_.empty() ? "" : " '" + label_ + "'", ": ", problem);
  }
  size_t left() const { return static_cast<size_t>(end_ - p_); }
  const uint8_t* take(uint64_t n, const char* what) {
    if (n > left())
      bad(str(what, " needs ", n, " bytes but only ", left(), " remain (truncated?)"));
    const uint8_t* at = p_;
    p_ += n;
    return at;
  }
  uint64_t le(int n, const char* what) {
    const uint8_t* b = take(static_cast<uint64_t>(n), what);
    uint64_t v = 0;
    for (int i = 0; i < n; ++i) v |= static_cast<uint64_t>(b[i]) << (8 * i);
    return v;
  }
  uint8_t u8(const char* what) { return static_cast<uint8_t>(le(1, what)); }
  uint16_t u16(const char* what) { return static_cast<uint16_t>(le(2, what)); }
  uint32_t u32(const char* what) { return static_cast<uint32_t>(le(4, what)); }
  uint64_t u64(const char* what) { return le(8, what); }
  int32_t i32(const char* what) { return static_cast<int32_t>(u32(what)); }
  // A table frequency: LEB128 of at most 3 bytes, below 2^16.
  uint32_t freq(const char* what) {
    uint32_t v = 0;
    for (int shift = 0; shift < 21; shift += 7) {
      const uint8_t b = u8(what);
      v |= static_cast<uint32_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) {
        if (v >= kFreqTotal) bad(str(what, " ", v, " is not below 2^16"));
        return v;
      }
    }
    bad(str(what, " is longer than 3 bytes"));
  }
  std::string string(const char* what) {
    const uint32_t n = u32(what);
    const uint8_t* b = take(n, what);
    return std::string(reinterpret_cast<const char*>(b), n);
  }
  std::vector<int64_t> shape(const char* what) {
    const uint32_t nd = u32(what);
    if (nd > kMaxDims) bad(str(what, " has ", nd, " dimensions, expected at most ", kMaxDims));
    std::vector<int64_t> s(nd);
    for (uint32_t i = 0; i < nd; ++i) {
      const uint64_t d = u64(what);
      if (d == 0 || d > static_cast<uint64_t>(kMaxDim))
        bad(str(what, " dimension ", i, " is ", d, ", expected 1 to 2^31"));
      s[i] = static_cast<int64_t>(d);
    }
    return s;
  }
  // The element count, checked so that elements * elem_bytes fits in what remains.
  int64_t count_fitting(const std::vector<int64_t>& shape, uint64_t elem_bytes, const char* what) {
    uint64_t n = 1;
    for (int64_t d : shape) {
      if (n > left() / elem_bytes / static_cast<uint64_t>(d))  // n * d * elem <= left, no overflow
        bad(str(what, " of shape ", shape_str(shape), " is larger than the ", left(),
                " bytes that remain"));
      n *= static_cast<uint64_t>(d);
    }
    if (n * elem_bytes > left())
      bad(str(what, " of shape ", shape_str(shape), " needs ", n * elem_bytes, " bytes but only ",
              left(), " remain"));
    return static_cast<int64_t>(n);
  }
  LnxTensor tensor(bool half, const char* what) {
    LnxTensor t;
    t.name = string(what);
    t.shape = shape(what);
    const uint64_t elem = half ? 2 : 4;
    const int64_t n = count_fitting(t.shape, elem, what);
    t.data.resize(static_cast<size_t>(n));
    const uint8_t* b = take(static_cast<uint64_t>(n) * elem, what);
    for (int64_t i = 0; i < n; ++i) t.data[i] = read_value(b + i * elem, half);
    return t;
  }
  void expect_end() const {
    if (left() != 0) bad(str(left(), " unexpected bytes after the section's content"));
  }

  static std::string shape_str(const std::vector<int64_t>& s) {
    std::string r = "[";
    for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
    return r + "]";
  }

 private:
  const uint8_t* p_;
  const uint8_t* end_;
  std::string where_, label_;
};

// ---- payloads, version 1 ----

// Version 1 stores the config YAML as a string, version 2 deflated (zlib): a third of its bytes.
std::vector<uint8_t> arch_payload(const LnxArch& a, uint32_t version) {
  Writer w;
  w.u32(static_cast<uint32_t>(a.num_classes));
  w.u32(static_cast<uint32_t>(a.in_channels));
  w.u32(static_cast<uint32_t>(a.image_size));
  if (version == 1) {
    w.string(a.config_yaml);
    return std::move(w.buffer());
  }
  LNX_CHECK(a.config_yaml.size() <= kMaxConfigBytes, "write_lnx: the config YAML has ",
            a.config_yaml.size(), " bytes, at most ", kMaxConfigBytes, " fit");
  uLongf packed_size = compressBound(static_cast<uLong>(a.config_yaml.size()));
  std::vector<uint8_t> packed(packed_size);
  const int rc =
      compress2(packed.data(), &packed_size, reinterpret_cast<const Bytef*>(a.config_yaml.data()),
                static_cast<uLong>(a.config_yaml.size()), Z_BEST_COMPRESSION);
  LNX_CHECK(rc == Z_OK, "write_lnx: zlib could not deflate the config (code ", rc, ")");
  w.u32(static_cast<uint32_t>(a.config_yaml.size()));
  w.u32(static_cast<uint32_t>(packed_size));
  w.bytes(packed.data(), packed_size);
  return std::move(w.buffer());
}

LnxArch read_arch(Reader& r, uint32_t version) {
  LnxArch a;
  a.num_classes = r.u32("number of classes");
  a.in_channels = r.u32("input channels");
  a.image_size = r.u32("image size");
  if (a.num_classes < 1 || a.num_classes > 100000)
    r.bad(str("number of classes is ", a.num_classes, ", expected 1 to 100000"));
  if (a.in_channels < 1 || a.in_channels > 64)
    r.bad(str("input channels are ", a.in_channels, ", expected 1 to 64"));
  if (a.image_size < 1 || a.image_size > 4096)
    r.bad(str("image size is ", a.image_size, ", expected 1 to 4096"));
  if (version == 1) {
    a.config_yaml = r.string("config YAML");
    return a;
  }
  const uint32_t size = r.u32("config YAML length");
  if (size > kMaxConfigBytes)
    r.bad(str("config YAML length is ", size, ", expected at most ", kMaxConfigBytes));
  const uint32_t packed = r.u32("deflated config length");
  const uint8_t* p = r.take(packed, "deflated config");
  std::string yaml(size, '\0');
  uLongf got = size;
  const int rc = uncompress(reinterpret_cast<Bytef*>(yaml.data()), &got, p, packed);
  if (rc != Z_OK || got != size)
    r.bad(str("the deflated config does not inflate to its ", size, " bytes (zlib code ", rc, ", ",
              got, " bytes)"));
  a.config_yaml = std::move(yaml);
  return a;
}

void write_table(Writer& w, const FrequencyTable& t, LnxTableKind kind) {
  w.u8(static_cast<uint8_t>(kind));
  w.i32(t.min_value());
  w.u32(static_cast<uint32_t>(t.num_symbols()));
  // With at least two symbols of frequency >= 1 summing to 2^16, each is at most 2^16 - 1.
  for (uint32_t f : t.freq()) w.varint(f);
}

// `which` names the table in errors ("table 3", "occupancy table").
FrequencyTable read_table(Reader& r, const std::string& which, LnxTableKind* kind_out) {
  const uint8_t kind = r.u8("table kind");
  if (kind > 1) r.bad(str(which, " has kind ", int(kind), ", expected 0 (prior) or 1 (histogram)"));
  const int32_t min_value = r.i32("table minimum");
  const uint32_t nsym = r.u32("table symbol count");
  if (nsym < 2 || nsym > kFreqTotal)
    r.bad(str(which, " has ", nsym, " symbols, expected 2 to ", kFreqTotal));
  if (nsym > r.left())  // at least one byte each
    r.bad(str(which, " has ", nsym, " symbols but only ", r.left(), " bytes remain"));
  std::vector<uint32_t> freq(nsym);
  for (uint32_t s = 0; s < nsym; ++s) freq[s] = r.freq("table frequency");
  if (kind_out) *kind_out = static_cast<LnxTableKind>(kind);
  try {
    return FrequencyTable(min_value, std::move(freq));
  } catch (const Error& e) {
    r.bad(str(which, ": ", e.what()));
  }
}

std::vector<uint8_t> group_payload(const LnxGroup& g) {
  Writer w;
  w.string(g.name);
  w.u32(static_cast<uint32_t>(g.channels));
  w.u32(static_cast<uint32_t>(g.decoder.size()));
  for (const LnxTensor& t : g.decoder) w.tensor(t, false);
  LNX_CHECK(
      static_cast<int64_t>(g.tables.size()) == g.channels && g.kinds.size() == g.tables.size(),
      "write_lnx: group '", g.name, "' has ", g.tables.size(), " tables and ", g.kinds.size(),
      " kinds for ", g.channels, " channels");
  for (size_t c = 0; c < g.tables.size(); ++c) write_table(w, g.tables[c], g.kinds[c]);
  return std::move(w.buffer());
}

LnxGroup read_group_v1(Reader& r) {
  LnxGroup g;
  g.name = r.string("group name");
  r.set_label(g.name);
  const uint32_t channels = r.u32("channel count");
  if (channels < 1 || channels > kMaxChannels)
    r.bad(str("channel count is ", channels, ", expected 1 to ", kMaxChannels));
  g.channels = channels;
  const uint32_t ndec = r.u32("decoder tensor count");
  if (ndec > 16) r.bad(str("decoder has ", ndec, " tensors, expected at most 16"));
  for (uint32_t i = 0; i < ndec; ++i) g.decoder.push_back(r.tensor(false, "decoder tensor"));
  for (uint32_t c = 0; c < channels; ++c) {
    LnxTableKind kind{};
    g.tables.push_back(read_table(r, str("table ", c), &kind));
    g.kinds.push_back(kind);
  }
  return g;
}

std::vector<uint8_t> latent_payload(const LnxLatent& l) {
  Writer w;
  w.string(l.name);
  w.string(l.group);
  w.shape(l.shape);
  w.u64(l.stream.size());
  w.bytes(l.stream.data(), l.stream.size());
  return std::move(w.buffer());
}

LnxLatent read_latent_v1(Reader& r) {
  LnxLatent l;
  l.name = r.string("layer name");
  r.set_label(l.name);
  l.group = r.string("group name");
  l.shape = r.shape("latent shape");
  const uint64_t n = r.u64("stream length");
  const uint8_t* b = r.take(n, "rANS stream");
  l.stream.assign(b, b + n);
  return l;
}

std::vector<uint8_t> code_payload(const LnxGroupCode& c, uint32_t version) {
  Writer w;
  w.string(c.group);
  w.u32(c.layers);
  w.u32(c.layout_crc);
  LNX_CHECK(version >= 3 || !c.slice_occupancy, "write_lnx: group '", c.group,
            "' codes slice occupancy, which needs format version 3, not ", version);
  if (version >= 3) {
    w.u8(c.slice_occupancy ? 1 : 0);
    if (c.slice_occupancy) write_table(w, c.occupancy, LnxTableKind::Histogram);
  }
  w.u64(c.stream.size());
  w.bytes(c.stream.data(), c.stream.size());
  return std::move(w.buffer());
}

LnxGroupCode read_code(Reader& r, uint32_t version) {
  LnxGroupCode c;
  c.group = r.string("group name");
  r.set_label(c.group);
  c.layers = r.u32("layer count");
  if (c.layers < 1 || c.layers > kMaxLayers)
    r.bad(str("layer count is ", c.layers, ", expected 1 to ", kMaxLayers));
  c.layout_crc = r.u32("layout checksum");
  if (version >= 3) {
    const uint8_t mode = r.u8("slice mode");
    if (mode > 1)
      r.bad(str("slice mode ", int(mode), ", expected 0 (values) or 1 (slice occupancy)"));
    c.slice_occupancy = mode == 1;
    if (c.slice_occupancy) c.occupancy = read_table(r, "occupancy table", nullptr);
  }
  const uint64_t n = r.u64("stream length");
  const uint8_t* b = r.take(n, "rANS stream");
  c.stream.assign(b, b + n);
  return c;
}

std::vector<uint8_t> float_block_payload(const LnxFloatBlock& b, bool half, uint32_t version) {
  Writer w;
  w.u8(half ? 1 : 0);
  LNX_CHECK(version >= 4 || !b.folded_batch_norm,
            "write_lnx: the float tensors fold batch norm, which needs format version 4, not ",
            version);
  if (version >= 4) w.u8(b.folded_batch_norm ? 1 : 0);
  w.u32(b.tensors);
  w.u32(b.layout_crc);
  w.u64(b.values.size());
  for (float v : b.values) w.value(v, half);
  return std::move(w.buffer());
}

LnxFloatBlock read_float_block(Reader& r, bool half, uint32_t version) {
  LnxFloatBlock b;
  if (version >= 4) {
    const uint8_t form = r.u8("batch-norm form");
    if (form > 1)
      r.bad(str("batch-norm form ", int(form), ", expected 0 (as trained) or 1 (folded)"));
    b.folded_batch_norm = form == 1;
  }
  b.tensors = r.u32("tensor count");
  b.layout_crc = r.u32("layout checksum");
  const uint64_t n = r.u64("value count");
  const uint64_t elem = half ? 2 : 4;
  if (n > r.left() / elem)
    r.bad(str("value count ", n, " needs ", n * elem, " bytes but only ", r.left(), " remain"));
  if (b.tensors > n) r.bad(str(b.tensors, " tensors cannot share ", n, " values"));
  const uint8_t* p = r.take(n * elem, "float values");
  b.values.resize(static_cast<size_t>(n));
  for (uint64_t i = 0; i < n; ++i) b.values[i] = read_value(p + i * elem, half);
  return b;
}

std::vector<uint8_t> floats_payload(const std::vector<LnxTensor>& ts, bool half) {
  Writer w;
  w.u8(half ? 1 : 0);
  w.u32(static_cast<uint32_t>(ts.size()));
  for (const LnxTensor& t : ts) w.tensor(t, half);
  return std::move(w.buffer());
}

std::vector<LnxTensor> read_tensors(Reader& r, bool half) {
  const uint32_t n = r.u32("tensor count");
  // Each tensor takes at least 8 bytes (name length, rank): bound the count by the bytes left.
  if (n > r.left() / 8)
    r.bad(str("tensor count ", n, " exceeds what ", r.left(), " bytes can hold"));
  std::vector<LnxTensor> ts;
  std::set<std::string> seen;
  for (uint32_t i = 0; i < n; ++i) {
    ts.push_back(r.tensor(half, "tensor"));
    if (!seen.insert(ts.back().name).second)
      r.bad(str("tensor '", ts.back().name, "' appears twice"));
  }
  return ts;
}

void check_tensor(const LnxTensor& t) {
  int64_t n = 1;
  for (int64_t d : t.shape) n *= d;
  LNX_CHECK(n == static_cast<int64_t>(t.data.size()), "write_lnx: tensor '", t.name, "' has ",
            t.data.size(), " values for shape ", Reader::shape_str(t.shape));
}

}  // namespace

std::string lnx_section_name(uint32_t tag) {
  std::string s(4, '?');
  for (int i = 0; i < 4; ++i) {
    const char c = static_cast<char>(tag >> (8 * i));
    s[i] = (c >= 32 && c < 127) ? c : '?';
  }
  return s;
}

int64_t lnx_table_bytes(const FrequencyTable& t) {
  int64_t bytes = 1 + 4 + 4;  // kind, min value, symbol count
  for (uint32_t f : t.freq()) bytes += f < (1u << 7) ? 1 : f < (1u << 14) ? 2 : 3;
  return bytes;
}

uint32_t lnx_layout_crc(const std::vector<LnxLayoutEntry>& entries) {
  Writer w;
  for (const LnxLayoutEntry& e : entries) {
    w.string(e.name);
    w.shape(e.shape);
  }
  return crc32_of(w.buffer().data(), w.buffer().size());
}

std::vector<uint8_t> write_lnx(const LnxModel& m) {
  LNX_CHECK(m.version >= 1 && m.version <= kLnxVersion, "write_lnx: format version ", m.version,
            ", expected 1 to ", kLnxVersion);
  const bool v1 = m.version == 1;
  LNX_CHECK(
      v1 ? m.codes.empty() && m.float_block.values.empty() : m.latents.empty() && m.floats.empty(),
      "write_lnx: version ", m.version, " stores ",
      v1 ? "latents and named floats, not group codes or a float block"
         : "group codes and a float block, not per-layer latents or named floats");
  for (const LnxGroup& g : m.groups)
    for (const LnxTensor& t : g.decoder) check_tensor(t);
  for (const LnxTensor& t : m.floats) check_tensor(t);
  for (const LnxTensor& t : m.priors) check_tensor(t);
  Writer w;
  w.bytes(reinterpret_cast<const uint8_t*>(kLnxMagic), 4);
  w.u32(m.version);
  const size_t coded = v1 ? m.latents.size() : m.codes.size();
  const size_t count = 2 + m.groups.size() + coded + (m.priors.empty() ? 0 : 1);
  w.u32(static_cast<uint32_t>(count));
  write_section(w, LnxSection::Arch, arch_payload(m.arch, m.version));
  for (const LnxGroup& g : m.groups) write_section(w, LnxSection::Group, group_payload(g));
  for (const LnxLatent& l : m.latents) write_section(w, LnxSection::Latent, latent_payload(l));
  for (const LnxGroupCode& c : m.codes)
    write_section(w, LnxSection::Code, code_payload(c, m.version));
  write_section(w, LnxSection::Floats,
                v1 ? floats_payload(m.floats, m.float16)
                   : float_block_payload(m.float_block, m.float16, m.version));
  if (!m.priors.empty()) write_section(w, LnxSection::Prior, floats_payload(m.priors, false));
  return std::move(w.buffer());
}

LnxModel read_lnx(const uint8_t* data, size_t size, const LnxReadOptions& options) {
  Reader file(data, size, "header");
  const uint8_t* magic = file.take(4, "magic");
  if (std::memcmp(magic, kLnxMagic, 4) != 0) file.bad("not an .lnx file (wrong magic bytes)");
  LnxModel m;
  m.version = file.u32("format version");
  // A reader of version N opens every version 1..N: each section kind dispatches on m.version.
  if (m.version < 1 || m.version > kLnxVersion)
    file.bad(str("format version ", m.version, " is not supported (this reader opens 1 to ",
                 kLnxVersion, ")"));
  const uint32_t count = file.u32("section count");
  if (count > file.left() / kSectionHeaderBytes)
    file.bad(str("section count ", count, " exceeds what ", file.left(), " bytes can hold"));
  m.header_bytes = kHeaderBytes;
  bool have_arch = false, have_floats = false, have_prior = false;
  std::set<std::string> group_names, latent_names, code_names;
  for (uint32_t i = 0; i < count; ++i) {
    const uint32_t tag = file.u32("section tag");
    const uint64_t length = file.u64("section length");
    const uint32_t crc = file.u32("section CRC");
    const std::string where = str("section ", i, " (", lnx_section_name(tag), ")");
    if (length > file.left())
      fail("lnx: ", where, ": length ", length, " exceeds the ", file.left(),
           " bytes left in the file (truncated?)");
    const uint8_t* payload = file.take(length, "section payload");
    if (options.verify_crc && crc32_of(payload, length) != crc)
      fail("lnx: ", where, ": CRC mismatch (stored ", crc, ", computed ", crc32_of(payload, length),
           "): the file is corrupted");
    Reader r(payload, length, where);
    LnxSectionInfo info{tag, "", kSectionHeaderBytes + length};
    if (i == 0 && tag != static_cast<uint32_t>(LnxSection::Arch))
      r.bad("the first section must be the architecture (ARCH)");
    switch (static_cast<LnxSection>(tag)) {
      case LnxSection::Arch:
        if (have_arch) r.bad("a second architecture section");
        m.arch = read_arch(r, m.version);
        have_arch = true;
        break;
      case LnxSection::Group: {
        LnxGroup g = read_group_v1(r);
        if (!group_names.insert(g.name).second) r.bad("the group appears twice");
        info.label = g.name;
        m.groups.push_back(std::move(g));
        break;
      }
      case LnxSection::Latent: {
        if (m.version != 1)
          r.bad(str("per-layer latent sections belong to version 1, not ", m.version));
        LnxLatent l = read_latent_v1(r);
        if (!group_names.count(l.group))
          r.bad(str("group '", l.group, "' has no table section before it"));
        if (!latent_names.insert(l.name).second) r.bad("the layer appears twice");
        info.label = l.name;
        m.latents.push_back(std::move(l));
        break;
      }
      case LnxSection::Code: {
        if (m.version < 2) r.bad(str("group code sections begin with version 2, not ", m.version));
        LnxGroupCode c = read_code(r, m.version);
        if (!group_names.count(c.group))
          r.bad(str("group '", c.group, "' has no table section before it"));
        if (!code_names.insert(c.group).second) r.bad("the group's code appears twice");
        info.label = c.group;
        m.codes.push_back(std::move(c));
        break;
      }
      case LnxSection::Floats: {
        if (have_floats) r.bad("a second float tensor section");
        const uint8_t precision = r.u8("precision");
        if (precision > 1)
          r.bad(str("precision ", int(precision), ", expected 0 (f32) or 1 (f16)"));
        m.float16 = precision == 1;
        if (m.version == 1)
          m.floats = read_tensors(r, m.float16);
        else
          m.float_block = read_float_block(r, m.float16, m.version);
        have_floats = true;
        break;
      }
      case LnxSection::Prior: {
        if (have_prior) r.bad("a second prior section");
        if (r.u8("precision") != 0) r.bad("prior parameters must be float32");
        m.priors = read_tensors(r, false);
        have_prior = true;
        break;
      }
      default:
        r.bad("unknown section type");
    }
    r.expect_end();
    m.sections.push_back(info);
  }
  if (!have_arch) file.bad("the file has no architecture section");
  if (!have_floats) file.bad("the file has no float tensor section");
  if (file.left() != 0) file.bad(str(file.left(), " unexpected bytes after the last section"));
  return m;
}

void save_lnx_file(const std::string& path, const LnxModel& model) {
  const std::vector<uint8_t> bytes = write_lnx(model);
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary);
    LNX_CHECK(f.good(), "save_lnx_file: cannot open '", tmp, "' for writing");
    f.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
    f.flush();
    LNX_CHECK(f.good(), "save_lnx_file: writing '", tmp, "' failed (disk full?)");
  }
  std::filesystem::rename(tmp, path);
}

LnxModel load_lnx_file(const std::string& path, const LnxReadOptions& options) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  LNX_CHECK(f.good(), "lnx: cannot open '", path, "'");
  const std::streamoff size = f.tellg();
  LNX_CHECK(size >= 0, "lnx: cannot read the size of '", path, "'");
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  f.seekg(0);
  f.read(reinterpret_cast<char*>(bytes.data()), size);
  LNX_CHECK(f.good() || size == 0, "lnx: reading '", path, "' failed");
  try {
    return read_lnx(bytes.data(), bytes.size(), options);
  } catch (const Error& e) {
    fail(path, ": ", e.what());
  }
}

uint16_t float_to_half(float f) {
  const uint32_t x = std::bit_cast<uint32_t>(f);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t exp = (x >> 23) & 0xffu;
  uint32_t mant = x & 0x7fffffu;
  if (exp == 0xff) return static_cast<uint16_t>(sign | 0x7c00u | (mant ? 0x200u : 0));
  const int e = static_cast<int>(exp) - 127 + 15;
  if (e >= 31) return static_cast<uint16_t>(sign | 0x7c00u);
  if (e <= 0) {  // subnormal half (or zero): shift the full mantissa right, round to even
    if (e < -10) return static_cast<uint16_t>(sign);
    mant |= 0x800000u;
    const int shift = 14 - e;  // 1 - e + 13
    const uint32_t half = mant >> shift;
    const uint32_t rest = mant & ((1u << shift) - 1);
    const uint32_t mid = 1u << (shift - 1);
    const uint32_t r = half + ((rest > mid || (rest == mid && (half & 1))) ? 1 : 0);
    return static_cast<uint16_t>(sign | r);  // a carry into the exponent is still correct
  }
  const uint32_t half = (static_cast<uint32_t>(e) << 10) | (mant >> 13);
  const uint32_t rest = mant & 0x1fffu;
  const uint32_t r = half + ((rest > 0x1000u || (rest == 0x1000u && (half & 1))) ? 1 : 0);
  return static_cast<uint16_t>(sign | r);  // a carry may round up to infinity, as it should
}

float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  const uint32_t mant = h & 0x3ffu;
  if (exp == 0) {
    const float v = std::ldexp(static_cast<float>(mant), -24);
    return sign ? -v : v;
  }
  if (exp == 31) return std::bit_cast<float>(sign | 0x7f800000u | (mant << 13));
  return std::bit_cast<float>(sign | ((exp - 15 + 127) << 23) | (mant << 13));
}

}  // namespace lnx
