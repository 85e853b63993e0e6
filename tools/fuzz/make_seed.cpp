// Writes the fuzzer's seed corpus: small .lnx files of a small CNN in every format version, with
// float32 and float16 tensors, with and without the prior section.
#include <filesystem>
#include <iostream>

#include "compress/lnx_format.h"
#include "core/error.h"
#include "tools/lnx_model.h"

int main(int argc, char** argv) {
  using namespace lnx;
  using namespace lnx::tools;
  if (argc != 2) {
    std::cerr << "usage: fuzz_lnx_seed CORPUS_DIR\n";
    return 1;
  }
  std::filesystem::create_directories(argv[1]);
  const Config config = Config::parse("network: {name: small_cnn, vanilla: false, width: 1}\n");
  const DataShape shape{3, 1, 28};
  const BuiltNetwork net = build_network_from_config(config, shape);
  int n = 0;
  for (uint32_t version = 1; version <= kLnxVersion; ++version)  // the reader opens every layout
    for (const bool half : {false, true})
      for (const bool prior : {false, true}) {
        CompressOptions o;
        o.version = version;
        o.float16 = half;
        o.with_prior = prior;
        o.fold_batch_norm = !prior;  // version 4: folded and as trained, each in some seeds
        const Compressed c = compress_network(config, shape, *net.model, *net.groups, o);
        save_lnx_file(str(argv[1], "/seed", n++, ".lnx"), c.file);
      }
  std::cout << "wrote " << n << " seeds to " << argv[1] << "\n";
  return 0;
}
