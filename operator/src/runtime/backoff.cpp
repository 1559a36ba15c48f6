#include "runtime/backoff.h"

#include <cmath>

namespace agentproxy::runtime {

std::chrono::steady_clock::duration BackoffPolicy::delay(int failures) const {
  using Duration = std::chrono::steady_clock::duration;
  // In floating point, so that a key failing for days saturates at max instead of overflowing
  // a shift, as client-go does.
  const double wait =
      static_cast<double>(initial.count()) * std::pow(2.0, static_cast<double>(failures));
  if (wait >= static_cast<double>(max.count())) return max;
  return Duration(static_cast<Duration::rep>(wait));
}

}  // namespace agentproxy::runtime
