#pragma once

// A cpp-httplib server on a free loopback port, run on its own thread for
// the lifetime of the object.

#include <Eigen/Core>  // before httplib: see rlscale/prometheus/client.hpp
#include <httplib.h>

#include <chrono>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>

namespace rlscale::prometheus::test {

class loopback_server {
public:
    /// Listens on `address` (127.0.0.1, or "::" for a dual-stack listener).
    explicit loopback_server(const std::function<void(httplib::Server&)>& routes, const std::string& address = "127.0.0.1") {
        routes(server_);
        port_ = server_.bind_to_any_port(address);
        if (port_ <= 0) throw std::runtime_error("loopback_server: cannot bind " + address);
        thread_ = std::thread([this] { server_.listen_after_bind(); });
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        while (!server_.is_running() && std::chrono::steady_clock::now() < deadline)
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    loopback_server(const loopback_server&) = delete;
    loopback_server& operator=(const loopback_server&) = delete;
    ~loopback_server() {
        server_.stop();
        if (thread_.joinable()) thread_.join();
    }

    [[nodiscard]] int port() const noexcept { return port_; }
    [[nodiscard]] std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

private:
    httplib::Server server_;
    int port_ = 0;
    std::thread thread_;
};

/// A body of Prometheus' success envelope around `data`.
inline std::string success(const std::string& data) { return R"({"status":"success","data":)" + data + "}"; }

/// An instant vector of one unlabelled sample with value `v` (as written).
inline std::string one_sample(const std::string& v) {
    return success(R"({"resultType":"vector","result":[{"metric":{},"value":[1700000000.5,")" + v + R"("]}]})");
}

}  // namespace rlscale::prometheus::test
