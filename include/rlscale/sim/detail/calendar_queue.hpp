#pragma once

#include <rlscale/sim/detail/indexed_heap.hpp>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

namespace rlscale::sim::detail {

/// A priority queue of ids [0, capacity) keyed by time (double), each id
/// present at most once, whose operations cost O(1) on average however many
/// ids it holds: a calendar queue (R. Brown, CACM 31(10), 1988) with its
/// width adapted as it runs. The cluster's event loop uses it where a binary
/// heap's O(log n) made the cost per simulated request grow with the number
/// of functions.
///
/// Order. top() is the least (key, id), compared as a pair: equal keys come
/// out lowest id first. The order is therefore a function of the keys and
/// ids present only, not of the order of operations nor of the bucket
/// width, so adapting the width never changes what a simulation computes.
///
/// Structure. Time is cut into buckets of `width`; bucket v holds the keys
/// in [v·width, (v+1)·width). The `buckets` physical buckets (a power of
/// two) form a window of consecutive virtual buckets [first, first +
/// buckets) starting at the least key's; a bucket is an intrusive doubly
/// linked list of ids, and a bitmap marks the nonempty ones, so finding the
/// next one skips 64 empty buckets per word. Keys beyond the window (and
/// keys too large for a bucket number) wait in a binary heap, `overflow`,
/// and move into the window as it advances over them. The top is found
/// lazily, when asked for after a change, by scanning the first nonempty
/// bucket.
///
/// Width. Every `adapt_period` top searches, the queue looks at what they
/// cost: more than 2 ids scanned per search on average (the top's bucket
/// holds the top and more than one other) halves the width; fewer than 1.2
/// with more than 4 bitmap words read per search, or more than an eighth of
/// the insertions landing in `overflow`, doubles it. (Halving from above 2
/// lands above 1, doubling from below 1.2 below 2.4: the two rules do not
/// undo each other.) A change re-files every id (O(capacity)), at most once
/// per period.
///
/// All storage is allocated at construction; no operation allocates.
class calendar_queue {
public:
    static constexpr std::uint32_t absent = heap_absent;

    explicit calendar_queue(std::uint32_t capacity, double width = 1.0 / 1024)
        : nodes_(capacity),
          overflow_(capacity),
          mask_(std::bit_ceil(std::max<std::uint32_t>(64, 2 * capacity)) - 1),
          head_(std::size_t{mask_} + 1, absent),
          occupied_((std::size_t{mask_} + 1) / 64, 0) {
        set_width(width);
    }

    [[nodiscard]] bool empty() const noexcept { return size_ == 0; }
    [[nodiscard]] std::uint32_t size() const noexcept { return size_; }
    [[nodiscard]] bool contains(std::uint32_t id) const noexcept { return nodes_[id].bucket != absent; }
    [[nodiscard]] double key(std::uint32_t id) const noexcept { return nodes_[id].key; }
    [[nodiscard]] double width() const noexcept { return width_; }

    /// The id with the least (key, id); absent when the queue is empty.
    [[nodiscard]] std::uint32_t top() noexcept {
        if (top_ == absent && !empty()) {
            find_top();
        }
        return top_;
    }
    /// The top's key; the queue must not be empty.
    [[nodiscard]] double top_key() noexcept { return nodes_[top()].key; }

    /// A guess at the next top once the top has gone: the second least id
    /// of the top's bucket, or the first id of the next nonempty bucket
    /// within 64 buckets; absent when there is none. Used only to prefetch.
    [[nodiscard]] std::uint32_t runner_up() noexcept {
        if (empty()) {
            return absent;
        }
        if (top_ == absent) {
            find_top();
        }
        return runner_up_;
    }

    /// Inserts `id` or changes its key.
    void set(std::uint32_t id, double key) noexcept {
        if (contains(id)) {
            unfile(id);
        } else {
            ++size_;
        }
        nodes_[id].key = key;
        if (wheel_size_ == 0 && overflow_.empty()) {
            first_ = bucket_of(key);  // alone in the queue: the window starts at it
        }
        file(id);
        ++inserts_;
        if (top_ == id) {
            top_ = absent;  // it may have moved behind another
        } else if (top_ != absent && before(id, top_)) {
            runner_up_ = top_;
            top_ = id;
        }
    }

    void erase(std::uint32_t id) noexcept {
        if (!contains(id)) {
            return;
        }
        unfile(id);
        --size_;
        if (top_ == id) {
            top_ = absent;
        } else if (runner_up_ == id) {
            runner_up_ = absent;
        }
    }

    void clear() noexcept {
        for (std::uint32_t id = 0; id < nodes_.size(); ++id) {
            nodes_[id].bucket = absent;
        }
        std::fill(head_.begin(), head_.end(), absent);
        std::fill(occupied_.begin(), occupied_.end(), 0);
        overflow_.clear();
        size_ = wheel_size_ = 0;
        top_ = runner_up_ = absent;
    }

private:
    static constexpr std::uint32_t in_overflow = absent - 1;
    static constexpr std::uint32_t adapt_period = 1024;
    /// Bucket numbers are kept within ±this, where doubles hold integers
    /// exactly; keys beyond (and infinite or NaN ones) go to overflow.
    static constexpr double largest_bucket = 0x1p52;

    struct node {
        double key = 0;
        std::uint32_t next = absent;
        std::uint32_t prev = absent;
        std::uint32_t bucket = absent;  // physical bucket, in_overflow, or absent when not queued
    };

    [[nodiscard]] bool before(std::uint32_t a, std::uint32_t b) const noexcept {
        const double ka = nodes_[a].key;
        const double kb = nodes_[b].key;
        return ka < kb || (ka == kb && a < b);
    }

    void set_width(double width) noexcept {
        width_ = width;
        inverse_width_ = 1 / width;
    }

    /// The virtual bucket of `key`, within ±largest_bucket (+largest_bucket
    /// for +infinity and NaN).
    [[nodiscard]] double bucket_of(double key) const noexcept {
        const double v = std::floor(key * inverse_width_);
        if (!(v < largest_bucket)) {
            return largest_bucket;
        }
        return std::max(v, -largest_bucket);
    }

    [[nodiscard]] std::uint32_t physical(double v) const noexcept {
        return static_cast<std::uint32_t>(static_cast<std::int64_t>(v)) & mask_;
    }

    /// Puts id (its key set, not filed) in its bucket or in overflow. A key
    /// before the window's first bucket goes into that bucket: the window
    /// starts at the top's bucket, and the simulation's clock, from which
    /// new keys count, can lag it. Bucket first_ thus holds every key below
    /// its end, and a search scans all of them.
    void file(std::uint32_t id) noexcept {
        const double v = std::max(bucket_of(nodes_[id].key), first_);
        if (v - first_ < static_cast<double>(mask_ + 1)) {
            link(id, physical(v));
        } else {
            nodes_[id].bucket = in_overflow;
            overflow_.set(id, {nodes_[id].key, id});
            ++overflow_inserts_;
        }
    }

    void link(std::uint32_t id, std::uint32_t b) noexcept {
        node& n = nodes_[id];
        n.bucket = b;
        n.prev = absent;
        n.next = head_[b];
        if (n.next != absent) {
            nodes_[n.next].prev = id;
        }
        head_[b] = id;
        occupied_[b / 64] |= std::uint64_t{1} << (b % 64);
        ++wheel_size_;
    }

    void unfile(std::uint32_t id) noexcept {
        node& n = nodes_[id];
        if (n.bucket == in_overflow) {
            overflow_.erase(id);
        } else {
            if (n.prev != absent) {
                nodes_[n.prev].next = n.next;
            } else {
                head_[n.bucket] = n.next;
                if (n.next == absent) {
                    occupied_[n.bucket / 64] &= ~(std::uint64_t{1} << (n.bucket % 64));
                }
            }
            if (n.next != absent) {
                nodes_[n.next].prev = n.prev;
            }
            --wheel_size_;
        }
        n.bucket = absent;
    }

    /// Moves the window's start to virtual bucket v (at or after the
    /// current start, and no later than the least key's bucket), bringing
    /// in the overflow keys it now covers.
    void advance(double v) noexcept {
        first_ = v;
        const double end = first_ + static_cast<double>(mask_ + 1);
        while (!overflow_.empty() && bucket_of(overflow_.top_key().first) < end) {
            const std::uint32_t id = overflow_.top();
            overflow_.erase(id);
            link(id, physical(std::max(bucket_of(nodes_[id].key), first_)));
        }
    }

    /// The first nonempty physical bucket at or after b (circularly), and
    /// how many bitmap words were read; the wheel must not be empty.
    [[nodiscard]] std::pair<std::uint32_t, std::uint32_t> next_occupied(std::uint32_t b) const noexcept {
        const auto words = static_cast<std::uint32_t>(occupied_.size());
        std::uint32_t w = b / 64;
        std::uint64_t bits = occupied_[w] & (~std::uint64_t{0} << (b % 64));
        std::uint32_t read = 1;
        while (bits == 0) {
            w = (w + 1) % words;
            bits = occupied_[w];
            ++read;
            if (w == b / 64) {
                bits &= ~(~std::uint64_t{0} << (b % 64));  // wrapped: only the buckets before b
            }
        }
        return {w * 64 + static_cast<std::uint32_t>(std::countr_zero(bits)), read};
    }

    void find_top() noexcept {
        if (wheel_size_ == 0) {
            advance(bucket_of(overflow_.top_key().first));
        }
        const std::uint32_t start = physical(first_);
        const auto [b, words] = next_occupied(start);
        // Every queued key is in [first_, first_ + buckets), one virtual
        // bucket per physical one, so the first nonempty bucket from the
        // window's start holds the least key.
        advance(first_ + static_cast<double>((b - start) & mask_));
        std::uint32_t best = head_[b];
        std::uint32_t second = absent;
        std::uint32_t scanned = 1;
        for (std::uint32_t id = nodes_[best].next; id != absent; id = nodes_[id].next) {
            ++scanned;
            if (before(id, best)) {
                second = best;
                best = id;
            } else if (second == absent || before(id, second)) {
                second = id;
            }
        }
        if (second == absent) {
            // The next bucket's first id, if one is near.
            const std::uint32_t after = (b + 1) & mask_;
            const std::uint64_t bits = occupied_[after / 64] & (~std::uint64_t{0} << (after % 64));
            if (bits != 0) {
                second = head_[(after / 64) * 64 + static_cast<std::uint32_t>(std::countr_zero(bits))];
            }
        }
        top_ = best;
        runner_up_ = second;
        if (adapt(scanned, words)) {
            find_top();  // re-filed under a new width; the next adaptation is a period away
        }
    }

    /// Halves or doubles the width when the searches of the last period
    /// cost too much (see the class comment); whether it did.
    bool adapt(std::uint32_t scanned, std::uint32_t words) noexcept {
        scanned_ += scanned;
        words_ += words;
        if (++searches_ < adapt_period) {
            return false;
        }
        const double per_search = static_cast<double>(scanned_) / searches_;
        const double words_per_search = static_cast<double>(words_) / searches_;
        const bool overflowing = 8 * overflow_inserts_ > inserts_;
        double width = width_;
        if (per_search > 2) {
            width = width_ / 2;
        } else if (per_search < 1.2 && (words_per_search > 4 || overflowing)) {
            width = width_ * 2;
        }
        searches_ = scanned_ = words_ = 0;
        inserts_ = overflow_inserts_ = 0;
        if (width == width_ || !std::isnormal(width) || !std::isnormal(1 / width)) {
            return false;
        }
        set_width(width);
        refile_all();
        return true;
    }

    /// Files every queued id again (after the width changed), with the
    /// window starting at the least key's bucket.
    void refile_all() noexcept {
        double least = largest_bucket;
        for (std::uint32_t id = 0; id < nodes_.size(); ++id) {
            if (contains(id)) {
                least = std::min(least, bucket_of(nodes_[id].key));
            }
        }
        refile(least);
    }

    /// Files every queued id again with the window starting at v.
    void refile(double v) noexcept {
        std::fill(head_.begin(), head_.end(), absent);
        std::fill(occupied_.begin(), occupied_.end(), 0);
        overflow_.clear();
        wheel_size_ = 0;
        first_ = v;
        for (std::uint32_t id = 0; id < nodes_.size(); ++id) {
            if (contains(id)) {
                file(id);
            }
        }
        top_ = runner_up_ = absent;
    }

    std::vector<node> nodes_;                                  // per id
    indexed_heap<std::pair<double, std::uint32_t>> overflow_;  // ids beyond the window, by (key, id)
    std::uint32_t mask_;                                       // physical buckets − 1
    std::vector<std::uint32_t> head_;                          // per physical bucket: its first id
    std::vector<std::uint64_t> occupied_;                      // a bit per physical bucket: nonempty
    double first_ = 0;                                         // the window's first virtual bucket
    double width_ = 1;
    double inverse_width_ = 1;
    std::uint32_t size_ = 0;
    std::uint32_t wheel_size_ = 0;  // ids in buckets (the others are in overflow)
    std::uint32_t top_ = absent;    // the least (key, id), or absent when not yet found
    std::uint32_t runner_up_ = absent;
    // What the searches of the current period cost (see adapt).
    std::uint32_t searches_ = 0;
    std::uint64_t scanned_ = 0;
    std::uint64_t words_ = 0;
    std::uint64_t inserts_ = 0;
    std::uint64_t overflow_inserts_ = 0;
};

}  // namespace rlscale::sim::detail
