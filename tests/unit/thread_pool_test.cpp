// The thread pool behind every parallel kernel: coverage of the index range, nesting, many short calls
// in a row, concurrent callers and exceptions thrown by a body.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "core/error.h"
#include "core/thread_pool.h"

namespace glint {
namespace {

// Runs each test with several workers (the build machine may have only two cores) and restores the
// previous size afterwards so other tests see the usual pool.
class ThreadPoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    previous_ = thread_count();
    set_thread_count(4);
  }
  void TearDown() override { set_thread_count(previous_); }
  int previous_ = 1;
};

std::vector<int> visit_counts(int64_t n, int64_t grain) {
  std::vector<std::atomic<int>> counts(static_cast<size_t>(n));
  parallel_for(n, grain, [&](int64_t begin, int64_t end) {
    EXPECT_LE(0, begin);
    EXPECT_LT(begin, end);
    EXPECT_LE(end, n);
    for (int64_t i = begin; i < end; ++i) counts[size_t(i)].fetch_add(1);
  });
  std::vector<int> out;
  for (auto& c : counts) out.push_back(c.load());
  return out;
}

// Number of distinct threads that ran chunks of one call. Each chunk waits (up to two seconds) for a
// second thread to show up, so a busy machine cannot make the caller finish every chunk alone.
size_t threads_taking_part() {
  std::mutex mutex;
  std::vector<std::thread::id> ids;
  parallel_for(64, 1, [&](int64_t, int64_t) {
    {
      std::lock_guard lock(mutex);
      ids.push_back(std::this_thread::get_id());
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (std::chrono::steady_clock::now() < deadline) {
      {
        std::lock_guard lock(mutex);
        std::vector<std::thread::id> distinct = ids;
        std::sort(distinct.begin(), distinct.end());
        if (std::unique(distinct.begin(), distinct.end()) - distinct.begin() >= 2) return;
      }
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  });
  std::sort(ids.begin(), ids.end());
  return size_t(std::unique(ids.begin(), ids.end()) - ids.begin());
}

TEST_F(ThreadPoolTest, CoversEveryIndexExactlyOnce) {
  for (int64_t n : {1, 2, 3, 7, 16, 17, 100, 1001, 65537}) {
    for (int64_t grain : {1, 3, 64, 100000}) {
      const auto counts = visit_counts(n, grain);
      for (int64_t i = 0; i < n; ++i) ASSERT_EQ(counts[size_t(i)], 1) << "n=" << n << " grain=" << grain << " i=" << i;
    }
  }
}

TEST_F(ThreadPoolTest, EmptyAndNegativeRangesCallNothing) {
  std::atomic<int> calls{0};
  parallel_for(0, 1, [&](int64_t, int64_t) { calls++; });
  parallel_for(-5, 1, [&](int64_t, int64_t) { calls++; });
  EXPECT_EQ(calls.load(), 0);
}

TEST_F(ThreadPoolTest, ChunksRespectTheGrain) {
  // Only the last chunk may be shorter than the grain.
  std::atomic<int> chunks_ending_early{0};
  const int64_t n = 1000, grain = 50;
  parallel_for(n, grain, [&](int64_t begin, int64_t end) {
    if (end != n && end - begin < grain) chunks_ending_early++;
  });
  EXPECT_EQ(chunks_ending_early.load(), 0);
}

TEST_F(ThreadPoolTest, UsesMoreThanOneThreadForLargeRanges) { EXPECT_GT(threads_taking_part(), 1u); }

TEST_F(ThreadPoolTest, NestedCallsCoverTheirRangesAndDoNotDeadlock) {
  const int64_t outer = 37, inner = 53;
  std::vector<std::atomic<int>> counts(static_cast<size_t>(outer * inner));
  parallel_for(outer, 1, [&](int64_t o0, int64_t o1) {
    for (int64_t o = o0; o < o1; ++o)
      parallel_for(inner, 1, [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i) counts[size_t(o * inner + i)].fetch_add(1);
      });
  });
  for (size_t i = 0; i < counts.size(); ++i) ASSERT_EQ(counts[i].load(), 1) << i;
}

TEST_F(ThreadPoolTest, ManySmallCallsInARow) {
  // Short tasks back to back stress the hand-over between one task and the next (a worker still
  // leaving task g must not run chunks of task g + 1 with g's body, or miss them).
  std::vector<int64_t> sums(20000);
  for (size_t call = 0; call < sums.size(); ++call) {
    std::atomic<int64_t> sum{0};
    const int64_t n = 1 + int64_t(call % 13);
    parallel_for(n, 1, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) sum += i + int64_t(call);
    });
    sums[call] = sum.load();
  }
  for (size_t call = 0; call < sums.size(); ++call) {
    const int64_t n = 1 + int64_t(call % 13);
    ASSERT_EQ(sums[call], n * (n - 1) / 2 + n * int64_t(call)) << "call " << call;
  }
}

TEST_F(ThreadPoolTest, ConcurrentCallersFromSeveralThreads) {
  // Two application threads (e.g. two requests) may run kernels at the same time.
  constexpr int kCallers = 3, kCalls = 300;
  std::atomic<int> wrong{0};
  std::vector<std::thread> callers;
  for (int c = 0; c < kCallers; ++c)
    callers.emplace_back([&, c] {
      for (int call = 0; call < kCalls; ++call) {
        const int64_t n = 50 + c;
        std::vector<std::atomic<int>> counts(static_cast<size_t>(n));
        parallel_for(n, 1, [&](int64_t b, int64_t e) {
          for (int64_t i = b; i < e; ++i) counts[size_t(i)]++;
        });
        for (auto& x : counts)
          if (x.load() != 1) wrong++;
      }
    });
  for (auto& t : callers) t.join();
  EXPECT_EQ(wrong.load(), 0);
}

TEST_F(ThreadPoolTest, ExceptionInABodyReachesTheCallerAndThePoolKeepsWorking) {
  for (int attempt = 0; attempt < 20; ++attempt) {
    EXPECT_THROW(parallel_for(64, 1,
                              [&](int64_t b, int64_t e) {
                                std::this_thread::sleep_for(std::chrono::microseconds(50));
                                if (b <= 40 && 40 < e) fail("bad index 40");
                              }),
                 Error);
    // The pool still covers ranges exactly once afterwards, in parallel.
    const auto counts = visit_counts(1000, 1);
    for (int c : counts) ASSERT_EQ(c, 1);
  }
  EXPECT_GT(threads_taking_part(), 1u) << "after an exception every later call ran serially";
}

TEST_F(ThreadPoolTest, ResizingWhileAnotherThreadRunsLoops) {
  // A loop keeps the pool it started on; resizing meanwhile must neither crash nor lose work.
  std::atomic<bool> stop{false};
  std::atomic<int> wrong{0};
  std::thread worker([&] {
    while (!stop) {
      std::vector<std::atomic<int>> counts(300);
      parallel_for(300, 1, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) counts[size_t(i)]++;
      });
      for (auto& x : counts)
        if (x.load() != 1) wrong++;
    }
  });
  for (int round = 0; round < 50; ++round) set_thread_count(1 + round % 4);
  stop = true;
  worker.join();
  EXPECT_EQ(wrong.load(), 0);
}

TEST_F(ThreadPoolTest, ResizingThePool) {
  for (int n : {1, 2, 3, 8}) {
    set_thread_count(n);
    EXPECT_EQ(thread_count(), n);
    const auto counts = visit_counts(999, 1);
    for (int c : counts) ASSERT_EQ(c, 1);
  }
  set_thread_count(0);  // clamped to one thread
  EXPECT_EQ(thread_count(), 1);
}

}  // namespace
}  // namespace glint
