// The `lilnetx` program: one binary, one subcommand per task.
#include <cstring>
#include <exception>
#include <iostream>
#include <string>

#include "core/error.h"
#include "tools/commands.h"
#include "tools/tradeoff.h"

namespace {

void usage() {
  std::cout
      << "usage: lilnetx <command> [options]\n\n"
         "commands:\n"
         "  train    train a network from a YAML config (no config: a small Fashion-MNIST job)\n"
         "  eval     evaluate a checkpoint on its test set\n"
         "  compress / decompress / inspect   .lnx compressed model files\n"
         "  plot     accuracy against size of several LilNetX runs (table + SVG)\n"
         "  bench    time the kernels and networks (see docs/benchmarks.md)\n\n"
         "Run `lilnetx <command> --help` for a command's options.\n";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    usage();
    return argc < 2 ? 1 : 0;
  }
  const std::string cmd = argv[1];
  try {
    if (cmd == "train") return lnx::tools::train_main(argc - 1, argv + 1);
    if (cmd == "eval") return lnx::tools::eval_main(argc - 1, argv + 1);
    if (cmd == "bench") return lnx::tools::bench_main(argc - 1, argv + 1);
    if (cmd == "plot") return lnx::tools::plot_main(argc - 1, argv + 1);
    if (cmd == "compress") return lnx::tools::compress_main(argc - 1, argv + 1);
    if (cmd == "decompress") return lnx::tools::decompress_main(argc - 1, argv + 1);
    if (cmd == "inspect") return lnx::tools::inspect_main(argc - 1, argv + 1);
    std::cerr << "lilnetx: unknown command '" << cmd << "'\n";
    usage();
    return 1;
  } catch (const lnx::Error& e) {
    std::cerr << "lilnetx " << cmd << ": " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "lilnetx " << cmd << ": unexpected error: " << e.what() << "\n";
    return 2;
  }
}
