#include "core/random.h"

namespace lnx {

uint64_t Generator::next_u64() {
  return random_bits(seed_, advance(1));
}

double Generator::next_double() {
  return static_cast<double>(next_u64() >> 11) * (1.0 / 9007199254740992.0);
}

Generator& default_generator() {
  static Generator g(0);
  return g;
}

void manual_seed(uint64_t seed) {
  default_generator().manual_seed(seed);
}

}  // namespace lnx
