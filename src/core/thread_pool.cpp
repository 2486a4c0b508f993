#include "core/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace glint {
namespace {

thread_local bool inside_parallel_region = false;

class ThreadPool {
 public:
  explicit ThreadPool(int threads) {
    for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { worker_loop(); });
  }
  ~ThreadPool() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    for (auto& t : workers_) t.join();
  }
  int size() const { return int(workers_.size()) + 1; }

  // Runs task(0..chunks-1) on the workers and the calling thread. The first exception a chunk throws is
  // rethrown here once every worker has left the task (later chunks are skipped).
  void run(int64_t chunks, const std::function<void(int64_t)>& task) {
    // One task at a time: callers on different application threads take turns.
    std::lock_guard caller_turn(run_mutex_);
    {
      std::lock_guard lock(mutex_);
      error_ = nullptr;
      failed_.store(false);
      task_ = &task;
      chunk_count_ = chunks;
      next_chunk_.store(0);
      pending_ = chunks;
      ++generation_;
    }
    wake_.notify_all();
    work_on_chunks();
    std::unique_lock lock(mutex_);
    // Workers that picked up this task must leave it before the next one replaces it.
    done_.wait(lock, [this] { return pending_ == 0 && active_ == 0; });
    task_ = nullptr;
    if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
  }

 private:
  void work_on_chunks() {
    const std::function<void(int64_t)>* task;
    int64_t count;
    {
      std::lock_guard lock(mutex_);
      task = task_;
      count = chunk_count_;
      if (!task) return;
      ++active_;
    }
    int64_t finished = 0;
    for (int64_t c = next_chunk_.fetch_add(1); c < count; c = next_chunk_.fetch_add(1)) {
      ++finished;
      if (failed_.load(std::memory_order_relaxed)) continue;
      inside_parallel_region = true;
      try {
        (*task)(c);
      } catch (...) {
        std::lock_guard lock(mutex_);
        if (!error_) error_ = std::current_exception();
        failed_.store(true);
      }
      inside_parallel_region = false;
    }
    std::lock_guard lock(mutex_);
    pending_ -= finished;
    --active_;
    if (pending_ == 0 && active_ == 0) done_.notify_all();
  }

  void worker_loop() {
    uint64_t seen = 0;
    for (;;) {
      {
        std::unique_lock lock(mutex_);
        wake_.wait(lock, [&] { return stopping_ || generation_ != seen; });
        if (stopping_) return;
        seen = generation_;
      }
      work_on_chunks();
    }
  }

  std::vector<std::thread> workers_;
  std::mutex run_mutex_;
  std::mutex mutex_;
  std::exception_ptr error_;
  std::atomic<bool> failed_{false};
  std::condition_variable wake_, done_;
  const std::function<void(int64_t)>* task_ = nullptr;
  int64_t chunk_count_ = 0;
  std::atomic<int64_t> next_chunk_{0};
  int64_t pending_ = 0;
  int active_ = 0;
  uint64_t generation_ = 0;
  bool stopping_ = false;
};

int default_threads() {
  if (const char* env = std::getenv("GLINT_THREADS")) {
    int n = std::atoi(env);
    if (n > 0) return n;
  }
  return std::max(1u, std::thread::hardware_concurrency());
}

// Shared ownership: a parallel_for keeps the pool it started on alive, so set_thread_count may replace the pool
// while another thread's loop still runs on the old one.
std::mutex pool_mutex;
std::shared_ptr<ThreadPool>& pool_slot() {
  static std::shared_ptr<ThreadPool> pool;
  return pool;
}

std::shared_ptr<ThreadPool> pool() {
  std::lock_guard lock(pool_mutex);
  auto& p = pool_slot();
  if (!p) p = std::make_shared<ThreadPool>(default_threads());
  return p;
}

}  // namespace

int thread_count() { return pool()->size(); }

void set_thread_count(int n) {
  auto fresh = std::make_shared<ThreadPool>(std::max(1, n));
  std::shared_ptr<ThreadPool> old;
  {
    std::lock_guard lock(pool_mutex);
    old = std::exchange(pool_slot(), std::move(fresh));
  }
  // `old` is joined here, outside the lock, unless a running loop still holds it.
}

void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& body) {
  if (n <= 0) return;
  grain = std::max<int64_t>(1, grain);
  const std::shared_ptr<ThreadPool> holder = pool();
  ThreadPool& p = *holder;
  int64_t max_chunks = (n + grain - 1) / grain;
  int64_t chunks = std::min<int64_t>(max_chunks, int64_t(p.size()) * 4);
  if (chunks <= 1 || p.size() == 1 || inside_parallel_region) {
    body(0, n);
    return;
  }
  int64_t step = (n + chunks - 1) / chunks;
  p.run(chunks, [&](int64_t c) {
    int64_t begin = c * step, end = std::min(n, begin + step);
    if (begin < end) body(begin, end);
  });
}

}  // namespace glint
