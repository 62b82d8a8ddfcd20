#include "../../apps/common/svg_plot.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>
#include "../temp_path.hpp"

namespace test_apps_svg_plot {

using namespace rlscale::apps;
namespace d = rlscale::apps::svg_detail;

namespace {

using rlscale::test::fresh_path;

constexpr double gap = std::numeric_limits<double>::quiet_NaN();

std::size_t count(const std::string& text, const std::string& needle) {
    std::size_t n = 0;
    for (auto pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + needle.size())) ++n;
    return n;
}

/// The value of attribute `name` of the first element that starts at or after `from`.
std::string attribute(const std::string& svg, const std::string& name, std::size_t from = 0) {
    const std::string key = " " + name + "=\"";
    const auto start = svg.find(key, from);
    REQUIRE(start != std::string::npos);
    const auto end = svg.find('"', start + key.size());
    return svg.substr(start + key.size(), end - start - key.size());
}

/// Every polyline's points, in document order.
std::vector<std::vector<std::pair<double, double>>> polylines(const std::string& svg) {
    std::vector<std::vector<std::pair<double, double>>> lines;
    for (auto pos = svg.find("<polyline"); pos != std::string::npos; pos = svg.find("<polyline", pos + 1)) {
        std::string points = attribute(svg, "points", pos);
        for (char& c : points) {
            if (c == ',') c = ' ';
        }
        std::istringstream in(points);
        std::vector<std::pair<double, double>> line;
        double x = 0;
        double y = 0;
        while (in >> x >> y) line.emplace_back(x, y);
        lines.push_back(std::move(line));
    }
    return lines;
}

/// The image size from the root element.
std::pair<double, double> image_size(const std::string& svg) {
    const auto root = svg.find("<svg");
    return {std::stod(attribute(svg, "width", root)), std::stod(attribute(svg, "height", root))};
}

/// No NaN or infinity leaked into the document, and every polyline point
/// lies inside the image.
void check_sane(const std::string& svg) {
    CHECK(svg.find("nan") == std::string::npos);
    CHECK(svg.find("inf") == std::string::npos);
    const auto [w, h] = image_size(svg);
    for (const auto& line : polylines(svg)) {
        for (const auto& [x, y] : line) {
            CHECK(x >= 0);
            CHECK(x <= w);
            CHECK(y >= 0);
            CHECK(y <= h);
        }
    }
}

std::string read_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

/// xmllint's verdict on `path` (0: well-formed), or -1 if xmllint is not installed.
int xmllint(const std::filesystem::path& path) {
    if (std::system("xmllint --version > /dev/null 2>&1") != 0) return -1;
    const std::string command = "xmllint --noout '" + path.string() + "' > /dev/null 2>&1";
    return std::system(command.c_str());
}

bool is_nice_step(double step) {
    const double k = std::floor(std::log10(step) + 1e-9);
    const double m = step / std::pow(10.0, k);
    return std::abs(m - 1) < 1e-9 || std::abs(m - 2) < 1e-9 || std::abs(m - 5) < 1e-9;
}

panel simple_panel(std::vector<double> y, bool log_y = false) {
    std::vector<double> x(y.size());
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<double>(i);
    return panel{.title = "p", .y_label = "v", .lines = {series{.label = "s", .x = std::move(x), .y = std::move(y)}},
                 .log_y = log_y};
}

}  // namespace

TEST_CASE("svg_plot: nice ticks on typical ranges") {
    CHECK(d::nice_ticks(0, 100) == std::vector<double>{0, 20, 40, 60, 80, 100});
    CHECK(d::nice_ticks(0, 1) == std::vector<double>{0, 0.2, 0.4, 0.6, 0.8, 1});
    CHECK(d::nice_ticks(-1, 1) == std::vector<double>{-1, -0.5, 0, 0.5, 1});
    CHECK(d::nice_ticks(3, 997) == std::vector<double>{200, 400, 600, 800});
    CHECK(d::nice_ticks(0, 600) == std::vector<double>{0, 200, 400, 600});
    CHECK(d::nice_ticks(0, 3e6) == std::vector<double>{0, 1e6, 2e6, 3e6});
    CHECK(d::nice_ticks(0.013, 0.047) == std::vector<double>{0.02, 0.03, 0.04});
    CHECK(d::nice_ticks(1, 1).empty());
    CHECK(d::nice_ticks(2, 1).empty());
    CHECK(d::nice_ticks(0, gap).empty());
}

TEST_CASE("svg_plot: nice ticks are 1 2 5 steps and about five of them") {
    std::mt19937_64 gen(7);
    std::uniform_real_distribution<double> exponent(-6, 8);
    std::uniform_real_distribution<double> unit(-1, 1);
    for (int trial = 0; trial < 2000; ++trial) {
        const double scale = std::pow(10.0, exponent(gen));
        double lo = unit(gen) * scale;
        double hi = unit(gen) * scale;
        if (lo > hi) std::swap(lo, hi);
        if (hi - lo < scale * 1e-3) continue;
        CAPTURE(lo);
        CAPTURE(hi);
        const auto ticks = d::nice_ticks(lo, hi);
        REQUIRE(ticks.size() >= 3);
        CHECK(ticks.size() <= 8);
        const double step = ticks[1] - ticks[0];
        CHECK(is_nice_step(step));
        for (std::size_t i = 0; i < ticks.size(); ++i) {
            CHECK(ticks[i] >= lo - step * 1e-6);
            CHECK(ticks[i] <= hi + step * 1e-6);
            if (i > 0) CHECK(ticks[i] - ticks[i - 1] == doctest::Approx(step).epsilon(1e-6));
        }
        // Labels tell the ticks apart.
        auto labels = d::linear_axis(lo, hi, 0).labels;
        REQUIRE(labels.size() == ticks.size());
        std::sort(labels.begin(), labels.end());
        CHECK(std::adjacent_find(labels.begin(), labels.end()) == labels.end());
    }
}

TEST_CASE("svg_plot: tick labels are compact") {
    CHECK(d::linear_axis(0, 1, 0).labels == std::vector<std::string>{"0", "0.2", "0.4", "0.6", "0.8", "1.0"});
    CHECK(d::linear_axis(0, 3e6, 0).labels == std::vector<std::string>{"0", "1e6", "2e6", "3e6"});
    CHECK(d::linear_axis(-40, 40, 0).labels == std::vector<std::string>{"-40", "-20", "0", "20", "40"});
    CHECK(d::linear_axis(1e9, 1e9 + 8, 0).labels ==
          std::vector<std::string>{"1e9", "1.000000002e9", "1.000000004e9", "1.000000006e9", "1.000000008e9"});
    CHECK(d::linear_axis(1e-7, 5e-7, 0).labels == std::vector<std::string>{"1e-7", "2e-7", "3e-7", "4e-7", "5e-7"});
    CHECK(d::format_fixed(-0.0001, 2) == "0.00");
    CHECK(d::coord(12.0) == "12");
    CHECK(d::coord(12.34) == "12.3");
    CHECK(d::coord(-0.04) == "0");
}

TEST_CASE("svg_plot: text is XML-escaped") {
    CHECK(d::xml_escape("a<b & \"c\" > 'd'") == "a&lt;b &amp; &quot;c&quot; &gt; &apos;d&apos;");
    CHECK(d::xml_escape(std::string("bell\x07")) == "bell?");
    CHECK(d::xml_escape("λ ≤ 5") == "λ ≤ 5");
    // Bytes that are not UTF-8 (a file name in Latin-1) become U+FFFD: the
    // file declares UTF-8.
    CHECK(d::xml_escape("caf\xe9.json") == "caf\xEF\xBF\xBD.json");
    CHECK(d::xml_escape("\xff\xfe<") == "\xEF\xBF\xBD\xEF\xBF\xBD&lt;");

    panel p = simple_panel({1, 2, 3});
    p.title = "load <req/s> & \"more\"";
    p.y_label = "a>b";
    p.lines[0].label = "R&D";
    p.lines[0].color = "\"red\"";
    const std::string svg = render_svg("T <1> & 2", {p}, "x < y");
    CHECK(svg.find("T &lt;1&gt; &amp; 2") != std::string::npos);
    CHECK(svg.find("load &lt;req/s&gt; &amp; &quot;more&quot;") != std::string::npos);
    CHECK(svg.find("a&gt;b") != std::string::npos);
    CHECK(svg.find("R&amp;D") != std::string::npos);
    CHECK(svg.find("x &lt; y") != std::string::npos);
    CHECK(svg.find("stroke=\"&quot;red&quot;\"") != std::string::npos);
    CHECK(svg.find("T <1>") == std::string::npos);
    CHECK(svg.find("R&D") == std::string::npos);
}

TEST_CASE("svg_plot: standalone SVG root with the namespace") {
    const std::string svg = render_svg("title", {simple_panel({1, 2, 3})});
    CHECK(svg.rfind("<?xml version=\"1.0\"", 0) == 0);
    CHECK(svg.find("<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\"") != std::string::npos);
    CHECK(count(svg, "<svg") == 1);
    CHECK(count(svg, "</svg>") == 1);
    CHECK(svg.find("time (s)") != std::string::npos);
    check_sane(svg);
}

TEST_CASE("svg_plot: NaN values split a line into polylines") {
    const std::string svg = render_svg("", {simple_panel({1, 2, gap, 3, 4})});
    const auto lines = polylines(svg);
    REQUIRE(lines.size() == 2);
    CHECK(lines[0].size() == 2);
    CHECK(lines[1].size() == 2);
    // The gap is real: the second run starts to the right of the first.
    CHECK(lines[1].front().first > lines[0].back().first);
    check_sane(svg);

    SUBCASE("leading, trailing and repeated gaps add no polylines") {
        const double inf = std::numeric_limits<double>::infinity();
        const std::string gaps = render_svg("", {simple_panel({gap, 1, 2, gap, gap, inf, 3, 4, 5, gap})});
        const auto runs = polylines(gaps);
        REQUIRE(runs.size() == 2);
        CHECK(runs[0].size() == 2);
        CHECK(runs[1].size() == 3);
        check_sane(gaps);
    }
    SUBCASE("an isolated point is a dot") {
        const std::string dot = render_svg("", {simple_panel({1, 2, gap, 3, gap, 4, 5})});
        CHECK(polylines(dot).size() == 2);
        CHECK(count(dot, "<circle") == 1);
    }
}

TEST_CASE("svg_plot: mismatched lengths throw naming the series") {
    panel p = simple_panel({1, 2, 3});
    p.lines.push_back(series{.label = "p95 latency", .x = {0, 1, 2}, .y = {1, 2}});
    try {
        (void)render_svg("t", {p});
        FAIL("render_svg accepted mismatched lengths");
    } catch (const std::invalid_argument& e) {
        const std::string what = e.what();
        CHECK(what.find("p95 latency") != std::string::npos);
        CHECK(what.find("3 x values but 2 y values") != std::string::npos);
    }
    const auto path = fresh_path("svg_plot", "svg_plot_mismatched.svg");
    std::filesystem::remove(path);
    CHECK_THROWS_AS(write_svg(path, "t", {p}), std::invalid_argument);
    CHECK_FALSE(std::filesystem::exists(path));
}

TEST_CASE("svg_plot: log axis") {
    SUBCASE("decade ticks, and 10 halfway between 1 and 100") {
        const d::axis a = d::log_axis(1, 1000, 0.05);
        CHECK(a.labels == std::vector<std::string>{"1", "10", "100", "1000"});
        CHECK(a.fraction(10) - a.fraction(1) == doctest::Approx(a.fraction(100) - a.fraction(10)));
        CHECK(a.fraction(1) > 0);
        CHECK(a.fraction(1000) < 1);
    }
    SUBCASE("narrow ranges get 1 2 5 ticks") {
        const d::axis a = d::log_axis(0.01, 0.6, 0.05);
        CHECK(a.labels == std::vector<std::string>{"0.01", "0.02", "0.05", "0.1", "0.2", "0.5"});
    }
    SUBCASE("within a factor of ten, linear nice steps") {
        const d::axis a = d::log_axis(21, 48, 0.05);
        REQUIRE(a.ticks.size() >= 3);
        CHECK(is_nice_step(a.ticks[1] - a.ticks[0]));
    }
    SUBCASE("wide ranges thin the decades") {
        const d::axis a = d::log_axis(1e-9, 1e9, 0.0);
        CHECK(a.ticks.size() <= 8);
        CHECK(a.ticks.size() >= 3);
        CHECK(a.labels.front() == "1e-9");
    }
    SUBCASE("non-positive values become gaps") {
        const std::string svg = render_svg("", {simple_panel({1, 10, 0, 100, 1000, -5, 10, 1}, true)});
        const auto lines = polylines(svg);
        REQUIRE(lines.size() == 3);
        CHECK(lines[0].size() == 2);
        CHECK(lines[1].size() == 2);
        CHECK(lines[2].size() == 2);
        // Equal ratios are equal pixel steps: 1 -> 10 rises as far as 100 -> 1000.
        CHECK(lines[0][0].second - lines[0][1].second ==
              doctest::Approx(lines[1][0].second - lines[1][1].second).epsilon(0.01));
        CHECK(svg.find(">1000<") != std::string::npos);
        check_sane(svg);
    }
    SUBCASE("nothing positive still renders") {
        check_sane(render_svg("", {simple_panel({0, -1, -2}, true)}));
    }
}

TEST_CASE("svg_plot: degenerate ranges") {
    SUBCASE("all-equal y") {
        const std::string svg = render_svg("", {simple_panel({5, 5, 5, 5})});
        const auto lines = polylines(svg);
        REQUIRE(lines.size() == 1);
        for (const auto& [x, y] : lines[0]) CHECK(y == doctest::Approx(lines[0][0].second));
        CHECK(count(svg, "text-anchor=\"end\"") >= 3);  // y tick labels around 5
        check_sane(svg);
    }
    SUBCASE("all-zero y") { check_sane(render_svg("", {simple_panel({0, 0, 0})})); }
    SUBCASE("all-equal positive y on a log axis") { check_sane(render_svg("", {simple_panel({3, 3}, true)})); }
    SUBCASE("single point") {
        const std::string svg = render_svg("", {simple_panel({42})});
        CHECK(polylines(svg).empty());
        CHECK(count(svg, "<circle") == 1);
        check_sane(svg);
    }
    SUBCASE("empty series, empty panel, no panels") {
        panel p = simple_panel({});
        p.lines.push_back(series{.label = "also empty"});
        const std::string svg = render_svg("empty", {p, panel{.title = "nothing"}});
        CHECK(polylines(svg).empty());
        CHECK(svg.find("also empty") != std::string::npos);
        check_sane(svg);
        check_sane(render_svg("no panels", {}));
    }
    SUBCASE("tiny sizes are raised to a usable minimum") {
        const std::string svg = render_svg("t", {simple_panel({1, 2, 3})}, "x", 10, 5);
        const auto [w, h] = image_size(svg);
        CHECK(w >= 300);
        CHECK(h >= 120);
        check_sane(svg);
    }
    SUBCASE("huge and tiny magnitudes") {
        check_sane(render_svg("", {simple_panel({1e300, -1e300})}));
        check_sane(render_svg("", {simple_panel({1e-300, 2e-300})}));
        check_sane(render_svg("", {simple_panel({1e9, 1e9 + 1e-6})}));
    }
}

TEST_CASE("svg_plot: panels share the x range and the palette") {
    const panel a{.title = "a", .lines = {series{.label = "one", .x = {0, 10}, .y = {1, 2}},
                                          series{.label = "two", .x = {0, 10}, .y = {2, 1}}}};
    const panel b{.title = "b", .lines = {series{.label = "half", .x = {0, 5}, .y = {1, 2}},
                                          series{.label = "slo", .x = {0, 10}, .y = {1.5, 1.5}, .color = "#ff0000",
                                                 .dashed = true}}};
    const std::string svg = render_svg("shared", {a, b});
    const auto lines = polylines(svg);
    REQUIRE(lines.size() == 4);
    CHECK(lines[0].front().first == lines[2].front().first);
    CHECK(lines[0].back().first == lines[3].back().first);
    // x = 5 is halfway across.
    CHECK(lines[2].back().first == doctest::Approx((lines[0].front().first + lines[0].back().first) / 2).epsilon(0.01));
    CHECK(count(svg, std::string("stroke=\"") + std::string(d::palette[0]) + "\"") >= 4);  // two lines, two swatches
    CHECK(count(svg, std::string("stroke=\"") + std::string(d::palette[1]) + "\"") >= 2);
    CHECK(count(svg, "stroke=\"#ff0000\"") == 2);
    CHECK(count(svg, "stroke-dasharray") == 2);
    CHECK(count(svg, "time (s)") == 1);  // the x label only once, under the last panel
    // The second panel lies below the first.
    CHECK(lines[2].front().second > lines[0].front().second);
}

TEST_CASE("svg_plot: thousands of points are all drawn compactly") {
    std::vector<double> x(5000);
    std::vector<double> y(5000);
    for (std::size_t i = 0; i < x.size(); ++i) {
        x[i] = 0.1 * static_cast<double>(i);
        y[i] = std::sin(0.01 * static_cast<double>(i)) * 123.456789;
    }
    const std::string svg = render_svg("many", {panel{.lines = {series{.label = "sin", .x = x, .y = y}}}});
    const auto lines = polylines(svg);
    REQUIRE(lines.size() == 1);
    CHECK(lines[0].size() == 5000);
    const std::string points = attribute(svg, "points", svg.find("<polyline"));
    for (std::size_t pos = points.find('.'); pos != std::string::npos; pos = points.find('.', pos + 1)) {
        REQUIRE(pos + 2 <= points.size());
        const bool at_end = pos + 2 == points.size();
        CHECK((at_end || points[pos + 2] == ',' || points[pos + 2] == ' '));  // one decimal at most
    }
    CHECK(svg.size() < 5000 * 16 + 20000);
    check_sane(svg);
}

TEST_CASE("svg_plot: write_svg writes the rendered document") {
    const auto path = fresh_path("svg_plot", "svg_plot_test.svg");
    std::filesystem::remove(path);
    panel p = simple_panel({1, 3, 2, gap, 5});
    p.title = "a & b";
    const std::vector<panel> panels{p, simple_panel({10, 100, 1000}, true)};
    write_svg(path, "written <plot>", panels);
    CHECK(read_file(path) == render_svg("written <plot>", panels));

    // Overwriting works and leaves no temporary files behind.
    write_svg(path, "again", panels, "seconds", 600, 180);
    CHECK(read_file(path) == render_svg("again", panels, "seconds", 600, 180));
    for (const auto& entry : std::filesystem::directory_iterator(path.parent_path())) {
        CHECK(entry.path().filename().string().find("svg_plot_test.svg.tmp") == std::string::npos);
    }

    // xmllint (libxml2-utils) is one of the packages scripts/test.sh installs:
    // missing, the check fails rather than passing unchecked.
    CHECK(xmllint(path) == 0);
}

TEST_CASE("svg_plot: an unwritable path throws naming it") {
    const auto path = fresh_path("svg_plot", "svg_plot_no_such_dir") / "plot.svg";
    std::filesystem::remove_all(path.parent_path());
    try {
        write_svg(path, "t", {simple_panel({1, 2})});
        FAIL("write_svg wrote into a missing directory");
    } catch (const std::runtime_error& e) {
        CHECK(std::string(e.what()).find(path.string()) != std::string::npos);
    }
    CHECK_FALSE(std::filesystem::exists(path.parent_path()));

    // A directory in the way of the file.
    const auto dir = fresh_path("svg_plot", "svg_plot_dir_in_the_way");
    std::filesystem::create_directories(dir);
    CHECK_THROWS_AS(write_svg(dir, "t", {simple_panel({1, 2})}), std::runtime_error);
    CHECK(std::filesystem::is_directory(dir));
    std::filesystem::remove_all(dir);
}

}  // namespace test_apps_svg_plot
