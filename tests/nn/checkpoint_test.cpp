#include <rlscale/nn/checkpoint.hpp>

#include <doctest/doctest.h>

#include <sys/stat.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <string_view>
#include <thread>
#include "../temp_path.hpp"

namespace test_nn_checkpoint {

using namespace rlscale::nn;
using json = nlohmann::json;
using rlscale::checkpoint_error;
using rlscale::rng;

namespace {

using rlscale::test::fresh_path;

/// A trained-looking network and optimiser: initialised, then a few Adam
/// steps so the moments are non-trivial.
template <typename T>
void make_trained(mlp<T>& net, adam<T>& opt, std::uint64_t seed) {
    rng gen(seed);
    net.initialize(init_scheme::torch_default, gen);
    Eigen::Matrix<T, Eigen::Dynamic, 1> g(net.parameter_count());
    for (int s = 0; s < 3; ++s) {
        for (Eigen::Index i = 0; i < g.size(); ++i) g[i] = static_cast<T>(rlscale::uniform(gen, -1, 1));
        opt.step(net.parameters(), g);
    }
}

/// Loading `j` into a fresh network must fail naming `field`, and leave the
/// network's parameters exactly as they were.
void check_rejected(const json& j, const std::string& field) {
    CAPTURE(field);
    mlp<float> net({3, 4, 2});
    rng gen(1);
    net.initialize(init_scheme::torch_default, gen);
    const Eigen::VectorXf before = net.parameters();
    try {
        restore_checkpoint(j, net);
        FAIL("restore_checkpoint accepted a bad checkpoint");
    } catch (const checkpoint_error& e) {
        CHECK(e.field() == field);
        const std::string what = e.what();
        const auto at = what.find(field);
        CHECK(at != std::string::npos);
        // Named once: a rethrown error does not carry its inner name too.
        CHECK_MESSAGE(what.find(field + ": ", at + field.size()) == std::string::npos, what);
    }
    CHECK(net.parameters() == before);
}

json valid_checkpoint() {
    mlp<float> net({3, 4, 2});
    rng gen(2);
    net.initialize(init_scheme::torch_default, gen);
    return make_checkpoint(net);
}

}  // namespace

TEST_CASE_TEMPLATE("checkpoint round trip through a file is bit-exact, with the optimiser state", T, float, double) {
    mlp<T> net({7, 16, 16, 9});
    adam<T> opt(net.parameter_count(), adam_config::scarlet());
    make_trained(net, opt, 11);
    const auto path = fresh_path("checkpoint", std::string("roundtrip_") + std::string(scalar_name<T>()) + ".json");
    save_checkpoint(path, net, opt);

    mlp<T> loaded({7, 16, 16, 9});
    adam<T> loaded_opt(loaded.parameter_count());
    load_checkpoint(path, loaded, loaded_opt);
    CHECK(std::memcmp(loaded.parameters().data(), net.parameters().data(),
                      sizeof(T) * static_cast<std::size_t>(net.parameter_count())) == 0);
    CHECK(loaded_opt.step_count() == 3);
    CHECK(loaded_opt.config() == adam_config::scarlet());
    CHECK(loaded_opt.first_moment() == opt.first_moment());
    CHECK(loaded_opt.second_moment() == opt.second_moment());

    // A network built from the file alone has the same architecture too.
    const mlp<T> rebuilt = network_from_checkpoint<T>(read_checkpoint_file(path));
    CHECK(rebuilt.layers() == net.layers());
    CHECK(rebuilt.parameters() == net.parameters());

    // Continuing training from either gives identical results.
    Eigen::Matrix<T, Eigen::Dynamic, 1> g = Eigen::Matrix<T, Eigen::Dynamic, 1>::Constant(net.parameter_count(), T(0.3));
    opt.step(net.parameters(), g);
    loaded_opt.step(loaded.parameters(), g);
    CHECK(loaded.parameters() == net.parameters());
}

TEST_CASE("checkpoint stores weights as PyTorch does: out × in rows") {
    mlp<double> net(std::vector<layer_spec>{{2, 3, activation::tanh}});
    net.weight(0) << 1, 2, 3, 4, 5, 6;  // row-major fill of the 3 × 2 matrix
    const json j = make_checkpoint(net);
    CHECK(j["network"]["layers"][0]["weight"] == json::parse("[[1.0,2.0],[3.0,4.0],[5.0,6.0]]"));
    CHECK(j["network"]["layers"][0]["activation"] == "tanh");
    CHECK(j["format"] == "rlscale.checkpoint");
    CHECK(j["version"] == 1);
}

TEST_CASE("checkpoint loading rejects every kind of bad input and leaves the network untouched") {
    SUBCASE("shape mismatch") {
        mlp<float> wider({3, 5, 2});
        check_rejected(make_checkpoint(wider), "network.layers[0]");
    }
    SUBCASE("layer count mismatch") {
        mlp<float> deeper({3, 4, 4, 2});
        check_rejected(make_checkpoint(deeper), "network.layers");
    }
    SUBCASE("activation mismatch") {
        mlp<float> tanh_net({3, 4, 2}, activation::tanh);
        check_rejected(make_checkpoint(tanh_net), "network.layers[0].activation");
    }
    SUBCASE("NaN weight (written as null)") {
        auto j = valid_checkpoint();
        j["network"]["layers"][1]["weight"][1][2] = std::numeric_limits<double>::quiet_NaN();
        check_rejected(json::parse(j.dump()), "network.layers[1].weight[1][2]");
    }
    SUBCASE("infinite weight in the target's scalar type") {
        auto j = valid_checkpoint();
        j["network"]["layers"][0]["bias"][3] = 1e39;  // finite as a double, infinite as a float
        check_rejected(j, "network.layers[0].bias[3]");
    }
    SUBCASE("a scalar type this reader does not know (an int8 copy)") {
        auto j = valid_checkpoint();
        j["network"]["scalar"] = "int8";
        check_rejected(j, "network.scalar");
        j["network"]["scalar"] = 8;
        check_rejected(j, "network.scalar");
    }
    SUBCASE("a weight that is not a number") {
        auto j = valid_checkpoint();
        j["network"]["layers"][0]["weight"][0][0] = "0.5";
        check_rejected(j, "network.layers[0].weight[0][0]");
    }
    SUBCASE("a row of the wrong length") {
        auto j = valid_checkpoint();
        j["network"]["layers"][0]["weight"][2].erase(0);
        check_rejected(j, "network.layers[0].weight[2]");
    }
    SUBCASE("missing bias") {
        auto j = valid_checkpoint();
        j["network"]["layers"][1].erase("bias");
        check_rejected(j, "network.layers[1].bias");
    }
    SUBCASE("unknown version") {
        auto j = valid_checkpoint();
        j["version"] = 2;
        check_rejected(j, "version");
    }
    SUBCASE("another format") {
        auto j = valid_checkpoint();
        j["format"] = "pytorch";
        check_rejected(j, "format");
    }
    SUBCASE("unknown activation") {
        auto j = valid_checkpoint();
        j["network"]["layers"][0]["activation"] = "gelu";
        check_rejected(j, "network.layers[0].activation");
    }
    SUBCASE("layers that do not chain") {
        auto j = valid_checkpoint();
        j["network"]["layers"][1]["in"] = 5;
        check_rejected(j, "network.layers[1].in");
    }
    SUBCASE("not an object") { check_rejected(json::array({1, 2}), "(top level)"); }
}

TEST_CASE("checkpoint files that are truncated, malformed or missing are rejected by name") {
    mlp<float> net({3, 4, 2});
    rng gen(3);
    net.initialize(init_scheme::torch_default, gen);
    const Eigen::VectorXf before = net.parameters();
    const std::string text = make_checkpoint(net).dump();

    SUBCASE("truncated") {
        const auto path = fresh_path("checkpoint", "truncated.json");
        std::ofstream(path) << text.substr(0, text.size() / 2);
        CHECK_THROWS_WITH_AS(load_checkpoint(path, net), doctest::Contains("not well-formed JSON (truncated or corrupt)"),
                             checkpoint_error);
    }
    SUBCASE("malformed") {
        const auto path = fresh_path("checkpoint", "malformed.json");
        std::ofstream(path) << "{\"format\": rlscale}";
        CHECK_THROWS_WITH_AS(load_checkpoint(path, net), doctest::Contains("malformed.json"), checkpoint_error);
    }
    SUBCASE("missing") {
        CHECK_THROWS_WITH_AS(load_checkpoint(fresh_path("checkpoint", "does-not-exist.json"), net),
                             doctest::Contains("cannot open"), checkpoint_error);
    }
    CHECK(net.parameters() == before);
}

TEST_CASE("optimiser state is validated too, and a bad one changes neither network nor optimiser") {
    mlp<float> source({3, 4, 2});
    adam<float> source_opt(source.parameter_count());
    make_trained(source, source_opt, 5);
    json j = make_checkpoint(source, source_opt);

    mlp<float> net({3, 4, 2});
    adam<float> opt(net.parameter_count());
    make_trained(net, opt, 6);
    const Eigen::VectorXf net_before = net.parameters();
    const Eigen::VectorXf m_before = opt.first_moment();

    const auto expect_field = [&](const json& bad, const std::string& field) {
        CAPTURE(field);
        try {
            restore_checkpoint(bad, net, opt);
            FAIL("accepted");
        } catch (const checkpoint_error& e) {
            CHECK(e.field() == field);
        }
        CHECK(net.parameters() == net_before);
        CHECK(opt.first_moment() == m_before);
        CHECK(opt.step_count() == 3);
    };
    SUBCASE("missing optimizer") { expect_field(make_checkpoint(source), "optimizer"); }
    SUBCASE("negative second moment") {
        json bad = j;
        bad["optimizer"]["v"][4] = -1.0;
        expect_field(bad, "optimizer.v[4]");
    }
    SUBCASE("moment of the wrong size") {
        json bad = j;
        bad["optimizer"]["m"].erase(0);
        expect_field(bad, "optimizer.m");
    }
    SUBCASE("bad learning rate") {
        json bad = j;
        bad["optimizer"]["config"]["lr"] = -0.1;
        expect_field(bad, "optimizer.config.lr");
    }
    SUBCASE("missing learning rate: named where it is missing") {
        json bad = j;
        bad["optimizer"]["config"]["lr"] = nullptr;
        expect_field(bad, "optimizer.config.lr");
    }
    SUBCASE("a step beyond int64: refused with the value as written") {
        json bad = j;
        bad["optimizer"]["step"] = std::numeric_limits<std::uint64_t>::max();
        expect_field(bad, "optimizer.step");
        try {
            mlp<float> net2({3, 4, 2});
            adam<float> opt2(net2.parameter_count());
            restore_checkpoint(bad, net2, opt2);
            FAIL("accepted");
        } catch (const checkpoint_error& e) {
            CHECK(std::string(e.what()).find("18446744073709551615") != std::string::npos);
        }
    }
    SUBCASE("negative step") {
        json bad = j;
        bad["optimizer"]["step"] = -3;
        expect_field(bad, "optimizer.step");
    }
    SUBCASE("unknown moment storage") {
        json bad = j;
        bad["optimizer"]["config"]["moments"] = "float8";
        expect_field(bad, "optimizer.config.moments");
    }
}

TEST_CASE("a checkpoint with bfloat16 Adam moments round-trips and continues bit for bit, and a double optimiser refuses it, changing nothing") {
    using rlscale::nn::moment_storage;
    const adam_config half{.lr = 0.01, .moments = moment_storage::bfloat16, .rounding_seed = 5};
    mlp<float> net({3, 8, 2});
    adam<float> opt(net.parameter_count(), half);
    make_trained(net, opt, 7);
    const auto path = fresh_path("checkpoint", "bfloat16_moments.json");
    save_checkpoint(path, net, opt);

    mlp<float> loaded({3, 8, 2});
    adam<float> loaded_opt(loaded.parameter_count());
    load_checkpoint(path, loaded, loaded_opt);
    CHECK(loaded_opt.config() == half);
    CHECK(loaded_opt.state_bytes() == opt.state_bytes());
    CHECK(loaded_opt.first_moment() == opt.first_moment());
    CHECK(loaded_opt.second_moment() == opt.second_moment());
    const Eigen::VectorXf g = Eigen::VectorXf::LinSpaced(net.parameter_count(), -0.3F, 0.4F);
    for (int k = 0; k < 5; ++k) {
        opt.step(net.parameters(), g);
        loaded_opt.step(loaded.parameters(), g);
    }
    CHECK(loaded.parameters() == net.parameters());
    CHECK(loaded_opt.second_moment() == opt.second_moment());

    mlp<double> dnet({3, 8, 2});
    adam<double> dopt(dnet.parameter_count());
    const Eigen::VectorXd dbefore = dnet.parameters();
    try {
        load_checkpoint(path, dnet, dopt);
        FAIL("accepted");
    } catch (const checkpoint_error& e) {
        CHECK(e.field() == "optimizer.config.moments");
    }
    CHECK(dnet.parameters() == dbefore);
    CHECK(dopt.config() == adam_config{});
    CHECK(dopt.step_count() == 0);

    // A moment finite as a float but past bfloat16's range: a checkpoint
    // error naming it, and nothing changed.
    nlohmann::json j = nlohmann::json::parse(std::ifstream(path));
    j["optimizer"]["v"][3] = 3.4e38;
    mlp<float> other({3, 8, 2});
    adam<float> other_opt(other.parameter_count());
    const Eigen::VectorXf other_before = other.parameters();
    try {
        restore_checkpoint(j, other, other_opt);
        FAIL("accepted");
    } catch (const checkpoint_error& e) {
        CHECK(e.field() == "optimizer.v[3]");
        CHECK(std::string(e.what()).find("bfloat16") != std::string::npos);
    }
    CHECK(other.parameters() == other_before);
    CHECK(other_opt.step_count() == 0);
}

TEST_CASE("saving a network with a non-finite parameter is refused and leaves any old file in place") {
    mlp<float> net({3, 4, 2});
    const auto path = fresh_path("checkpoint", "nonfinite.json");
    save_checkpoint(path, net);
    net.parameters()[5] = std::numeric_limits<float>::infinity();
    CHECK_THROWS_WITH_AS(save_checkpoint(path, net), doctest::Contains("not finite"), rlscale::error);
    mlp<float> reloaded({3, 4, 2});
    reloaded.parameters().setOnes();
    load_checkpoint(path, reloaded);
    CHECK(reloaded.parameters().isZero());
}

TEST_CASE("a checkpoint written over an old one keeps the old file's permissions, and a new one gets 0644") {
    mlp<float> net({3, 4, 2});
    const auto path = fresh_path("checkpoint", "private.json");
    std::filesystem::remove(path);
    save_checkpoint(path, net);
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0644);
    REQUIRE(::chmod(path.c_str(), 0600) == 0);  // an operator made it private
    save_checkpoint(path, net);
    REQUIRE(::stat(path.c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0600);
}

TEST_CASE("a checkpoint declaring a huge layer is refused before anything is allocated") {
    // 250 bytes declaring a 2,000,000,000-wide layer: checked against the
    // arrays it actually holds, not allocated (under a memory limit this was
    // std::bad_alloc; with overcommit, the OOM killer).
    const json huge = json::parse(R"({"format":"rlscale.checkpoint","version":1,"network":{"scalar":"float32","layers":[
        {"in":2000000000,"out":2000000000,"activation":"relu","weight":[[1]],"bias":[0]}]}})");
    CHECK_THROWS_WITH_AS((void)network_from_checkpoint<float>(huge), doctest::Contains("network.layers[0].weight"), checkpoint_error);
    // in × out beyond any index type: refused by name, no overflow.
    json overflow = huge;
    overflow["network"]["layers"][0]["in"] = std::numeric_limits<std::int64_t>::max();
    overflow["network"]["layers"][0]["out"] = std::numeric_limits<std::int64_t>::max();
    CHECK_THROWS_AS((void)network_from_checkpoint<float>(overflow), checkpoint_error);
    // Rows of the wrong length are found before allocation too.
    const json ragged = json::parse(R"({"format":"rlscale.checkpoint","version":1,"network":{"scalar":"float32","layers":[
        {"in":3,"out":2,"activation":"relu","weight":[[1,2,3],[4]],"bias":[0,0]}]}})");
    CHECK_THROWS_WITH_AS((void)network_from_checkpoint<float>(ragged), doctest::Contains("network.layers[0].weight[1]"), checkpoint_error);
    // checked_layer_specs, for callers that size things from an architecture
    // without building the network, refuses the same files the same way.
    CHECK_THROWS_WITH_AS((void)rlscale::nn::checked_layer_specs(huge), doctest::Contains("network.layers[0].weight"), checkpoint_error);
    CHECK_THROWS_WITH_AS((void)rlscale::nn::checked_layer_specs(ragged), doctest::Contains("network.layers[0].weight[1]"), checkpoint_error);
    json ok = ragged;
    ok["network"]["layers"][0]["weight"][1] = json::array({4, 5, 6});
    const auto specs = rlscale::nn::checked_layer_specs(ok);
    REQUIRE(specs.size() == 1);
    CHECK(specs[0].in == 3);
    CHECK(specs[0].out == 2);
}

TEST_CASE("a checkpoint file with a number beyond a double, or a directory, is a checkpoint_error naming the file") {
    const auto path = fresh_path("checkpoint", "overflow.json");
    {
        std::ofstream out(path);
        out << R"({"format":"rlscale.checkpoint","version":1,"network":{"layers":[{"in":1e400}]}})";
    }
    CHECK_THROWS_WITH_AS((void)read_checkpoint_file(path), doctest::Contains("overflow.json' cannot be read as a checkpoint"),
                         checkpoint_error);
    const auto dir = fresh_path("checkpoint", "a_directory");
    std::filesystem::create_directories(dir);
    CHECK_THROWS_WITH_AS((void)read_checkpoint_file(dir), doctest::Contains("a_directory' is a directory"), checkpoint_error);
}

TEST_CASE("a checkpoint file with a key twice in one object is refused, naming the key's path, and leaves the network untouched") {
    mlp<float> net({3, 4, 2});
    rng gen(5);
    net.initialize(init_scheme::torch_default, gen);
    const Eigen::VectorXf before = net.parameters();
    const std::string text = make_checkpoint(net).dump();
    const auto write = [](const std::string& name, const std::string& body) {
        const auto path = fresh_path("checkpoint", name);
        std::ofstream(path, std::ios::binary) << body;
        return path;
    };
    const auto refusal = [](const std::filesystem::path& path) -> std::pair<std::string, std::string> {
        try {
            (void)read_checkpoint_file(path);
        } catch (const checkpoint_error& e) {
            return {e.field(), e.message()};
        }
        return {"", "accepted"};
    };
    SUBCASE("at the top") {
        // The last "version" would be the one read; the first is what a reader sees.
        const auto path = write("twice_top.json", text.substr(0, text.size() - 1) + R"(,"version":99})");
        CHECK(refusal(path) == std::pair<std::string, std::string>{"version", "appears twice in '" + path.string() + "'"});
        CHECK_THROWS_AS(load_checkpoint(path, net), checkpoint_error);
    }
    SUBCASE("in an object inside an array") {
        // A second "out" in the first layer: the path names the layer.
        const std::size_t at = text.find("\"out\":");
        REQUIRE(at != std::string::npos);
        std::string twice = text;
        twice.insert(at, R"("out":4,)");
        const auto path = write("twice_layer.json", twice);
        CHECK(refusal(path).first == "network.layers[0].out");
        CHECK_THROWS_AS(load_checkpoint(path, net), checkpoint_error);
    }
    SUBCASE("the same key in two objects is not a repeat") {
        const auto path = write("twice_not.json", text);
        CHECK(refusal(path) == std::pair<std::string, std::string>{"", "accepted"});
        // And the bytes read, parsed, are what read_checkpoint_file returns.
        CHECK(parse_checkpoint_text(read_checkpoint_bytes(path), path) == read_checkpoint_file(path));
    }
    CHECK(net.parameters() == before);
}

TEST_CASE("first_nul_byte: the offset of the first NUL byte anywhere, none for one escaped in a string") {
    CHECK(rlscale::detail::first_nul_byte("") == std::string_view::npos);
    CHECK(rlscale::detail::first_nul_byte(R"({"a":"\u0000"})") == std::string_view::npos);
    CHECK(rlscale::detail::first_nul_byte(std::string_view("{}\0x\0", 5)) == 2);
    CHECK(rlscale::detail::first_nul_byte(std::string_view("\0", 1)) == 0);
    CHECK(rlscale::detail::first_nul_byte(std::string_view("\"a\0\"", 4)) == 2);  // inside a string too
}

TEST_CASE("a checkpoint file with a NUL byte anywhere is not well-formed JSON, named by its offset, and leaves the network untouched") {
    mlp<float> net({3, 4, 2});
    rng gen(6);
    net.initialize(init_scheme::torch_default, gen);
    const Eigen::VectorXf before = net.parameters();
    const std::string text = make_checkpoint(net).dump();
    const auto refusal = [](const std::string& name, const std::string& body) -> std::string {
        const auto path = fresh_path("checkpoint", name);
        std::ofstream(path, std::ios::binary) << body;
        try {
            (void)read_checkpoint_file(path);
        } catch (const checkpoint_error& e) {
            return e.message();
        }
        return "accepted";
    };
    // After a whole checkpoint, the parser stopped at the NUL and loaded the
    // checkpoint alone, whatever followed.
    for (const std::string& tail : {std::string(1, '\0'), std::string("\0garbage {{{", 12), std::string("\0,\"version\":99}", 15)}) {
        CAPTURE(tail.size());
        const std::string message = refusal("nul_after.json", text + tail);
        CHECK(message.find("nul_after.json' is not well-formed JSON (truncated or corrupt): a NUL byte at offset " +
                           std::to_string(text.size())) != std::string::npos);
        const auto path = fresh_path("checkpoint", "nul_load.json");
        std::ofstream(path, std::ios::binary) << text + tail;
        CHECK_THROWS_WITH_AS(load_checkpoint(path, net), doctest::Contains("a NUL byte at offset"), checkpoint_error);
    }
    // Raw inside a string, at its own offset; a file of NULs (a crash's
    // preallocated blocks), at 0.
    std::string inside = text;
    const std::size_t format = inside.find("rlscale.checkpoint");
    REQUIRE(format != std::string::npos);
    inside[format + 7] = '\0';
    CHECK(refusal("nul_inside.json", inside).find("a NUL byte at offset " + std::to_string(format + 7)) != std::string::npos);
    CHECK(refusal("nul_zeros.json", std::string(4096, '\0')).find("a NUL byte at offset 0") != std::string::npos);
    // Written as the escape \u0000 inside a string it is JSON, read as before.
    const auto escaped = fresh_path("checkpoint", "nul_escaped.json");
    std::ofstream(escaped, std::ios::binary) << R"({"note":"a\u0000b"})";
    CHECK(read_checkpoint_file(escaped).at("note").get<std::string>() == std::string("a\0b", 3));
    CHECK(net.parameters() == before);
}

TEST_CASE("a device, a pipe or a file over max_checkpoint_bytes is refused by name before it is read") {
    CHECK_THROWS_WITH_AS((void)read_checkpoint_file("/dev/zero"), doctest::Contains("'/dev/zero' is not a regular file"), checkpoint_error);
    const auto fifo = fresh_path("checkpoint", "a_pipe");
    std::filesystem::remove(fifo);
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    // Refused at once: opening it does not wait for a writer.
    CHECK_THROWS_WITH_AS((void)read_checkpoint_file(fifo), doctest::Contains("a_pipe' is not a regular file"), checkpoint_error);
    // A sparse file one byte over the limit: refused by its size, unread.
    const auto big = fresh_path("checkpoint", "too_big.json");
    {
        std::ofstream out(big);
    }
    std::filesystem::resize_file(big, rlscale::nn::max_checkpoint_bytes + 1);
    CHECK_THROWS_WITH_AS((void)read_checkpoint_file(big), doctest::Contains("too_big.json' holds 1073741825 bytes; a checkpoint file holds at most 1073741824"),
                         checkpoint_error);
    std::filesystem::remove(big);
    CHECK_THROWS_WITH_AS((void)read_checkpoint_file(fresh_path("checkpoint", "no_such_file.json")), doctest::Contains("cannot open"), checkpoint_error);
}

TEST_CASE("a checkpoint file of more values than max_checkpoint_values is refused before it is parsed") {
    const auto path = fresh_path("checkpoint", "many_values.json");
    const auto text = [](std::size_t arrays) {
        std::string t = R"({"format":"rlscale.checkpoint","version":1,"network":{"layers":[)";
        for (std::size_t i = 0; i < arrays; ++i) t += i == 0 ? "[]" : ",[]";
        return t + "]}}";
    };
    // The bound: 1, then 2 commas and 3 opening brackets before the layers, 1 for the first array and 2 for each
    // after it: 5 + 2·n. n = (L − 6) / 2 gives L − 1, under the limit L; one more array gives L + 1.
    const std::size_t n = (rlscale::nn::max_checkpoint_values - 6) / 2;
    CHECK(rlscale::json_value_bound(text(n)) == rlscale::nn::max_checkpoint_values - 1);
    CHECK(rlscale::json_value_bound(text(n + 1)) == rlscale::nn::max_checkpoint_values + 1);
    {
        std::ofstream out(path);
        out << text(n + 1);
    }
    CHECK_THROWS_WITH_AS((void)read_checkpoint_file(path),
                         doctest::Contains("many_values.json' holds more than 8388608 values (max_checkpoint_values)"), checkpoint_error);
    // A small document under the limit is parsed, and refused for what it holds.
    {
        std::ofstream out(path);
        out << text(1000);
    }
    rlscale::nn::mlp<float> net({3, 4, 2});
    CHECK_THROWS_WITH_AS(load_checkpoint(path, net), doctest::Contains("network.layers"), checkpoint_error);
    // A network whose checkpoint a load would refuse is not saved, and the file is left as it was:
    // 1000 x 3000 has 3,003,000 parameters, with both Adam moments over 9 million values.
    const std::string before = text(1000);
    rlscale::nn::mlp<float> wide({1000, 3000});
    rlscale::nn::adam<float> opt(wide.parameter_count());
    CHECK_THROWS_WITH_AS(save_checkpoint(path, wide, opt), doctest::Contains("holds more than 8388608 values (max_checkpoint_values), which a load refuses"),
                         checkpoint_error);
    std::ifstream in(path);
    CHECK(std::string(std::istreambuf_iterator<char>(in), {}) == before);
    std::filesystem::remove(path);
}

TEST_CASE("a checkpoint file nested 100,000 levels deep is refused by name, not by a stack overflow") {
    const auto path = fresh_path("checkpoint", "deep.json");
    {
        std::ofstream out(path);
        out << R"({"format":"rlscale.checkpoint","version":1,"network":)" << std::string(100000, '[') << std::string(100000, ']') << "}";
    }
    CHECK_THROWS_WITH_AS((void)read_checkpoint_file(path), doctest::Contains("nested deeper"), checkpoint_error);
    // A deep value inside a document built in memory is named by its type, never dumped.
    json doc = json::parse(R"({"format":"rlscale.checkpoint","version":1,"network":{"layers":[{"in":[]}]}})");
    json* at = &doc["network"]["layers"][0]["in"];
    for (int i = 0; i < 100000; ++i) {
        at->push_back(json::array());
        at = &(*at)[0];
    }
    CHECK_THROWS_WITH_AS((void)network_from_checkpoint<float>(doc), doctest::Contains("network.layers[0].in"), checkpoint_error);
}

TEST_CASE("checkpoint files are written through a temporary of their own and synced") {
    mlp<float> net({3, 4, 2});
    rng gen(5);
    net.initialize(init_scheme::torch_default, gen);
    const auto path = fresh_path("checkpoint", "concurrent.json");
    std::filesystem::remove(path);
    // Two writers at once never share a temporary: both succeed, the file is one of theirs, whole.
    std::thread a([&] {
        for (int i = 0; i < 50; ++i) write_checkpoint_file(path, make_checkpoint(net));
    });
    std::thread b([&] {
        for (int i = 0; i < 50; ++i) write_checkpoint_file(path, make_checkpoint(net));
    });
    a.join();
    b.join();
    CHECK(network_from_checkpoint<float>(read_checkpoint_file(path)).parameters() == net.parameters());
    // No temporary is left behind.
    int leftovers = 0;
    for (const auto& e : std::filesystem::directory_iterator(path.parent_path())) {
        if (e.path().filename().string().starts_with("concurrent.json.")) ++leftovers;
    }
    CHECK(leftovers == 0);
}

}  // namespace test_nn_checkpoint
