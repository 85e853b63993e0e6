// Errors: every user-reachable failure is an lnx::Error whose message names the op,
// the argument, what was found and what was expected.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace lnx {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Concatenates anything streamable: str("conv2d: input has ", c, " channels").
template <typename... Args>
std::string str(Args&&... args) {
  std::ostringstream os;
  (os << ... << std::forward<Args>(args));
  return os.str();
}

template <typename... Args>
[[noreturn]] void fail(Args&&... args) {
  throw Error(str(std::forward<Args>(args)...));
}

}  // namespace lnx

// The one macro: a check that builds its message only when it fails.
#define LNX_CHECK(cond, ...)               \
  do {                                     \
    if (!(cond)) ::lnx::fail(__VA_ARGS__); \
  } while (false)
