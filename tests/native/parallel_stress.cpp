// inr::parallel_for (cuda/cpu/parallel.h) under load: every index of every call visited
// exactly once for many sizes and thread counts, calls nested inside calls, an exception
// in the caller's share, a forked child with its own helpers, several calling threads at
// once. Prints "ok" and exits 0, or names the failure and exits 1.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <thread>
#include <vector>

#include "parallel.h"

namespace {

void fail(const char* what) {
    std::printf("FAIL %s\n", what);
    std::exit(1);
}

void visit_once(int64_t n, int threads) {
    std::vector<int> hits(static_cast<size_t>(n), 0);
    inr::parallel_for(n, threads, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) ++hits[i];
    });
    for (int h : hits)
        if (h != 1) fail("an index not visited exactly once");
}

}  // namespace

int main(int argc, char** argv) {
    const int calls = argc > 1 ? std::atoi(argv[1]) : 20000;
    for (int k = 0; k < calls; ++k) visit_once(1 + k % 97, 1 + k % 3);

    std::vector<int> grid(64 * 64, 0);
    inr::parallel_for(64, 3, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i)
            inr::parallel_for(64, 2, [&](int64_t b, int64_t e) {
                for (int64_t j = b; j < e; ++j) ++grid[i * 64 + j];
            });
    });
    for (int h : grid)
        if (h != 1) fail("nested calls");

    bool thrown = false;
    try {
        inr::parallel_for(10, 2, [](int64_t begin, int64_t) {
            if (begin == 0) throw std::runtime_error("caller's share");
        });
    } catch (const std::runtime_error&) {
        thrown = true;
    }
    if (!thrown) fail("the caller's exception was lost");
    visit_once(1000, 2);

    const pid_t child = fork();
    if (child == 0) {
        for (int k = 0; k < 200; ++k) visit_once(50, 2);
        std::_Exit(0);
    }
    int status = 0;
    waitpid(child, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) fail("a forked child");

    std::vector<std::thread> callers;
    for (int c = 0; c < 3; ++c)
        callers.emplace_back([calls] {
            for (int k = 0; k < calls / 10; ++k) visit_once(1 + k % 31, 2);
        });
    for (std::thread& t : callers) t.join();
    std::puts("ok");
    return 0;
}
