#pragma once

#include <rlscale/core/concepts.hpp>
#include <rlscale/core/error.hpp>
#include <rlscale/core/validate.hpp>
#include <rlscale/core/control.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <string>
#include <vector>

namespace rlscale {

/// Knative Pod Autoscaler settings, with Knative's defaults
/// (knative/serving pkg/autoscaler/config; ../shared/reference).
struct kpa_config {
    double container_concurrency = 100;  ///< requests one replica serves at once
    double target_utilization = 0.7;     ///< share of the concurrency to aim for
    double stable_window_s = 60;         ///< averaging window of the stable mode
    double panic_window_fraction = 0.1;  ///< panic window as a share of the stable window (6 s)
    double panic_threshold = 2.0;        ///< panic when panic-desired / ready ≥ this (200 %)
    double max_scale_up_rate = 1000;     ///< at most ⌈rate × ready⌉ replicas per decision
    double max_scale_down_rate = 2;      ///< at least ⌊ready / rate⌋ replicas per decision
    std::size_t max_samples = 4096;      ///< concurrency samples kept (sized at construction)
    /// A clock at most this far before the newest sample's is jitter: the
    /// sample is taken at the newest sample's time. Further back starts a
    /// new history (a new run whose clock starts again). 1 s, as the
    /// decision service's max_time_backwards.
    double max_clock_backwards_s = 1;

    void validate() const {
        check_fields("kpa_config")
            .greater("container_concurrency", container_concurrency, 0)
            .in_open_closed("target_utilization", target_utilization, 0, 1)
            .greater("stable_window_s", stable_window_s, 0)
            // Knative's bounds (autoscaling/register.go): the panic window at
            // most the stable window, and a threshold of at least 110 %, since
            // one at or below the target (panic never decreases the count)
            // could keep panic on for ever.
            .in("panic_window_fraction", panic_window_fraction, 0.01, 1)
            .in("panic_threshold", panic_threshold, 1.1, 10)
            // Knative's config.go refuses both at or below 1 (a "scale-down
            // rate" below 1 would scale up, and [max_down, max_up] could be empty).
            .greater("max_scale_up_rate", max_scale_up_rate, 1)
            .greater("max_scale_down_rate", max_scale_down_rate, 1)
            .at_least("max_samples", max_samples, 2)
            .at_most("max_samples", max_samples, std::size_t{1} << 24)
            .at_least("max_clock_backwards_s", max_clock_backwards_s, 0.0);
    }
};

/// The KPA baseline. Its metric is the concurrency (requests in the system)
/// per tick: the larger of the requests queued and in service at the tick's
/// end and, when requests completed, Little's law's throughput × mean
/// latency. Knative's queue-proxy counts the requests in flight, queued ones
/// included; Little's law alone sees only the requests that finished, so a
/// backlog growing behind a few completions would read as a small load (180
/// queued behind 10 rps × 0.5 s would read 5). function_metrics carries no
/// time-averaged in-flight count, hence the larger of the two. When requests
/// completed but the latency or throughput is missing (or negative) it holds.
/// Stable and panic averages are taken over the samples inside each window;
/// desired counts are ⌈average / target⌉ within [⌊ready/down⌋, ⌈up ×
/// ready⌉]. As in Knative's autoscaler.go: panic starts (and is extended)
/// while the unclamped ⌈panic average / target⌉ / ready ≥ the threshold; in
/// panic the count is the larger of the stable and panic counts and never
/// decreases; panic ends once a whole stable window has passed since it was
/// last over the threshold.
///
/// A clock more than max_clock_backwards_s (1 s) before the newest sample's
/// (a new run or episode whose clock starts again) starts a new history, as
/// reset() does: the samples, the panic state and the last panic count are
/// dropped, so a panic from the earlier history neither carries over nor,
/// judged against a later clock, lasts for ever. A clock less far back is
/// jitter, its sample taken at the newest sample's time, so the samples'
/// times never decrease. reset() starts a new history explicitly.
class kpa_policy {
public:
    explicit kpa_policy(kpa_config config = {}) : config_((config.validate(), config)) {
        times_.resize(config_.max_samples);
        values_.resize(config_.max_samples);
    }

    [[nodiscard]] bool ready() const noexcept { return true; }
    [[nodiscard]] bool in_panic() const noexcept { return panicking_; }

    decision decide(const function_metrics& m, const scaling_state& s) noexcept {
        double now = s.time_s;
        if (!std::isfinite(now)) {
            return hold(s, "kpa: clock is not finite");
        }
        if (count_ > 0 && now < newest_time()) {
            // average_since assumes times that never decrease, and a
            // panic_since_ in the future would keep panic on: a clock that
            // went back further than jitter starts a new history.
            if (newest_time() - now > config_.max_clock_backwards_s) {
                reset();
            } else {
                now = newest_time();
            }
        }
        // In double: the two 32-bit counts may not fit 32 bits together.
        double concurrency = static_cast<double>(m.queue_length) + static_cast<double>(m.in_service);
        if (m.completions > 0) {
            if (!(std::isfinite(m.latency_mean_s) && std::isfinite(m.throughput_rps))) {
                return hold(s, "kpa: requests completed but latency or throughput is missing");
            }
            // Each factor, not only the product: two negatives multiply to a load.
            if (m.latency_mean_s < 0 || m.throughput_rps < 0) {
                return hold(s, "kpa: invalid concurrency");
            }
            // The requests in the system now, or the average Little's law
            // gives over the tick, whichever is larger: a backlog counts even
            // while some requests complete.
            concurrency = std::max(concurrency, m.throughput_rps * m.latency_mean_s);
        }
        if (!(std::isfinite(concurrency) && concurrency >= 0)) {
            return hold(s, "kpa: invalid concurrency");
        }
        push(now, concurrency);
        const double stable = average_since(now - config_.stable_window_s);
        const double panic = average_since(now - config_.stable_window_s * config_.panic_window_fraction);
        const double target = std::max(0.01, config_.container_concurrency * config_.target_utilization);
        const double ready = std::max(1.0, static_cast<double>(m.ready_replicas));
        const double max_up = std::ceil(config_.max_scale_up_rate * ready);
        const double max_down = std::floor(ready / config_.max_scale_down_rate);
        const double dppc = std::ceil(panic / target);
        const double stable_desired = std::clamp(std::ceil(stable / target), max_down, max_up);
        const double panic_desired = std::clamp(dppc, max_down, max_up);

        if (dppc / ready >= config_.panic_threshold) {
            panicking_ = true;
            panic_since_ = now;
        } else if (panicking_ && now - panic_since_ > config_.stable_window_s) {
            panicking_ = false;
        }
        double desired = stable_desired;
        if (panicking_) {
            desired = std::max({panic_desired, stable_desired, last_panic_desired_});
            last_panic_desired_ = desired;
        } else {
            last_panic_desired_ = 0;
        }
        const int n = saturating_ceil(desired);
        return {.replicas = replica_bounds::of(s).clamp(n),
                .source = decision_source::policy,
                .reason = panicking_ ? "kpa: panic" : "kpa: stable"};
    }

    /// Starts a new history: drops the samples, the panic state and the
    /// last panic count (a new run whose clock starts again).
    void reset() noexcept {
        head_ = 0;
        count_ = 0;
        panicking_ = false;
        panic_since_ = 0;
        last_panic_desired_ = 0;
    }

private:
    [[nodiscard]] double newest_time() const noexcept { return times_[(head_ + times_.size() - 1) % times_.size()]; }

    void push(double t, double v) noexcept {
        times_[head_] = t;
        values_[head_] = v;
        head_ = (head_ + 1) % times_.size();
        count_ = std::min(count_ + 1, times_.size());
    }

    /// Mean of the samples taken after `since` (at least the newest one).
    [[nodiscard]] double average_since(double since) const noexcept {
        double sum = 0;
        std::size_t n = 0;
        for (std::size_t i = 0; i < count_; ++i) {
            const std::size_t k = (head_ + times_.size() - 1 - i) % times_.size();
            if (i > 0 && times_[k] <= since) {
                break;
            }
            sum += values_[k];
            ++n;
        }
        return n > 0 ? sum / static_cast<double>(n) : 0.0;
    }

    kpa_config config_;
    std::vector<double> times_;
    std::vector<double> values_;
    std::size_t head_ = 0;
    std::size_t count_ = 0;
    bool panicking_ = false;
    double panic_since_ = 0;
    double last_panic_desired_ = 0;
};
static_assert(policy<kpa_policy>);

}  // namespace rlscale
