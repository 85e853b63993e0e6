// Shapes and strides are plain vectors of int64; these helpers keep the arithmetic in one place.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

namespace lnx {

using Shape = std::vector<int64_t>;

int64_t numel(const Shape& s);
Shape contiguous_strides(const Shape& s);
std::string to_string(const Shape& s);  // "[2, 3, 4]"
// NumPy broadcasting; throws naming `op` when the shapes do not broadcast.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);
// Maps a possibly negative axis into [0, ndim); throws naming `op` when out of range.
int64_t normalize_axis(int64_t axis, int64_t ndim, const char* op);

struct ShapePrinter {
  const Shape& s;
};
inline std::ostream& operator<<(std::ostream& os, ShapePrinter p) {
  return os << to_string(p.s);
}

}  // namespace lnx
