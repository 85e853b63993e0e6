#include "data/file_io.h"

#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>

#include "core/error.h"

namespace lnx::data {

std::vector<uint8_t> read_file(const std::filesystem::path& path, const char* who) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) fail(who, ": cannot open ", path.string(), ": ", std::strerror(errno));
  const std::streamsize n = in.tellg();
  LNX_CHECK(n >= 0, who, ": cannot read the size of ", path.string());
  std::vector<uint8_t> bytes(static_cast<size_t>(n));
  in.seekg(0);
  in.read(reinterpret_cast<char*>(bytes.data()), n);
  LNX_CHECK(in.gcount() == n, who, ": ", path.string(), ": read ", in.gcount(), " of ", n,
            " bytes");
  return bytes;
}

std::vector<uint8_t> read_maybe_gzip(const std::filesystem::path& path, const char* who) {
  // gzread passes a file that is not gzip through unchanged, so one path serves both.
  const auto closer = [](gzFile f) { gzclose(f); };
  std::unique_ptr<gzFile_s, decltype(closer)> f(gzopen(path.c_str(), "rb"), closer);
  if (!f) fail(who, ": cannot open ", path.string(), ": ", std::strerror(errno));
  gzbuffer(f.get(), 1 << 17);
  std::vector<uint8_t> bytes;
  constexpr size_t kChunk = 1 << 20;
  for (;;) {
    const size_t used = bytes.size();
    bytes.resize(used + kChunk);
    const int got = gzread(f.get(), bytes.data() + used, static_cast<unsigned>(kChunk));
    bytes.resize(used + static_cast<size_t>(got > 0 ? got : 0));
    if (got <= 0) break;
  }
  // A truncated stream ends with 0 bytes read and the error only in gzerror.
  int code = Z_OK;
  const char* msg = gzerror(f.get(), &code);
  LNX_CHECK(code == Z_OK || code == Z_STREAM_END, who, ": ", path.string(),
            ": cannot decompress: ", msg);
  return bytes;
}

}  // namespace lnx::data
