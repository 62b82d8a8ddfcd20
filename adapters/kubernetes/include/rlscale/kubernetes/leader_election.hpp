#pragma once

// Leader election over a coordination.k8s.io/v1 Lease, with the semantics of
// client-go's tools/leaderelection: a candidate takes the Lease when nobody
// holds it or when the record it last saw has not changed for the record's
// leaseDurationSeconds (measured on the candidate's own monotonic clock, so
// clocks need not agree between machines), by an update conditional on the
// resourceVersion it read (409 Conflict: someone else won); the holder
// renews every retry period and stops acting as soon as it has not renewed
// for the renew deadline, which is shorter than the lease duration, so the
// old holder has stopped before anyone else may take over.

#include <rlscale/core/error.hpp>
#include <rlscale/kubernetes/client.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <ctime>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>

namespace rlscale::kubernetes {

/// Where the Lease lives, who this candidate is, and the timings
/// (client-go's usual defaults: 15 s, 10 s, 2 s).
struct leader_election_config {
    std::string namespace_name;  ///< the Lease's namespace
    std::string lease_name;      ///< the Lease's name
    std::string identity;        ///< this candidate, unique among them (a pod's name)
    std::chrono::seconds lease_duration{15};         ///< how long others wait on an unchanged record
    std::chrono::milliseconds renew_deadline{10000};  ///< the holder stops acting this long after its last renewal
    std::chrono::milliseconds retry_period{2000};    ///< between attempts to take or renew

    /// Throws config_error naming the field and the value: names the API
    /// accepts, a non-empty identity of at most 253 bytes of UTF-8 without
    /// control characters, lease_duration at most 2^31-1 s (leaseDurationSeconds is
    /// an int32), and lease_duration > renew_deadline > 1.2 x retry_period > 0
    /// (the ordering that keeps two holders from acting at once).
    void validate() const {
        validate_label_name("namespace", namespace_name);
        validate_object_name("lease_name", lease_name);
        if (identity.empty() || identity.size() > 253) {
            throw config_error("identity", "must be 1 to 253 bytes, got " + std::to_string(identity.size()));
        }
        for (std::size_t i = 0; i < identity.size(); ++i) {
            const auto b = static_cast<unsigned char>(identity[i]);
            if (b < 0x20 || b == 0x7f) {
                // The byte and where it is, as the excerpt shows a tab or a
                // line break as a space.
                constexpr const char* hex = "0123456789ABCDEF";
                throw config_error("identity", std::string("contains a control character, \\x") + hex[b >> 4] + hex[b & 0xF] +
                                                   " at offset " + std::to_string(i) + ", got '" + detail::printable_excerpt(identity, 80) +
                                                   "'");
            }
        }
        // It is sent as the Lease's holderIdentity, in JSON, which is UTF-8:
        // another encoding would fail every write, leaving the candidate
        // never leader with nothing refused.
        if (!is_valid_utf8(identity)) {
            throw config_error("identity", "is not valid UTF-8, got '" + detail::printable_excerpt(identity, 80) + "'");
        }
        if (retry_period.count() <= 0) throw config_error("retry_period", "must be > 0, got " + std::to_string(retry_period.count()) + " ms");
        // The bounds first, so no product below can overflow: lease_duration
        // in [1, 2^31-1] s, renew_deadline below it, retry_period below that.
        if (lease_duration.count() < 1 || lease_duration.count() > INT32_MAX) {
            throw config_error("lease_duration", "must be 1 s to 2^31-1 s, got " + std::to_string(lease_duration.count()) + " s");
        }
        if (std::chrono::milliseconds(lease_duration) <= renew_deadline) {
            throw config_error("lease_duration", "must be longer than renew_deadline (" + std::to_string(renew_deadline.count()) +
                                                     " ms), got " + std::to_string(lease_duration.count()) + " s");
        }
        if (renew_deadline <= retry_period || renew_deadline.count() * 10 <= retry_period.count() * 12) {
            throw config_error("renew_deadline", "must be more than 1.2 x retry_period (" + std::to_string(retry_period.count()) +
                                                     " ms), got " + std::to_string(renew_deadline.count()) + " ms");
        }
    }
};

/// A wall-clock time as the API's MicroTime: "2026-12-04T09:10:00.123456Z".
[[nodiscard]] inline std::string micro_time(std::chrono::system_clock::time_point t) {
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
    std::int64_t secs = us / 1000000;
    std::int64_t frac = us % 1000000;
    if (frac < 0) {
        frac += 1000000;
        --secs;
    }
    const auto tt = static_cast<std::time_t>(secs);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char buf[96];  // room for any int year GCC's format check can imagine
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                  tm.tm_min, tm.tm_sec, static_cast<long long>(frac));
    return buf;
}

namespace detail {

/// The configuration of the client an election sends its Lease requests
/// through, made from the caller's `c` (server, credentials, answer size
/// kept): one attempt per call, so a 429 or a failure ends the attempt and
/// the next retry period tries again (client-go's renew loop), and each
/// timeout at most renew_deadline / 3, so any one request, cut once it has
/// taken their sum, ends within renew_deadline.
[[nodiscard]] inline client_config election_client_config(client_config c, std::chrono::milliseconds renew_deadline) {
    const auto bound = std::max(std::chrono::milliseconds(1), renew_deadline / 3);
    c.connect_timeout = std::min(c.connect_timeout, bound);
    c.read_timeout = std::min(c.read_timeout, bound);
    c.write_timeout = std::min(c.write_timeout, bound);
    c.max_attempts = 1;
    return c;
}

}  // namespace detail

/// One candidate's side of the election, driven by its caller (one thread
/// at a time): try_acquire_or_renew() every retry period, leading() before
/// acting. The clocks are parameters, so tests step them.
///
/// The Lease requests go through a client of the elector's own, made from
/// `api`'s configuration when it is constructed (detail::
/// election_client_config): one attempt per request, each ended within
/// renew_deadline, so an attempt (at most three requests) or a release
/// never hangs for minutes on the caller's retries and timeouts. That
/// client has no write gate: `api` may be the client the caller gates on
/// the election's own leadership (client::gate_writes), which would
/// otherwise refuse the very writes that take the Lease.
class leader_elector {
public:
    using clock = std::chrono::steady_clock;

    /// `read_clock` tells the time when a read of the Lease has returned
    /// (clock::now by default): another holder's record counts as seen
    /// then, not when the request was sent, so a slow or throttled read
    /// never shortens the wait. Tests that step the time pass a clock
    /// returning clock::time_point::min(), which leaves the attempt's `now`.
    leader_elector(const client& api, leader_election_config config, std::function<clock::time_point()> read_clock = clock::now)
        : config_((config.validate(), std::move(config))),
          api_(detail::election_client_config(api.config(), config_.renew_deadline)),
          read_clock_(std::move(read_clock)) {}

    [[nodiscard]] const leader_election_config& config() const noexcept { return config_; }

    /// One attempt to take the Lease, or to renew it when this candidate
    /// holds it: read it (create it when there is none), and write this
    /// candidate as holder with renewTime `wall`, unless another holder's
    /// record changed less than its leaseDurationSeconds ago by `now`. The
    /// holder first tries one write over the record it last wrote,
    /// conditional on its resourceVersion, and reads only when that fails.
    /// Returns whether this candidate holds the Lease after the attempt.
    /// Never throws for the API's answers: a failure (refused, timed out,
    /// 409 because someone else wrote first) counts as no renewal and is
    /// kept in last_error().
    bool try_acquire_or_renew(clock::time_point now, std::chrono::system_clock::time_point wall) {
        try {
            const bool held = attempt(now, wall);
            last_error_.clear();
            if (held) last_renew_ = now;
            return held;
        } catch (const std::exception& e) {
            last_error_ = e.what();
            return false;
        }
    }

    /// Whether this candidate may act at `now`: it holds the Lease and last
    /// renewed it less than renew_deadline ago.
    [[nodiscard]] bool leading(clock::time_point now) const noexcept {
        return holds() && last_renew_ && now - *last_renew_ < config_.renew_deadline;
    }

    /// Hands the Lease back when this candidate holds it, so a successor
    /// need not wait out the lease duration: the holder cleared,
    /// leaseDurationSeconds 1, transitions kept (as client-go's
    /// ReleaseOnCancel). Returns whether the Lease was released; never
    /// throws. After it, leading() is false.
    bool release(std::chrono::system_clock::time_point wall) noexcept {
        if (!holds()) return false;
        try {
            lease spec;
            spec.duration_s = 1;
            spec.acquire_time = micro_time(wall);
            spec.renew_time = spec.acquire_time;
            spec.transitions = observed_->transitions;
            const lease written = api_.update_lease(config_.namespace_name, config_.lease_name, *observed_, spec);
            observed_ = written;
            last_renew_.reset();
            return true;
        } catch (const std::exception& e) {
            last_error_ = e.what();
            last_renew_.reset();
            return false;
        }
    }

    /// The holder of the record last seen ("" when none or free).
    [[nodiscard]] std::string holder() const { return observed_ ? observed_->holder : std::string(); }
    /// The record's leaseTransitions as last seen.
    [[nodiscard]] std::int32_t transitions() const noexcept { return observed_ ? observed_->transitions : 0; }
    /// Whether the last attempt read the Lease and found another holder.
    [[nodiscard]] bool another_holds() const noexcept { return observed_ && !observed_->holder.empty() && !holds() && last_error_.empty(); }
    /// The last attempt's failure ("" after a success).
    [[nodiscard]] const std::string& last_error() const noexcept { return last_error_; }

private:
    [[nodiscard]] bool holds() const noexcept { return observed_ && observed_->holder == config_.identity; }

    bool attempt(clock::time_point now, std::chrono::system_clock::time_point wall) {
        lease mine;
        mine.holder = config_.identity;
        mine.duration_s = static_cast<std::int32_t>(config_.lease_duration.count());
        mine.renew_time = micro_time(wall);
        mine.acquire_time = mine.renew_time;

        // The holder renews with one write (client-go's fast path): over
        // the record it last wrote, conditional on that record's
        // resourceVersion, so a Lease anyone changed since is a 409. Any
        // failure (that 409, the Lease deleted, a timeout) falls back to
        // reading the Lease and deciding again. One request per renewal,
        // not two, keeps a slow API server from costing the Lease.
        if (holds() && !observed_->resource_version.empty()) {
            lease renewal = mine;
            keep_tenure(renewal, *observed_);
            try {
                const lease written = api_.update_lease(config_.namespace_name, config_.lease_name, *observed_, renewal);
                observe(written, now);
                return holds();
            } catch (const std::exception&) {
                // read below
            }
        }

        const std::optional<lease> current = api_.get_lease(config_.namespace_name, config_.lease_name);
        if (!current) {
            const lease created = api_.create_lease(config_.namespace_name, config_.lease_name, mine);
            observe(created, now);
            return holds();
        }
        if (!observed_ || !observed_->same_record(*current)) {
            observe(*current, std::max(now, read_clock_ ? read_clock_() : now));
        } else {
            observed_->resource_version = current->resource_version;  // the same record, rewritten
            observed_->object = current->object;
        }
        const bool was_holder = current->holder == config_.identity;
        if (!current->holder.empty() && !was_holder) {
            // Another holder: wait until its record has not changed for its own duration.
            const std::chrono::seconds duration(current->duration_s > 0 ? current->duration_s : config_.lease_duration.count());
            if (now < *observed_at_ + duration) return false;
        }
        if (was_holder) {
            keep_tenure(mine, *current);
        } else {
            mine.transitions = current->transitions == INT32_MAX ? INT32_MAX : current->transitions + 1;
        }
        const lease written = api_.update_lease(config_.namespace_name, config_.lease_name, *current, mine);
        observe(written, now);
        return holds();
    }

    /// A renewal by the holder keeps its tenure: the acquireTime of the
    /// record it renews (its renewTime when the record has none) and the
    /// transition count; only a change of holder moves them.
    static void keep_tenure(lease& renewal, const lease& renewed) {
        renewal.acquire_time = renewed.acquire_time.empty() ? renewal.renew_time : renewed.acquire_time;
        renewal.transitions = renewed.transitions;
    }

    void observe(const lease& l, clock::time_point now) {
        observed_ = l;
        observed_at_ = now;
    }

    leader_election_config config_;
    client api_;  ///< ungated, one attempt per request, each within renew_deadline
    std::function<clock::time_point()> read_clock_;
    std::optional<lease> observed_;             ///< the record last seen
    std::optional<clock::time_point> observed_at_;  ///< when it was first seen as it is
    std::optional<clock::time_point> last_renew_;   ///< the last successful take or renewal
    std::string last_error_;
};

/// A leader_elector on a thread of its own, as a controller runs it: it
/// tries every retry period, and is_leader() is true while this candidate
/// holds the Lease and renewed it less than the renew deadline ago, judged
/// by the clock, not by the thread (so an attempt that hangs on the network
/// does not extend it). `on_stopped_leading` is called once, from a thread
/// of the election's, when this candidate led and then went the renew
/// deadline without renewing, or read the Lease held by another; it must
/// not stop or destroy the election (that thread would join itself). The
/// caller stops acting (client-go's users
/// exit there and let a restart compete again). A candidate that lost does
/// not compete again in the same run. stop() (or the destructor) ends the
/// threads and releases the Lease when held; it waits for the attempt under
/// way (at most three requests) and the release (one), each request ended
/// within renew_deadline (see leader_elector).
class leader_election {
public:
    using clock = leader_elector::clock;

    leader_election(const client& api, leader_election_config config, std::function<void()> on_stopped_leading)
        : elector_(api, std::move(config)), on_stopped_leading_(std::move(on_stopped_leading)) {
        attempts_ = std::thread([this] { attempt_loop(); });
        try {
            watch_ = std::thread([this] { watch_loop(); });
        } catch (...) {
            {
                std::lock_guard lock(mu_);
                stopping_ = true;
            }
            wake_.notify_all();
            attempts_.join();
            throw;
        }
    }
    leader_election(const leader_election&) = delete;
    leader_election& operator=(const leader_election&) = delete;
    ~leader_election() { (void)stop(); }

    [[nodiscard]] const leader_election_config& config() const noexcept { return elector_.config(); }

    [[nodiscard]] bool is_leader() const {
        std::lock_guard lock(mu_);
        return leading_locked(clock::now());
    }

    /// Ends the threads; the Lease is released if held. Returns whether it was.
    bool stop() {
        {
            std::lock_guard lock(mu_);
            if (stopping_) return released_;
            stopping_ = true;
        }
        wake_.notify_all();
        if (attempts_.joinable()) attempts_.join();
        if (watch_.joinable()) watch_.join();
        const bool released = elector_.release(std::chrono::system_clock::now());
        std::lock_guard lock(mu_);
        released_ = released;
        return released_;
    }

    /// The last attempt's failure, for a log line ("" after a success).
    [[nodiscard]] std::string last_error() const {
        std::lock_guard lock(mu_);
        return last_error_;
    }

private:
    [[nodiscard]] bool leading_locked(clock::time_point now) const noexcept {
        return led_ && !lost_ && !stopping_ && now < renewed_at_ + elector_.config().renew_deadline;
    }

    void attempt_loop() {
        for (;;) {
            // The renewal counts from before the request: the deadline can only come earlier.
            const auto started = clock::now();
            const bool held = elector_.try_acquire_or_renew(started, std::chrono::system_clock::now());
            std::unique_lock lock(mu_);
            last_error_ = elector_.last_error();
            if (lost_ || stopping_) return;
            if (held) {
                // A first take answered after its own deadline does not
                // lead yet (it would lose at once): the next renewal leads.
                if (led_ || clock::now() < started + elector_.config().renew_deadline) {
                    led_ = true;
                    renewed_at_ = started;
                }
            } else if (led_ && (elector_.another_holds() || !leading_locked(clock::now()))) {
                // Another holder (the Lease deleted and re-created, or taken
                // after a suspend): stop at once, not at the renew deadline.
                lose(lock);
                return;
            }
            wake_.notify_all();
            // Attempts at a fixed rate, one retry period from the start of
            // the last (at once when it took longer): a renewal of d then
            // ends max(d, retry_period) + d after the start of the one
            // before, so the holder keeps leading for d < renew_deadline / 2.
            if (wake_.wait_until(lock, started + elector_.config().retry_period, [this] { return stopping_ || lost_; })) return;
        }
    }

    void watch_loop() {
        std::unique_lock lock(mu_);
        while (!stopping_ && !lost_) {
            if (!led_) {
                wake_.wait(lock);
                continue;
            }
            const auto deadline = renewed_at_ + elector_.config().renew_deadline;
            if (clock::now() >= deadline) {
                lose(lock);
                return;
            }
            wake_.wait_until(lock, deadline);
        }
    }

    /// Marks the loss (once) and calls on_stopped_leading outside the lock.
    void lose(std::unique_lock<std::mutex>& lock) {
        if (lost_) return;
        lost_ = true;
        lock.unlock();
        wake_.notify_all();
        if (on_stopped_leading_) on_stopped_leading_();
        lock.lock();
    }

    leader_elector elector_;
    std::function<void()> on_stopped_leading_;
    mutable std::mutex mu_;
    std::condition_variable wake_;
    bool stopping_ = false;
    bool led_ = false;   ///< this candidate has held the Lease in this run
    bool lost_ = false;  ///< and then went the renew deadline without renewing
    bool released_ = false;
    clock::time_point renewed_at_{};
    std::string last_error_;
    std::thread attempts_;
    std::thread watch_;
};

}  // namespace rlscale::kubernetes
