#include "core/safetensors.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <vector>

namespace lnx {

// The format is little-endian on disk; we copy tensor bytes verbatim.
static_assert(std::endian::native == std::endian::little,
              "safetensors I/O assumes a little-endian host");

namespace {

// The reference implementation refuses headers above 100 MB; so do we, so a corrupt length
// never turns into a huge allocation even for a huge file.
constexpr uint64_t kMaxHeaderBytes = 100u << 20;
constexpr const char* kMetadataKey = "__metadata__";

std::optional<DType> dtype_from_name(const std::string& name) {
  if (name == "F32") return DType::Float32;
  if (name == "I64") return DType::Int64;
  if (name == "U8") return DType::UInt8;
  return std::nullopt;
}

bool is_known_foreign_dtype(const std::string& name) {
  static const std::set<std::string> others = {"BOOL", "I8",  "I16", "U16", "F16",     "BF16",
                                               "I32",  "U32", "F64", "U64", "F8_E5M2", "F8_E4M3"};
  return others.count(name) > 0;
}

std::string errno_text() {
  return std::strerror(errno);
}

// Writes all bytes or throws; `what` names the file for the message.
void write_all(int fd, const void* data, size_t n, const std::string& what) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) fail("write_safetensors: writing '", what, "' failed: ", errno_text());
    p += w;
    n -= static_cast<size_t>(w);
  }
}

// Removes the temporary file on every exit path unless the rename happened.
class TempFile {
 public:
  explicit TempFile(std::string path) : path_(std::move(path)) {}
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  ~TempFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(path_.c_str());
  }
  void open() {
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0) fail("write_safetensors: cannot create '", path_, "': ", errno_text());
  }
  int fd() const { return fd_; }
  void commit(const std::string& final_path) {
    if (::fsync(fd_) != 0) fail("write_safetensors: fsync of '", path_, "' failed: ", errno_text());
    const int rc = ::close(fd_);
    fd_ = -1;
    if (rc != 0) fail("write_safetensors: closing '", path_, "' failed: ", errno_text());
    if (std::rename(path_.c_str(), final_path.c_str()) != 0)
      fail("write_safetensors: renaming '", path_, "' to '", final_path,
           "' failed: ", errno_text());
    committed_ = true;
  }

 private:
  std::string path_;
  int fd_ = -1;
  bool committed_ = false;
};

struct Entry {
  std::string name;
  DType dtype;
  Shape shape;
  uint64_t begin = 0, end = 0;
};

}  // namespace

const char* safetensors_dtype_name(DType dtype) {
  switch (dtype) {
    case DType::Float32:
      return "F32";
    case DType::Int64:
      return "I64";
    case DType::UInt8:
      return "U8";
  }
  return "?";
}

void write_safetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  struct Item {
    std::string name;
    Tensor host;  // CPU, contiguous
  };
  std::vector<Item> items;
  items.reserve(tensors.size());
  for (const auto& [name, t] : tensors) {
    LNX_CHECK(!name.empty(), "write_safetensors: '", path, "': a tensor has an empty name");
    LNX_CHECK(name != kMetadataKey, "write_safetensors: '", path, "': the name '", kMetadataKey,
              "' is reserved for metadata");
    LNX_CHECK(t.defined(), "write_safetensors: '", path, "': tensor '", name, "' is undefined");
    items.push_back({name, t.cpu().contiguous()});
  }
  // Largest elements first keeps every tensor aligned to its element size (the data section
  // itself starts at a multiple of 8); std::map already gave name order within a size.
  std::stable_sort(items.begin(), items.end(), [](const Item& a, const Item& b) {
    return dtype_size(a.host.dtype()) > dtype_size(b.host.dtype());
  });

  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    nlohmann::ordered_json meta = nlohmann::ordered_json::object();
    for (const auto& [k, v] : metadata) meta[k] = v;
    header[kMetadataKey] = std::move(meta);
  }
  uint64_t offset = 0;
  for (const Item& item : items) {
    const uint64_t nbytes =
        static_cast<uint64_t>(item.host.numel()) * dtype_size(item.host.dtype());
    header[item.name] = {{"dtype", safetensors_dtype_name(item.host.dtype())},
                         {"shape", item.host.shape()},
                         {"data_offsets", {offset, offset + nbytes}}};
    offset += nbytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // pad so the data section is 8-byte aligned
  uint8_t len_bytes[8];
  for (int i = 0; i < 8; ++i) len_bytes[i] = static_cast<uint8_t>(text.size() >> (8 * i));

  TempFile tmp(path + ".tmp." + std::to_string(::getpid()));
  tmp.open();
  write_all(tmp.fd(), len_bytes, 8, path);
  write_all(tmp.fd(), text.data(), text.size(), path);
  for (const Item& item : items) {
    const size_t nbytes = static_cast<size_t>(item.host.numel()) * dtype_size(item.host.dtype());
    if (nbytes > 0) write_all(tmp.fd(), item.host.raw_data(), nbytes, path);
  }
  tmp.commit(path);
}

SafetensorsFile read_safetensors(const std::string& path) {
  const std::string where = "read_safetensors: '" + path + "': ";
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) fail(where, "no such file");
  const uint64_t file_size = std::filesystem::file_size(path, ec);
  if (ec) fail(where, "cannot read the file size: ", ec.message());
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(where, "cannot open the file: ", errno_text());

  if (file_size < 8)
    fail(where, "truncated: the file is ", file_size,
         " bytes, too short for the 8-byte header length");
  uint8_t len_bytes[8];
  in.read(reinterpret_cast<char*>(len_bytes), 8);
  if (!in) fail(where, "truncated: cannot read the 8-byte header length");
  uint64_t header_len = 0;
  for (int i = 0; i < 8; ++i) header_len |= static_cast<uint64_t>(len_bytes[i]) << (8 * i);
  if (header_len > file_size - 8)
    fail(where, "header length ", header_len, " is larger than the ", file_size - 8,
         " bytes that follow it in the file (file size ", file_size, ")");
  if (header_len > kMaxHeaderBytes)
    fail(where, "header length ", header_len, " exceeds the limit of ", kMaxHeaderBytes, " bytes");
  std::string text(header_len, '\0');
  in.read(text.data(), static_cast<std::streamsize>(header_len));
  if (!in) fail(where, "truncated: cannot read the ", header_len, "-byte header");
  const uint64_t data_size = file_size - 8 - header_len;

  // nlohmann keeps the last of two equal keys silently; a duplicated tensor name is a corrupt file.
  std::set<std::string> seen;
  std::string duplicate;
  const auto no_duplicates = [&](int depth, nlohmann::json::parse_event_t event,
                                 nlohmann::json& parsed) {
    if (depth == 1 && event == nlohmann::json::parse_event_t::key && parsed.is_string() &&
        !seen.insert(parsed.get<std::string>()).second && duplicate.empty())
      duplicate = parsed.get<std::string>();
    return true;
  };
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(text, no_duplicates);
  } catch (const nlohmann::json::parse_error& e) {
    fail(where, "the header is not valid JSON: ", e.what());
  }
  if (!header.is_object()) fail(where, "the header is JSON but not an object");
  if (!duplicate.empty()) fail(where, "the header names tensor '", duplicate, "' twice");

  SafetensorsFile result;
  std::vector<Entry> entries;
  for (const auto& [name, value] : header.items()) {
    if (name == kMetadataKey) {
      if (!value.is_object()) fail(where, "'", kMetadataKey, "' is not a JSON object");
      for (const auto& [k, v] : value.items()) {
        if (!v.is_string())
          fail(where, "metadata value of '", k, "' is ", v.dump(), ", expected a string");
        result.metadata[k] = v.get<std::string>();
      }
      continue;
    }
    const std::string tensor = "tensor '" + name + "' ";
    if (!value.is_object()) fail(where, tensor, "is ", value.dump(), ", expected a JSON object");
    for (const char* field : {"dtype", "shape", "data_offsets"})
      if (!value.contains(field)) fail(where, tensor, "has no '", field, "'");
    Entry e;
    e.name = name;
    const auto& dt = value["dtype"];
    if (!dt.is_string()) fail(where, tensor, "has dtype ", dt.dump(), ", expected a string");
    const auto dtype = dtype_from_name(dt.get<std::string>());
    if (!dtype) {
      if (is_known_foreign_dtype(dt.get<std::string>()))
        fail(where, tensor, "has dtype '", dt.get<std::string>(),
             "', which lilnetx does not support (supported: F32, I64, U8)");
      fail(where, tensor, "has unknown dtype '", dt.get<std::string>(),
           "' (supported: F32, I64, U8)");
    }
    e.dtype = *dtype;
    const auto& shape = value["shape"];
    if (!shape.is_array()) fail(where, tensor, "has shape ", shape.dump(), ", expected an array");
    // Overflow-safe: a byte count that would wrap 64 bits is flagged, never used.
    uint64_t nbytes = dtype_size(e.dtype);
    bool too_big = false;
    for (const auto& d : shape) {
      if (!d.is_number_unsigned())
        fail(where, tensor, "has shape ", shape.dump(), ", expected non-negative integers");
      const uint64_t dim = d.get<uint64_t>();
      if (dim > static_cast<uint64_t>(INT64_MAX))
        fail(where, tensor, "has shape ", shape.dump(), " with a dimension too large");
      e.shape.push_back(static_cast<int64_t>(dim));
      if (dim != 0 && nbytes > UINT64_MAX / dim) too_big = true;
      nbytes *= dim;
    }
    if (std::find(e.shape.begin(), e.shape.end(), 0) != e.shape.end()) {
      nbytes = 0;
      too_big = false;
    }
    const auto& offs = value["data_offsets"];
    if (!offs.is_array() || offs.size() != 2 || !offs[0].is_number_unsigned() ||
        !offs[1].is_number_unsigned())
      fail(where, tensor, "has data_offsets ", offs.dump(),
           ", expected [begin, end] as non-negative integers");
    e.begin = offs[0].get<uint64_t>();
    e.end = offs[1].get<uint64_t>();
    if (e.begin > e.end)
      fail(where, tensor, "has data_offsets [", e.begin, ", ", e.end, "] with begin after end");
    if (e.end > data_size)
      fail(where, tensor, "has data_offsets [", e.begin, ", ", e.end,
           "] out of range: the data section holds ", data_size, " bytes");
    if (too_big || e.end - e.begin != nbytes)
      fail(where, tensor, "has data_offsets [", e.begin, ", ", e.end, "] (", e.end - e.begin,
           " bytes) but dtype ", dt.get<std::string>(), " and shape ", to_string(e.shape), " need ",
           too_big ? std::string("more than 2^64 bytes") : std::to_string(nbytes) + " bytes");
    entries.push_back(std::move(e));
  }

  // The tensors must tile the data section: sorted by offset, each starts where the last ended.
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t covered = 0;
  const Entry* prev = nullptr;
  for (const Entry& e : entries) {
    if (e.begin < covered)
      fail(where, "tensor '", e.name, "' (bytes ", e.begin, "..", e.end, ") overlaps tensor '",
           prev->name, "' (bytes ", prev->begin, "..", prev->end, ")");
    if (e.begin > covered)
      fail(where, "bytes ", covered, "..", e.begin,
           " of the data section belong to no tensor (gap before tensor '", e.name, "')");
    covered = e.end;
    prev = &e;
  }
  if (covered != data_size)
    fail(where, "the data section has ", data_size - covered,
         " trailing bytes that belong to no tensor");

  for (const Entry& e : entries) {
    Tensor t = Tensor::empty(e.shape, e.dtype);
    if (e.end > e.begin) {
      in.seekg(static_cast<std::streamoff>(8 + header_len + e.begin));
      in.read(static_cast<char*>(t.raw_data()), static_cast<std::streamsize>(e.end - e.begin));
      if (!in) fail(where, "truncated while reading tensor '", e.name, "'");
    }
    result.tensors.emplace(e.name, std::move(t));
  }
  return result;
}

}  // namespace lnx
