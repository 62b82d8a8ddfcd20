#pragma once

#include <cstdint>
#include <limits>
#include <vector>

namespace rlscale::sim::detail {

/// The position of an id that is not in the heap.
inline constexpr std::uint32_t heap_absent = std::numeric_limits<std::uint32_t>::max();

/// One element of an indexed heap. Keys sit beside their ids in the heap
/// array, so sifting compares neighbouring memory instead of chasing ids.
template <typename Key>
struct heap_entry {
    Key key;
    std::uint32_t id;
};

/// A binary min-heap over the ids [0, capacity), each present at most once,
/// with O(log n) insert, update and erase by id, working in storage its
/// caller owns: `entries[0, size)` is the heap, `position[id]` is where id
/// sits in it (heap_absent when it is not there), and both arrays hold
/// `capacity` elements. The cluster keeps many small heaps (one per function)
/// in two shared arrays this way; indexed_heap below owns its storage. No
/// operation allocates. Ties between equal keys are resolved by the heap's
/// shape, so the order of operations fixes which id comes out first.
template <typename Key>
class indexed_heap_ref {
public:
    static constexpr std::uint32_t absent = heap_absent;

    indexed_heap_ref(heap_entry<Key>* entries, std::uint32_t* position, std::uint32_t& size) noexcept
        : entries_(entries), position_(position), size_(size) {}

    [[nodiscard]] bool empty() const noexcept { return size_ == 0; }
    [[nodiscard]] std::uint32_t size() const noexcept { return size_; }
    [[nodiscard]] bool contains(std::uint32_t id) const noexcept { return position_[id] != absent; }
    [[nodiscard]] std::uint32_t top() const noexcept { return entries_[0].id; }
    [[nodiscard]] const Key& top_key() const noexcept { return entries_[0].key; }
    [[nodiscard]] const Key& key(std::uint32_t id) const noexcept { return entries_[position_[id]].key; }

    /// Inserts `id` or changes its key.
    void set(std::uint32_t id, const Key& key) noexcept {
        if (position_[id] == absent) {
            entries_[size_] = {key, id};
            ++size_;
            sift_up(size_ - 1);
            return;
        }
        const std::uint32_t pos = position_[id];
        const bool decreased = key < entries_[pos].key;
        entries_[pos].key = key;
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
        const heap_entry<Key> last = entries_[size_ - 1];
        --size_;
        if (pos < size_) {
            entries_[pos] = last;
            position_[last.id] = pos;
            // The moved entry goes up or down, never both: what it passes on
            // the way up has larger keys, and ends up below it.
            if (pos > 0 && last.key < entries_[(pos - 1) / 2].key) {
                sift_up(pos);
            } else {
                sift_down(pos);
            }
        }
    }

    void clear() noexcept {
        for (std::uint32_t i = 0; i < size_; ++i) {
            position_[entries_[i].id] = absent;
        }
        size_ = 0;
    }

private:
    void sift_up(std::uint32_t pos) noexcept {
        const heap_entry<Key> e = entries_[pos];
        while (pos > 0) {
            const std::uint32_t parent = (pos - 1) / 2;
            if (!(e.key < entries_[parent].key)) {
                break;
            }
            entries_[pos] = entries_[parent];
            position_[entries_[pos].id] = pos;
            pos = parent;
        }
        entries_[pos] = e;
        position_[e.id] = pos;
    }
    void sift_down(std::uint32_t pos) noexcept {
        const heap_entry<Key> e = entries_[pos];
        const std::uint32_t n = size_;
        while (true) {
            std::uint32_t child = 2 * pos + 1;
            if (child >= n) {
                break;
            }
            if (child + 1 < n && entries_[child + 1].key < entries_[child].key) {
                ++child;
            }
            if (!(entries_[child].key < e.key)) {
                break;
            }
            entries_[pos] = entries_[child];
            position_[entries_[pos].id] = pos;
            pos = child;
        }
        entries_[pos] = e;
        position_[e.id] = pos;
    }

    heap_entry<Key>* entries_;
    std::uint32_t* position_;
    std::uint32_t& size_;
};

/// An indexed_heap_ref that owns its storage, allocated at construction.
template <typename Key>
class indexed_heap {
public:
    static constexpr std::uint32_t absent = heap_absent;

    explicit indexed_heap(std::uint32_t capacity) : entries_(capacity), position_(capacity, absent) {}

    [[nodiscard]] bool empty() const noexcept { return size_ == 0; }
    [[nodiscard]] std::uint32_t size() const noexcept { return size_; }
    [[nodiscard]] bool contains(std::uint32_t id) const noexcept { return position_[id] != absent; }
    [[nodiscard]] std::uint32_t top() const noexcept { return entries_[0].id; }
    [[nodiscard]] const Key& top_key() const noexcept { return entries_[0].key; }
    [[nodiscard]] const Key& key(std::uint32_t id) const noexcept { return entries_[position_[id]].key; }

    /// Inserts `id` or changes its key.
    void set(std::uint32_t id, const Key& key) noexcept { view().set(id, key); }
    void erase(std::uint32_t id) noexcept { view().erase(id); }
    void clear() noexcept { view().clear(); }

private:
    indexed_heap_ref<Key> view() noexcept { return {entries_.data(), position_.data(), size_}; }

    std::vector<heap_entry<Key>> entries_;
    std::vector<std::uint32_t> position_;
    std::uint32_t size_ = 0;
};

}  // namespace rlscale::sim::detail
