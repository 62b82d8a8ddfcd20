// TLS: a cpp-httplib SSLServer on loopback with a self-signed certificate
// for IP 127.0.0.1, generated here with OpenSSL.

#include "test_server.hpp"

#include <rlscale/prometheus/client.hpp>

#include <doctest/doctest.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

namespace test_prometheus_tls {

using namespace rlscale::prometheus;
using namespace std::chrono_literals;

namespace {

/// Writes a self-signed certificate for 127.0.0.1 and its key as PEM files.
void make_self_signed(const std::string& cert_path, const std::string& key_path) {
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_EC_gen("P-256"), EVP_PKEY_free);
    REQUIRE(key);
    std::unique_ptr<X509, decltype(&X509_free)> cert(X509_new(), X509_free);
    REQUIRE(cert);
    X509_set_version(cert.get(), 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert.get()), 3600L * 24);
    X509_set_pubkey(cert.get(), key.get());
    X509_NAME* name = X509_get_subject_name(cert.get());
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("127.0.0.1"), -1, -1, 0);
    X509_set_issuer_name(cert.get(), name);
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, cert.get(), cert.get(), nullptr, nullptr, 0);
    for (const auto& [nid, value] : {std::pair{NID_subject_alt_name, "IP:127.0.0.1"}, std::pair{NID_basic_constraints, "critical,CA:TRUE"}}) {
        X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
        REQUIRE(ext);
        X509_add_ext(cert.get(), ext, -1);
        X509_EXTENSION_free(ext);
    }
    REQUIRE(X509_sign(cert.get(), key.get(), EVP_sha256()) > 0);
    FILE* c = std::fopen(cert_path.c_str(), "w");
    REQUIRE(c);
    PEM_write_X509(c, cert.get());
    std::fclose(c);
    FILE* k = std::fopen(key_path.c_str(), "w");
    REQUIRE(k);
    PEM_write_PrivateKey(k, key.get(), nullptr, nullptr, 0, nullptr, nullptr);
    std::fclose(k);
}

class tls_server {
public:
    tls_server(const std::string& cert, const std::string& key) : server_(cert.c_str(), key.c_str()) {
        if (!server_.is_valid()) throw std::runtime_error("tls_server: cannot load " + cert + " / " + key);
        server_.Get("/api/v1/query", [](const httplib::Request&, httplib::Response& res) {
            res.set_content(test::one_sample("9"), "application/json");
        });
        port_ = server_.bind_to_any_port("127.0.0.1");
        thread_ = std::thread([this] { server_.listen_after_bind(); });
        const auto deadline = std::chrono::steady_clock::now() + 5s;
        while (!server_.is_running() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(2ms);
    }
    tls_server(const tls_server&) = delete;
    tls_server& operator=(const tls_server&) = delete;
    ~tls_server() {
        server_.stop();
        if (thread_.joinable()) thread_.join();
    }
    [[nodiscard]] std::string url() const { return "https://127.0.0.1:" + std::to_string(port_); }

private:
    httplib::SSLServer server_;
    int port_ = 0;
    std::thread thread_;
};

}  // namespace

TEST_CASE("client: TLS is verified by default and a trusted CA file or verify_tls=false lets it through") {
    const std::filesystem::path dir = std::filesystem::path(RLSCALE_PROMETHEUS_TMPDIR) / "tls";
    std::filesystem::create_directories(dir);
    const std::string cert = (dir / "cert.pem").string();
    const std::string key = (dir / "key.pem").string();
    make_self_signed(cert, key);
    tls_server s(cert, key);

    // Verification on (the default): a self-signed certificate is refused.
    try {
        (void)client({.url = s.url(), .connect_timeout = 2000ms, .read_timeout = 2000ms}).query("up");
        FAIL("self-signed certificate accepted");
    } catch (const transport_error& e) {
        MESSAGE("refused as expected: " << std::string(e.what()));
        CHECK(e.cause().find("SSL") != std::string::npos);
    }
    // Trusting the certificate as a CA.
    auto r = client({.url = s.url(), .ca_cert_file = cert}).query("up");
    CHECK(r.vector.at(0).point.value == 9);
    // Verification explicitly off.
    r = client({.url = s.url(), .verify_tls = false}).query("up");
    CHECK(r.vector.at(0).point.value == 9);
}

}  // namespace test_prometheus_tls
