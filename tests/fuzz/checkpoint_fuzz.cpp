// Fuzz target: checkpoint loading (include/rlscale/nn/checkpoint.hpp) and the
// learned policy built from a checkpoint's serving spec
// (include/rlscale/policy/registry.hpp).
//
// Input: a JSON document (parsed with nlohmann, allow_exceptions = false; not
// JSON: nothing to do). It goes through
//   - rlscale::nn::network_from_checkpoint<float>, and when that builds a
//     network, restore_checkpoint into it and a matching Adam optimiser;
//   - rlscale::make_learned_policy, and when that builds a policy, one
//     decision for each of its functions at their defaults.
//
// Property: only rlscale::checkpoint_error or rlscale::config_error escapes
// (anything else, std::bad_alloc and nlohmann's exceptions included, is a
// failure); a restored optimiser has the network's parameter count; a built
// policy decides each function within [min, max] (1..10 here).
//
// Run with -rss_limit_mb=512 -malloc_limit_mb=512: a checkpoint declaring a
// huge layer must be refused, not allocated.

#include "fuzz_check.hpp"

#include <rlscale/core/error.hpp>
#include <rlscale/nn/adam.hpp>
#include <rlscale/nn/checkpoint.hpp>
#include <rlscale/policy/registry.hpp>

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <exception>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace {

constexpr std::string_view target = "checkpoint";

/// Runs `f`; a checkpoint_error or config_error is an allowed refusal
/// (returns false), anything else fails the property.
template <typename F>
bool allowed(std::string_view step, F&& f) {
    try {
        f();
        return true;
    } catch (const rlscale::checkpoint_error&) {
    } catch (const rlscale::config_error&) {
    } catch (const std::exception& e) {
        rlscale::fuzz::fail(target, std::string(step) + ": an exception other than checkpoint_error/config_error escaped: " + e.what());
    } catch (...) {
        rlscale::fuzz::fail(target, std::string(step) + ": a non-std exception escaped");
    }
    return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) return 0;

    allowed("network_from_checkpoint", [&] {
        rlscale::nn::mlp<float> net = rlscale::nn::network_from_checkpoint<float>(j);
        rlscale::nn::adam<float> opt(net.parameter_count());
        if (allowed("restore_checkpoint", [&] { rlscale::nn::restore_checkpoint(j, net, opt); })) {
            RLSCALE_FUZZ_CHECK(opt.parameter_count() == net.parameter_count(), target, "restored optimiser of another size");
        }
    });

    allowed("make_learned_policy", [&] {
        rlscale::learned_policy p = rlscale::make_learned_policy(j);
        const std::size_t n = p.policy.functions();
        RLSCALE_FUZZ_CHECK(n == p.spec.function_count(), target, "the policy decides another number of functions than its spec names");
        std::vector<rlscale::function_metrics> m(n);
        for (auto& x : m) x.interval_s = 15;
        std::vector<rlscale::scaling_state> s(n);
        std::vector<rlscale::decision> out(n);
        p.policy.decide(std::span<const rlscale::function_metrics>(m), std::span<const rlscale::scaling_state>(s),
                        std::span<rlscale::decision>(out));
        for (std::size_t f = 0; f < n; ++f) {
            RLSCALE_FUZZ_CHECK(out[f].replicas >= s[f].min_replicas && out[f].replicas <= s[f].max_replicas, target,
                                 "function " + std::to_string(f) + " decided " + std::to_string(out[f].replicas) +
                                     ", outside [min, max]");
        }
    });
    return 0;
}
