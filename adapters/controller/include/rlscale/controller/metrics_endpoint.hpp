#pragma once

/// The controller's own /metrics endpoint: GET (or HEAD) /metrics answers
/// the text a function gives, in Prometheus's text format, on a thread of
/// its own, one request per connection. Nothing else is served, and no
/// request body is read: a scrape has none, so a request that says it
/// carries one (or a method that httplib would read one for) is answered at
/// once and the connection closed, and a client cannot hold one of the
/// endpoint's workers by sending a body slowly or without end. (Its
/// request line and headers are read under httplib's own per-read timeout
/// only; the endpoint listens on loopback unless configured otherwise.)

#include <rlscale/core/error.hpp>

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <utility>

namespace rlscale::controller {

class metrics_endpoint {
public:
    /// Listens on `address` ("host:port", "[v6]:port"; port 0 takes a free
    /// one, see port()). Throws config_error naming metrics_address when it
    /// cannot listen there.
    metrics_endpoint(const std::string& address, std::function<std::string()> text) {
        const auto colon = address.rfind(':');
        if (colon == std::string::npos) throw config_error("metrics_address", "is \"" + address + "\", expected host:port");
        std::string host = address.substr(0, colon);
        if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);  // [::1]:9464
        int port = 0;
        try {
            port = std::stoi(address.substr(colon + 1));
        } catch (const std::exception&) {
            throw config_error("metrics_address", "is \"" + address + "\", expected host:port");
        }
        server_.set_payload_max_length(1024);  // a scrape has no body
        // One request per connection (a scrape every few seconds opens its
        // own): an answer given without reading a body then closes the
        // connection, where the body would otherwise be read as the next
        // request.
        server_.set_keep_alive_max_count(1);
        server_.set_pre_routing_handler([](const httplib::Request& req, httplib::Response& res) {
            const auto answer = [&res](int status, const std::string& what) {
                // The body, if any, is not read: the connection cannot carry
                // another request.
                res.set_header("Connection", "close");
                res.status = status;
                res.set_content(what + "\n", "text/plain");
                return httplib::Server::HandlerResponse::Handled;
            };
            if (req.method != "GET" && req.method != "HEAD") {
                // httplib reads a POST's (PUT's, ...) body before routing,
                // without a length to the connection's close.
                if (req.path != "/metrics") return answer(404, "not found");
                res.set_header("Allow", "GET, HEAD");
                return answer(405, "method not allowed: /metrics answers GET and HEAD");
            }
            // A scrape has no body (httplib would not read a GET's).
            if (req.has_header("Transfer-Encoding")) return answer(400, "a scrape carries no body (Transfer-Encoding)");
            for (auto [it, end] = req.headers.equal_range("Content-Length"); it != end; ++it) {
                if (it->second.empty() || it->second.find_first_not_of('0') != std::string::npos) {
                    return answer(400, "a scrape carries no body (Content-Length)");
                }
            }
            return httplib::Server::HandlerResponse::Unhandled;
        });
        server_.Get("/metrics", [text = std::move(text)](const httplib::Request&, httplib::Response& res) {
            res.set_content(text(), "text/plain; version=0.0.4");
        });
        if (port == 0) {
            port_ = server_.bind_to_any_port(host);
            if (port_ < 0) throw config_error("metrics_address", "cannot listen on " + address);
        } else {
            if (!server_.bind_to_port(host, port)) throw config_error("metrics_address", "cannot listen on " + address);
            port_ = port;
        }
        thread_ = std::thread([this] {
            server_.listen_after_bind();
            finished_.store(true);
        });
    }
    metrics_endpoint(const metrics_endpoint&) = delete;
    metrics_endpoint& operator=(const metrics_endpoint&) = delete;
    /// Stops listening and joins the thread.
    ~metrics_endpoint() {
        // httplib's stop() does nothing until the listening thread has
        // marked the server running; a stop before that (a --once run that
        // ends at once) would leave the thread in accept() and the join
        // waiting for ever. So wait until it runs (or has ended), then stop once.
        while (!finished_.load() && !server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        if (!finished_.load()) server_.stop();
        thread_.join();
    }

    /// The port listened on.
    [[nodiscard]] int port() const noexcept { return port_; }

private:
    httplib::Server server_;
    int port_ = 0;
    std::atomic<bool> finished_{false};
    std::thread thread_;
};

}  // namespace rlscale::controller
