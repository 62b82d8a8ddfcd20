#pragma once

// A small, dependency-free SVG line-plot writer for rlscale's example
// programs (not an installed library header). One SVG holds one or more
// panels stacked vertically over a shared x range, e.g. load, replicas and
// latency of one function over time.
//
//     using namespace rlscale::apps;
//     write_svg("run.svg", "fibonacci-python", {
//         panel{.title = "load (req/s)", .y_label = "req/s",
//               .lines = {series{.label = "arrivals", .x = t, .y = load}}},
//         panel{.title = "p95 latency (s)", .y_label = "s", .log_y = true,
//               .lines = {series{.label = "p95", .x = t, .y = p95},
//                         series{.label = "SLO", .x = {t.front(), t.back()},
//                                .y = {0.5, 0.5}, .dashed = true}}},
//     });
//
// Every point is drawn (nothing is downsampled); pixel coordinates are
// written with one decimal. Non-finite values (and non-positive ones on a log
// axis) break a line into separate polylines; a run of a single point is
// drawn as a dot.

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "output_file.hpp"

#include <rlscale/core/text.hpp>

namespace rlscale::apps {

/// One line of a panel.
struct series {
    std::string label{};      ///< legend text (empty: not in the legend)
    std::vector<double> x{};  ///< e.g. time in seconds
    std::vector<double> y{};  ///< same length as x; NaN (any non-finite value) breaks the line
    std::string color = "";   ///< CSS colour; empty: the palette colour for the series' index in its panel
    bool dashed = false;      ///< e.g. an SLO threshold line
};

/// One plot area with its own y axis; all panels share the x range. Every
/// field has a default, so designated initializers may leave any out.
struct panel {
    std::string title{};  ///< e.g. "fibonacci-python: load (req/s)"
    std::string y_label{};
    std::vector<series> lines{};
    bool log_y = false;  ///< log10 y axis; non-positive values become gaps
};

namespace svg_detail {

/// Okabe–Ito colours (distinguishable with the common colour-vision
/// deficiencies), yellow last because it is faint on white.
inline constexpr std::array<std::string_view, 8> palette{
    "#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000", "#F0E442"};

inline std::string_view palette_color(std::size_t index) { return palette[index % palette.size()]; }

/// Text made safe for XML character data and attribute values: the five
/// markup characters become entities, control characters that XML 1.0
/// forbids become '?', and bytes that are not UTF-8 become U+FFFD (the
/// file declares UTF-8: a label from a file name in Latin-1 made it one
/// that XML parsers and browsers refuse).
inline std::string xml_escape(std::string_view raw) {
    const std::string text = rlscale::valid_utf8(raw);
    std::string out;
    out.reserve(text.size());
    for (const char c : text) {
        switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&quot;"; break;
            case '\'': out += "&apos;"; break;
            default: {
                const auto u = static_cast<unsigned char>(c);
                out += (u < 0x20 && c != '\t' && c != '\n' && c != '\r') ? '?' : c;
            }
        }
    }
    return out;
}

/// Rough rendered width of `text` in pixels at `font_size` (code points ×
/// 0.64 em: as wide as digits and a little wider than most lowercase text
/// in common sans-serif fonts, so layouts err towards slack).
inline double text_width(std::string_view text, double font_size) {
    std::size_t code_points = 0;
    for (const char c : text) {
        if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++code_points;
    }
    return static_cast<double>(code_points) * 0.64 * font_size;
}

/// `v` with exactly `decimals` decimals, locale-independent, never "-0".
inline std::string format_fixed(double v, int decimals) {
    std::array<char, 64> buf{};
    auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), v, std::chars_format::fixed, decimals);
    if (ec != std::errc{}) {
        auto r = std::to_chars(buf.data(), buf.data() + buf.size(), v, std::chars_format::scientific, 6);
        end = r.ptr;
    }
    std::string s(buf.data(), end);
    if (s.size() > 1 && s.front() == '-' && s.find_first_not_of("-0.") == std::string::npos) s.erase(0, 1);
    return s;
}

/// `v` in scientific form with `digits` significant digits and a compact
/// exponent ("2e6", "1.5e-5").
inline std::string format_scientific(double v, int digits) {
    std::array<char, 64> buf{};
    const auto r = std::to_chars(buf.data(), buf.data() + buf.size(), v, std::chars_format::scientific,
                                 std::max(digits - 1, 0));
    std::string s(buf.data(), r.ptr);
    const auto e = s.find('e');
    if (e == std::string::npos) return s;
    std::string mantissa = s.substr(0, e);
    if (mantissa.find('.') != std::string::npos) {
        while (mantissa.back() == '0') mantissa.pop_back();
        if (mantissa.back() == '.') mantissa.pop_back();
    }
    std::string exponent = s.substr(e + 1);
    const bool negative = !exponent.empty() && exponent.front() == '-';
    if (!exponent.empty() && (exponent.front() == '+' || exponent.front() == '-')) exponent.erase(0, 1);
    while (exponent.size() > 1 && exponent.front() == '0') exponent.erase(0, 1);
    return mantissa + "e" + (negative ? "-" : "") + exponent;
}

/// Appends a pixel coordinate with at most one decimal ("12", "12.5").
inline void append_coord(std::string& out, double v) {
    double r = std::round(v * 10.0) / 10.0;
    if (r == 0.0) r = 0.0;  // no "-0"
    std::array<char, 64> buf{};
    const auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), r, std::chars_format::fixed, 1);
    std::string_view s(buf.data(), ec == std::errc{} ? static_cast<std::size_t>(end - buf.data()) : 0);
    if (s.size() >= 2 && s.substr(s.size() - 2) == ".0") s.remove_suffix(2);
    out += s;
}

inline std::string coord(double v) {
    std::string s;
    append_coord(s, v);
    return s;
}

/// A "nice" tick spacing m × 10^k with m ∈ {1, 2, 5}.
struct tick_step {
    int mantissa = 1;
    int exponent = 0;
    double value() const { return mantissa * std::pow(10.0, exponent); }
    /// i × step, computed so that decimal steps give the closest double
    /// (3 × 0.2 is 0.6, not 0.6000000000000001).
    double at(long long i) const {
        const double units = static_cast<double>(i) * mantissa;
        return exponent < 0 ? units / std::pow(10.0, -exponent) : units * std::pow(10.0, exponent);
    }
    /// Decimals needed to print multiples of the step exactly.
    int decimals() const { return std::max(0, -exponent); }
};

/// Index range [first, last] of the step's multiples inside [lo, hi]
/// (with a little tolerance for rounding at the ends).
inline std::pair<long long, long long> multiples_in(double lo, double hi, const tick_step& step) {
    const double s = step.value();
    const double eps = 1e-9;
    // Far more multiples than any axis shows (or beyond long long): none.
    if (!(std::abs(lo / s) < 1e15 && std::abs(hi / s) < 1e15)) return {1, 0};
    return {static_cast<long long>(std::ceil(lo / s - eps)), static_cast<long long>(std::floor(hi / s + eps))};
}

/// The 1/2/5 × 10^k step whose multiples inside [lo, hi] number closest to
/// `target` (ties: the larger step). Needs finite lo < hi.
inline tick_step nice_step(double lo, double hi, int target = 5) {
    target = std::max(target, 2);
    const double span = hi - lo;
    const int k0 = static_cast<int>(std::floor(std::log10(span)));
    tick_step best{1, k0};
    double best_score = std::numeric_limits<double>::infinity();
    for (int k = k0 - 2; k <= k0 + 1; ++k) {
        for (const int m : {1, 2, 5}) {
            const tick_step candidate{m, k};
            const auto [first, last] = multiples_in(lo, hi, candidate);
            const double count = static_cast<double>(last - first + 1);
            const double score = std::abs(count - target);
            // Candidates come in increasing step order, so "<=" prefers the larger step on ties.
            if (count >= 2 && score <= best_score) {
                best = candidate;
                best_score = score;
            }
        }
    }
    return best;
}

/// Tick positions: the nice step's multiples inside [lo, hi], about `target`
/// of them. Empty for a non-finite or empty range; {lo, hi} if the span
/// itself overflows.
inline std::vector<double> nice_ticks(double lo, double hi, int target = 5) {
    if (!std::isfinite(lo) || !std::isfinite(hi) || !(hi > lo)) return {};
    if (!std::isfinite(hi - lo)) return {lo, hi};
    const tick_step step = nice_step(lo, hi, target);
    const auto [first, last] = multiples_in(lo, hi, step);
    std::vector<double> ticks;
    for (long long i = first; i <= last && ticks.size() < 100; ++i) ticks.push_back(step.at(i));
    return ticks;
}

/// One axis: its value range and labelled ticks. For a log axis lo and hi
/// are log10 of the range ends; tick values are plain (not log) values.
struct axis {
    double lo = 0.0;
    double hi = 1.0;
    bool log = false;
    std::vector<double> ticks;
    std::vector<std::string> labels;

    /// Fraction of the way from lo to hi (0 when the range is empty).
    double fraction(double v) const {
        const double t = log ? std::log10(v) : v;
        const double span = hi - lo;
        return span > 0 && std::isfinite(span) ? (t - lo) / span : 0.0;
    }
};

/// Label for a multiple `v` of `step` on a linear axis whose ends reach
/// `magnitude`: fixed decimals, or for large or tiny magnitudes scientific
/// notation with enough digits to tell neighbouring ticks apart.
inline std::string linear_label(double v, const tick_step& step, double magnitude) {
    if (v == 0.0) return "0";
    if (magnitude < 1e6 && step.exponent >= -5) return format_fixed(v, step.decimals());
    const int digits = static_cast<int>(std::floor(std::log10(std::abs(v)))) - step.exponent + 1;
    return format_scientific(v, std::clamp(digits, 1, 17));
}

/// Widens a degenerate (empty) range around its value.
inline void widen_if_degenerate(double& lo, double& hi) {
    const double scale = std::max(std::abs(lo), std::abs(hi));
    if (hi - lo > scale * 1e-12 && hi > lo) return;
    const double d = scale == 0.0 ? 1.0 : scale * 0.1;
    lo -= d;
    hi += d;
}

/// A linear axis over data in [lo, hi] (lo > hi when there is no data),
/// padded by `pad` of the span on each side.
inline axis linear_axis(double lo, double hi, double pad, int target = 5) {
    axis a;
    if (!(lo <= hi) || !std::isfinite(lo) || !std::isfinite(hi)) {
        lo = 0.0;
        hi = 1.0;
    }
    widen_if_degenerate(lo, hi);
    const double span = hi - lo;
    if (std::isfinite(span * (1 + 2 * pad))) {
        lo -= span * pad;
        hi += span * pad;
    }
    a.lo = lo;
    a.hi = hi;
    a.ticks = nice_ticks(lo, hi, target);
    const tick_step step = std::isfinite(hi - lo) ? nice_step(lo, hi, target) : tick_step{1, 300};
    const double magnitude = std::max(std::abs(lo), std::abs(hi));
    for (const double t : a.ticks) a.labels.push_back(linear_label(t, step, magnitude));
    return a;
}

/// Label of m × 10^k on a log axis.
inline std::string log_label(int mantissa, int exponent) {
    if (exponent >= -3 && exponent <= 5) return format_fixed(mantissa * std::pow(10.0, exponent), std::max(0, -exponent));
    return std::to_string(mantissa) + "e" + std::to_string(exponent);
}

/// A log10 axis over positive data in [lo, hi] (lo > hi when there is no
/// positive data), padded by `pad` of the log span on each side. Ticks at
/// decades (every few decades for wide ranges); at 1, 2, 5 × 10^k when
/// fewer than three decades are visible; at nice linear steps when even
/// those are too few.
inline axis log_axis(double lo, double hi, double pad) {
    axis a;
    a.log = true;
    if (!(lo <= hi) || !(lo > 0) || !std::isfinite(hi)) {
        lo = 1.0;
        hi = 10.0;
    }
    double a_lo = std::log10(lo);
    double a_hi = std::log10(hi);
    if (a_hi - a_lo < 1e-9) {
        a_lo -= 0.5;
        a_hi += 0.5;
    }
    const double span = a_hi - a_lo;
    a_lo -= span * pad;
    a_hi += span * pad;
    a.lo = a_lo;
    a.hi = a_hi;

    const int d_first = static_cast<int>(std::ceil(a_lo - 1e-9));
    const int d_last = static_cast<int>(std::floor(a_hi + 1e-9));
    const int decades = d_last - d_first + 1;
    if (decades >= 3) {
        int stride = 1;
        for (const int s : {1, 2, 3, 5, 10, 20, 50, 100}) {
            stride = s;
            if (decades / s <= 7) break;
        }
        for (int d = d_first; d <= d_last; ++d) {
            if (d % stride != 0) continue;
            a.ticks.push_back(std::pow(10.0, d));
            a.labels.push_back(log_label(1, d));
        }
        return a;
    }
    for (int d = d_first - 1; d <= d_last; ++d) {
        for (const int m : {1, 2, 5}) {
            const double e = d + std::log10(static_cast<double>(m));
            if (e < a_lo - 1e-9 || e > a_hi + 1e-9) continue;
            a.ticks.push_back(m * std::pow(10.0, d));
            a.labels.push_back(log_label(m, d));
        }
    }
    if (a.ticks.size() >= 3) return a;
    // Less than a factor of ten shown: plain nice steps read best.
    a.ticks.clear();
    a.labels.clear();
    const double v_lo = std::pow(10.0, a_lo);
    const double v_hi = std::pow(10.0, a_hi);
    a.ticks = nice_ticks(v_lo, v_hi, 5);
    const tick_step step = nice_step(v_lo, v_hi, 5);
    for (const double t : a.ticks) a.labels.push_back(linear_label(t, step, v_hi));
    return a;
}

inline bool plottable(double x, double y, bool log_y) { return std::isfinite(x) && std::isfinite(y) && (!log_y || y > 0); }

/// Throws std::invalid_argument for a series whose x and y lengths differ.
inline void check_lengths(const std::vector<panel>& panels) {
    for (const panel& p : panels) {
        for (const series& s : p.lines) {
            if (s.x.size() != s.y.size()) {
                throw std::invalid_argument("svg_plot: series '" + s.label + "' in panel '" + p.title + "' has " +
                                            std::to_string(s.x.size()) + " x values but " +
                                            std::to_string(s.y.size()) + " y values");
            }
        }
    }
}

/// Greedy legend layout: which entries go on which row. The first row
/// shares its line with the panel title, so it has `first_row_width`;
/// later rows have `row_width`.
struct legend_entry {
    std::size_t series_index;
    double width;
};

inline std::vector<std::vector<legend_entry>> legend_rows(const panel& p, double first_row_width, double row_width,
                                                          double font_size) {
    std::vector<std::vector<legend_entry>> rows(1);
    double used = 0.0;
    for (std::size_t i = 0; i < p.lines.size(); ++i) {
        if (p.lines[i].label.empty()) continue;
        const double w = 22.0 + 5.0 + text_width(p.lines[i].label, font_size) + 14.0;
        const double available = rows.size() == 1 ? first_row_width : row_width;
        const bool beside_title = rows.size() == 1 && first_row_width < row_width;
        if (used + w > available && (used > 0 || beside_title)) {
            rows.emplace_back();
            used = 0.0;
        }
        rows.back().push_back({i, w});
        used += w;
    }
    return rows;
}

}  // namespace svg_detail

/// The SVG document for `panels` stacked vertically under `title`, as a
/// string. Sizes are in pixels: `width` is the whole image, `panel_height`
/// each panel's (panels grow if their legend needs several rows; very small
/// sizes are raised to a usable minimum). Throws std::invalid_argument naming
/// the series if a series' x and y lengths differ.
inline std::string render_svg(const std::string& title, const std::vector<panel>& panels,
                              const std::string& x_label = "time (s)", int width = 900, int panel_height = 220) {
    namespace d = svg_detail;
    d::check_lengths(panels);

    constexpr double title_font = 16.0;
    constexpr double panel_title_font = 13.0;
    constexpr double legend_font = 12.0;
    constexpr double tick_font = 11.0;
    constexpr double label_font = 12.0;
    constexpr double row_height = 16.0;
    constexpr double tick_length = 4.0;
    constexpr double x_tick_space = 22.0;  // below each plot area, for x tick labels
    constexpr double min_plot_height = 50.0;

    const double w = std::max(width, 300);
    const double ph = std::max(panel_height, 120);

    // Shared x range over every plottable point of every panel.
    double x_min = std::numeric_limits<double>::infinity();
    double x_max = -std::numeric_limits<double>::infinity();
    std::vector<d::axis> y_axes;
    y_axes.reserve(panels.size());
    for (const panel& p : panels) {
        double y_min = std::numeric_limits<double>::infinity();
        double y_max = -std::numeric_limits<double>::infinity();
        for (const series& s : p.lines) {
            for (std::size_t i = 0; i < s.x.size(); ++i) {
                if (!d::plottable(s.x[i], s.y[i], p.log_y)) continue;
                x_min = std::min(x_min, s.x[i]);
                x_max = std::max(x_max, s.x[i]);
                y_min = std::min(y_min, s.y[i]);
                y_max = std::max(y_max, s.y[i]);
            }
        }
        y_axes.push_back(p.log_y ? d::log_axis(y_min, y_max, 0.05) : d::linear_axis(y_min, y_max, 0.05));
    }
    const d::axis x_axis = d::linear_axis(x_min, x_max, 0.0, 6);

    // Margins: room for the rotated y label and the widest y tick label on
    // the left, and half the last x tick label on the right.
    bool any_y_label = false;
    double widest_tick = d::text_width("0", tick_font);
    for (std::size_t i = 0; i < panels.size(); ++i) {
        any_y_label = any_y_label || !panels[i].y_label.empty();
        for (const std::string& l : y_axes[i].labels) widest_tick = std::max(widest_tick, d::text_width(l, tick_font));
    }
    const double left = 8.0 + (any_y_label ? 20.0 : 0.0) + widest_tick + tick_length + 4.0;
    const double last_x_label = x_axis.labels.empty() ? 0.0 : d::text_width(x_axis.labels.back(), tick_font);
    const double right = std::max(16.0, last_x_label / 2 + 6.0);
    const double plot_w = std::max(w - left - right, 60.0);
    const double total_w = std::max(w, left + plot_w + right);

    // Vertical layout of each panel: a header (title plus legend rows), the
    // plot area, then the x tick labels.
    struct layout {
        double top;
        double plot_top;
        double plot_bottom;
        std::vector<std::vector<d::legend_entry>> legend;
    };
    std::vector<layout> layouts;
    layouts.reserve(panels.size());
    double y = title.empty() ? 8.0 : 34.0;
    for (const panel& p : panels) {
        const double title_w = p.title.empty() ? 0.0 : d::text_width(p.title, panel_title_font) * 1.1 + 24.0;
        layout l{};
        l.top = y;
        l.legend = d::legend_rows(p, plot_w - title_w, plot_w, legend_font);
        const bool header = !p.title.empty() || !l.legend.front().empty();
        const double header_h = header ? 8.0 + row_height * static_cast<double>(l.legend.size()) : 8.0;
        const double height = std::max(ph, header_h + min_plot_height + x_tick_space);
        l.plot_top = y + header_h;
        l.plot_bottom = y + height - x_tick_space;
        layouts.push_back(std::move(l));
        y += height;
    }
    const double total_h = y + (x_label.empty() ? 6.0 : 24.0);

    std::string out;
    std::size_t points = 0;
    for (const panel& p : panels) {
        for (const series& s : p.lines) points += s.x.size();
    }
    out.reserve(4096 + panels.size() * 4096 + points * 14);

    const std::string W = d::coord(total_w);
    const std::string H = d::coord(total_h);
    out += "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
    out += "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"" + W + "\" height=\"" + H +
           "\" viewBox=\"0 0 " + W + " " + H + "\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n";
    if (!title.empty()) out += "<title>" + d::xml_escape(title) + "</title>\n";
    out += "<rect x=\"0\" y=\"0\" width=\"" + W + "\" height=\"" + H + "\" fill=\"#ffffff\"/>\n";
    if (!title.empty()) {
        out += "<text x=\"" + d::coord(total_w / 2) + "\" y=\"23\" font-size=\"" + d::coord(title_font) +
               "\" font-weight=\"bold\" text-anchor=\"middle\">" + d::xml_escape(title) + "</text>\n";
    }

    const double plot_left = left;
    const double plot_right = left + plot_w;
    auto px = [&](double v) { return plot_left + x_axis.fraction(v) * plot_w; };

    for (std::size_t pi = 0; pi < panels.size(); ++pi) {
        const panel& p = panels[pi];
        const layout& l = layouts[pi];
        const d::axis& ya = y_axes[pi];
        const double plot_h = l.plot_bottom - l.plot_top;
        auto py = [&](double v) { return l.plot_bottom - ya.fraction(v) * plot_h; };

        out += "<g>\n";
        // Header: panel title on the left, legend right-aligned.
        if (!p.title.empty()) {
            out += "<text x=\"" + d::coord(plot_left) + "\" y=\"" + d::coord(l.top + 15.0) + "\" font-size=\"" +
                   d::coord(panel_title_font) + "\" font-weight=\"bold\">" + d::xml_escape(p.title) + "</text>\n";
        }
        for (std::size_t r = 0; r < l.legend.size(); ++r) {
            double row_w = 0.0;
            for (const auto& e : l.legend[r]) row_w += e.width;
            double x = std::max(plot_right - row_w + 14.0, plot_left);
            const double base = l.top + 15.0 + row_height * static_cast<double>(r);
            for (const auto& e : l.legend[r]) {
                const series& s = p.lines[e.series_index];
                const std::string color =
                    d::xml_escape(s.color.empty() ? d::palette_color(e.series_index) : std::string_view(s.color));
                out += "<line x1=\"" + d::coord(x) + "\" y1=\"" + d::coord(base - 4.0) + "\" x2=\"" + d::coord(x + 22.0) +
                       "\" y2=\"" + d::coord(base - 4.0) + "\" stroke=\"" + color + "\" stroke-width=\"2\"" +
                       (s.dashed ? " stroke-dasharray=\"5 3\"" : "") + "/>\n";
                out += "<text x=\"" + d::coord(x + 27.0) + "\" y=\"" + d::coord(base) + "\" font-size=\"" +
                       d::coord(legend_font) + "\">" + d::xml_escape(s.label) + "</text>\n";
                x += e.width;
            }
        }

        // Grid, frame, ticks and tick labels.
        out += "<g stroke=\"#e3e3e3\" stroke-width=\"1\">\n";
        for (const double t : ya.ticks) {
            const std::string yy = d::coord(py(t));
            out += "<line x1=\"" + d::coord(plot_left) + "\" y1=\"" + yy + "\" x2=\"" + d::coord(plot_right) +
                   "\" y2=\"" + yy + "\"/>\n";
        }
        for (const double t : x_axis.ticks) {
            const std::string xx = d::coord(px(t));
            out += "<line x1=\"" + xx + "\" y1=\"" + d::coord(l.plot_top) + "\" x2=\"" + xx + "\" y2=\"" +
                   d::coord(l.plot_bottom) + "\"/>\n";
        }
        out += "</g>\n";
        out += "<rect x=\"" + d::coord(plot_left) + "\" y=\"" + d::coord(l.plot_top) + "\" width=\"" +
               d::coord(plot_w) + "\" height=\"" + d::coord(plot_h) + "\" fill=\"none\" stroke=\"#888888\"/>\n";
        out += "<g stroke=\"#888888\" stroke-width=\"1\">\n";
        for (const double t : ya.ticks) {
            const std::string yy = d::coord(py(t));
            out += "<line x1=\"" + d::coord(plot_left - tick_length) + "\" y1=\"" + yy + "\" x2=\"" +
                   d::coord(plot_left) + "\" y2=\"" + yy + "\"/>\n";
        }
        for (const double t : x_axis.ticks) {
            const std::string xx = d::coord(px(t));
            out += "<line x1=\"" + xx + "\" y1=\"" + d::coord(l.plot_bottom) + "\" x2=\"" + xx + "\" y2=\"" +
                   d::coord(l.plot_bottom + tick_length) + "\"/>\n";
        }
        out += "</g>\n";
        out += "<g font-size=\"" + d::coord(tick_font) + "\" fill=\"#333333\">\n";
        for (std::size_t i = 0; i < ya.ticks.size(); ++i) {
            out += "<text x=\"" + d::coord(plot_left - tick_length - 3.0) + "\" y=\"" + d::coord(py(ya.ticks[i])) +
                   "\" dy=\"0.35em\" text-anchor=\"end\">" + d::xml_escape(ya.labels[i]) + "</text>\n";
        }
        for (std::size_t i = 0; i < x_axis.ticks.size(); ++i) {
            out += "<text x=\"" + d::coord(px(x_axis.ticks[i])) + "\" y=\"" + d::coord(l.plot_bottom + 15.0) +
                   "\" text-anchor=\"middle\">" + d::xml_escape(x_axis.labels[i]) + "</text>\n";
        }
        out += "</g>\n";
        if (!p.y_label.empty()) {
            const std::string cx = d::coord(14.0);
            const std::string cy = d::coord((l.plot_top + l.plot_bottom) / 2);
            out += "<text x=\"" + cx + "\" y=\"" + cy + "\" font-size=\"" + d::coord(label_font) +
                   "\" text-anchor=\"middle\" dy=\"0.35em\" transform=\"rotate(-90 " + cx + " " + cy + ")\">" +
                   d::xml_escape(p.y_label) + "</text>\n";
        }

        // The lines: one polyline per run of plottable points.
        for (std::size_t si = 0; si < p.lines.size(); ++si) {
            const series& s = p.lines[si];
            const std::string color = d::xml_escape(s.color.empty() ? d::palette_color(si) : std::string_view(s.color));
            const std::string style = "fill=\"none\" stroke=\"" + color + "\" stroke-width=\"1.5\"" +
                                      " stroke-linejoin=\"round\"" + (s.dashed ? " stroke-dasharray=\"6 4\"" : "");
            std::size_t i = 0;
            while (i < s.x.size()) {
                if (!d::plottable(s.x[i], s.y[i], p.log_y)) {
                    ++i;
                    continue;
                }
                std::size_t end = i;
                while (end < s.x.size() && d::plottable(s.x[end], s.y[end], p.log_y)) ++end;
                if (end - i == 1) {
                    out += "<circle cx=\"" + d::coord(px(s.x[i])) + "\" cy=\"" + d::coord(py(s.y[i])) +
                           "\" r=\"2\" fill=\"" + color + "\"/>\n";
                } else {
                    out += "<polyline " + style + " points=\"";
                    for (std::size_t k = i; k < end; ++k) {
                        if (k > i) out += ' ';
                        d::append_coord(out, px(s.x[k]));
                        out += ',';
                        d::append_coord(out, py(s.y[k]));
                    }
                    out += "\"/>\n";
                }
                i = end;
            }
        }
        out += "</g>\n";
    }

    if (!x_label.empty()) {
        out += "<text x=\"" + d::coord(plot_left + plot_w / 2) + "\" y=\"" + d::coord(y + 16.0) + "\" font-size=\"" +
               d::coord(label_font) + "\" text-anchor=\"middle\">" + d::xml_escape(x_label) + "</text>\n";
    }
    out += "</svg>\n";
    return out;
}

/// Renders with render_svg and writes the result to `path` atomically (a
/// temporary file in the same directory, then a rename; output_file.hpp).
/// Throws std::runtime_error naming the path and the reason if it cannot be
/// written (the parent directory is not created), std::invalid_argument
/// naming the series if a series' x and y lengths differ.
inline void write_svg(const std::filesystem::path& path, const std::string& title, const std::vector<panel>& panels,
                      const std::string& x_label = "time (s)", int width = 900, int panel_height = 220) {
    write_text_file(path, render_svg(title, panels, x_label, width, panel_height));
}

}  // namespace rlscale::apps
