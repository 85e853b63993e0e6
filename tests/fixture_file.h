// Reads the plain-text PyTorch fixtures in tests/fixtures (written by make_nn_fixtures.py and
// make_resnet20_fixture.py): per tensor a header line "name ndim d0 ..." and a line of values.
#pragma once

#include <catch2/catch.hpp>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace lnx::test {

inline std::map<std::string, Tensor> load_fixture(const std::string& file) {
  const std::string path = std::string(LNX_FIXTURE_DIR) + "/" + file;
  std::ifstream in(path);
  REQUIRE(in.good());
  std::map<std::string, Tensor> out;
  std::string name;
  int64_t ndim = 0;
  while (in >> name >> ndim) {
    Shape shape(static_cast<size_t>(ndim));
    for (int64_t& d : shape) in >> d;
    std::vector<float> values(static_cast<size_t>(numel(shape)));
    for (float& v : values) in >> v;
    REQUIRE(in.good());
    out[name] = from_vector(values, shape);
  }
  return out;
}

}  // namespace lnx::test
