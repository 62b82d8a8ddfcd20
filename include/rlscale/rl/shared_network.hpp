#pragma once

#include <rlscale/core/concepts.hpp>
#include <rlscale/core/error.hpp>
#include <rlscale/core/validate.hpp>
#include <rlscale/nn/checkpoint.hpp>
#include <rlscale/nn/mlp.hpp>

#include <array>
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <mutex>
#include <thread>
#include <utility>

namespace rlscale::rl {

/// Weights that one trainer publishes while any number of threads keep
/// reading them. Readers never see a half-written network: a snapshot is
/// written into a slot no reader holds, then made current with one atomic
/// store. Reading takes no lock and allocates nothing (a reader bumps the
/// slot's reader count, checks it is still current, and reads; a
/// network_follower does so only once per publish);
/// publishing allocates nothing either and waits only if every spare slot
/// is still being read.
///
/// The architecture is fixed at construction; publish() and load() refuse
/// a network of another shape, and a rejected checkpoint leaves the current
/// weights serving.
template <typename T = float>
class shared_network {
    static constexpr std::size_t slot_count = 3;

    struct slot {
        nn::mlp<T> net;
        mutable std::atomic<std::uint32_t> readers{0};
        explicit slot(nn::mlp<T> n) : net(std::move(n)) {}
    };

public:
    using network = nn::mlp<T>;

    /// Slots for networks shaped like `shape`; nothing is published yet
    /// (ready() is false until the first publish or load).
    explicit shared_network(const network& shape)
        : slots_{slot{network(shape.layers())}, slot{network(shape.layers())}, slot{network(shape.layers())}} {}

    shared_network(const shared_network&) = delete;
    shared_network& operator=(const shared_network&) = delete;

    /// A reader's hold on the current snapshot; release by destruction.
    class read_guard {
    public:
        read_guard(const read_guard&) = delete;
        read_guard& operator=(const read_guard&) = delete;
        ~read_guard() { slot_->readers.fetch_sub(1, std::memory_order_seq_cst); }
        [[nodiscard]] const network& net() const noexcept { return slot_->net; }
        [[nodiscard]] const network* operator->() const noexcept { return &slot_->net; }

    private:
        friend class shared_network;
        explicit read_guard(const slot* s) noexcept : slot_(s) {}
        const slot* slot_;
    };

    /// Whether any weights have been published.
    [[nodiscard]] bool ready() const noexcept { return version_.load(std::memory_order_acquire) > 0; }
    /// Snapshots published so far (0 = none).
    [[nodiscard]] std::uint64_t version() const noexcept { return version_.load(std::memory_order_acquire); }
    /// The architecture every snapshot has.
    [[nodiscard]] const nn::parameter_layout& layout() const noexcept { return slots_[0].net.layout(); }

    /// Holds the current snapshot for reading. Call only when ready().
    [[nodiscard]] read_guard acquire() const noexcept {
        for (;;) {
            const std::uint32_t i = current_.load(std::memory_order_seq_cst);
            slots_[i].readers.fetch_add(1, std::memory_order_seq_cst);
            if (current_.load(std::memory_order_seq_cst) == i) return read_guard(&slots_[i]);
            slots_[i].readers.fetch_sub(1, std::memory_order_seq_cst);
        }
    }

    /// A reader's "copy when newer" step: when a snapshot newer than `held`
    /// has been published, holds it, hands it to `copy` (called with a
    /// const network&) and records its version in `held`; otherwise reads
    /// only the version. False while nothing is published (then `copy` is
    /// not called). The version is read before the snapshot, so a publish
    /// in between leaves the copy newer than `held` says, never older, and
    /// it is copied again on the next call.
    template <typename Copy>
    bool copy_if_newer(std::uint64_t& held, Copy&& copy) const {
        const std::uint64_t v = version();
        if (v == 0) return false;
        if (v != held) {
            const auto snapshot = acquire();
            std::forward<Copy>(copy)(snapshot.net());
            held = v;
        }
        return true;
    }

    /// Copies `net`'s weights into a free slot and makes them current.
    /// Throws rlscale::error for another architecture or non-finite weights
    /// (then nothing changes).
    void publish(const network& net) {
        if (!(net.layout() == layout())) {
            throw error("shared_network::publish: the network has another architecture (" + describe(net.layout()) + ", serving " +
                        describe(layout()) + ")");
        }
        if (!net.parameters().allFinite()) throw error("shared_network::publish: the network has non-finite weights");
        const std::lock_guard lock(writer_);
        const std::uint32_t next = free_slot();
        slots_[next].net.parameters() = net.parameters();
        current_.store(next, std::memory_order_seq_cst);
        version_.fetch_add(1, std::memory_order_acq_rel);
    }

    /// Loads a checkpoint file (validated in full by nn::restore_checkpoint)
    /// and publishes it. Throws checkpoint_error naming the problem; the
    /// weights serving before keep serving. Weights only: the architecture
    /// must match, but not what the network means (its serving spec: the
    /// encoder, the action map, the functions). To update a served learned
    /// policy use rlscale::reload_weights (policy/registry.hpp), which also
    /// refuses a checkpoint whose spec differs.
    void load(const std::filesystem::path& path) { load_checkpoint(nn::read_checkpoint_file(path)); }

    /// The same for a checkpoint already read.
    void load_checkpoint(const nlohmann::json& checkpoint) {
        network candidate(slots_[0].net.layers());
        nn::restore_checkpoint(checkpoint, candidate);
        publish(candidate);
    }

private:
    /// "7→64 relu, 64→7 identity": an architecture for a message.
    static std::string describe(const nn::parameter_layout& l) {
        std::string out;
        for (const nn::layer_spec& s : l.layers()) {
            if (!out.empty()) out += ", ";
            out += std::to_string(s.in) + "→" + std::to_string(s.out) + " " + std::string(nn::to_string(s.act));
        }
        return out;
    }

    /// A slot that is not current and that no reader holds. A reader that
    /// bumps a slot after this check sees it is not current and backs off.
    std::uint32_t free_slot() const noexcept {
        const std::uint32_t cur = current_.load(std::memory_order_seq_cst);
        for (;;) {
            for (std::uint32_t k = 1; k < slot_count; ++k) {
                const std::uint32_t j = (cur + k) % slot_count;
                if (slots_[j].readers.load(std::memory_order_seq_cst) == 0) return j;
            }
            std::this_thread::yield();
        }
    }

    std::array<slot, slot_count> slots_;
    std::atomic<std::uint32_t> current_{0};
    std::atomic<std::uint64_t> version_{0};
    std::mutex writer_;
};

/// A reader's own copy of published weights, brought up to date by
/// refresh(): when a newer snapshot has been published, it is read once
/// (shared_network::copy_if_newer: one copy of the parameters, no
/// allocation); otherwise refresh() reads only the version. So a deciding
/// thread does no atomic read-modify-write on the shared slots per
/// decision; several threads
/// reading one shared_network through snapshots on every call contend for
/// its reader counts (docs/benchmarks.md measures both). The cost is one
/// copy of the network per follower. One follower per thread.
template <typename T = float>
class network_follower {
public:
    explicit network_follower(std::shared_ptr<shared_network<T>> weights)
        : weights_((check_fields("network_follower").not_null("weights", weights), std::move(weights))),
          copy_(weights_->layout().layers()) {}

    /// Brings the copy up to the newest published snapshot; false while
    /// nothing is published (then the copy is not usable).
    bool refresh() noexcept {
        return weights_->copy_if_newer(version_, [this](const nn::mlp<T>& net) { copy_.parameters() = net.parameters(); });
    }
    /// The copy as of the last refresh() (all zeros before the first).
    [[nodiscard]] const nn::mlp<T>& net() const noexcept { return copy_; }
    /// The snapshot version the copy holds (0 = none yet).
    [[nodiscard]] std::uint64_t version() const noexcept { return version_; }
    [[nodiscard]] shared_network<T>& weights() const noexcept { return *weights_; }

private:
    std::shared_ptr<shared_network<T>> weights_;
    nn::mlp<T> copy_;
    std::uint64_t version_ = 0;
};

/// The greedy single-head agent over published weights: act() picks the
/// action with the largest Q-value (ties to the lowest index). One object
/// per acting thread (it owns its scratch buffer); many may share one
/// shared_network. act() returns action_count() (no action) when nothing is
/// published, the observation has the wrong size or the output is not finite.
class greedy_agent {
public:
    explicit greedy_agent(std::shared_ptr<shared_network<float>> weights)
        : follower_((check(weights), std::move(weights))),
          buffer_(follower_.net()),
          inputs_(static_cast<std::size_t>(follower_.net().layout().layers().front().in)),
          outputs_(static_cast<std::size_t>(follower_.net().layout().layers().back().out)) {}

    [[nodiscard]] std::size_t action_count() const noexcept { return outputs_; }

    [[nodiscard]] std::size_t act(std::span<const float> observation) noexcept {
        if (observation.size() != inputs_ || !follower_.refresh()) return outputs_;
        const auto q = follower_.net().forward(Eigen::Map<const Eigen::VectorXf>(observation.data(), static_cast<Eigen::Index>(inputs_)),
                                               buffer_);
        if (!q.allFinite()) return outputs_;
        Eigen::Index best = 0;
        for (Eigen::Index a = 1; a < q.size(); ++a) {
            if (q(a) > q(best)) best = a;
        }
        return static_cast<std::size_t>(best);
    }

private:
    static void check(const std::shared_ptr<shared_network<float>>& w) {
        check_fields("greedy_agent").not_null("weights", w);
    }
    network_follower<float> follower_;
    nn::mlp<float>::inference_buffer buffer_;
    std::size_t inputs_;
    std::size_t outputs_;
};
static_assert(agent<greedy_agent>);

}  // namespace rlscale::rl
