// Text from outside made safe for messages and JSON: UTF-8 validation and
// repair, bounded excerpts, and the nesting depth of JSON text.
#include <rlscale/core/text.hpp>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <string>

namespace test_core_text {

using namespace rlscale;

TEST_CASE("utf-8: valid text passes unchanged, whatever the script") {
    for (const char* s : {"", "plain ascii", "d\xc3\xa9" "faillante", "\xe2\x82\xac 5", "\xf0\x9f\x98\x80", "\xf4\x8f\xbf\xbf",
                          "\xed\x9f\xbf", "tab\tand\nline"}) {
        CAPTURE(s);
        CHECK(is_valid_utf8(s));
        CHECK(valid_utf8(s) == s);
    }
}

TEST_CASE("utf-8: every invalid form becomes U+FFFD and the result always dumps as JSON") {
    const std::string fffd = "\xef\xbf\xbd";
    struct bad_case {
        std::string in;
        std::string out;
    };
    const bad_case cases[] = {
        {"Latin-1 d\xe9" "faillante", "Latin-1 d" + fffd + "faillante"},
        {"cut \xc3", "cut " + fffd},                             // truncated two-byte sequence
        {"\xe2\x82", fffd + fffd},                                // truncated three-byte sequence
        {"\xc0\xaf", fffd + fffd},                                // overlong '/'
        {"\xe0\x80\xaf", fffd + fffd + fffd},                     // overlong, three bytes
        {"\xed\xa0\x80", fffd + fffd + fffd},                     // a UTF-16 surrogate
        {"\xf4\x90\x80\x80", fffd + fffd + fffd + fffd},          // above U+10FFFF
        {"\xf5\x80\x80\x80", fffd + fffd + fffd + fffd},          // not a lead byte
        {"\x80 lone continuation", fffd + " lone continuation"},
        {std::string("\xff\xfe", 2), fffd + fffd},
    };
    for (const bad_case& c : cases) {
        CAPTURE(c.in);
        CHECK_FALSE(is_valid_utf8(c.in));
        CHECK(valid_utf8(c.in) == c.out);
        CHECK(is_valid_utf8(valid_utf8(c.in)));
        CHECK_NOTHROW((void)nlohmann::json(valid_utf8(c.in)).dump());
        CHECK_THROWS((void)nlohmann::json(c.in).dump());  // what the repair prevents
    }
}

TEST_CASE("utf-8: a bounded excerpt never cuts a character and marks the cut") {
    const std::string euro = "\xe2\x82\xac";  // three bytes
    CHECK(valid_utf8("abcdef", 3) == "abc\xe2\x80\xa6");
    CHECK(valid_utf8("ab" + euro, 4) == "ab\xe2\x80\xa6");  // the euro sign does not fit whole
    CHECK(valid_utf8("ab" + euro, 5) == "ab" + euro);
    CHECK(valid_utf8("abc", 3) == "abc");
    CHECK(valid_utf8("abc", 0) == "\xe2\x80\xa6");
    CHECK(valid_utf8("abcdef", 3, "...") == "abc...");  // another mark, same cut
    CHECK(valid_utf8("ab" + euro, 4, "...") == "ab...");
}

TEST_CASE("escape_controls: control characters become \\xNN, everything else is kept") {
    CHECK(escape_controls("plain, with spaces and \"quotes\"") == "plain, with spaces and \"quotes\"");
    CHECK(escape_controls("line\nbreak\r\ttab") == "line\\x0abreak\\x0d\\x09tab");
    CHECK(escape_controls(std::string("nul\0del\x7f", 8)) == "nul\\x00del\\x7f");
    CHECK(escape_controls("\x1b[31mred") == "\\x1b[31mred");  // a terminal escape cannot colour a log
    const std::string euro = "\xe2\x82\xac";
    CHECK(escape_controls(euro + " 5") == euro + " 5");  // multi-byte characters untouched
    CHECK(escape_controls("") == "");
    // C1 controls (two bytes in UTF-8): NEL and CSI move the cursor on some
    // terminals. The characters just past them are kept.
    CHECK(escape_controls("a\xc2\x85" "b\xc2\x9b" "31m") == "a\\xc2\\x85b\\xc2\\x9b31m");
    CHECK(escape_controls("\xc2\x80\xc2\x9f") == "\\xc2\\x80\\xc2\\x9f");
    CHECK(escape_controls("\xc2\xa0\xc2\xa9") == "\xc2\xa0\xc2\xa9");  // NBSP, ©
    CHECK(escape_controls("\xc2") == "\xc2");  // a lead byte at the end
}

TEST_CASE("escape_controls: a backslash is doubled, so a literal \\x0a cannot pass for an escaped line feed") {
    CHECK(escape_controls(R"(a\x0ab)") == R"(a\\x0ab)");
    CHECK(escape_controls("a\nb") == R"(a\x0ab)");
    CHECK(escape_controls(R"(a\x0ab)") != escape_controls("a\nb"));
    CHECK(escape_controls(R"(\)") == R"(\\)");
    CHECK(escape_controls(R"(C:\dir\\)") == R"(C:\\dir\\\\)");
    CHECK(escape_controls("\\\n") == R"(\\\x0a)");  // backslash then line feed
}

TEST_CASE("ascii_iequals: ASCII letters compared without case, nothing else folded") {
    static_assert(ascii_iequals("Identity", "identity"));
    CHECK(ascii_iequals("GZIP", "gzip"));
    CHECK(ascii_iequals("", ""));
    CHECK_FALSE(ascii_iequals("identity ", "identity"));
    CHECK_FALSE(ascii_iequals("identitx", "identity"));
    CHECK_FALSE(ascii_iequals("\xc3\x89", "\xc3\xa9"));  // É and é: not ASCII, not folded
    CHECK_FALSE(ascii_iequals("[", "{"));                  // '[' + 32 is '{': only letters fold
}

TEST_CASE("json nesting depth and value bound: counted without parsing, strings and escapes respected") {
    // json_value_bound: 1 plus the commas and opening brackets outside strings, an upper bound on the values.
    CHECK(json_value_bound("1") == 1);
    CHECK(json_value_bound("[]") == 2);  // the array and (at most) one value in it
    CHECK(json_value_bound(R"({"a":[1,2],"b":{}})") == 6);
    CHECK(json_value_bound(R"(["a,b,[{", "\",["])") == 3);  // commas and brackets in strings do not count
    CHECK(json_value_bound(std::string(100, ','), 10) == 11);  // stops counting past the limit
    CHECK(json_nesting_depth("1") == 0);
    CHECK(json_nesting_depth("[]") == 1);
    CHECK(json_nesting_depth(R"({"a":[{"b":[1,2]}],"c":{}})") == 4);
    CHECK(json_nesting_depth(R"(["[[[[", "\"[[[["])") == 1);
    CHECK(json_nesting_depth(R"(["\\", [[]]])") == 3);  // an escaped backslash ends before the quote
    const std::string deep = std::string(100000, '[') + std::string(100000, ']');
    CHECK(json_nesting_depth(deep) == 100000);
    CHECK(json_nesting_depth(deep, 64) == 65);  // stops counting past the limit
    CHECK(json_nesting_depth(std::string(10, '[')) == 10);  // unterminated: still counted
}

TEST_CASE("double-quoted escaping: backslash, quote and line feed, nothing else") {
    CHECK(escape_double_quoted("plain-name.1") == "plain-name.1");
    CHECK(escape_double_quoted(R"(a"b\c)") == R"(a\"b\\c)");
    CHECK(escape_double_quoted("line\nbreak") == "line\\nbreak");
    CHECK(escape_double_quoted("\"} or vector(1) #") == "\\\"} or vector(1) #");
}

}  // namespace test_core_text
