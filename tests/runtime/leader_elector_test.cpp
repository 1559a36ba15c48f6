#include "runtime/leader_elector.h"

#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

#include "eventually.h"

namespace agentproxy::runtime {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// Counts what the callbacks reported, readable from the test thread.
struct Observed {
  std::atomic<int> started = 0;
  std::atomic<int> stopped = 0;
  std::mutex mutex;
  std::vector<std::string> newLeaders;

  LeaderCallbacks callbacks() {
    return {[this] { ++started; }, [this] { ++stopped; },
            [this](const std::string& identity) {
              std::lock_guard<std::mutex> lock(mutex);
              newLeaders.push_back(identity);
            }};
  }
  std::vector<std::string> leaders() {
    std::lock_guard<std::mutex> lock(mutex);
    return newLeaders;
  }
};

LeaderElectionConfig configFor(const std::string& identity) {
  LeaderElectionConfig config;
  config.identity = identity;
  return config;
}

LeaseRecord storedRecord(InMemoryLeaseStore& store) {
  const LeaseResult result = store.get();
  EXPECT_EQ(result.status, LeaseStatus::Ok);
  return result.lease.record;
}

class LeaderElectorTest : public ::testing::Test {
 protected:
  FakeClock clock_;
  InMemoryLeaseStore store_;
  Observed seenByA_, seenByB_;
  LeaderElector a_{store_, configFor("a"), seenByA_.callbacks(), clock_};
  LeaderElector b_{store_, configFor("b"), seenByB_.callbacks(), clock_};
};

TEST_F(LeaderElectorTest, FirstCandidateCreatesTheLease) {
  EXPECT_TRUE(a_.tryAcquireOrRenew());
  EXPECT_TRUE(a_.isLeader());
  const LeaseRecord record = storedRecord(store_);
  EXPECT_EQ(record.holderIdentity, "a");
  EXPECT_EQ(record.leaseDurationSeconds, 15);
  EXPECT_EQ(record.acquireTime, clock_.wallNow());
  EXPECT_EQ(record.renewTime, clock_.wallNow());
  EXPECT_EQ(record.leaseTransitions, 0);
  EXPECT_EQ(seenByA_.leaders(), std::vector<std::string>{"a"});
}

TEST_F(LeaderElectorTest, ExactlyOneOfTwoCandidatesLeads) {
  EXPECT_TRUE(a_.tryAcquireOrRenew());
  EXPECT_FALSE(b_.tryAcquireOrRenew());
  EXPECT_TRUE(a_.isLeader());
  EXPECT_FALSE(b_.isLeader());
  EXPECT_EQ(b_.leader(), "a");
  EXPECT_EQ(seenByB_.leaders(), std::vector<std::string>{"a"});
  // While a renews, b never gets in, however long it tries.
  for (int round = 0; round < 30; ++round) {
    clock_.advance(seconds(2));
    EXPECT_TRUE(a_.tryAcquireOrRenew());
    EXPECT_FALSE(b_.tryAcquireOrRenew());
  }
  EXPECT_EQ(storedRecord(store_).holderIdentity, "a");
}

TEST_F(LeaderElectorTest, RenewalKeepsAcquireTimeAndMovesRenewTime) {
  ASSERT_TRUE(a_.tryAcquireOrRenew());
  const Clock::WallTime acquired = clock_.wallNow();
  clock_.advance(seconds(2));
  ASSERT_TRUE(a_.tryAcquireOrRenew());
  const LeaseRecord record = storedRecord(store_);
  EXPECT_EQ(record.acquireTime, acquired);
  EXPECT_EQ(record.renewTime, clock_.wallNow());
  EXPECT_EQ(record.leaseTransitions, 0);
}

TEST_F(LeaderElectorTest, TakesOverOnlyAfterTheDeadLeadersLeaseExpires) {
  ASSERT_TRUE(a_.tryAcquireOrRenew());
  // a is killed: it renews no more. b's clock starts when b first sees a's record.
  ASSERT_FALSE(b_.tryAcquireOrRenew());
  clock_.advance(seconds(14));
  EXPECT_FALSE(b_.tryAcquireOrRenew());
  clock_.advance(seconds(1));
  EXPECT_TRUE(b_.tryAcquireOrRenew());
  const LeaseRecord record = storedRecord(store_);
  EXPECT_EQ(record.holderIdentity, "b");
  EXPECT_EQ(record.acquireTime, clock_.wallNow());
  EXPECT_EQ(record.leaseTransitions, 1);
  EXPECT_EQ(seenByB_.leaders(), (std::vector<std::string>{"a", "b"}));
}

TEST_F(LeaderElectorTest, ExpiryIsJudgedOnTheLocalClockNotTheRecordedRenewTime) {
  // A leader whose calendar clock runs an hour behind writes an old renewTime; that must not
  // make its live lease look expired to b.
  LeaseRecord skewed{"a", 15, clock_.wallNow() - std::chrono::hours(1),
                     clock_.wallNow() - std::chrono::hours(1), 0};
  ASSERT_EQ(store_.create(skewed).status, LeaseStatus::Ok);
  EXPECT_FALSE(b_.tryAcquireOrRenew());
  clock_.advance(seconds(10));
  EXPECT_FALSE(b_.tryAcquireOrRenew());
}

TEST_F(LeaderElectorTest, ReleaseHandsOverImmediately) {
  ASSERT_TRUE(a_.tryAcquireOrRenew());
  ASSERT_FALSE(b_.tryAcquireOrRenew());
  EXPECT_TRUE(a_.release());
  EXPECT_FALSE(a_.isLeader());
  const LeaseRecord released = storedRecord(store_);
  EXPECT_EQ(released.holderIdentity, "");
  EXPECT_EQ(released.leaseDurationSeconds, 1);
  EXPECT_TRUE(b_.tryAcquireOrRenew());
  EXPECT_EQ(storedRecord(store_).leaseTransitions, 1);
}

TEST_F(LeaderElectorTest, ReleaseByANonLeaderChangesNothing) {
  ASSERT_TRUE(a_.tryAcquireOrRenew());
  ASSERT_FALSE(b_.tryAcquireOrRenew());
  EXPECT_TRUE(b_.release());
  EXPECT_EQ(storedRecord(store_).holderIdentity, "a");
}

TEST_F(LeaderElectorTest, LeaseTransitionsCountChangesOfHolder) {
  ASSERT_TRUE(a_.tryAcquireOrRenew());
  ASSERT_TRUE(a_.release());
  ASSERT_TRUE(b_.tryAcquireOrRenew());
  ASSERT_TRUE(b_.release());
  ASSERT_TRUE(a_.tryAcquireOrRenew());
  EXPECT_EQ(storedRecord(store_).leaseTransitions, 2);
}

// Lets a rival write between a candidate's read and its write, as another replica would.
class RacingStore final : public LeaseStore {
 public:
  explicit RacingStore(InMemoryLeaseStore& inner) : inner_(inner) {}
  std::function<void()> beforeNextWrite;

  LeaseResult get() override { return inner_.get(); }
  LeaseResult create(const LeaseRecord& record) override {
    race();
    return inner_.create(record);
  }
  LeaseResult update(const StoredLease& lease) override {
    race();
    return inner_.update(lease);
  }

 private:
  void race() {
    if (beforeNextWrite) std::exchange(beforeNextWrite, nullptr)();
  }
  InMemoryLeaseStore& inner_;
};

TEST_F(LeaderElectorTest, ConflictOnUpdateLosesTheRoundWithoutClaimingLeadership) {
  ASSERT_TRUE(a_.tryAcquireOrRenew());
  ASSERT_TRUE(a_.release());
  RacingStore racing(store_);
  LeaderElector c(racing, configFor("c"), {}, clock_);
  // b takes the released lease while c is between reading it and writing it.
  racing.beforeNextWrite = [&] { ASSERT_TRUE(b_.tryAcquireOrRenew()); };
  EXPECT_FALSE(c.tryAcquireOrRenew());
  EXPECT_FALSE(c.isLeader());
  EXPECT_EQ(storedRecord(store_).holderIdentity, "b");
  // Next round c reads b's lease and waits for it like any other.
  EXPECT_FALSE(c.tryAcquireOrRenew());
  EXPECT_EQ(c.leader(), "b");
}

TEST_F(LeaderElectorTest, ConflictOnCreateLosesTheRound) {
  RacingStore racing(store_);
  LeaderElector c(racing, configFor("c"), {}, clock_);
  // Both find no lease; a creates it first.
  racing.beforeNextWrite = [&] { ASSERT_TRUE(a_.tryAcquireOrRenew()); };
  EXPECT_FALSE(c.tryAcquireOrRenew());
  EXPECT_FALSE(c.isLeader());
  EXPECT_EQ(storedRecord(store_).holderIdentity, "a");
  EXPECT_FALSE(c.tryAcquireOrRenew());
  EXPECT_EQ(c.leader(), "a");
}

TEST(LeaderElectorConfig, RejectsInconsistentTimings) {
  InMemoryLeaseStore store;
  LeaderElectionConfig config = configFor("a");
  config.renewDeadline = seconds(15);
  EXPECT_THROW(LeaderElector(store, config, {}), std::invalid_argument);
  config = configFor("a");
  config.retryPeriod = seconds(10);
  EXPECT_THROW(LeaderElector(store, config, {}), std::invalid_argument);
  config = configFor("a");
  config.leaseDuration = milliseconds(15'500);
  EXPECT_THROW(LeaderElector(store, config, {}), std::invalid_argument);
  EXPECT_THROW(LeaderElector(store, configFor(""), {}), std::invalid_argument);
}

// Runs an elector's run() loop on its own thread for the scope's lifetime; declared after the
// elector, so it is stopped and joined before the elector goes away.
class Running {
 public:
  explicit Running(LeaderElector& elector)
      : elector_(elector), thread_([&elector] { elector.run(); }) {}
  ~Running() {
    elector_.stop();
    thread_.join();
  }

 private:
  LeaderElector& elector_;
  std::thread thread_;
};

// The run() loops, on threads, with the fake clock moved by the test.
using LeaderElectorRunTest = LeaderElectorTest;

TEST_F(LeaderElectorRunTest, OneLeadsTheOtherWaits) {
  Running runA(a_);
  ASSERT_TRUE(eventually([&] { return seenByA_.started.load() == 1; }));
  Running runB(b_);
  ASSERT_TRUE(eventually([&] { return b_.leader() == "a"; }));
  // A minute of renewals: a keeps leading, b never starts.
  EXPECT_FALSE(advanceUntil(clock_, 2, milliseconds(500), seconds(60),
                            [&] { return seenByB_.started.load() > 0 || !a_.isLeader(); }));
  EXPECT_EQ(seenByA_.stopped.load(), 0);
  EXPECT_EQ(storedRecord(store_).holderIdentity, "a");
}

TEST_F(LeaderElectorRunTest, StopReleasesAndTheOtherTakesOverWithinARetryPeriod) {
  Running runA(a_);
  ASSERT_TRUE(eventually([&] { return a_.isLeader(); }));
  Running runB(b_);
  ASSERT_TRUE(eventually([&] { return b_.leader() == "a"; }));
  a_.stop();
  ASSERT_TRUE(eventually([&] { return seenByA_.stopped.load() == 1; }));
  EXPECT_EQ(storedRecord(store_).holderIdentity, "");
  // Well before a's 15 s lease would have expired.
  EXPECT_TRUE(advanceUntil(clock_, 1, milliseconds(500), seconds(2),
                           [&] { return seenByB_.started.load() == 1; }));
  EXPECT_TRUE(b_.isLeader());
}

TEST_F(LeaderElectorRunTest, KilledLeaderIsReplacedAfterExpiry) {
  LeaderElectionConfig noRelease = configFor("a");
  noRelease.releaseOnCancel = false;  // a crash releases nothing
  LeaderElector crashing(store_, noRelease, seenByA_.callbacks(), clock_);
  Running runCrashing(crashing);
  ASSERT_TRUE(eventually([&] { return crashing.isLeader(); }));
  Running runB(b_);
  ASSERT_TRUE(eventually([&] { return b_.leader() == "a"; }));
  const Clock::TimePoint killedAt = clock_.now();
  crashing.stop();
  ASSERT_TRUE(eventually([&] { return seenByA_.stopped.load() == 1; }));
  EXPECT_EQ(storedRecord(store_).holderIdentity, "a");
  ASSERT_TRUE(advanceUntil(clock_, 1, milliseconds(500), seconds(30),
                           [&] { return seenByB_.started.load() == 1; }));
  EXPECT_GE(clock_.now() - killedAt, seconds(15));
  EXPECT_LE(clock_.now() - killedAt, seconds(15 + 2));
}

// Fails every call while `failing` is set, as an unreachable API server would.
class FlakyStore final : public LeaseStore {
 public:
  explicit FlakyStore(InMemoryLeaseStore& inner) : inner_(inner) {}
  std::atomic<bool> failing = false;

  LeaseResult get() override { return failing ? unreachable() : inner_.get(); }
  LeaseResult create(const LeaseRecord& r) override {
    return failing ? unreachable() : inner_.create(r);
  }
  LeaseResult update(const StoredLease& l) override {
    return failing ? unreachable() : inner_.update(l);
  }

 private:
  static LeaseResult unreachable() { return {LeaseStatus::Error, {}, "connection refused"}; }
  InMemoryLeaseStore& inner_;
};

TEST_F(LeaderElectorRunTest, GivesUpLeadershipWhenRenewalsFailForTheRenewDeadline) {
  FlakyStore flaky(store_);
  LeaderElector leader(flaky, configFor("a"), seenByA_.callbacks(), clock_);
  Running runLeader(leader);
  ASSERT_TRUE(eventually([&] { return leader.isLeader(); }));
  const Clock::TimePoint lastRenewal = clock_.now();
  flaky.failing = true;
  ASSERT_TRUE(advanceUntil(clock_, 1, milliseconds(500), seconds(30),
                           [&] { return seenByA_.stopped.load() == 1; }));
  EXPECT_FALSE(leader.isLeader());
  // Stopped leading at the renew deadline, before the 15 s lease could pass to anyone else.
  EXPECT_GE(clock_.now() - lastRenewal, seconds(10));
  EXPECT_LT(clock_.now() - lastRenewal, seconds(15));
}

TEST_F(LeaderElectorRunTest, LeaderThatSeesAnotherHolderStopsAtOnce) {
  Running runA(a_);
  ASSERT_TRUE(eventually([&] { return a_.isLeader(); }));
  // Someone overwrote the lease (e.g. after a's renewals stalled): a must not keep leading.
  StoredLease current = store_.get().lease;
  current.record.holderIdentity = "intruder";
  ASSERT_EQ(store_.update(current).status, LeaseStatus::Ok);
  ASSERT_TRUE(advanceUntil(clock_, 1, milliseconds(500), seconds(3),
                           [&] { return seenByA_.stopped.load() == 1; }));
  EXPECT_EQ(a_.leader(), "intruder");
  EXPECT_EQ(storedRecord(store_).holderIdentity, "intruder");
}

TEST_F(LeaderElectorRunTest, StopWhileCampaigningReturnsWithoutCallbacks) {
  ASSERT_TRUE(a_.tryAcquireOrRenew());
  {
    Running runB(b_);
    ASSERT_TRUE(eventually([&] { return b_.leader() == "a"; }));
  }
  EXPECT_EQ(seenByB_.started.load(), 0);
  EXPECT_EQ(seenByB_.stopped.load(), 0);
}

}  // namespace
}  // namespace agentproxy::runtime
