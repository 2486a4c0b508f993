// A fixed pool of worker threads for data-parallel loops over the CPU cores.
#pragma once
#include <cstdint>
#include <functional>

namespace glint {

// Number of threads used by parallel_for (GLINT_THREADS, else the hardware concurrency).
int thread_count();
void set_thread_count(int n);

// Calls body(begin, end) on disjoint chunks covering [0, n), in parallel; returns when all are done.
// Chunks are at least `grain` long. Nested calls run serially on the calling thread.
void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t begin, int64_t end)>& body);

}  // namespace glint
