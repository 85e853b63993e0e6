#pragma once

#include <ostream>
#include <string>

namespace lnx {

enum class DeviceType : uint8_t { CPU, CUDA };

struct Device {
  DeviceType type = DeviceType::CPU;
  int index = 0;

  static Device cpu() { return {DeviceType::CPU, 0}; }
  static Device cuda(int i = 0) { return {DeviceType::CUDA, i}; }
  bool is_cpu() const { return type == DeviceType::CPU; }
  bool is_cuda() const { return type == DeviceType::CUDA; }
  bool operator==(const Device&) const = default;
  std::string name() const;
  // Parses "cpu", "cuda", "cuda:1"; throws on anything else.
  static Device parse(const std::string& s);
};

inline std::ostream& operator<<(std::ostream& os, const Device& d) {
  return os << d.name();
}

}  // namespace lnx
