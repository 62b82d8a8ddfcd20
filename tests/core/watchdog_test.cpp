#include <rlscale/core/request_deadline.hpp>
#include <rlscale/core/watchdog.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <system_error>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace std::chrono_literals;

TEST_CASE("watchdog: fires once after its timeout, not when disarmed first") {
    std::atomic<int> calls{0};
    {
        rlscale::watchdog w(30ms, [&] { ++calls; });
        while (calls == 0) std::this_thread::sleep_for(1ms);  // fires, however late its thread runs
        std::this_thread::sleep_for(50ms);
        CHECK(calls == 1);
        CHECK(w.disarm());
        CHECK(w.disarm());  // idempotent
    }
    CHECK(calls == 1);

    const auto start = std::chrono::steady_clock::now();
    {
        rlscale::watchdog w(10s, [&] { ++calls; });
        CHECK_FALSE(w.disarm());
    }
    CHECK(std::chrono::steady_clock::now() - start < 5s);  // disarm does not wait out the timeout
    { rlscale::watchdog w(10s, [&] { ++calls; }); }         // nor does the destructor
    CHECK(std::chrono::steady_clock::now() - start < 5s);
    CHECK(calls == 1);

    // A timeout of centuries is shortened, not overflowed into an expiry now.
    rlscale::watchdog far(std::chrono::milliseconds(10'000'000'000'000), [&] { ++calls; });
    std::this_thread::sleep_for(50ms);
    CHECK_FALSE(far.disarm());
    CHECK(calls == 1);
}

TEST_CASE("watchdog: disarm waits for a running expiry to return") {
    std::atomic<bool> started{false};
    std::atomic<bool> done{false};
    rlscale::watchdog w(1ms, [&] {
        started = true;
        std::this_thread::sleep_for(100ms);
        done = true;
    });
    while (!started) std::this_thread::sleep_for(1ms);  // however late its thread runs
    CHECK(w.disarm());
    CHECK(done);
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define RLSCALE_WATCHDOG_TEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define RLSCALE_WATCHDOG_TEST_SANITIZED 1
#endif
#endif

#ifndef RLSCALE_WATCHDOG_TEST_SANITIZED  // a sanitizer's shadow memory does not fit under an address-space limit
TEST_CASE("request_deadline: a watchdog thread that cannot start leaves SIGPIPE as it was") {
    // In a child whose address space has no room for another thread's stack, the deadline's
    // constructor throws after it has blocked SIGPIPE; the block must be undone.
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        ::alarm(20);
        // The C library keeps the stacks of ended threads for reuse: 16 threads that wait take those
        // and more, so the deadline's thread needs a new mapping, which the limit refuses.
        std::atomic<bool> release{false};
        std::vector<std::thread> holders;
        for (int i = 0; i < 16; ++i) {
            holders.emplace_back([&release] {
                while (!release.load()) std::this_thread::sleep_for(1ms);
            });
        }
        std::size_t mapped = 0;
        if (FILE* f = std::fopen("/proc/self/statm", "r")) {
            unsigned long pages = 0;
            if (std::fscanf(f, "%lu", &pages) == 1) mapped = pages * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
            std::fclose(f);
        }
        rlimit limit{};
        limit.rlim_cur = limit.rlim_max = mapped + (std::size_t{1} << 20);
        if (::setrlimit(RLIMIT_AS, &limit) != 0) ::_exit(3);
        try {
            rlscale::request_deadline deadline(1000ms);
            ::_exit(4);  // the thread started: the limit did not bite
        } catch (const std::system_error&) {
        } catch (...) {
            ::_exit(5);
        }
        sigset_t now;
        sigemptyset(&now);
        if (pthread_sigmask(SIG_BLOCK, nullptr, &now) != 0) ::_exit(6);
        ::_exit(sigismember(&now, SIGPIPE) == 1 ? 7 : 0);
    }
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);  // 7: SIGPIPE left blocked
}
#endif

TEST_CASE("request_deadline: the duplicate it keeps of a socket is close-on-exec like the socket") {
    // A child process another thread starts while a request is in flight must
    // not inherit the connection through the deadline's copy of it.
    const auto open_descriptors = [] {
        std::vector<int> fds;
        for (int fd = 0; fd < 1024; ++fd)
            if (::fcntl(fd, F_GETFD) >= 0) fds.push_back(fd);
        return fds;
    };
    const int sock = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);  // as the HTTP client opens its sockets
    REQUIRE(sock >= 0);
    rlscale::request_deadline deadline(10s);
    const std::vector<int> before = open_descriptors();
    deadline.socket_hook()(sock);
    std::vector<int> added;
    for (const int fd : open_descriptors())
        if (std::find(before.begin(), before.end(), fd) == before.end()) added.push_back(fd);
    REQUIRE(added.size() == 1);
    CHECK((::fcntl(added.front(), F_GETFD) & FD_CLOEXEC) != 0);
    CHECK_FALSE(deadline.finish());
    CHECK(::fcntl(added.front(), F_GETFD) < 0);  // released by finish()
    ::close(sock);
}
