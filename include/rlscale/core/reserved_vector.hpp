#pragma once

#include <vector>

namespace rlscale::detail {

/// A std::vector whose copies keep the source's reserved capacity.
/// std::vector's copy constructor and copy assignment allocate only for the
/// elements, so a copy of a policy whose history was reserved at
/// construction would allocate again on its hot path; this one does not.
template <typename T>
class reserved_vector : public std::vector<T> {
public:
    reserved_vector() = default;
    reserved_vector(const reserved_vector& other) : std::vector<T>() { copy_from(other); }
    reserved_vector(reserved_vector&&) noexcept = default;
    reserved_vector& operator=(const reserved_vector& other) {
        if (this != &other) copy_from(other);
        return *this;
    }
    reserved_vector& operator=(reserved_vector&&) noexcept = default;
    ~reserved_vector() = default;

private:
    void copy_from(const reserved_vector& other) {
        this->clear();
        this->reserve(other.capacity());
        this->insert(this->end(), other.begin(), other.end());
    }
};

}  // namespace rlscale::detail
