// Saving and restoring a learner's training state (in memory, no disk), at
// FIRM's DDPG preset with its full replay of 10^5 transitions, beside the
// two passes any such save or load makes over the same bytes: a plain copy
// and the frame's FNV-1a checksum.
#include <rlscale/core/detail/binary_io.hpp>
#include <rlscale/rl/ddpg.hpp>

#include <benchmark/benchmark.h>

#include <filesystem>
#include <ostream>
#include <sstream>
#include <streambuf>
#include <string>
#include <vector>

#include <stdlib.h>

namespace {

using namespace rlscale;

rl::ddpg_config firm_config() {
    rl::ddpg_config c = rl::ddpg_config::firm();
    c.learning_starts = c.replay_capacity;  // filled without updates (the state's size does not depend on them)
    return c;
}

const std::vector<rl::action_bound>& firm_bounds() {
    static const std::vector<rl::action_bound> b(3, rl::action_bound{-1, 1});
    return b;
}

/// FIRM's agent (10 inputs, 3 actions, 40×40) with its replay full.
rl::ddpg<float>& firm_agent() {
    static rl::ddpg<float> agent = [] {
        rl::ddpg<float> a(10, firm_bounds(), firm_config(), 1);
        rng gen(2);
        std::vector<float> o(10), o2(10), act(3);
        for (std::size_t t = 0; t < a.config().replay_capacity; ++t) {
            for (auto& x : o) x = static_cast<float>(uniform(gen, -1, 1));
            for (auto& x : o2) x = static_cast<float>(uniform(gen, -1, 1));
            for (auto& x : act) x = static_cast<float>(uniform(gen, -1, 1));
            a.observe(o, act, uniform(gen, -1, 1), o2, t % 50 == 49);
        }
        return a;
    }();
    return agent;
}

const std::string& firm_state() {
    static const std::string s = [] {
        std::ostringstream out;
        firm_agent().save_training_state(out);
        return out.str();
    }();
    return s;
}

void BM_save_firm(benchmark::State& state) {
    const rl::ddpg<float>& agent = firm_agent();
    for (auto _ : state) {
        std::ostringstream out;
        agent.save_training_state(out);
        benchmark::DoNotOptimize(out.view().data());
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * firm_state().size()));
}
BENCHMARK(BM_save_firm)->Name("BM_training_state/ddpg_firm_save")->Unit(benchmark::kMillisecond);

/// A stream buffer that keeps nothing: the save's own work, without the
/// growth of a string stream's buffer or a file's writes.
class discarding_buffer : public std::streambuf {
protected:
    int_type overflow(int_type c) override { return traits_type::not_eof(c); }
    std::streamsize xsputn(const char*, std::streamsize n) override { return n; }
};

void BM_save_firm_discarded(benchmark::State& state) {
    const rl::ddpg<float>& agent = firm_agent();
    discarding_buffer buffer;
    std::ostream out(&buffer);
    for (auto _ : state) {
        agent.save_training_state(out);
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * firm_state().size()));
}
BENCHMARK(BM_save_firm_discarded)->Name("BM_training_state/ddpg_firm_save_discarded")->Unit(benchmark::kMillisecond);

// To a file through save_training_state(path): a temporary file written,
// fsync'd and renamed (the disk's sync is in the wall time, not the CPU time).
void BM_save_firm_file(benchmark::State& state) {
    const rl::ddpg<float>& agent = firm_agent();
    // In a directory of its own: a file or directory already at a fixed name
    // (another run's, another user's) would end the run with an exception.
    std::string dir = (std::filesystem::temp_directory_path() / "rlscale_bench_XXXXXX").string();
    if (::mkdtemp(dir.data()) == nullptr) {
        state.SkipWithError("cannot create a temporary directory");
        return;
    }
    const std::filesystem::path path = std::filesystem::path(dir) / "training_state.bin";
    for (auto _ : state) agent.save_training_state(path);
    std::filesystem::remove_all(dir);
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * firm_state().size()));
}
BENCHMARK(BM_save_firm_file)->Name("BM_training_state/ddpg_firm_save_file")->Unit(benchmark::kMillisecond);

void BM_load_firm(benchmark::State& state) {
    rl::ddpg<float> agent(10, firm_bounds(), firm_config(), 3);
    const std::string& bytes = firm_state();
    for (auto _ : state) {
        std::istringstream in(bytes);
        agent.load_training_state(in);
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes.size()));
}
BENCHMARK(BM_load_firm)->Name("BM_training_state/ddpg_firm_load")->Unit(benchmark::kMillisecond);

// The same number of bytes copied into a new string: what any save or load
// of this size costs at least.
void BM_copy(benchmark::State& state) {
    const std::string& bytes = firm_state();
    for (auto _ : state) {
        std::string copy = bytes;
        benchmark::DoNotOptimize(copy.data());
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes.size()));
}
BENCHMARK(BM_copy)->Name("BM_training_state/copy_same_bytes")->Unit(benchmark::kMillisecond);

// The frame's checksum over the same bytes (a save computes it once, a load once).
void BM_checksum(benchmark::State& state) {
    const std::string& bytes = firm_state();
    for (auto _ : state) benchmark::DoNotOptimize(rlscale::detail::fnv1a64(bytes));
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes.size()));
}
BENCHMARK(BM_checksum)->Name("BM_training_state/fnv1a_same_bytes")->Unit(benchmark::kMillisecond);

}  // namespace
