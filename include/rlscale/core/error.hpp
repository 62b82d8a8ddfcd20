#pragma once

#include <stdexcept>
#include <string>
#include <utility>

namespace rlscale {

/// Base of every exception rlscale throws: bad configuration, bad input files,
/// failed I/O. The serving path (`act()`) never throws; it degrades instead.
class error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// A configuration value outside its valid range. `field()` names it;
/// `what()` is "field: detail".
class config_error : public error {
public:
    config_error(std::string field, std::string message)
        : error(field + ": " + message), field_(std::move(field)), detail_(std::move(message)) {}
    [[nodiscard]] const std::string& field() const noexcept { return field_; }
    /// The message without the field, to throw again under another name
    /// (`config_error(outer + e.field(), e.detail())`).
    [[nodiscard]] const std::string& detail() const noexcept { return detail_; }

private:
    std::string field_;
    std::string detail_;
};

/// A checkpoint that cannot be loaded: unreadable, malformed, truncated, of an
/// unknown version, of another shape, or holding a non-finite number.
/// `field()` is the JSON path of the offending value (e.g.
/// `network.layers[1].weight[17]`), empty when the file itself is unreadable.
class checkpoint_error : public error {
public:
    checkpoint_error(std::string field, std::string message)
        : error(field.empty() ? "checkpoint: " + message : "checkpoint field " + field + ": " + message),
          field_(std::move(field)),
          message_(std::move(message)) {}
    [[nodiscard]] const std::string& field() const noexcept { return field_; }
    /// What is wrong with the field, without the field's name.
    [[nodiscard]] const std::string& message() const noexcept { return message_; }

private:
    std::string field_;
    std::string message_;
};

}  // namespace rlscale
