// Fuzz target: PromQL expansion of the default query templates,
// rlscale::prometheus::metrics_source::query_for
// (adapters/prometheus/include/rlscale/prometheus/metrics_source.hpp).
//
// Input: the first byte's low bit picks the workload kind (Deployment or
// StatefulSet); the rest is split on 0xFF bytes (never part of valid UTF-8)
// into the function, namespace, deployment, pod regex and container label
// values (missing ones are empty; an empty pod regex is derived from the
// deployment).
//
// Property, for every field with a default template: query_for throws
// rlscale::config_error when the namespace is empty and nothing otherwise;
// and no label value can end its quoted string. The expanded query is lexed
// as PromQL: every double-quoted string ends at the first unescaped '"',
// holds no raw line break and no escape other than \\, \" and \n, and the
// query has exactly the template's strings, each decoding to the template's
// text with the placeholders replaced by the raw values (for {pod_regex}: the
// regex as given, or the deployment with every RE2 metacharacter escaped and
// the workload kind's pod suffix; for {container_regex}: `.+` without a
// container, else the container escaped alike), while the text between the strings is the
// template's own, with the metric names, window and kind filled in.

#include "fuzz_check.hpp"

#include <rlscale/core/error.hpp>
#include <rlscale/prometheus/client.hpp>
#include <rlscale/prometheus/metrics_source.hpp>

#include <cstddef>
#include <cstdint>
#include <exception>
#include <iterator>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace {

constexpr std::string_view target = "promql_template";
namespace p = rlscale::prometheus;

/// The fields of function_metrics with a query, and their templates.
const std::vector<std::pair<std::string_view, std::string p::query_templates::*>>& fields() {
    static const std::vector<std::pair<std::string_view, std::string p::query_templates::*>> all{
        {"throughput_rps", &p::query_templates::throughput_rps},
        {"arrivals", &p::query_templates::arrivals},
        {"completions", &p::query_templates::completions},
        {"drops", &p::query_templates::drops},
        {"queue_length", &p::query_templates::queue_length},
        {"in_service", &p::query_templates::in_service},
        {"latency_mean_s", &p::query_templates::latency_mean_s},
        {"latency.p50", &p::query_templates::latency_p50},
        {"latency.p90", &p::query_templates::latency_p90},
        {"latency.p95", &p::query_templates::latency_p95},
        {"latency.p99", &p::query_templates::latency_p99},
        {"latency.p999", &p::query_templates::latency_p999},
        {"cpu_utilization", &p::query_templates::cpu_utilization},
        {"memory_utilization", &p::query_templates::memory_utilization},
        {"cpu_limit", &p::query_templates::cpu_limit},
        {"memory_limit_mb", &p::query_templates::memory_limit_mb},
        {"cpu_limit_min", &p::query_templates::cpu_limit_min},
        {"memory_limit_min_mb", &p::query_templates::memory_limit_min_mb},
        {"ready_replicas", &p::query_templates::ready_replicas},
        {"starting_replicas", &p::query_templates::starting_replicas},
        {"pending_replicas", &p::query_templates::pending_replicas},
        {"cold_starts", &p::query_templates::cold_starts},
        {"replica_seconds", &p::query_templates::replica_seconds},
    };
    return all;
}

/// A query split as a PromQL lexer sees it: the text outside strings
/// (outside.size() == strings.size() + 1) and each double-quoted string's
/// value. An empty `error` when it lexes.
struct lexed {
    std::vector<std::string> outside{""};
    std::vector<std::string> strings;
    std::string error;
};

/// Lexes `q`; with `decode`, strings are unescaped as PromQL does (only \\,
/// \" and \n may occur), without it (a template) taken as written.
lexed lex(std::string_view q, bool decode) {
    lexed out;
    std::size_t i = 0;
    while (i < q.size()) {
        if (q[i] != '"') {
            out.outside.back() += q[i++];
            continue;
        }
        ++i;  // the opening quote
        std::string value;
        bool closed = false;
        while (i < q.size()) {
            const char c = q[i++];
            if (c == '"') {
                closed = true;
                break;
            }
            if (c == '\n') {
                out.error = "a raw line break inside a string (PromQL: unterminated quoted string)";
                return out;
            }
            if (c == '\\' && decode) {
                if (i >= q.size()) break;
                const char e = q[i++];
                if (e == '\\' || e == '"') value += e;
                else if (e == 'n') value += '\n';
                else {
                    out.error = std::string("an escape \\") + e + " the expansion never writes";
                    return out;
                }
                continue;
            }
            value += c;
        }
        if (!closed) {
            out.error = "an unterminated string";
            return out;
        }
        out.strings.push_back(std::move(value));
        out.outside.emplace_back();
    }
    return out;
}

/// `text` with each {name} of `values` replaced; `touched` is set when one of
/// the label-value placeholders was.
std::string fill(std::string_view text, const std::vector<std::pair<std::string, std::string>>& values, bool* touched = nullptr) {
    std::string out;
    std::size_t i = 0;
    while (i < text.size()) {
        bool replaced = false;
        if (text[i] == '{') {
            for (const auto& [k, v] : values) {
                const std::size_t close = i + 1 + k.size();
                if (close < text.size() && text[close] == '}' && text.substr(i + 1, k.size()) == k) {
                    out += v;
                    i = close + 1;
                    replaced = true;
                    if (touched && (k == "namespace" || k == "workload" || k == "deployment" || k == "function" || k == "pod_regex" ||
                                    k == "container" || k == "container_regex")) {
                        *touched = true;
                    }
                    break;
                }
            }
        }
        if (!replaced) out += text[i++];
    }
    return out;
}

/// A name as a regular expression that matches only itself (RE2).
std::string literal_regex(std::string_view s) {
    std::string out;
    for (const char c : s) {
        if (std::string_view("\\.+*?()|[]{}^$").find(c) != std::string_view::npos) out += '\\';
        out += c;
    }
    return out;
}

const p::metrics_source& source() {
    static const p::metrics_source s(p::client(p::client_config{}), p::metrics_source_config{});
    return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    p::function_target f;
    f.kind = (data[0] & 1) != 0 ? p::workload_kind::statefulset : p::workload_kind::deployment;
    std::string* const parts[] = {&f.function, &f.namespace_, &f.deployment, &f.pod_regex, &f.container};
    constexpr std::size_t n_parts = std::size(parts);
    std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
    for (std::size_t k = 0; k < n_parts; ++k) {
        const std::size_t sep = k + 1 < n_parts ? rest.find('\xff') : std::string_view::npos;
        *parts[k] = std::string(rest.substr(0, sep));
        if (sep == std::string_view::npos) break;
        rest.remove_prefix(sep + 1);
    }

    const bool stateful = f.kind == p::workload_kind::statefulset;
    const std::string pods = !f.pod_regex.empty() ? f.pod_regex
                             : stateful          ? literal_regex(f.deployment) + "-[0-9]+"
                                                 : literal_regex(f.deployment) + "-[4-9bcdf]{1,10}-[bcdfghjklmnpqrstvwxz2456789]{5}";
    const p::metrics_source_config& cfg = source().config();
    const std::string window = std::to_string(cfg.window.count());
    const std::vector<std::pair<std::string, std::string>> raw{
        {"namespace", f.namespace_},
        {"workload", f.deployment},
        {"deployment", f.deployment},
        {"function", f.function},
        {"pod_regex", pods},
        {"container", f.container},
        {"container_regex", f.container.empty() ? std::string(".+") : literal_regex(f.container)},
        {"workload_kind", stateful ? "statefulset" : "deployment"},
        {"window", window + "s"},
        {"window_seconds", window},
        {"request_counter", cfg.request_counter},
        {"duration_histogram", cfg.duration_histogram},
    };
    const p::query_templates defaults;
    for (const auto& [field, member] : fields()) {
        // Built only for a message: this runs 23 times an input.
        const auto context = [&, field = field] {
            return "field " + std::string(field) + ", namespace \"" + rlscale::fuzz::excerpt(f.namespace_) + "\", deployment \"" +
                   rlscale::fuzz::excerpt(f.deployment) + "\", pod_regex \"" + rlscale::fuzz::excerpt(f.pod_regex) + "\", container \"" +
                   rlscale::fuzz::excerpt(f.container) + "\"";
        };
        std::string q;
        try {
            q = source().query_for(field, f);
        } catch (const rlscale::config_error& e) {
            RLSCALE_FUZZ_CHECK(f.namespace_.empty(), target, context() + ": config_error for a target with a namespace: " + e.what());
            continue;
        } catch (const std::exception& e) {
            rlscale::fuzz::fail(target, context() + ": an exception other than config_error escaped: " + e.what());
        }
        RLSCALE_FUZZ_CHECK(!f.namespace_.empty(), target, context() + ": an empty namespace was accepted");
        const std::string& tmpl = defaults.*member;
        if (tmpl.empty()) {
            RLSCALE_FUZZ_CHECK(q.empty(), target, context() + ": an empty template gave a query");
            continue;
        }
        const lexed want = lex(tmpl, false);
        RLSCALE_FUZZ_CHECK(want.error.empty(), target, context() + ": the default template does not lex: " + want.error);
        const lexed got = lex(q, true);
        RLSCALE_FUZZ_CHECK(got.error.empty(), target, context() + ": " + got.error + " in " + rlscale::fuzz::excerpt(q, 600));
        RLSCALE_FUZZ_CHECK(got.strings.size() == want.strings.size(), target,
                             context() + ": " + std::to_string(got.strings.size()) + " strings, the template has " +
                                 std::to_string(want.strings.size()) + ": a label value ended its string in " +
                                 rlscale::fuzz::excerpt(q, 600));
        for (std::size_t i = 0; i < want.strings.size(); ++i) {
            const std::string expected = fill(want.strings[i], raw);
            RLSCALE_FUZZ_CHECK(got.strings[i] == expected, target,
                                 context() + ": string " + std::to_string(i) + " decodes to \"" + rlscale::fuzz::excerpt(got.strings[i]) +
                                     "\", expected \"" + rlscale::fuzz::excerpt(expected) + "\"");
        }
        for (std::size_t i = 0; i < want.outside.size(); ++i) {
            bool touched = false;
            const std::string expected = fill(want.outside[i], raw, &touched);
            if (touched) continue;  // a label value outside quotes: not in the default templates
            RLSCALE_FUZZ_CHECK(got.outside[i] == expected, target,
                                 context() + ": the query text between strings changed: \"" + rlscale::fuzz::excerpt(got.outside[i]) +
                                     "\", expected \"" + rlscale::fuzz::excerpt(expected) + "\"");
        }
    }
    return 0;
}
