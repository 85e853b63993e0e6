#include "autograd/grad_mode.h"

#include <atomic>

namespace lnx {
namespace {
thread_local bool g_grad_enabled = true;
std::atomic<bool> g_anomaly{false};
}  // namespace

bool grad_enabled() {
  return g_grad_enabled;
}
void set_grad_enabled(bool enabled) {
  g_grad_enabled = enabled;
}
bool anomaly_mode() {
  return g_anomaly.load();
}
void set_anomaly_mode(bool enabled) {
  g_anomaly.store(enabled);
}

}  // namespace lnx
