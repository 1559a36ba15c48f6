#include "runtime/work_queue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>
#include <vector>

#include "eventually.h"

namespace agentproxy::runtime {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

class WorkQueueTest : public ::testing::Test {
 protected:
  FakeClock clock_;
  WorkQueue queue_{clock_};
};

TEST_F(WorkQueueTest, HandsOutKeysInOrder) {
  queue_.add("a");
  queue_.add("b");
  EXPECT_EQ(queue_.len(), 2u);
  EXPECT_EQ(queue_.get(), "a");
  EXPECT_EQ(queue_.get(), "b");
  EXPECT_EQ(queue_.len(), 0u);
}

TEST_F(WorkQueueTest, KeyAddedWhileQueuedIsQueuedOnce) {
  queue_.add("a");
  queue_.add("b");
  queue_.add("a");
  EXPECT_EQ(queue_.len(), 2u);
  EXPECT_EQ(queue_.get(), "a");
  EXPECT_EQ(queue_.get(), "b");
  EXPECT_EQ(queue_.len(), 0u);
}

TEST_F(WorkQueueTest, KeyAddedWhileProcessingIsRequeuedOnceAfterDone) {
  queue_.add("a");
  ASSERT_EQ(queue_.get(), "a");
  queue_.add("a");
  queue_.add("a");
  // Not handed to a second worker while the first holds it.
  EXPECT_EQ(queue_.len(), 0u);
  queue_.done("a");
  EXPECT_EQ(queue_.len(), 1u);
  EXPECT_EQ(queue_.get(), "a");
  queue_.done("a");
  EXPECT_EQ(queue_.len(), 0u);
}

TEST_F(WorkQueueTest, DoneWithoutReAddDoesNotRequeue) {
  queue_.add("a");
  ASSERT_EQ(queue_.get(), "a");
  queue_.done("a");
  EXPECT_EQ(queue_.len(), 0u);
}

TEST_F(WorkQueueTest, GetBlocksUntilAKeyIsAdded) {
  std::atomic<bool> got = false;
  std::thread worker([&] {
    EXPECT_EQ(queue_.get(), "a");
    got = true;
  });
  std::this_thread::sleep_for(milliseconds(2));
  EXPECT_FALSE(got.load());
  queue_.add("a");
  EXPECT_TRUE(eventually([&] { return got.load(); }));
  worker.join();
}

TEST_F(WorkQueueTest, AddAfterQueuesOnceTheDelayHasPassed) {
  queue_.addAfter("a", seconds(30));
  EXPECT_EQ(queue_.len(), 0u);
  clock_.advance(seconds(29));
  EXPECT_EQ(queue_.len(), 0u);
  clock_.advance(seconds(1));
  EXPECT_EQ(queue_.len(), 1u);
  EXPECT_EQ(queue_.get(), "a");
}

TEST_F(WorkQueueTest, BlockedWorkerWakesWhenDelayPasses) {
  queue_.addAfter("a", seconds(30));
  std::atomic<bool> got = false;
  std::thread worker([&] {
    EXPECT_EQ(queue_.get(), "a");
    got = true;
  });
  clock_.advance(seconds(10));
  std::this_thread::sleep_for(milliseconds(2));
  EXPECT_FALSE(got.load());
  clock_.advance(seconds(20));
  EXPECT_TRUE(eventually([&] { return got.load(); }));
  worker.join();
}

TEST_F(WorkQueueTest, EarlierAddAfterWins) {
  queue_.addAfter("a", seconds(60));
  queue_.addAfter("a", seconds(10));
  queue_.addAfter("a", seconds(30));
  clock_.advance(seconds(10));
  EXPECT_EQ(queue_.len(), 1u);
  EXPECT_EQ(queue_.get(), "a");
  queue_.done("a");
  // The later deadlines were merged into the earlier one, not kept as extra requeues.
  clock_.advance(seconds(60));
  EXPECT_EQ(queue_.len(), 0u);
}

TEST_F(WorkQueueTest, EarlierDelayWakesWorkerWaitingForALaterOne) {
  queue_.addAfter("slow", seconds(60));
  std::atomic<bool> got = false;
  std::thread worker([&] {
    EXPECT_EQ(queue_.get(), "fast");
    got = true;
  });
  // The worker is asleep until the later deadline (not a real-time guess that it might be).
  ASSERT_TRUE(eventually([&] { return clock_.blockedWaiters() == 1; }));
  queue_.addAfter("fast", seconds(5));
  clock_.advance(seconds(5));
  EXPECT_TRUE(eventually([&] { return got.load(); }));
  worker.join();
}

TEST_F(WorkQueueTest, ZeroDelayAddsNow) {
  queue_.addAfter("a", Clock::Duration::zero());
  EXPECT_EQ(queue_.len(), 1u);
}

TEST_F(WorkQueueTest, RateLimitedRetriesBackOffExponentiallyUntilForgotten) {
  const auto retryAfter = [&](Clock::Duration expected) {
    queue_.addRateLimited("a");
    clock_.advance(expected - Clock::Duration(1));
    EXPECT_EQ(queue_.len(), 0u) << "too early for " << expected.count();
    clock_.advance(Clock::Duration(1));
    ASSERT_EQ(queue_.len(), 1u) << "not ready after " << expected.count();
    ASSERT_EQ(queue_.get(), "a");
    queue_.done("a");
  };
  retryAfter(milliseconds(5));
  retryAfter(milliseconds(10));
  retryAfter(milliseconds(20));
  EXPECT_EQ(queue_.numRequeues("a"), 3);
  queue_.forget("a");
  EXPECT_EQ(queue_.numRequeues("a"), 0);
  retryAfter(milliseconds(5));
}

TEST_F(WorkQueueTest, ShutDownHandsOutQueuedKeysThenReturnsEmpty) {
  queue_.add("a");
  queue_.addAfter("later", seconds(1));
  queue_.shutDown();
  EXPECT_TRUE(queue_.shuttingDown());
  queue_.add("b");
  EXPECT_EQ(queue_.get(), "a");
  clock_.advance(seconds(1));
  EXPECT_EQ(queue_.get(), std::nullopt);
}

TEST_F(WorkQueueTest, ShutDownReleasesBlockedWorkers) {
  std::vector<std::thread> workers;
  workers.reserve(3);
  std::atomic<int> released = 0;
  for (int i = 0; i < 3; ++i) {
    workers.emplace_back([&] {
      EXPECT_EQ(queue_.get(), std::nullopt);
      ++released;
    });
  }
  queue_.shutDown();
  EXPECT_TRUE(eventually([&] { return released.load() == 3; }));
  for (std::thread& worker : workers) worker.join();
}

TEST_F(WorkQueueTest, ShutDownWithDrainWaitsForInFlightKeys) {
  queue_.add("a");
  ASSERT_EQ(queue_.get(), "a");
  std::atomic<bool> drained = false;
  std::thread stopper([&] {
    queue_.shutDownWithDrain();
    drained = true;
  });
  EXPECT_TRUE(eventually([&] { return queue_.shuttingDown(); }));
  std::this_thread::sleep_for(milliseconds(2));
  EXPECT_FALSE(drained.load());
  queue_.add("a");  // ignored: the queue is shutting down
  queue_.done("a");
  EXPECT_TRUE(eventually([&] { return drained.load(); }));
  stopper.join();
  EXPECT_EQ(queue_.get(), std::nullopt);
}

TEST_F(WorkQueueTest, ConcurrentWorkersNeverHoldTheSameKey) {
  constexpr int kKeys = 20;
  constexpr int kAddsPerKey = 50;
  std::mutex mutex;
  std::set<std::string> held;
  std::atomic<bool> overlap = false;
  std::atomic<int> processed = 0;
  std::vector<std::thread> workers;
  workers.reserve(4);
  for (int w = 0; w < 4; ++w) {
    workers.emplace_back([&] {
      while (const std::optional<std::string> key = queue_.get()) {
        {
          std::lock_guard<std::mutex> lock(mutex);
          if (!held.insert(*key).second) overlap = true;
        }
        std::this_thread::yield();
        {
          std::lock_guard<std::mutex> lock(mutex);
          held.erase(*key);
        }
        ++processed;
        queue_.done(*key);
      }
    });
  }
  for (int i = 0; i < kAddsPerKey; ++i) {
    for (int k = 0; k < kKeys; ++k) queue_.add("key" + std::to_string(k));
  }
  queue_.shutDownWithDrain();
  for (std::thread& worker : workers) worker.join();
  EXPECT_FALSE(overlap.load());
  // Deduplication means fewer reconciles than adds, but every key got at least one.
  EXPECT_GE(processed.load(), kKeys);
  EXPECT_LE(processed.load(), kKeys * kAddsPerKey);
}

}  // namespace
}  // namespace agentproxy::runtime
