// libFuzzer target of the .lnx reader: parse, rebuild the network from the architecture,
// validate every section against it and decode the latents. Any input must end either in a
// network or in an lnx::Error; anything else (a crash, a sanitizer report, another exception,
// a hang, an allocation beyond the limit) is a bug.
#include <cstddef>
#include <cstdint>

#include "compress/lnx_format.h"
#include "core/error.h"
#include "tools/lnx_model.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // The checksums would stop nearly every mutation at the first section: skip them, so the
  // fuzzer explores the parsers and the validation behind them.
  lnx::LnxReadOptions read;
  read.verify_crc = false;
  lnx::tools::LoadOptions load;
  load.max_width = 2;  // wide networks are valid but slow to build; they teach the fuzzer nothing
  try {
    const lnx::LnxModel model = lnx::read_lnx(data, size, read);
    lnx::tools::load_lnx_network(model, load);
  } catch (const lnx::Error&) {
  }
  return 0;
}
