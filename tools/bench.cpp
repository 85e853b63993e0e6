// `lilnetx bench`: placeholder entry until the benchmark tables land.
#include <iostream>

#include "tools/commands.h"

namespace lnx::tools {

int bench_main(int, char**) {
  std::cerr << "lilnetx bench: no benchmarks in this build yet\n";
  return 1;
}

}  // namespace lnx::tools
