#include "core/device.h"

#include "core/error.h"

namespace lnx {

std::string Device::name() const {
  if (type == DeviceType::CPU) return "cpu";
  return index == 0 ? "cuda" : str("cuda:", index);
}

Device Device::parse(const std::string& s) {
  if (s == "cpu") return cpu();
  if (s == "cuda") return cuda(0);
  if (s.rfind("cuda:", 0) == 0) {
    const std::string idx = s.substr(5);
    // At most 9 digits: std::stoi would throw a bare std::out_of_range on longer ones.
    if (!idx.empty() && idx.size() <= 9 && idx.find_first_not_of("0123456789") == std::string::npos)
      return cuda(std::stoi(idx));
  }
  fail("device: got '", s, "', expected 'cpu', 'cuda' or 'cuda:N'");
}

}  // namespace lnx
