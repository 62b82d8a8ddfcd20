#pragma once

// Shared by the tests that compare an update with PyTorch on committed
// fixtures (tests/fixtures/*_torch.json, written by scripts/fixtures/).

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <sstream>
#include <string>

namespace rlscale::test {

/// tests/fixtures/<name>, parsed (the test fails if it cannot be read).
inline nlohmann::json load_torch_fixture(const std::string& name) {
    const auto path = std::filesystem::path(__FILE__).parent_path() / "fixtures" / name;
    INFO("fixture: " << path.string());
    std::ifstream in(path);
    REQUIRE(in.good());
    return nlohmann::json::parse(in);
}

/// Compares values with PyTorch's element by element: |actual − expected| ≤
/// rtol·max(|expected|, 1e-6·max|expected|) (the floor only matters for
/// values at or next to zero, e.g. a dead unit's moment), and remembers the
/// largest differences seen.
struct torch_comparison {
    double rtol = 1e-9;
    double max_abs = 0;
    double max_rel = 0;

    void close(const std::string& what, const Eigen::Ref<const Eigen::VectorXd>& actual, const Eigen::VectorXd& expected) {
        REQUIRE(actual.size() == expected.size());
        const double floor = 1e-6 * std::max(expected.cwiseAbs().maxCoeff(), 1e-12);
        double worst = 0;
        Eigen::Index at = 0;
        for (Eigen::Index i = 0; i < expected.size(); ++i) {
            const double err = std::abs(actual(i) - expected(i));
            const double scale = std::max(std::abs(expected(i)), floor);
            max_abs = std::max(max_abs, err);
            max_rel = std::max(max_rel, err / scale);
            if (err / scale > worst) worst = err / scale, at = i;
        }
        std::ostringstream where;
        where << std::setprecision(17) << what << ": worst element " << at << " is " << actual(at) << ", PyTorch " << expected(at);
        INFO(where.str());
        CHECK(worst <= rtol);
    }

    void scalar(const std::string& what, double actual, double expected) {
        close(what, Eigen::VectorXd::Constant(1, actual), Eigen::VectorXd::Constant(1, expected));
    }
};

}  // namespace rlscale::test
