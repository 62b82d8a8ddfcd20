#pragma once

#include <rlscale/core/detail/binary_io.hpp>
#include <rlscale/core/error.hpp>
#include <rlscale/core/json_keys.hpp>
#include <rlscale/core/json_summary.hpp>
#include <rlscale/core/text.hpp>
#include <rlscale/nn/adam.hpp>
#include <rlscale/nn/mlp.hpp>

#include <Eigen/Core>
#include <nlohmann/json.hpp>

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <fstream>
#include <limits>
#include <optional>
#include <sstream>
#include <utility>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>

// Checkpoint format, version 1 (JSON):
//
//   {
//     "format": "rlscale.checkpoint",
//     "version": 1,
//     "network": {
//       "scalar": "float32",
//       "layers": [ { "in": 7, "out": 64, "activation": "relu",
//                     "weight": [[...7 numbers...], ...64 rows...],   // out × in, as PyTorch's state_dict
//                     "bias": [...64 numbers...] }, ... ]
//     },
//     "optimizer": {                                                  // optional
//       "type": "adam", "config": { "lr": ..., "beta1": ..., ... },
//       "step": 1234, "m": [...], "v": [...]                        // flat, in the network's parameter order
//     }
//   }
//
// Numbers are written with the shortest decimal form that reads back to the
// same value, so a save/load round trip is bit-exact. Loading validates the
// whole file before anything is changed: on any error it throws a
// checkpoint_error naming the JSON path of the offending field, and the
// network and optimiser keep what they had.

namespace rlscale::nn {

inline constexpr std::string_view checkpoint_format = "rlscale.checkpoint";
inline constexpr std::int64_t checkpoint_version = 1;

template <typename T>
[[nodiscard]] constexpr std::string_view scalar_name() noexcept {
    if constexpr (std::is_same_v<T, float>) {
        return "float32";
    } else if constexpr (std::is_same_v<T, double>) {
        return "float64";
    } else {
        return "unknown";
    }
}

namespace detail {

using json = nlohmann::json;

inline std::string json_path(const std::string& parent, std::string_view key) {
    return parent.empty() ? std::string(key) : parent + "." + std::string(key);
}

inline std::string json_path(const std::string& parent, std::size_t index) {
    return parent + "[" + std::to_string(index) + "]";
}

inline const json& require_field(const json& object, std::string_view key, const std::string& path) {
    if (!object.is_object()) {
        throw checkpoint_error(path.empty() ? "(top level)" : path,
                               std::string("expected an object, got ") + object.type_name());
    }
    const auto it = object.find(key);
    if (it == object.end()) {
        throw checkpoint_error(json_path(path, key), "missing");
    }
    return *it;
}

inline const json& require_array(const json& value, std::size_t expected_size, const std::string& path) {
    if (!value.is_array()) {
        throw checkpoint_error(path, std::string("expected an array, got ") + value.type_name());
    }
    if (value.size() != expected_size) {
        throw checkpoint_error(path, "has " + std::to_string(value.size()) + " elements, expected " +
                                         std::to_string(expected_size));
    }
    return value;
}

template <typename T>
T require_finite(const json& value, const std::string& path) {
    if (value.is_null()) {
        throw checkpoint_error(path, "expected a finite number, got null (NaN and infinity are written as null)");
    }
    if (!value.is_number()) {
        throw checkpoint_error(path, std::string("expected a number, got ") + value.type_name() + " " + json_summary(value));
    }
    const auto d = value.get<double>();
    const auto x = static_cast<T>(d);
    if (!std::isfinite(d) || !std::isfinite(x)) {
        throw checkpoint_error(path, "value " + value.dump() + " is not finite in " + std::string(scalar_name<T>()));
    }
    return x;
}

inline std::int64_t require_integer(const json& value, std::int64_t min, const std::string& path) {
    if (!value.is_number_integer()) {
        throw checkpoint_error(path, "expected an integer, got " + json_summary(value));
    }
    if (value.is_number_unsigned() && value.get<std::uint64_t>() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        throw checkpoint_error(path, "must be at most " + std::to_string(std::numeric_limits<std::int64_t>::max()) + ", got " + value.dump());
    }
    const auto x = value.get<std::int64_t>();
    if (x < min) {
        throw checkpoint_error(path, "must be >= " + std::to_string(min) + ", got " + std::to_string(x));
    }
    return x;
}

inline std::string require_string(const json& value, const std::string& path) {
    if (!value.is_string()) {
        throw checkpoint_error(path, std::string("expected a string, got ") + value.type_name() + " " + json_summary(value));
    }
    return value.get<std::string>();
}

/// Reads the layer specifications of `network`, checking that they chain.
inline std::vector<layer_spec> read_layer_specs(const json& network, const std::string& path) {
    // The weights' scalar type, when given: float32 or float64 (either loads
    // into either network, rounded to it); anything else (an int8 copy, a
    // newer format) is not what this reader would make of its numbers.
    if (network.is_object() && network.contains("scalar")) {
        const std::string scalar = require_string(network["scalar"], json_path(path, "scalar"));
        if (scalar != "float32" && scalar != "float64") {
            throw checkpoint_error(json_path(path, "scalar"), "is " + json_summary(network["scalar"]) + ", expected \"float32\" or \"float64\"");
        }
    }
    const std::string layers_path = json_path(path, "layers");
    const json& layers = require_field(network, "layers", path);
    if (!layers.is_array() || layers.empty()) {
        throw checkpoint_error(layers_path, "expected a non-empty array, got " + json_summary(layers));
    }
    std::vector<layer_spec> specs;
    for (std::size_t l = 0; l < layers.size(); ++l) {
        const std::string lp = json_path(layers_path, l);
        layer_spec s;
        s.in = require_integer(require_field(layers[l], "in", lp), 1, json_path(lp, "in"));
        s.out = require_integer(require_field(layers[l], "out", lp), 1, json_path(lp, "out"));
        const std::string act_path = json_path(lp, "activation");
        try {
            s.act = activation_from_string(require_string(require_field(layers[l], "activation", lp), act_path),
                                           act_path);
        } catch (const config_error& e) {
            throw checkpoint_error(act_path, e.detail());
        }
        if (l > 0 && s.in != specs.back().out) {
            throw checkpoint_error(json_path(lp, "in"), "is " + std::to_string(s.in) + " but the previous layer's out is " +
                                                            std::to_string(specs.back().out));
        }
        specs.push_back(s);
    }
    return specs;
}

/// Checks that every layer of `network` holds the arrays its declared shape
/// says (`out` rows of `in` weights, `out` biases) before anything of that
/// shape is allocated: the sizes a file declares are only believed once the
/// file is seen to hold that many values (a few bytes declaring a
/// 2,000,000,000-wide layer must not allocate). Element values are checked
/// when they are read.
inline void check_declared_shapes(const json& network, const std::vector<layer_spec>& specs, const std::string& path) {
    const std::string layers_path = json_path(path, "layers");
    const json& layers = network.at("layers");
    for (std::size_t l = 0; l < specs.size(); ++l) {
        const std::string lp = json_path(layers_path, l);
        const auto out = static_cast<std::size_t>(specs[l].out);
        const auto in = static_cast<std::size_t>(specs[l].in);
        const std::string wp = json_path(lp, "weight");
        const json& weight = require_array(require_field(layers[l], "weight", lp), out, wp);
        for (std::size_t i = 0; i < out; ++i) require_array(weight[i], in, json_path(wp, i));
        require_array(require_field(layers[l], "bias", lp), out, json_path(lp, "bias"));
    }
}

/// Reads every weight and bias of `network` into a flat vector in the layout
/// of `expected`, failing on any difference in shape or activation.
template <typename T>
Eigen::Matrix<T, Eigen::Dynamic, 1> read_parameters(const json& network, const parameter_layout& expected,
                                                    const std::string& path) {
    const auto specs = read_layer_specs(network, path);
    const std::string layers_path = json_path(path, "layers");
    if (specs.size() != expected.layers().size()) {
        throw checkpoint_error(layers_path, "has " + std::to_string(specs.size()) + " layers, the network has " +
                                                std::to_string(expected.layers().size()));
    }
    Eigen::Matrix<T, Eigen::Dynamic, 1> values(expected.size());
    const json& layers = network.at("layers");
    for (std::size_t l = 0; l < specs.size(); ++l) {
        const std::string lp = json_path(layers_path, l);
        const layer_spec& want = expected.layers()[l];
        if (specs[l].in != want.in || specs[l].out != want.out) {
            throw checkpoint_error(lp, "shape mismatch: checkpoint layer is " + std::to_string(specs[l].out) + " × " +
                                           std::to_string(specs[l].in) + ", the network's is " +
                                           std::to_string(want.out) + " × " + std::to_string(want.in));
        }
        if (specs[l].act != want.act) {
            throw checkpoint_error(json_path(lp, "activation"),
                                   "is " + std::string(to_string(specs[l].act)) + ", the network's is " +
                                       std::string(to_string(want.act)));
        }
        const std::string wp = json_path(lp, "weight");
        const json& weight = require_array(require_field(layers[l], "weight", lp), static_cast<std::size_t>(want.out), wp);
        T* w = values.data() + expected.weight_offset(l);
        for (Eigen::Index i = 0; i < want.out; ++i) {
            const std::string rp = json_path(wp, static_cast<std::size_t>(i));
            const json& row = require_array(weight[static_cast<std::size_t>(i)], static_cast<std::size_t>(want.in), rp);
            for (Eigen::Index j = 0; j < want.in; ++j) {
                // column-major storage: element (i, j) at i + j·out
                w[i + j * want.out] = require_finite<T>(row[static_cast<std::size_t>(j)],
                                                        json_path(rp, static_cast<std::size_t>(j)));
            }
        }
        const std::string bp = json_path(lp, "bias");
        const json& bias = require_array(require_field(layers[l], "bias", lp), static_cast<std::size_t>(want.out), bp);
        T* b = values.data() + expected.bias_offset(l);
        for (Eigen::Index i = 0; i < want.out; ++i) {
            b[i] = require_finite<T>(bias[static_cast<std::size_t>(i)], json_path(bp, static_cast<std::size_t>(i)));
        }
    }
    return values;
}

template <typename T>
Eigen::Matrix<T, Eigen::Dynamic, 1> read_flat(const json& value, Eigen::Index size, const std::string& path) {
    require_array(value, static_cast<std::size_t>(size), path);
    Eigen::Matrix<T, Eigen::Dynamic, 1> out(size);
    for (Eigen::Index i = 0; i < size; ++i) {
        out[i] = require_finite<T>(value[static_cast<std::size_t>(i)], json_path(path, static_cast<std::size_t>(i)));
    }
    return out;
}

template <typename T>
void require_finite_parameters(const Eigen::Matrix<T, Eigen::Dynamic, 1>& values, const char* what) {
    for (Eigen::Index i = 0; i < values.size(); ++i) {
        if (!std::isfinite(values[i])) {
            throw error(std::string("refusing to save a checkpoint: ") + what + " value " + std::to_string(i) +
                        " is not finite");
        }
    }
}

}  // namespace detail

/// Checks a checkpoint's "format" and "version" (checkpoint_error naming
/// the field): the first check of every reader, before any other field is
/// read, since another format's or version's fields may mean something else.
inline void check_checkpoint_header(const nlohmann::json& checkpoint) {
    const std::string format = detail::require_string(detail::require_field(checkpoint, "format", ""), "format");
    if (format != checkpoint_format) {
        throw checkpoint_error("format", "is \"" + format + "\", expected \"" + std::string(checkpoint_format) + "\"");
    }
    const std::int64_t version = detail::require_integer(detail::require_field(checkpoint, "version", ""), 0, "version");
    if (version != checkpoint_version) {
        throw checkpoint_error("version", "unknown version " + std::to_string(version) + " (this build reads version " +
                                              std::to_string(checkpoint_version) + ")");
    }
}

/// The network part of a checkpoint. Throws rlscale::error if any parameter
/// is not finite (JSON cannot hold it, and the file would not load).
template <typename T>
void to_json(nlohmann::json& j, const mlp<T>& net) {
    detail::require_finite_parameters<T>(net.parameters(), "network parameter");
    nlohmann::json layers = nlohmann::json::array();
    for (std::size_t l = 0; l < net.layer_count(); ++l) {
        const layer_spec& s = net.layers()[l];
        const auto w = net.weight(l);
        nlohmann::json weight = nlohmann::json::array();
        for (Eigen::Index i = 0; i < s.out; ++i) {
            nlohmann::json row = nlohmann::json::array();
            for (Eigen::Index k = 0; k < s.in; ++k) {
                row.push_back(w(i, k));
            }
            weight.push_back(std::move(row));
        }
        const auto b = net.bias(l);
        layers.push_back({{"in", s.in},
                          {"out", s.out},
                          {"activation", to_string(s.act)},
                          {"weight", std::move(weight)},
                          {"bias", std::vector<T>(b.data(), b.data() + b.size())}});
    }
    j = {{"scalar", scalar_name<T>()}, {"layers", std::move(layers)}};
}

inline void to_json(nlohmann::json& j, const adam_config& c) {
    j = {{"lr", c.lr},
         {"beta1", c.beta1},
         {"beta2", c.beta2},
         {"eps", c.eps},
         {"weight_decay", c.weight_decay},
         {"decoupled_weight_decay", c.decoupled_weight_decay},
         {"moments", to_string(c.moments)},
         {"rounding_seed", c.rounding_seed}};
}

namespace detail {

/// Reads an adam_config found at JSON path `path`: every field (all
/// required but "moments" and "rounding_seed", which older checkpoints
/// lack), ranges validated; every error is named by its path under `path`.
inline void read_adam_config(const nlohmann::json& j, adam_config& c, const std::string& path) {
    adam_config r;
    const auto number = [&](const char* key) {
        return detail::require_finite<double>(detail::require_field(j, key, path), detail::json_path(path, key));
    };
    r.lr = number("lr");
    r.beta1 = number("beta1");
    r.beta2 = number("beta2");
    r.eps = number("eps");
    r.weight_decay = number("weight_decay");
    const auto& decoupled = detail::require_field(j, "decoupled_weight_decay", path);
    if (!decoupled.is_boolean()) {
        throw checkpoint_error(detail::json_path(path, "decoupled_weight_decay"), "expected a boolean, got " + json_summary(decoupled));
    }
    r.decoupled_weight_decay = decoupled.get<bool>();
    // "moments" and "rounding_seed" came later: absent means float moments.
    if (const auto it = j.find("moments"); it != j.end()) {
        const std::string name = detail::require_string(*it, detail::json_path(path, "moments"));
        if (name == to_string(moment_storage::bfloat16)) {
            r.moments = moment_storage::bfloat16;
        } else if (name != to_string(moment_storage::parameter_type)) {
            throw config_error(detail::json_path(path, "moments"),
                               "is \"" + name + "\", expected \"parameter_type\" or \"bfloat16\"");
        }
    }
    if (const auto it = j.find("rounding_seed"); it != j.end()) {
        if (!it->is_number_unsigned()) {
            throw config_error(detail::json_path(path, "rounding_seed"), "expected an unsigned integer, got " + json_summary(*it));
        }
        r.rounding_seed = it->get<std::uint64_t>();
    }
    try {
        r.validate();
    } catch (const config_error& e) {
        // validate() names its fields under "adam_config"; name them where they are.
        constexpr std::string_view own = "adam_config";
        const std::string& field = e.field();
        const std::string where = field.starts_with(own) ? path + field.substr(own.size()) : json_path(path, field);
        throw config_error(where, e.detail());
    }
    c = r;
}

}  // namespace detail

/// Reads every field (all required but "moments" and "rounding_seed",
/// which older checkpoints lack) and validates the ranges; errors are named
/// under "adam_config".
inline void from_json(const nlohmann::json& j, adam_config& c) { detail::read_adam_config(j, c, "adam_config"); }

template <typename T>
void to_json(nlohmann::json& j, const adam<T>& opt) {
    detail::require_finite_parameters<T>(opt.first_moment(), "optimizer first moment");
    detail::require_finite_parameters<T>(opt.second_moment(), "optimizer second moment");
    const auto& m = opt.first_moment();
    const auto& v = opt.second_moment();
    j = {{"type", "adam"},
         {"config", opt.config()},
         {"step", opt.step_count()},
         {"m", std::vector<T>(m.data(), m.data() + m.size())},
         {"v", std::vector<T>(v.data(), v.data() + v.size())}};
}

/// A whole checkpoint (header and network) as JSON.
template <typename T>
[[nodiscard]] nlohmann::json make_checkpoint(const mlp<T>& net) {
    return {{"format", checkpoint_format}, {"version", checkpoint_version}, {"network", net}};
}

/// A whole checkpoint (header, network and optimiser state) as JSON.
template <typename T>
[[nodiscard]] nlohmann::json make_checkpoint(const mlp<T>& net, const adam<T>& opt) {
    // An optimiser of another network would make a file that never loads
    // (and save_checkpoint would have replaced a good one with it).
    if (opt.parameter_count() != net.parameters().size()) {
        throw error("make_checkpoint: the optimiser holds state for " + std::to_string(opt.parameter_count()) +
                    " parameters, the network has " + std::to_string(net.parameters().size()));
    }
    auto j = make_checkpoint(net);
    j["optimizer"] = opt;
    return j;
}

/// The layers a checkpoint's "network" field declares, believed only once
/// its arrays are seen to hold that many weights and biases: a size read
/// from here can be allocated. The header is not checked (a caller that
/// reads an old checkpoint's architecture does that itself). Throws
/// checkpoint_error naming the field.
[[nodiscard]] inline std::vector<layer_spec> checked_layer_specs(const nlohmann::json& checkpoint) {
    const auto& network = detail::require_field(checkpoint, "network", "");
    auto specs = detail::read_layer_specs(network, "network");
    detail::check_declared_shapes(network, specs, "network");
    return specs;
}

/// A new network built from a checkpoint's architecture and weights.
template <typename T>
[[nodiscard]] mlp<T> network_from_checkpoint(const nlohmann::json& checkpoint) {
    check_checkpoint_header(checkpoint);
    mlp<T> net(checked_layer_specs(checkpoint));
    net.parameters() = detail::read_parameters<T>(checkpoint.at("network"), net.layout(), "network");
    return net;
}

/// Loads a checkpoint's weights into `net`, whose architecture must match.
/// All or nothing: on any error `net` is unchanged.
template <typename T>
void restore_checkpoint(const nlohmann::json& checkpoint, mlp<T>& net) {
    check_checkpoint_header(checkpoint);
    const auto values =
        detail::read_parameters<T>(detail::require_field(checkpoint, "network", ""), net.layout(), "network");
    net.parameters() = values;
}

/// Loads weights into `net` and optimiser state into `opt`. All or nothing:
/// both are validated before either changes.
template <typename T>
void restore_checkpoint(const nlohmann::json& checkpoint, mlp<T>& net, adam<T>& opt) {
    check_checkpoint_header(checkpoint);
    const auto values =
        detail::read_parameters<T>(detail::require_field(checkpoint, "network", ""), net.layout(), "network");
    const auto& o = detail::require_field(checkpoint, "optimizer", "");
    const std::string type = detail::require_string(detail::require_field(o, "type", "optimizer"), "optimizer.type");
    if (type != "adam") {
        throw checkpoint_error("optimizer.type", "is \"" + type + "\", expected \"adam\"");
    }
    if (opt.parameter_count() != net.parameter_count()) {
        throw error("restore_checkpoint: the optimiser was made for " + std::to_string(opt.parameter_count()) +
                    " parameters, the network has " + std::to_string(net.parameter_count()));
    }
    adam_config config;
    std::optional<adam<T>> fresh;
    try {
        detail::read_adam_config(detail::require_field(o, "config", "optimizer"), config, "optimizer.config");
        fresh.emplace(net.parameter_count(), config);
    } catch (const checkpoint_error&) {
        throw;
    } catch (const config_error& e) {
        // adam<T> refusing the config (bfloat16 moments of a double
        // optimiser) names it "adam_config"; it is at optimizer.config.
        constexpr std::string_view own = "adam_config";
        const std::string& field = e.field();
        const std::string where = field.starts_with(own) ? "optimizer.config" + field.substr(own.size()) : field;
        throw checkpoint_error(where, e.detail());
    }
    const std::int64_t step = detail::require_integer(detail::require_field(o, "step", "optimizer"), 0, "optimizer.step");
    const auto m = detail::read_flat<T>(detail::require_field(o, "m", "optimizer"), net.parameter_count(), "optimizer.m");
    const auto v = detail::read_flat<T>(detail::require_field(o, "v", "optimizer"), net.parameter_count(), "optimizer.v");
    for (Eigen::Index i = 0; i < v.size(); ++i) {
        if (v[i] < 0) {
            throw checkpoint_error("optimizer.v[" + std::to_string(i) + "]", "second moment must be >= 0, got " +
                                                                                 std::to_string(v[i]));
        }
    }
    if (config.moments == moment_storage::bfloat16) {
        // Finite as floats, but past bfloat16's largest value they would be
        // stored as infinity (adam::restore refuses them too, unnamed here).
        for (const auto& [part, name] : {std::pair{&m, "m"}, std::pair{&v, "v"}}) {
            for (Eigen::Index i = 0; i < part->size(); ++i) {
                const auto x = static_cast<float>((*part)[i]);
                if (!std::isfinite(detail::from_bf16(detail::to_bf16(x)))) {
                    throw checkpoint_error(std::string("optimizer.") + name + "[" + std::to_string(i) + "]",
                                           "is " + format_number(x) + ", beyond bfloat16's range (optimizer.config.moments is bfloat16)");
                }
            }
        }
    }
    fresh->restore(step, m, v);
    // Everything is valid: commit.
    net.parameters() = values;
    opt = std::move(*fresh);
}

/// The deepest nesting a checkpoint file may have (a checkpoint is 5 levels deep).
inline constexpr std::size_t max_checkpoint_depth = 32;

/// The largest checkpoint file read_checkpoint_file reads: 1 GiB. The
/// papers' networks with their Adam moments take megabytes of JSON at
/// most (CleanRL's 256 × 256 DDPG networks have 144,135 parameters), so a
/// file a hundred times larger is not a checkpoint; it
/// is refused before it is read, so a wrong path (a disk image, a log)
/// cannot take a serving process's memory.
inline constexpr std::uintmax_t max_checkpoint_bytes = std::uintmax_t{1} << 30;

/// The most values (numbers, arrays, objects, strings, members' values; by
/// json_value_bound, which counts commas and opening brackets) a checkpoint
/// file read_checkpoint_file parses may hold: 2^23, 8,388,608, room for a
/// network of 2.7 million parameters with both Adam moments (CleanRL's
/// 256 × 256 DDPG networks have 144,135). A parsed value takes tens of
/// bytes however short its text ("[]," is three bytes and about 60 once
/// built), so the byte limit alone would let a file under it take twenty
/// times its size; with this one a file is refused before it is parsed,
/// and parsing one that passes takes at most about half a gigabyte more
/// than its text.
inline constexpr std::size_t max_checkpoint_values = std::size_t{1} << 23;

/// Reads a checkpoint file's bytes, unparsed: what read_checkpoint_file
/// parses (parse_checkpoint_text), for a caller that also needs the bytes
/// themselves (the controller digests them to tell a changed file from the
/// one it serves, and must digest the bytes it parsed, not another read of
/// a path that may have been replaced meanwhile). Throws checkpoint_error
/// when the file cannot be opened, is not a regular file (a directory, a
/// device, a pipe), holds more than max_checkpoint_bytes or changes size
/// while it is read.
[[nodiscard]] inline std::string read_checkpoint_bytes(const std::filesystem::path& path) {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) throw checkpoint_error("", "'" + path.string() + "' is a directory, not a checkpoint file");
    // What is checked and read is the file opened, whatever replaces the
    // path meanwhile. O_NONBLOCK: opening a pipe does not wait for a writer
    // (a regular file's reads are not affected).
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) throw checkpoint_error("", "cannot open '" + path.string() + "': " + std::strerror(errno));
    struct closer {
        int fd;
        ~closer() { ::close(fd); }
    } const close_it{fd};
    struct ::stat st {};
    if (::fstat(fd, &st) != 0) throw checkpoint_error("", "cannot stat '" + path.string() + "': " + std::strerror(errno));
    // A device (/dev/zero) or a pipe would be read without end.
    if (!S_ISREG(st.st_mode)) throw checkpoint_error("", "'" + path.string() + "' is not a regular file, so not a checkpoint file");
    const auto size = static_cast<std::uintmax_t>(st.st_size);
    if (size > max_checkpoint_bytes) {
        throw checkpoint_error("", "'" + path.string() + "' holds " + std::to_string(size) + " bytes; a checkpoint file holds at most " +
                                       std::to_string(max_checkpoint_bytes) + " (max_checkpoint_bytes)");
    }
    // One byte past the size is asked for: a file that grows while it is
    // read is refused too (a checkpoint is replaced whole, by a rename).
    std::string text(static_cast<std::size_t>(size) + 1, '\0');
    std::size_t got = 0;
    while (got < text.size()) {
        const ::ssize_t n = ::read(fd, text.data() + got, text.size() - got);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw checkpoint_error("", "cannot read '" + path.string() + "': " + std::strerror(errno));
        if (n == 0) break;
        got += static_cast<std::size_t>(n);
    }
    if (got != size) {
        throw checkpoint_error("", "'" + path.string() + "' changed size while it was read (" + std::to_string(size) + " bytes, then " +
                                       std::to_string(got) + (got > size ? " or more" : "") +
                                       "); a checkpoint is replaced whole, by a rename");
    }
    text.resize(static_cast<std::size_t>(size));
    return text;
}

/// Parses a checkpoint file's bytes as read_checkpoint_file does (`path`
/// names the file in messages). Throws checkpoint_error when `text` is not
/// well-formed JSON (e.g. truncated, or holding a NUL byte anywhere, which
/// the parser would take as the end of the file), is nested deeper than
/// max_checkpoint_depth or holds more than max_checkpoint_values values
/// (both refused before it is built), or has a key twice in one object
/// (naming its path, e.g. "serving.guard.max_step_up": the parser would
/// keep the last value, which a reader of the file from the top does not
/// see).
[[nodiscard]] inline nlohmann::json parse_checkpoint_text(std::string_view text, const std::filesystem::path& path) {
    if (json_nesting_depth(text, max_checkpoint_depth) > max_checkpoint_depth) {
        throw checkpoint_error("", "'" + path.string() + "' is nested deeper than " + std::to_string(max_checkpoint_depth) +
                                       " levels; a checkpoint is not");
    }
    if (const std::size_t values = json_value_bound(text, max_checkpoint_values); values > max_checkpoint_values) {
        throw checkpoint_error("", "'" + path.string() + "' holds more than " + std::to_string(max_checkpoint_values) +
                                       " values (max_checkpoint_values); a checkpoint does not");
    }
    // nlohmann's parser stops at a NUL byte: a checkpoint, a NUL and
    // anything after it would load as the checkpoint alone.
    if (const std::size_t nul = rlscale::detail::first_nul_byte(text); nul != std::string_view::npos) {
        throw checkpoint_error("", "'" + path.string() + "' is not well-formed JSON (truncated or corrupt): a NUL byte at offset " +
                                       std::to_string(nul));
    }
    try {
        return nlohmann::json::parse(text, rlscale::detail::duplicate_keys<checkpoint_error>{});
    } catch (const checkpoint_error& e) {  // a repeated key, by its path
        throw checkpoint_error(e.field(), e.message() + " in '" + path.string() + "'");
    } catch (const nlohmann::json::parse_error& e) {
        throw checkpoint_error("", "'" + path.string() + "' is not well-formed JSON (truncated or corrupt) at byte " +
                                       std::to_string(e.byte) + ": " + e.what());
    } catch (const nlohmann::json::exception& e) {  // e.g. a number too large for a double (1e400)
        throw checkpoint_error("", "'" + path.string() + "' cannot be read as a checkpoint: " + e.what());
    }
}

/// Reads and parses a checkpoint file: read_checkpoint_bytes, then
/// parse_checkpoint_text. Throws checkpoint_error when it cannot be opened,
/// is not a regular file (a directory, a device, a pipe), holds more than
/// max_checkpoint_bytes, is not well-formed JSON (e.g. truncated), is
/// nested deeper than max_checkpoint_depth or holds more than
/// max_checkpoint_values values (both refused before it is built), or has
/// a key twice in one object.
[[nodiscard]] inline nlohmann::json read_checkpoint_file(const std::filesystem::path& path) {
    return parse_checkpoint_text(read_checkpoint_bytes(path), path);
}

/// Writes `checkpoint` to `path` atomically and durably: to a temporary file
/// of its own beside it (so concurrent writers never share one), synced to
/// disk, then renamed over `path`, and the directory synced, so a reader
/// never sees a half-written file and a crash never leaves an empty one.
///
/// A checkpoint read_checkpoint_file would refuse is not written: one of
/// more than max_checkpoint_values values (a network of about 2.7 million
/// parameters with both Adam moments) or max_checkpoint_bytes bytes throws
/// checkpoint_error naming the path, and the file is left as it was.
inline void write_checkpoint_file(const std::filesystem::path& path, const nlohmann::json& checkpoint) {
    const std::string text = checkpoint.dump() + '\n';
    if (const std::size_t values = json_value_bound(text, max_checkpoint_values); values > max_checkpoint_values) {
        throw checkpoint_error("", "not writing '" + path.string() + "': the checkpoint holds more than " + std::to_string(max_checkpoint_values) +
                                       " values (max_checkpoint_values), which a load refuses");
    }
    if (text.size() > max_checkpoint_bytes) {
        throw checkpoint_error("", "not writing '" + path.string() + "': the checkpoint takes " + std::to_string(text.size()) +
                                       " bytes, more than a load reads (max_checkpoint_bytes, " + std::to_string(max_checkpoint_bytes) + ")");
    }
    rlscale::detail::write_file_atomically(path, "checkpoint", text);
}

template <typename T>
void save_checkpoint(const std::filesystem::path& path, const mlp<T>& net) {
    write_checkpoint_file(path, make_checkpoint(net));
}

template <typename T>
void save_checkpoint(const std::filesystem::path& path, const mlp<T>& net, const adam<T>& opt) {
    write_checkpoint_file(path, make_checkpoint(net, opt));
}

template <typename T>
void load_checkpoint(const std::filesystem::path& path, mlp<T>& net) {
    restore_checkpoint(read_checkpoint_file(path), net);
}

template <typename T>
void load_checkpoint(const std::filesystem::path& path, mlp<T>& net, adam<T>& opt) {
    restore_checkpoint(read_checkpoint_file(path), net, opt);
}

}  // namespace rlscale::nn
