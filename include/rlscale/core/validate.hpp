#pragma once

/// One way to validate configuration structs: each check names the field by
/// its path and says what it must be and what it got, in one style,
///
///     dqn_config.gamma: must be in [0, 1], got 1.5
///
/// and throws config_error carrying that path. Use it as a chain from the
/// struct's name:
///
///     void validate() const {
///         check_fields("dqn_config").in("gamma", gamma, 0, 1).at_least("batch_size", batch_size, 1);
///     }
///
/// A bound set by another field names it (`at_least_field`: "must be >=
/// min_replicas (2), got 1"); anything else takes `require` with its own
/// wording. A list's elements are checked under "name[3]".

#include <rlscale/core/error.hpp>

#include <charconv>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>

namespace rlscale {

/// A number as a reader expects it: integers as integers, other values in
/// their shortest form that reads back exactly (1.5, 0.001, 1e+300, nan, inf).
template <typename T>
    requires std::integral<T> || std::floating_point<T>
[[nodiscard]] std::string format_number(T v) {
    if constexpr (std::floating_point<T>) {
        if (std::isnan(v)) return "nan";
        if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
    }
    char buf[64];
    const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    if (ec != std::errc{}) return "?";
    return std::string(buf, end);
}

/// The checks of one configuration struct (or one element of a list,
/// "prefix[3]"). Every check throws config_error("<prefix>.<field>",
/// "must ..., got <value>") when it fails and returns *this otherwise.
class check_fields {
public:
    explicit check_fields(std::string prefix) : prefix_(std::move(prefix)) {}

    /// The full path of `field` under this prefix.
    [[nodiscard]] std::string path(std::string_view field) const {
        return prefix_.empty() ? std::string(field) : prefix_ + "." + std::string(field);
    }

    /// Fails with "must <what>, got <value>" for `field`. A number is shown
    /// by format_number, text as given (quote a user's string yourself).
    template <typename T>
    [[noreturn]] void fail(std::string_view field, std::string_view what, T value) const {
        throw config_error(path(field), "must " + std::string(what) + ", got " + value_text(value));
    }

    /// lo ≤ v ≤ hi (and finite).
    template <typename T>
    const check_fields& in(std::string_view field, T v, std::type_identity_t<T> lo, std::type_identity_t<T> hi) const {
        if (!(v >= lo && v <= hi)) fail(field, "be in [" + format_number(lo) + ", " + format_number(hi) + "]", v);
        return *this;
    }
    /// lo < v ≤ hi (and finite).
    template <typename T>
    const check_fields& in_open_closed(std::string_view field, T v, std::type_identity_t<T> lo, std::type_identity_t<T> hi) const {
        if (!(v > lo && v <= hi)) fail(field, "be in (" + format_number(lo) + ", " + format_number(hi) + "]", v);
        return *this;
    }
    /// lo ≤ v < hi (and finite).
    template <typename T>
    const check_fields& in_closed_open(std::string_view field, T v, std::type_identity_t<T> lo, std::type_identity_t<T> hi) const {
        if (!(v >= lo && v < hi)) fail(field, "be in [" + format_number(lo) + ", " + format_number(hi) + ")", v);
        return *this;
    }
    /// v ≥ lo; a floating v must also be finite.
    template <typename T>
    const check_fields& at_least(std::string_view field, T v, std::type_identity_t<T> lo) const {
        if constexpr (std::floating_point<T>) {
            if (!(std::isfinite(v) && v >= lo)) fail(field, "be finite and >= " + format_number(lo), v);
        } else {
            if (!(v >= lo)) fail(field, "be >= " + format_number(lo), v);
        }
        return *this;
    }
    /// v > lo; a floating v must also be finite.
    template <typename T>
    const check_fields& greater(std::string_view field, T v, std::type_identity_t<T> lo) const {
        if constexpr (std::floating_point<T>) {
            if (!(std::isfinite(v) && v > lo)) fail(field, "be finite and > " + format_number(lo), v);
        } else {
            if (!(v > lo)) fail(field, "be > " + format_number(lo), v);
        }
        return *this;
    }
    /// v ≥ the value of another field (max_replicas ≥ min_replicas), shown as
    /// "must be >= min_replicas (2), got 1"; a floating v must also be finite.
    template <typename T>
    const check_fields& at_least_field(std::string_view field, T v, std::string_view other, std::type_identity_t<T> lo) const {
        const std::string bound = std::string(other) + " (" + format_number(lo) + ")";
        if constexpr (std::floating_point<T>) {
            if (!(std::isfinite(v) && v >= lo)) fail(field, "be finite and >= " + bound, v);
        } else {
            if (!(v >= lo)) fail(field, "be >= " + bound, v);
        }
        return *this;
    }
    /// v > the value of another field (max_value > min_value), shown as
    /// "must be > min_value (2), got 1"; a floating v must also be finite.
    template <typename T>
    const check_fields& greater_field(std::string_view field, T v, std::string_view other, std::type_identity_t<T> lo) const {
        const std::string bound = std::string(other) + " (" + format_number(lo) + ")";
        if constexpr (std::floating_point<T>) {
            if (!(std::isfinite(v) && v > lo)) fail(field, "be finite and > " + bound, v);
        } else {
            if (!(v > lo)) fail(field, "be > " + bound, v);
        }
        return *this;
    }
    /// v ≤ hi; a floating v must also be finite.
    template <typename T>
    const check_fields& at_most(std::string_view field, T v, std::type_identity_t<T> hi) const {
        if constexpr (std::floating_point<T>) {
            if (!(std::isfinite(v) && v <= hi)) fail(field, "be finite and <= " + format_number(hi), v);
        } else {
            if (!(v <= hi)) fail(field, "be <= " + format_number(hi), v);
        }
        return *this;
    }
    /// v is finite.
    template <std::floating_point T>
    const check_fields& finite(std::string_view field, T v) const {
        if (!std::isfinite(v)) fail(field, "be finite", v);
        return *this;
    }
    /// A size between lo and hi (a list's length).
    const check_fields& count(std::string_view field, std::size_t n, std::size_t lo, std::size_t hi) const {
        if (n < lo || n > hi) fail(field, "hold " + format_number(lo) + " to " + format_number(hi) + " values", n);
        return *this;
    }
    /// A list of `n` elements holds at least one ("must hold at least 1 value, got 0").
    const check_fields& non_empty(std::string_view field, std::size_t n) const {
        if (n == 0) fail(field, "hold at least 1 value", n);
        return *this;
    }
    /// A pointer (raw or smart) is set ("must not be null, got null").
    template <typename P>
    const check_fields& not_null(std::string_view field, const P& p) const {
        if (p == nullptr) fail(field, "not be null", "null");
        return *this;
    }
    /// A condition the caller computed, with its own wording; `value` is a
    /// number or text.
    template <typename T>
    const check_fields& require(bool ok, std::string_view field, std::string_view what, T value) const {
        if (!ok) fail(field, what, value);
        return *this;
    }

private:
    template <typename T>
    [[nodiscard]] static std::string value_text(T v) {
        if constexpr (std::convertible_to<T, std::string_view>) {
            return std::string(std::string_view(v));
        } else {
            return format_number(v);
        }
    }

    std::string prefix_;
};

/// Runs a nested settings struct's `validate` and re-throws its
/// config_error under the outer struct's path: a bad learning rate in
/// dqn_config::adam reads "dqn_config.adam.lr", not "adam_config.lr" (the
/// nested struct's own name is replaced by `outer`.`member`).
template <typename F>
void validate_nested(std::string_view outer, std::string_view member, F&& validate) {
    try {
        validate();
    } catch (const config_error& e) {
        const std::string& field = e.field();
        const auto dot = field.find('.');
        const std::string leaf = dot == std::string::npos ? field : field.substr(dot + 1);
        throw config_error(std::string(outer) + "." + std::string(member) + "." + leaf, e.detail());
    }
}

}  // namespace rlscale
