#include <rlscale/core/http_url.hpp>

#include <doctest/doctest.h>

#include <string>
#include <string_view>
#include <vector>

namespace test_http_url {

using rlscale::http_url;
using rlscale::split_http_url;

TEST_CASE("http_url: scheme, host, port and path are split, IPv6 literals lose their brackets") {
    const http_url a = split_http_url("https://[fd00:10:96::1]:6443", "server", false);
    CHECK(a.https);
    CHECK(a.host == "fd00:10:96::1");
    CHECK(a.port == 6443);
    CHECK(a.path.empty());
    CHECK(a.host_header() == "[fd00:10:96::1]:6443");
    CHECK(a.origin() == "https://[fd00:10:96::1]:6443");

    const http_url b = split_http_url("http://prometheus.monitoring:9090/prom//", "url", true);
    CHECK_FALSE(b.https);
    CHECK(b.host == "prometheus.monitoring");
    CHECK(b.port == 9090);
    CHECK(b.path == "/prom");

    // The scheme's port is the default, and is left out of the Host header.
    CHECK(split_http_url("http://h", "url", false).port == 80);
    CHECK(split_http_url("https://h", "url", false).port == 443);
    CHECK(split_http_url("https://[::1]", "url", false).host_header() == "[::1]");
    CHECK(split_http_url("http://[::1]:80", "url", false).host_header() == "[::1]");
    CHECK(split_http_url("https://10.0.0.1:443/", "url", false).host_header() == "10.0.0.1");
    CHECK(split_http_url("http://h:1", "url", false).port == 1);
    CHECK(split_http_url("http://h:65535", "url", false).port == 65535);
}

// The message of the config_error that refuses `url` as prometheus.url
// (a path allowed), checking that it names that field; empty, and a failed
// check, when the URL is accepted.
std::string refusal(const char* url) {
    try {
        (void)split_http_url(url, "prometheus.url", true);
        FAIL_CHECK("accepted");
    } catch (const rlscale::config_error& e) {
        CHECK(e.field() == "prometheus.url");
        return e.what();
    }
    return {};
}

TEST_CASE("http_url: anything else is a config_error naming the field and the URL") {
    for (const char* bad : {"ftp://x", "h:80", "https://", "https://:80", "https://[fd00::1", "https://[]:1", "https://[zz::1]", "https://h:0",
                            "https://h:65536", "https://h:99999999999", "https://h:8x", "https://h:", "https://h:-1",
                            "https://[::1]x", "https://h?x=1", "https://h/p?x=1", "https://h/p#f", "https://u:p@h", "https://h /p",
                            "https://h/a b", "https://h\x01x", "https://h;x", "https://[1.2.3.4]", "https://h\r\nX: y"}) {
        CAPTURE(bad);
        const std::string what = refusal(bad);
        CHECK(what.find_first_of("\r\n\x01") == std::string::npos);  // control characters escaped
        if (std::string_view(bad).find_first_of("\r\n\x01") == std::string_view::npos) CHECK(what.find(bad) != std::string::npos);
    }
    // A path only where one is allowed.
    CHECK_NOTHROW((void)split_http_url("https://h/api", "server", true));
    CHECK_THROWS_AS((void)split_http_url("https://h/api", "server", false), rlscale::config_error);
    CHECK_THROWS_AS((void)split_http_url("https://[::1]/x", "server", false), rlscale::config_error);
}

TEST_CASE("http_url: a bracketed host must be an IPv6 address, another host a DNS name or an IPv4 address") {
    // Accepted: IPv6 in its written forms, DNS names, dotted quads.
    for (const char* good : {"http://[::]", "http://[1:2:3:4:5:6:7:8]", "http://[::ffff:10.0.0.1]:81", "http://[FD00:10:96::A]",
                             "http://a", "http://a-b.c-d.example:8080", "http://prometheus.monitoring.svc.cluster.local.",
                             "http://0a.1b", "http://my_prom:9090", "http://127.0.0.1", "http://255.255.255.255"}) {
        CAPTURE(good);
        CHECK_NOTHROW((void)split_http_url(good, "url", true));
    }
    CHECK(split_http_url("http://[::ffff:10.0.0.1]:81", "url", true).host == "::ffff:10.0.0.1");
    CHECK(split_http_url("http://a-b.c-d.example:8080", "url", true).host == "a-b.c-d.example");
    const std::string label63(63, 'x');
    CHECK_NOTHROW((void)split_http_url("http://" + label63 + ".y", "url", true));

    for (const std::string& bad : std::vector<std::string>{"http://[:]", "http://[::::::::]", "http://[1::2::3]", "http://[1:2:3:4:5:6:7:8:9]", "http://[12345::]",
                                  "http://[fe80::1%eth0]", "http://[::1.2.3]", "http://-", "http://..", "http://.", "http://a..b",
                                  "http://.a", "http://-a", "http://a-", "http://a.-b", "http://a-.b", "http://a.b..", "http://1.2.3",
                                  "http://1.2.3.256", "http://1.2.3.4.5", "http://1234", "http://1.2.3.4.", "http://" + label63 + "x.y",
                                  "http://h/a\x01" "b", "http://h/a\x7f", "http://h/\x1b[31m", std::string("http://h/a\0b", 12)}) {
        CAPTURE(bad);
        try {
            (void)split_http_url(bad, "prometheus.url", true);
            FAIL_CHECK("accepted");
        } catch (const rlscale::config_error& e) {
            CHECK(e.field() == "prometheus.url");
            const std::string what = e.what();
            const bool controls = bad.find_first_of(std::string("\x01\x1b\x7f\0", 4)) != std::string::npos;
            CHECK(what.find(std::string("\x01\x1b\x7f\0", 4)) == std::string::npos);
            for (const char c : what) CHECK((static_cast<unsigned char>(c) >= 0x20 && c != 0x7f));  // escaped
            if (!controls) CHECK(what.find(bad) != std::string::npos);
            if (controls) CHECK(what.find("control characters") != std::string::npos);
        }
    }
}

TEST_CASE("http_url: a host the resolver reads as an IPv4 address in another form than the dotted quad is refused") {
    // getaddrinfo reads these as inet_aton does (0x7f.0.0.1 is 127.0.0.1,
    // 1.2.3.0x4 is 1.2.3.4) and connects with no lookup: they are addresses,
    // not DNS names, and an address must be written as a dotted quad.
    for (const char* bad : {"http://0x7f.0.0.1", "http://0x7f000001", "http://0x7f.1", "http://1.2.3.0x4", "http://0X7F.0.0.1:9090",
                            "http://0xdeadbeef/prom", "http://0x7f", "http://0x7f.0.0.1.", "http://0177.0.0.1", "http://127.1",
                            "https://0x0a.0x00.0x00.0x01"}) {
        CAPTURE(bad);
        const std::string what = refusal(bad);
        CHECK(what.find("has a host that is not a DNS name or an IP address") != std::string::npos);
        CHECK(what.find(bad) != std::string::npos);
    }
    // Names with hexadecimal digits, or starting with 0x, that inet_aton does
    // not read are names still.
    for (const char* good : {"http://deadbeef", "http://0a.1b", "http://0x", "http://0xg.example", "http://0x7f.svc", "http://1e3"}) {
        CAPTURE(good);
        CHECK(split_http_url(good, "url", true).host == std::string_view(good).substr(7));
    }
}

}  // namespace test_http_url
