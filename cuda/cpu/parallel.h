// Minimal static-partition parallel loop (no OpenMP: torch ships its own runtime and two
// copies in one process do not mix well).
//
// The helper threads are kept between calls: starting a thread costs tens of microseconds,
// as much as a small kernel call, and the encoder makes thousands of them. Each calling
// thread owns its helpers (created on its first call that asks for them, joined when it
// exits), so calls from different threads never share or wait on each other. A forked
// child, which inherits the pool but not its threads, starts a pool of its own.
//
// INR_SINGLE_THREADED (the WebAssembly build, whose C++ runtime has no threads) runs the
// same partition's sub-ranges one after the other on the calling thread.
#pragma once

#include <algorithm>
#include <cstdint>

#if !defined(INR_SINGLE_THREADED)
#include <atomic>
#include <condition_variable>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#if defined(_WIN32)
#include <process.h>
#define INR_GETPID _getpid
#else
#include <unistd.h>
#define INR_GETPID getpid
#endif
#endif

namespace inr {

#if !defined(INR_SINGLE_THREADED)
namespace detail {

// Helper threads of one calling thread. run(n, ...) calls task(context, i) for i in 1..n-1 on
// helpers and for i = 0 on the caller, and returns when every call has returned.
class HelperPool {
   public:
    using Task = void (*)(void* context, int index);

    HelperPool() : owner_(INR_GETPID()) {}
    HelperPool(const HelperPool&) = delete;
    HelperPool& operator=(const HelperPool&) = delete;

    ~HelperPool() {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            stop_.store(true, std::memory_order_release);
        }
        wake_.notify_all();
        for (std::thread& helper : helpers_) helper.join();
    }

    bool owned_by_this_process() const { return owner_ == INR_GETPID(); }
    bool busy() const { return busy_; }

    void run(int n, Task task, void* context) {
        while (static_cast<int>(helpers_.size()) < n - 1) {
            const int index = static_cast<int>(helpers_.size()) + 1;
            const uint64_t seen = generation_.load(std::memory_order_acquire);  // before this call's
            helpers_.emplace_back([this, index, seen] { serve(index, seen); });
        }
        busy_ = true;
        remaining_.store(n - 1, std::memory_order_relaxed);
        {
            std::lock_guard<std::mutex> lock(mutex_);
            task_ = task;
            context_ = context;
            active_ = n;
            generation_.fetch_add(1, std::memory_order_release);
        }
        wake_.notify_all();
        std::exception_ptr failure;
        try {
            task(context, 0);
        } catch (...) {
            failure = std::current_exception();
        }
        wait_until([this] { return remaining_.load(std::memory_order_acquire) == 0; }, done_);
        busy_ = false;
        if (failure) std::rethrow_exception(failure);
    }

   private:
    // Spins for some tens of microseconds (the next call or a helper's return usually comes
    // sooner), then sleeps on `signal`.
    template <typename Ready>
    void wait_until(Ready ready, std::condition_variable& signal) {
        for (int spin = 0; spin < 2000; ++spin) {
            if (ready()) return;
#if defined(__x86_64__) || defined(__i386__)
            __builtin_ia32_pause();
#endif
        }
        std::unique_lock<std::mutex> lock(mutex_);
        signal.wait(lock, ready);
    }

    // A helper runs every call made after `seen` that has work for it.
    void serve(int index, uint64_t seen) {
        for (;;) {
            wait_until([&] { return stopping() || generation_.load(std::memory_order_acquire) != seen; }, wake_);
            if (stopping()) return;
            Task task;
            void* context;
            int active;
            {  // one consistent call: the caller writes all four under this lock
                std::lock_guard<std::mutex> lock(mutex_);
                seen = generation_.load(std::memory_order_relaxed);
                task = task_;
                context = context_;
                active = active_;
            }
            if (index >= active) continue;
            task(context, index);  // the kernels' tasks do not throw (an exception here ends the process)
            if (remaining_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
                std::lock_guard<std::mutex> lock(mutex_);
                done_.notify_one();
            }
        }
    }

    bool stopping() const { return stop_.load(std::memory_order_acquire); }

    const decltype(INR_GETPID()) owner_;
    std::vector<std::thread> helpers_;
    std::mutex mutex_;
    std::condition_variable wake_, done_;
    std::atomic<uint64_t> generation_{0};
    std::atomic<int> remaining_{0};
    Task task_ = nullptr;
    void* context_ = nullptr;
    int active_ = 0;
    std::atomic<bool> stop_{false};
    bool busy_ = false;
};

// The calling thread's pool; a forked child leaves its parent's pool (whose threads it does
// not have) alone and starts its own.
inline HelperPool& helper_pool() {
    thread_local std::unique_ptr<HelperPool> pool;
    if (pool && !pool->owned_by_this_process()) static_cast<void>(pool.release());
    if (!pool) pool = std::make_unique<HelperPool>();
    return *pool;
}

}  // namespace detail
#endif

// Calls fn(begin, end) on contiguous, disjoint sub-ranges of [0, n_tasks), one per thread;
// the partition depends on n_threads alone. A call made from inside another call's fn runs
// its sub-ranges one after the other on its own thread.
template <typename Fn>
void parallel_for(int64_t n_tasks, int n_threads, Fn&& fn) {
    if (n_tasks <= 0) return;
    const int64_t threads = std::max<int64_t>(1, std::min<int64_t>(n_threads, n_tasks));
    auto chunk = [&](int t) { fn(n_tasks * t / threads, n_tasks * (t + 1) / threads); };
#if defined(INR_SINGLE_THREADED)
    for (int t = 0; t < threads; ++t) chunk(t);
#else
    if (threads == 1) {
        chunk(0);
        return;
    }
    detail::HelperPool& pool = detail::helper_pool();
    if (pool.busy()) {
        for (int t = 0; t < threads; ++t) chunk(t);
        return;
    }
    pool.run(static_cast<int>(threads), [](void* context, int t) { (*static_cast<decltype(chunk)*>(context))(t); },
             &chunk);
#endif
}

}  // namespace inr
