#pragma once

#include <cstdint>
#include <limits>
#include <vector>

namespace rlscale::sim::detail {

/// A binary min-heap over the ids [0, capacity), each present at most once,
/// with O(log n) insert, update and erase by id. Storage is allocated at
/// construction; no operation allocates.
template <typename Key>
class indexed_heap {
public:
    static constexpr std::uint32_t absent = std::numeric_limits<std::uint32_t>::max();

    explicit indexed_heap(std::uint32_t capacity) : position_(capacity, absent) { heap_.reserve(capacity); }

    [[nodiscard]] bool empty() const noexcept { return heap_.empty(); }
    [[nodiscard]] std::uint32_t size() const noexcept { return static_cast<std::uint32_t>(heap_.size()); }
    [[nodiscard]] bool contains(std::uint32_t id) const noexcept { return position_[id] != absent; }
    [[nodiscard]] std::uint32_t top() const noexcept { return heap_.front().id; }
    [[nodiscard]] const Key& top_key() const noexcept { return heap_.front().key; }
    [[nodiscard]] const Key& key(std::uint32_t id) const noexcept { return heap_[position_[id]].key; }

    /// Inserts `id` or changes its key.
    void set(std::uint32_t id, const Key& key) noexcept {
        if (position_[id] == absent) {
            heap_.push_back({key, id});  // within the reserved capacity: no allocation
            sift_up(size() - 1);
            return;
        }
        const std::uint32_t pos = position_[id];
        const bool decreased = key < heap_[pos].key;
        heap_[pos].key = key;
        if (decreased) {
            sift_up(pos);
        } else {
            sift_down(pos);
        }
    }

    void erase(std::uint32_t id) noexcept {
        const std::uint32_t pos = position_[id];
        if (pos == absent) {
            return;
        }
        position_[id] = absent;
        const entry last = heap_.back();
        heap_.pop_back();
        if (pos < size()) {
            heap_[pos] = last;
            position_[last.id] = pos;
            sift_up(pos);
            sift_down(position_[last.id]);
        }
    }

    void clear() noexcept {
        for (const auto& e : heap_) {
            position_[e.id] = absent;
        }
        heap_.clear();
    }

private:
    // Keys sit beside their ids in the heap array, so sifting compares
    // neighbouring memory instead of chasing ids.
    struct entry {
        Key key;
        std::uint32_t id;
    };

    void sift_up(std::uint32_t pos) noexcept {
        const entry e = heap_[pos];
        while (pos > 0) {
            const std::uint32_t parent = (pos - 1) / 2;
            if (!(e.key < heap_[parent].key)) {
                break;
            }
            heap_[pos] = heap_[parent];
            position_[heap_[pos].id] = pos;
            pos = parent;
        }
        heap_[pos] = e;
        position_[e.id] = pos;
    }
    void sift_down(std::uint32_t pos) noexcept {
        const entry e = heap_[pos];
        const auto n = size();
        while (true) {
            std::uint32_t child = 2 * pos + 1;
            if (child >= n) {
                break;
            }
            if (child + 1 < n && heap_[child + 1].key < heap_[child].key) {
                ++child;
            }
            if (!(heap_[child].key < e.key)) {
                break;
            }
            heap_[pos] = heap_[child];
            position_[heap_[pos].id] = pos;
            pos = child;
        }
        heap_[pos] = e;
        position_[e.id] = pos;
    }

    std::vector<std::uint32_t> position_;
    std::vector<entry> heap_;
};

}  // namespace rlscale::sim::detail
