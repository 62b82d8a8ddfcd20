#pragma once

// Readers for the Azure Functions Trace 2019 (Shahrad et al., "Serverless in
// the Wild", USENIX ATC 2020): per-minute invocation counts, which become
// workloads, and per-function execution-time statistics. The format and the
// excerpt shipped in data/azure2019-excerpt/ are described in
// docs/simulator-workloads.md.

#include <rlscale/core/error.hpp>
#include <rlscale/core/validate.hpp>
#include <rlscale/sim/workload.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <numeric>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace rlscale::sim {

/// One function's row of an invocations file.
struct azure_function_trace {
    std::string hash_function;       ///< HashFunction: the function's anonymised id (64 hex digits)
    std::string hash_app;            ///< HashApp: the application it belongs to
    std::string trigger;             ///< Trigger: http, timer, queue, event, storage, orchestration or others
    std::vector<double> per_minute;  ///< invocations in each minute of the trace, in column order
    std::string hash_owner;          ///< HashOwner: the subscription that owns the app

    /// Invocations over the whole trace.
    [[nodiscard]] double total() const { return std::accumulate(per_minute.begin(), per_minute.end(), 0.0); }
};

/// Execution-time statistics of one function (durations file), in milliseconds.
struct azure_duration {
    std::string hash_function;              ///< HashFunction, joins with the invocations file
    double average_ms = 0;                  ///< Average: mean execution time
    double minimum_ms = 0;                  ///< Minimum
    double maximum_ms = 0;                  ///< Maximum
    std::array<double, 7> percentiles_ms{};  ///< percentile_Average_{0,1,25,50,75,99,100}
    std::string hash_app;                   ///< HashApp
    double count = 0;                       ///< Count: executions the statistics summarise

    /// The percentile levels of percentiles_ms, in percent.
    static constexpr std::array<double, 7> percentile_levels{0, 1, 25, 50, 75, 99, 100};
};

namespace detail {

/// Reads a CSV file line by line: fields split on ',', no quoting (the Azure
/// files have none), a trailing '\r' and a leading UTF-8 byte-order mark
/// dropped, blank lines skipped. Keeps the 1-based number of the current line
/// for error messages. A directory, a failed read and a non-blank last line
/// without a line end (a file cut off, perhaps inside a number) are refused.
class azure_csv_reader {
public:
    explicit azure_csv_reader(std::filesystem::path path) : path_(std::move(path)) {
        // A directory opens as a stream on Linux and fails only when read,
        // with the standard library's exception rather than one naming the file.
        // A named pipe would block the open until a writer came.
        std::error_code ec;
        const auto type = std::filesystem::status(path_, ec).type();
        if (type == std::filesystem::file_type::directory) throw data_file_error(path_, 0, 0, "is a directory, not a file");
        if (!ec && type != std::filesystem::file_type::regular) throw data_file_error(path_, 0, 0, "is not a regular file");
        std::ifstream in(path_, std::ios::binary);
        if (!in) throw data_file_error(path_, 0, 0, "cannot open file");
        try {
            text_.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
        } catch (const std::exception& e) {
            throw data_file_error(path_, 0, 0, std::string("read error: ") + e.what());
        }
        if (in.bad()) throw data_file_error(path_, 0, 0, "read error");
        if (std::string_view(text_).starts_with("\xEF\xBB\xBF")) pos_ = 3;
    }

    /// The next non-blank line's fields; false at the end of the file.
    bool next(std::vector<std::string_view>& fields) {
        while (pos_ < text_.size()) {
            const std::size_t end = std::min(text_.find('\n', pos_), text_.size());
            std::string_view line(text_.data() + pos_, end - pos_);
            pos_ = end + 1;
            ++line_;
            if (line.ends_with('\r')) line.remove_suffix(1);
            if (line.find_first_not_of(" \t") == std::string_view::npos) continue;
            // Every line ends in '\n' in a whole file: a last line without one
            // may have lost digits ("60" read as "6"), which no column check sees.
            if (end == text_.size()) {
                throw error(0, "the last line has no line end: the file may be truncated");
            }
            fields.clear();
            std::size_t start = 0;
            for (;;) {
                const std::size_t comma = line.find(',', start);
                fields.push_back(line.substr(start, comma == std::string_view::npos ? comma : comma - start));
                if (comma == std::string_view::npos) break;
                start = comma + 1;
            }
            return true;
        }
        return false;
    }

    /// An error at the current line, in column (1-based; 0 for the whole line).
    [[nodiscard]] data_file_error error(std::size_t column, const std::string& message) const {
        return data_file_error(path_, line_, column, message);
    }

    [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }
    [[nodiscard]] std::size_t line() const noexcept { return line_; }

private:
    std::filesystem::path path_;
    std::string text_;
    std::size_t pos_ = 0;
    std::size_t line_ = 0;
};

/// Parses a whole field as a finite number >= 0, or throws naming the column.
/// "-0" reads as +0.
inline double parse_non_negative(const azure_csv_reader& reader, std::string_view field, std::size_t column,
                                 std::string_view name) {
    double value = 0;
    const auto [end, ec] = std::from_chars(field.data(), field.data() + field.size(), value);
    if (field.empty() || ec != std::errc{} || end != field.data() + field.size() || !std::isfinite(value)) {
        throw reader.error(column, std::string(name) + ": malformed number \"" + std::string(field) + "\"");
    }
    if (value < 0) {
        throw reader.error(column, std::string(name) + ": must be >= 0, got " + std::string(field));
    }
    return value + 0.0;  // -0 + 0 is +0
}

/// Parses a whole field as a count: a non-negative integer that a double
/// holds exactly (at most 2^53), so sums of counts stay finite and exact
/// enough (1e300 would make a function's total infinite). Written in decimal
/// digits, optionally followed by a point and zeros ("12", "12.0"); judged
/// on the text, not on a rounded double, so "2.00000000000000001" is not a
/// whole number and 9007199254740993 (2^53 + 1) is too large.
inline double parse_count(const azure_csv_reader& reader, std::string_view field, std::size_t column,
                          std::string_view name) {
    constexpr std::uint64_t max_count = 9007199254740992;  // 2^53
    const auto too_large = [&] {
        return reader.error(column, std::string(name) + ": a count must be at most 9007199254740992 (2^53), got " +
                                        std::string(field));
    };
    // Malformed text and negative values, named as for any number.
    const double value = parse_non_negative(reader, field, column, name);
    if (field.front() == '-') {  // "-0", "-0.0"
        throw reader.error(column, std::string(name) + ": must be >= 0, got " + std::string(field));
    }
    std::size_t digits = 0;
    while (digits < field.size() && field[digits] >= '0' && field[digits] <= '9') ++digits;
    bool whole = digits > 0;
    if (digits < field.size()) {
        whole = whole && field[digits] == '.' &&
                field.find_first_not_of('0', digits + 1) == std::string_view::npos;
    }
    if (!whole) {
        if (value > static_cast<double>(max_count)) throw too_large();  // e.g. 1e300
        throw reader.error(column, std::string(name) + ": a count must be a whole number written in digits, got " +
                                       std::string(field));
    }
    std::string_view integer = field.substr(0, digits);
    const std::size_t first = integer.find_first_not_of('0');
    integer = first == std::string_view::npos ? std::string_view("0") : integer.substr(first);
    std::uint64_t count = 0;
    const auto [end, ec] = std::from_chars(integer.data(), integer.data() + integer.size(), count);
    if (ec != std::errc{} || end != integer.data() + integer.size() || count > max_count) throw too_large();
    return static_cast<double>(count);
}

/// Throws unless the line has the header's number of columns.
inline void require_columns(const azure_csv_reader& reader, const std::vector<std::string_view>& fields,
                            std::size_t expected) {
    if (fields.size() != expected) {
        throw reader.error(0, "expected " + std::to_string(expected) + " columns as in the header, got " +
                                  std::to_string(fields.size()));
    }
}

/// Throws unless the hash field is non-empty.
inline void require_hash(const azure_csv_reader& reader, std::string_view field, std::size_t column,
                         std::string_view name) {
    if (field.empty()) throw reader.error(column, std::string(name) + ": must not be empty");
}

/// Index of the item whose hash is `hash`, or failing an exact match the only
/// one it is a prefix of (at least 8 characters); throws config_error otherwise.
template <typename Items, typename GetHash>
std::size_t find_by_hash(const Items& items, std::string_view hash, GetHash get_hash, const std::string& where) {
    constexpr std::size_t min_prefix = 8;
    for (std::size_t i = 0; i < items.size(); ++i) {
        if (get_hash(items[i]) == hash) return i;
    }
    if (hash.size() < min_prefix) {
        throw config_error("hash_function", "no function \"" + std::string(hash) + "\" in " + where +
                                                " (a prefix needs at least 8 characters)");
    }
    std::size_t found = items.size();
    std::size_t matches = 0;
    for (std::size_t i = 0; i < items.size(); ++i) {
        if (std::string_view(get_hash(items[i])).starts_with(hash)) {
            found = i;
            ++matches;
        }
    }
    if (matches == 0) throw config_error("hash_function", "no function \"" + std::string(hash) + "\" in " + where);
    if (matches > 1) {
        throw config_error("hash_function", "prefix \"" + std::string(hash) + "\" matches " + std::to_string(matches) +
                                                " functions in " + where + "; give more characters");
    }
    return found;
}

}  // namespace detail

/// A parsed invocations file of the Azure Functions Trace 2019:
/// `HashOwner,HashApp,HashFunction,Trigger,<minute>,...`, one row per
/// function, each minute column an invocation count. Functions are kept in
/// rank order: most invocations in total first, ties by HashFunction.
class azure_trace {
public:
    /// Reads and checks the whole file; throws data_file_error naming file,
    /// line and column for a missing header, a wrong column count, a malformed,
    /// negative or fractional count, an empty hash or a repeated HashFunction.
    static azure_trace load(const std::filesystem::path& invocations_csv) {
        static constexpr std::array<std::string_view, 4> id_columns{"HashOwner", "HashApp", "HashFunction", "Trigger"};
        detail::azure_csv_reader reader(invocations_csv);
        std::vector<std::string_view> fields;
        if (!reader.next(fields)) {
            throw data_file_error(invocations_csv, 0, 0,
                                  "empty file: expected the header HashOwner,HashApp,HashFunction,Trigger,<minute>,...");
        }
        for (std::size_t c = 0; c < id_columns.size(); ++c) {
            if (c >= fields.size() || fields[c] != id_columns[c]) {
                throw reader.error(c + 1, "missing header: expected column \"" + std::string(id_columns[c]) +
                                              "\" (header HashOwner,HashApp,HashFunction,Trigger,<minute>,...), got \"" +
                                              std::string(c < fields.size() ? fields[c] : std::string_view{}) + "\"");
            }
        }
        if (fields.size() == id_columns.size()) throw reader.error(0, "header has no minute columns");
        azure_trace trace;
        trace.path_ = invocations_csv;
        const std::size_t columns = fields.size();
        const std::size_t minutes = columns - id_columns.size();
        for (std::size_t c = id_columns.size(); c < columns; ++c) {
            int minute = 0;
            const std::string_view f = fields[c];
            const auto [end, ec] = std::from_chars(f.data(), f.data() + f.size(), minute);
            // In 64 bits: the minute after 2147483647 is not a negative int.
            const long long expected = c == id_columns.size()
                                           ? minute
                                           : static_cast<long long>(trace.first_minute_) + static_cast<long long>(c - id_columns.size());
            if (f.empty() || ec != std::errc{} || end != f.data() + f.size() || minute < 0 || minute != expected) {
                throw reader.error(c + 1, "header: expected consecutive minute numbers, got \"" + std::string(f) + "\"");
            }
            if (c == id_columns.size()) trace.first_minute_ = minute;
        }
        trace.minutes_ = minutes;

        std::vector<azure_function_trace> rows;
        std::vector<std::size_t> line_of;  // for the duplicate check's message
        while (reader.next(fields)) {
            detail::require_columns(reader, fields, columns);
            for (std::size_t c = 0; c + 1 < id_columns.size(); ++c) detail::require_hash(reader, fields[c], c + 1, id_columns[c]);
            azure_function_trace row;
            row.hash_owner = fields[0];
            row.hash_app = fields[1];
            row.hash_function = fields[2];
            row.trigger = fields[3];
            row.per_minute.resize(minutes);
            for (std::size_t m = 0; m < minutes; ++m) {
                const std::size_t c = id_columns.size() + m;
                row.per_minute[m] = detail::parse_count(
                    reader, fields[c], c + 1, "minute " + std::to_string(static_cast<long long>(trace.first_minute_) + static_cast<long long>(m)));
            }
            rows.push_back(std::move(row));
            line_of.push_back(reader.line());
        }

        // Rank order; equal totals by hash, so the order never depends on the file's.
        std::vector<double> totals(rows.size());
        for (std::size_t i = 0; i < rows.size(); ++i) totals[i] = rows[i].total();
        std::vector<std::size_t> order(rows.size());
        std::iota(order.begin(), order.end(), std::size_t{0});
        std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
            if (totals[a] != totals[b]) return totals[a] > totals[b];
            return rows[a].hash_function < rows[b].hash_function;
        });
        // Repeated hashes would make by_hash ambiguous; find them in hash order.
        std::vector<std::size_t> by_hash(order);
        std::sort(by_hash.begin(), by_hash.end(), [&](std::size_t a, std::size_t b) {
            return rows[a].hash_function != rows[b].hash_function ? rows[a].hash_function < rows[b].hash_function
                                                                  : line_of[a] < line_of[b];
        });
        for (std::size_t i = 1; i < by_hash.size(); ++i) {
            const std::size_t a = by_hash[i - 1];
            const std::size_t b = by_hash[i];
            if (rows[a].hash_function == rows[b].hash_function) {
                throw data_file_error(invocations_csv, line_of[b], 3,
                                      "HashFunction \"" + rows[b].hash_function + "\" repeats line " +
                                          std::to_string(line_of[a]));
            }
        }
        trace.functions_.reserve(rows.size());
        for (const std::size_t i : order) trace.functions_.push_back(std::move(rows[i]));
        return trace;
    }

    /// Number of functions (rows).
    [[nodiscard]] std::size_t size() const noexcept { return functions_.size(); }

    /// The function with the rank-th most invocations (0 = the most); throws config_error if rank >= size().
    [[nodiscard]] const azure_function_trace& by_rank(std::size_t rank) const {
        if (rank >= functions_.size()) {
            check_fields("").fail("rank", "be < " + format_number(functions_.size()) + " (functions in " + path_.string() + ")",
                                  rank);
        }
        return functions_[rank];
    }

    /// The function with this HashFunction, or the only one it is a prefix of
    /// (>= 8 characters); throws config_error if unknown or ambiguous.
    [[nodiscard]] const azure_function_trace& by_hash(std::string_view hash_function) const {
        return functions_[detail::find_by_hash(
            functions_, hash_function, [](const azure_function_trace& f) -> const std::string& { return f.hash_function; },
            path_.string())];
    }

    /// Every function, in rank order.
    [[nodiscard]] const std::vector<azure_function_trace>& functions() const noexcept { return functions_; }

    /// Minute of the day of the first count column (480, i.e. 08:00, in the excerpt).
    [[nodiscard]] int first_minute() const noexcept { return first_minute_; }

    /// Number of minute columns.
    [[nodiscard]] std::size_t minutes() const noexcept { return minutes_; }

private:
    azure_trace() = default;

    std::vector<azure_function_trace> functions_;
    std::filesystem::path path_;
    int first_minute_ = 0;
    std::size_t minutes_ = 0;
};

/// The function's per-minute counts as a workload: rate = count / 60 req/s
/// within each 60-s bin, times scale (finite, >= 0); t = 0 is the trace's first minute.
inline workload to_workload(const azure_function_trace& function, double scale = 1.0) {
    check_fields("").at_least("scale", scale, 0);
    std::vector<double> rates(function.per_minute.size());
    for (std::size_t m = 0; m < rates.size(); ++m) rates[m] = function.per_minute[m] * scale / 60.0;
    return workload(std::move(rates), 60.0);
}

/// Reads a durations file (`HashOwner,HashApp,HashFunction,Average,Count,
/// Minimum,Maximum,percentile_Average_{0,1,25,50,75,99,100}`, in ms), in file
/// order. Throws data_file_error naming file, line and column for a wrong
/// header or column count, a malformed or negative number, Minimum > Maximum,
/// decreasing percentiles or a repeated HashFunction.
inline std::vector<azure_duration> load_azure_durations(const std::filesystem::path& durations_csv) {
    static constexpr std::array<std::string_view, 14> header{
        "HashOwner",           "HashApp",              "HashFunction",          "Average",
        "Count",               "Minimum",              "Maximum",               "percentile_Average_0",
        "percentile_Average_1", "percentile_Average_25", "percentile_Average_50", "percentile_Average_75",
        "percentile_Average_99", "percentile_Average_100"};
    detail::azure_csv_reader reader(durations_csv);
    std::vector<std::string_view> fields;
    if (!reader.next(fields)) {
        throw data_file_error(durations_csv, 0, 0, "empty file: expected the header HashOwner,HashApp,HashFunction,Average,...");
    }
    for (std::size_t c = 0; c < header.size(); ++c) {
        if (c >= fields.size() || fields[c] != header[c]) {
            throw reader.error(c + 1, "missing header: expected column \"" + std::string(header[c]) + "\", got \"" +
                                          std::string(c < fields.size() ? fields[c] : std::string_view{}) + "\"");
        }
    }
    detail::require_columns(reader, fields, header.size());

    std::vector<azure_duration> result;
    std::vector<std::size_t> line_of;
    while (reader.next(fields)) {
        detail::require_columns(reader, fields, header.size());
        for (std::size_t c = 0; c < 3; ++c) detail::require_hash(reader, fields[c], c + 1, header[c]);
        azure_duration d;
        d.hash_app = fields[1];
        d.hash_function = fields[2];
        d.average_ms = detail::parse_non_negative(reader, fields[3], 4, header[3]);
        d.count = detail::parse_count(reader, fields[4], 5, header[4]);
        d.minimum_ms = detail::parse_non_negative(reader, fields[5], 6, header[5]);
        d.maximum_ms = detail::parse_non_negative(reader, fields[6], 7, header[6]);
        if (d.minimum_ms > d.maximum_ms) {
            throw reader.error(7, "Maximum (" + std::string(fields[6]) + ") is below Minimum (" + std::string(fields[5]) + ")");
        }
        if (d.average_ms < d.minimum_ms || d.average_ms > d.maximum_ms) {
            throw reader.error(4, "Average (" + std::string(fields[3]) + ") is outside [Minimum, Maximum] = [" + std::string(fields[5]) +
                                      ", " + std::string(fields[6]) + "]");
        }
        for (std::size_t p = 0; p < d.percentiles_ms.size(); ++p) {
            const std::size_t c = 7 + p;
            d.percentiles_ms[p] = detail::parse_non_negative(reader, fields[c], c + 1, header[c]);
            if (p > 0 && d.percentiles_ms[p] < d.percentiles_ms[p - 1]) {
                throw reader.error(c + 1, std::string(header[c]) + " (" + std::string(fields[c]) +
                                              ") is below " + std::string(header[c - 1]) + " (" +
                                              std::string(fields[c - 1]) + ")");
            }
            // Percentiles of the averages lie within the extremes (so in every row of the 2019 trace).
            if (d.percentiles_ms[p] < d.minimum_ms || d.percentiles_ms[p] > d.maximum_ms) {
                throw reader.error(c + 1, std::string(header[c]) + " (" + std::string(fields[c]) + ") is outside [Minimum, Maximum] = [" +
                                              std::string(fields[5]) + ", " + std::string(fields[6]) + "]");
            }
        }
        result.push_back(std::move(d));
        line_of.push_back(reader.line());
    }
    // Repeated hashes would make duration_by_hash ambiguous; find them in hash order.
    std::vector<std::size_t> by_hash(result.size());
    std::iota(by_hash.begin(), by_hash.end(), std::size_t{0});
    std::sort(by_hash.begin(), by_hash.end(), [&](std::size_t a, std::size_t b) {
        return result[a].hash_function != result[b].hash_function ? result[a].hash_function < result[b].hash_function
                                                                  : a < b;
    });
    for (std::size_t i = 1; i < by_hash.size(); ++i) {
        const std::size_t a = by_hash[i - 1];
        const std::size_t b = by_hash[i];
        if (result[a].hash_function == result[b].hash_function) {
            throw data_file_error(durations_csv, line_of[b], 3,
                                  "HashFunction \"" + result[b].hash_function + "\" repeats line " +
                                      std::to_string(line_of[a]));
        }
    }
    return result;
}

/// The durations of the function with this HashFunction, or the only one it
/// is a prefix of (>= 8 characters); throws config_error if unknown or ambiguous.
inline const azure_duration& duration_by_hash(const std::vector<azure_duration>& durations,
                                              std::string_view hash_function) {
    return durations[detail::find_by_hash(
        durations, hash_function, [](const azure_duration& d) -> const std::string& { return d.hash_function; },
        "the durations (" + std::to_string(durations.size()) + " functions)")];
}

}  // namespace rlscale::sim
