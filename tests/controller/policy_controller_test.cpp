// PolicyController's lifecycle when leadership (on the elector's thread) and a stop signal (on
// the main thread) arrive together, as they do when a replica is told to stop just as it wins
// the Lease. No informer is started, so nothing here asks the API server anything.
#include "controller/policy_controller.h"

#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <thread>

#include "kube/client.h"
#include "kube/troubled_api_server.h"
#include "runtime/logger.h"
#include "runtime/metrics.h"

namespace agentproxy::controller {
namespace {

struct Harness {
  kube::testing::TroubledApiServer server{""};  // never asked
  kube::Client client{server.config()};
  std::ostringstream logs;
  runtime::Logger log{logs, runtime::LogLevel::Info};
  runtime::MetricsRegistry metrics;
};

// Leadership won after the stop began starts no worker: the drain is over, and a worker
// started now would outlive it (the process would end with a joinable thread: terminate).
TEST(PolicyControllerLifecycle, LeadershipArrivingAfterTheStopStartsNothing) {
  Harness h;
  PolicyController controller(h.client, h.log, h.metrics, {});
  controller.stop();
  controller.startReconciling();
  EXPECT_EQ(h.logs.str().find("reconciling ProxyPolicies"), std::string::npos) << h.logs.str();
  EXPECT_NE(h.logs.str().find("not reconciling: stopping"), std::string::npos) << h.logs.str();
  EXPECT_EQ(h.server.requests(), 0);
}

// Leadership and the stop at the same moment, many times: whichever wins, every worker started
// is joined by the stop. Under ThreadSanitizer (scripts/tsan.sh) this is the proof that the
// workers' list is never changed while the stop walks it (it was, before: found by running the
// operator's e2e leader-election test with a TSan build).
TEST(PolicyControllerLifecycle, LeadershipDuringTheStopLeavesNoWorkerBehind) {
  Harness h;
  for (int round = 0; round < 20; ++round) {
    PolicyController controller(h.client, h.log, h.metrics, {});
    std::thread elector([&] { controller.startReconciling(); });
    controller.stop();
    elector.join();
  }  // each controller's destructor stops again: a worker left unjoined would terminate here
  EXPECT_EQ(h.server.requests(), 0);
}

}  // namespace
}  // namespace agentproxy::controller
