// A sleep that shutdown cuts short: every retry and relist wait of the kube client and the
// informers, so that a drain after SIGTERM is never held up by a backoff.
//
// Guarantees: returns as soon as `stop` is requested (a stop_callback wakes it), or after
// `delay` on the steady clock; the answer says whether the caller should go on.
#pragma once

#include <chrono>
#include <stop_token>

namespace agentproxy::runtime {

// Sleeps for `delay` unless stop is requested first; false when stop was requested (before or
// during the sleep), true when the whole delay passed.
bool sleepUnlessStopped(const std::stop_token& stop, std::chrono::steady_clock::duration delay);

}  // namespace agentproxy::runtime
