#include "probe/duration.h"

#include <gtest/gtest.h>

#include "probe/proxy_url.h"

namespace agentproxy::probe {
namespace {

using std::chrono::milliseconds;

TEST(ParseDuration, GoStyle) {
  EXPECT_EQ(parseDuration("10s"), milliseconds(10'000));
  EXPECT_EQ(parseDuration("500ms"), milliseconds(500));
  EXPECT_EQ(parseDuration("1m30s"), milliseconds(90'000));
  EXPECT_EQ(parseDuration("1.5s"), milliseconds(1'500));
  EXPECT_EQ(parseDuration("5m"), milliseconds(300'000));
}

TEST(ParseDuration, RejectsBadInput) {
  for (const char* bad : {"", "10", "s", "10x", "-1s", "0s", "1d", "1s2", "25h"}) {
    EXPECT_THROW(parseDuration(bad), InputError) << bad;
  }
}

}  // namespace
}  // namespace agentproxy::probe
