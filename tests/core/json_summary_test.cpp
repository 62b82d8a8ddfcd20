#include <rlscale/core/json_summary.hpp>

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <string>

namespace test_core_json_summary {

using nlohmann::json;
using rlscale::json_summary;

TEST_CASE("json_summary: scalars as written, arrays and objects by their size, strings cut to 64 bytes of valid UTF-8") {
    CHECK(json_summary(json(1)) == "1");
    CHECK(json_summary(json(-2.5)) == "-2.5");
    CHECK(json_summary(json(true)) == "true");
    CHECK(json_summary(json(nullptr)) == "null");
    CHECK(json_summary(json::array({1, 2, 3})) == "an array of 3");
    CHECK(json_summary(json::object({{"a", 1}})) == "an object of 1 fields");

    // A string without quotes, backslashes or control characters is quoted
    // and otherwise kept as it is, multibyte characters included.
    CHECK(json_summary(json("api")) == "\"api\"");
    CHECK(json_summary(json("")) == "\"\"");
    CHECK(json_summary(json("https://prometheus:9090/x?y=[1]{2}")) == "\"https://prometheus:9090/x?y=[1]{2}\"");
    CHECK(json_summary(json("f\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80")) == "\"f\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"");  // fé€😀
    CHECK(json_summary(json("\xc2\xa0\xc2\xbf")) == "\"\xc2\xa0\xc2\xbf\"");  // U+00A0, U+00BF: printable, kept
    // Cut at 64 bytes, never inside a character, the cut marked with "…".
    CHECK(json_summary(json(std::string(100, 'a'))) == "\"" + std::string(64, 'a') + "\xe2\x80\xa6\"");
    CHECK(json_summary(json(std::string(64, 'a'))) == "\"" + std::string(64, 'a') + "\"");
    CHECK(json_summary(json(std::string(63, 'a') + "\xc3\xa9")) == "\"" + std::string(63, 'a') + "\xe2\x80\xa6\"");
    // Bytes that are not UTF-8 become U+FFFD.
    CHECK(json_summary(json("x\xff")) == "\"x\xef\xbf\xbd\"");
}

TEST_CASE("json_summary: quotes, backslashes and control characters in a string are escaped as JSON writes them") {
    // A configured URL that would print a forged second line and a terminal
    // escape: the summary stays on one line, without an escape character.
    const std::string forged = "ftp://x\r\nrlscale-controller: configuration OK \x1b[32m";
    const std::string s = json_summary(json(forged));
    CHECK(s == R"("ftp://x\r\nrlscale-controller: configuration OK \u001b[32m")");
    for (const char c : s) CHECK(static_cast<unsigned char>(c) >= 0x20);

    CHECK(json_summary(json(R"(say "hi")")) == R"("say \"hi\"")");  // cannot close the quotes early
    CHECK(json_summary(json(R"(a\b)")) == R"("a\\b")");
    CHECK(json_summary(json(R"(\u001b)")) == R"("\\u001b")");  // a literal backslash-u is not passed off as an escape
    CHECK(json_summary(json("\t\n\r\b\f")) == R"("\t\n\r\b\f")");
    CHECK(json_summary(json(std::string("a\0b", 3))) == R"("a\u0000b")");
    // DEL and the C1 controls (NEL, CSI, ...) too, as \u00XX.
    CHECK(json_summary(json("\x7f|\xc2\x80|\xc2\x85|\xc2\x9b|\xc2\x9f|\xc2\xa0")) == "\"\\u007f|\\u0080|\\u0085|\\u009b|\\u009f|\xc2\xa0\"");

    // The cut is made before escaping: 64 bytes of text, however long their
    // escaped form, and the summary reads back as the JSON string it shows.
    std::string escaped_lines;
    for (int i = 0; i < 64; ++i) escaped_lines += "\\n";
    CHECK(json_summary(json(std::string(100, '\n'))) == "\"" + escaped_lines + "\xe2\x80\xa6\"");
    for (const std::string& text : {forged, std::string("q\"b\\c\x01\x7f\xc2\x85\xe2\x82\xac"), std::string(70, '"')}) {
        CAPTURE(text);
        CHECK(json::parse(json_summary(json(text))).get<std::string>() == rlscale::valid_utf8(text, 64));
    }
}

}  // namespace test_core_json_summary
