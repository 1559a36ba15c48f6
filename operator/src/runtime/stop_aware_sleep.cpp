#include "runtime/stop_aware_sleep.h"

#include <condition_variable>
#include <mutex>

namespace agentproxy::runtime {

bool sleepUnlessStopped(const std::stop_token& stop, std::chrono::steady_clock::duration delay) {
  std::mutex m;
  std::condition_variable_any cv;
  std::unique_lock lock(m);
  return !cv.wait_for(lock, stop, delay, [] { return false; }) && !stop.stop_requested();
}

}  // namespace agentproxy::runtime
