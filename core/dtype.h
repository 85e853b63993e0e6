#pragma once

#include <cstdint>
#include <ostream>
#include <string>

namespace lnx {

enum class DType : uint8_t { Float32, Int64, UInt8 };

size_t dtype_size(DType t);
const char* dtype_name(DType t);
inline std::ostream& operator<<(std::ostream& os, DType t) {
  return os << dtype_name(t);
}

// Maps a C++ type to its DType, for typed accessors like Tensor::data<float>().
template <typename T>
struct dtype_of;
template <>
struct dtype_of<float> {
  static constexpr DType value = DType::Float32;
};
template <>
struct dtype_of<int64_t> {
  static constexpr DType value = DType::Int64;
};
template <>
struct dtype_of<uint8_t> {
  static constexpr DType value = DType::UInt8;
};

}  // namespace lnx
