// Fuzz target: the Azure Functions Trace 2019 readers
// (include/rlscale/sim/azure_trace.hpp): rlscale::sim::azure_trace::load (an
// invocations file) and rlscale::sim::load_azure_durations (a durations
// file). The library has no reader for the memory file. Both readers take a
// path, so the input is written to an in-memory file (memfd, read through
// /proc/self/fd) or, where that is missing, a temporary file.
//
// Input: the first byte's low bit picks the reader (0 invocations,
// 1 durations); the rest is the file.
//
// Property: only rlscale::error (or a subclass) escapes. A loaded
// invocations file has per-minute counts that are finite, non-negative and
// whole, minutes() of them per function, functions in rank order (total
// invocations non-increasing), distinct hashes that by_hash finds, and
// to_workload accepts every function. A loaded durations file has finite,
// non-negative statistics, whole counts, minimum <= maximum, non-decreasing
// percentiles and distinct hashes that duration_by_hash finds;
// service_time::from_azure_percentiles_ms may refuse one only with
// rlscale::error.

#include "fuzz_check.hpp"

#include <rlscale/core/error.hpp>
#include <rlscale/sim/azure_trace.hpp>
#include <rlscale/sim/service_time.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

namespace {

constexpr std::string_view target = "azure_trace";

/// A file that each input is written into, reopened by path by the readers.
class scratch_file {
public:
    scratch_file() {
#if defined(__linux__) && defined(MFD_CLOEXEC)
        fd_ = memfd_create("rlscale_azure_fuzz", MFD_CLOEXEC);
        if (fd_ >= 0) path_ = "/proc/self/fd/" + std::to_string(fd_);
#endif
        if (fd_ < 0) {
            std::string templ = (std::filesystem::temp_directory_path() / "rlscale_azure_fuzz_XXXXXX").string();
            fd_ = mkstemp(templ.data());
            if (fd_ < 0) rlscale::fuzz::fail(target, "cannot create a scratch file");
            path_ = templ;
            std::atexit([] { std::remove(instance().path_.c_str()); });
        }
    }

    static scratch_file& instance() {
        static scratch_file f;
        return f;
    }

    const std::string& write(std::string_view bytes) {
        if (ftruncate(fd_, 0) != 0) rlscale::fuzz::fail(target, "cannot truncate the scratch file");
        std::size_t done = 0;
        while (done < bytes.size()) {
            const ssize_t n = pwrite(fd_, bytes.data() + done, bytes.size() - done, static_cast<off_t>(done));
            if (n <= 0) rlscale::fuzz::fail(target, "cannot write the scratch file");
            done += static_cast<std::size_t>(n);
        }
        return path_;
    }

private:
    int fd_ = -1;
    std::string path_;
};

void check_count(double v, bool whole, const std::string& what) {
    RLSCALE_FUZZ_CHECK(std::isfinite(v) && v >= 0, target, what + " is negative or not finite: " + std::to_string(v));
    if (whole) RLSCALE_FUZZ_CHECK(v == std::floor(v), target, what + " is not a whole number: " + std::to_string(v));
}

void check_invocations(const rlscale::sim::azure_trace& trace) {
    double previous_total = INFINITY;
    for (std::size_t i = 0; i < trace.size(); ++i) {
        const rlscale::sim::azure_function_trace& f = trace.by_rank(i);
        const std::string name = "function " + std::to_string(i);
        RLSCALE_FUZZ_CHECK(f.per_minute.size() == trace.minutes(), target, name + " has another number of minutes than the header");
        for (const double v : f.per_minute) check_count(v, true, name + "'s count");
        const double total = f.total();
        RLSCALE_FUZZ_CHECK(!(total > previous_total), target, "functions out of rank order");
        previous_total = total;
        RLSCALE_FUZZ_CHECK(!f.hash_function.empty(), target, name + " has an empty hash");
        RLSCALE_FUZZ_CHECK(&trace.by_hash(f.hash_function) == &f, target, name + "'s hash finds another function");
        try {
            (void)rlscale::sim::to_workload(f);
        } catch (const std::exception& e) {
            rlscale::fuzz::fail(target, "to_workload refused a loaded function: " + std::string(e.what()));
        }
    }
}

void check_durations(const std::vector<rlscale::sim::azure_duration>& durations) {
    for (std::size_t i = 0; i < durations.size(); ++i) {
        const rlscale::sim::azure_duration& d = durations[i];
        const std::string name = "duration row " + std::to_string(i);
        check_count(d.average_ms, false, name + " Average");
        check_count(d.count, true, name + " Count");
        check_count(d.minimum_ms, false, name + " Minimum");
        check_count(d.maximum_ms, false, name + " Maximum");
        RLSCALE_FUZZ_CHECK(d.minimum_ms <= d.maximum_ms, target, name + ": Minimum > Maximum");
        for (std::size_t p = 0; p < d.percentiles_ms.size(); ++p) {
            check_count(d.percentiles_ms[p], false, name + " percentile " + std::to_string(p));
            if (p > 0) RLSCALE_FUZZ_CHECK(d.percentiles_ms[p - 1] <= d.percentiles_ms[p], target, name + ": decreasing percentiles");
        }
        RLSCALE_FUZZ_CHECK(&rlscale::sim::duration_by_hash(durations, d.hash_function) == &d, target, name + "'s hash finds another row");
        try {
            (void)rlscale::sim::service_time::from_azure_percentiles_ms(d.percentiles_ms);
        } catch (const rlscale::error&) {
            // A refusal is allowed.
        }
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const bool durations = (data[0] & 1) != 0;
    const std::filesystem::path path =
        scratch_file::instance().write(std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1));
    // Loading may refuse the file with rlscale::error (data_file_error,
    // config_error); the checks of what it loaded may not throw at all.
    const auto run = [](std::string_view step, auto&& f, bool refusal_allowed) {
        try {
            f();
        } catch (const rlscale::error& e) {
            if (!refusal_allowed) rlscale::fuzz::fail(target, std::string(step) + " threw: " + e.what());
        } catch (const std::exception& e) {
            rlscale::fuzz::fail(target, std::string(step) + ": an exception other than rlscale::error escaped: " + e.what());
        } catch (...) {
            rlscale::fuzz::fail(target, std::string(step) + ": a non-std exception escaped");
        }
    };
    if (durations) {
        std::optional<std::vector<rlscale::sim::azure_duration>> loaded;
        run("load_azure_durations", [&] { loaded.emplace(rlscale::sim::load_azure_durations(path)); }, true);
        if (loaded) run("checking the durations", [&] { check_durations(*loaded); }, false);
    } else {
        std::optional<rlscale::sim::azure_trace> loaded;
        run("azure_trace::load", [&] { loaded.emplace(rlscale::sim::azure_trace::load(path)); }, true);
        if (loaded) run("checking the trace", [&] { check_invocations(*loaded); }, false);
    }
    return 0;
}
