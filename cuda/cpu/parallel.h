// Minimal static-partition parallel loop on std::thread (no OpenMP: torch ships its own
// runtime and two copies in one process do not mix well).
#pragma once

#include <algorithm>
#include <cstdint>
#include <thread>
#include <vector>

namespace inr {

// Calls fn(begin, end) on contiguous, disjoint sub-ranges of [0, n_tasks), one per thread.
template <typename Fn>
void parallel_for(int64_t n_tasks, int n_threads, Fn&& fn) {
    if (n_tasks <= 0) return;
    const int64_t threads = std::max<int64_t>(1, std::min<int64_t>(n_threads, n_tasks));
    if (threads == 1) {
        fn(int64_t{0}, n_tasks);
        return;
    }
    std::vector<std::thread> workers;
    workers.reserve(threads - 1);
    for (int64_t t = 1; t < threads; ++t) {
        workers.emplace_back([&fn, t, threads, n_tasks] {
            fn(n_tasks * t / threads, n_tasks * (t + 1) / threads);
        });
    }
    fn(int64_t{0}, n_tasks / threads);
    for (auto& worker : workers) worker.join();
}

}  // namespace inr
