#include <rlscale/prometheus/client.hpp>
#include <rlscale/prometheus/response.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <string>

namespace test_prometheus_response {

using namespace rlscale::prometheus;

TEST_CASE("response: sample values, including NaN, +Inf and -Inf") {
    CHECK(parse_sample_value("1", "v") == 1.0);
    CHECK(parse_sample_value("0.25", "v") == 0.25);
    CHECK(parse_sample_value("+1.5", "v") == 1.5);  // a leading + is a number (Go's ParseFloat reads it)
    CHECK(parse_sample_value("-3.5e-3", "v") == -3.5e-3);
    CHECK(parse_sample_value("1e+21", "v") == 1e21);
    CHECK(std::isnan(parse_sample_value("NaN", "v")));
    CHECK(parse_sample_value("+Inf", "v") == INFINITY);
    CHECK(parse_sample_value("-Inf", "v") == -INFINITY);
    for (const char* bad : {"", "abc", "1.5x", "nan", "inf", "infinity", " 1", "1 ", "0x10", "+-1", "++1", "+"}) {
        CAPTURE(bad);
        CHECK_THROWS_AS((void)parse_sample_value(bad, "data.result[0].value[1]"), parse_error);
    }
    try {
        (void)parse_sample_value("abc", "data.result[0].value[1]");
        FAIL("accepted");
    } catch (const parse_error& e) {
        CHECK(e.field() == "data.result[0].value[1]");
        CHECK(std::string(e.what()).find("\"abc\"") != std::string::npos);
    }
}

TEST_CASE("response: the special values are read only as Prometheus spells them, NaN, +Inf and -Inf") {
    // Numbers in any decimal form, an exponent included (Prometheus writes
    // 1e+21 and up, and below 1e-06, with one).
    CHECK(parse_sample_value("1e+21", "v") == 1e21);
    CHECK(parse_sample_value("1e-07", "v") == 1e-7);
    CHECK(parse_sample_value("-2.5E3", "v") == -2500);
    // "Inf" without its sign, and other spellings Go's ParseFloat would
    // take, are not what Prometheus writes: refused like any other text.
    for (const char* bad : {"Inf", "+inf", "-inf", "INF", "Infinity", "+Infinity", "-Infinity", "+NaN", "-NaN", "nan", "NAN"}) {
        CAPTURE(bad);
        CHECK_THROWS_AS((void)parse_sample_value(bad, "data.result[0].value[1]"), parse_error);
    }
}

TEST_CASE("response: vector with labels") {
    const auto r = decode_response(200, R"({"status":"success","data":{"resultType":"vector","result":[
        {"metric":{"__name__":"up","job":"a"},"value":[1435781451.781,"1"]},
        {"metric":{"job":"b"},"value":[1435781451.781,"NaN"]}]},"warnings":["w1"]})");
    REQUIRE(r.type == result_type::vector);
    REQUIRE(r.vector.size() == 2);
    CHECK(r.vector[0].metric.at("__name__") == "up");
    CHECK(r.vector[0].metric.at("job") == "a");
    CHECK(r.vector[0].point.time == doctest::Approx(1435781451.781));
    CHECK(r.vector[0].point.value == 1.0);
    CHECK(std::isnan(r.vector[1].point.value));
    REQUIRE(r.warnings.size() == 1);
    CHECK(r.warnings[0] == "w1");
}

TEST_CASE("response: matrix, scalar, string and empty results") {
    const auto m = decode_response(200, R"({"status":"success","data":{"resultType":"matrix","result":[
        {"metric":{"job":"a"},"values":[[10,"1"],[20,"+Inf"],[30,"-Inf"]]}]}})");
    REQUIRE(m.type == result_type::matrix);
    REQUIRE(m.matrix.size() == 1);
    REQUIRE(m.matrix[0].points.size() == 3);
    CHECK(m.matrix[0].points[0].time == 10);
    CHECK(m.matrix[0].points[1].value == INFINITY);
    CHECK(m.matrix[0].points[2].value == -INFINITY);

    const auto s = decode_response(200, R"({"status":"success","data":{"resultType":"scalar","result":[5.5,"2"]}})");
    REQUIRE(s.type == result_type::scalar);
    CHECK(s.scalar.time == 5.5);
    CHECK(s.scalar.value == 2);

    const auto str = decode_response(200, R"({"status":"success","data":{"resultType":"string","result":[7,"hello"]}})");
    REQUIRE(str.type == result_type::string);
    CHECK(str.string_value == "hello");
    CHECK(str.string_time == 7);

    const auto e = decode_response(200, R"({"status":"success","data":{"resultType":"vector","result":[]}})");
    CHECK(e.type == result_type::vector);
    CHECK(e.vector.empty());
}

TEST_CASE("response: the error envelope becomes api_error, whatever the status") {
    for (int status : {400, 422, 503, 200}) {
        CAPTURE(status);
        try {
            (void)decode_response(status, R"({"status":"error","errorType":"bad_data","error":"parse error at char 5"})");
            FAIL("no exception");
        } catch (const api_error& e) {
            CHECK(e.http_status() == status);
            CHECK(e.error_type() == "bad_data");
            CHECK(e.message() == "parse error at char 5");
            CHECK(std::string(e.what()).find("bad_data") != std::string::npos);
        }
    }
}

TEST_CASE("response: non-envelope failures and malformed bodies") {
    try {
        (void)decode_response(503, "<html>Service Unavailable</html>");
        FAIL("no exception");
    } catch (const http_error& e) {
        CHECK(e.http_status() == 503);
        CHECK(e.body().find("Service Unavailable") != std::string::npos);
    }
    CHECK_THROWS_AS((void)decode_response(200, "not json"), parse_error);
    CHECK_THROWS_AS((void)decode_response(200, R"({"status":"success")"), parse_error);
    CHECK_THROWS_AS((void)decode_response(200, R"([1,2])"), parse_error);
    CHECK_THROWS_AS((void)decode_response(200, R"({"status":"success"})"), parse_error);
    CHECK_THROWS_AS((void)decode_response(200, R"({"status":"success","data":{"resultType":"histogram","result":[]}})"),
                    parse_error);
    CHECK_THROWS_AS((void)decode_response(200, R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,2]}]}})"),
                    parse_error);
    CHECK_THROWS_AS((void)decode_response(200, R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":["1","2"]}]}})"),
                    parse_error);
    CHECK_THROWS_AS((void)decode_response(200, R"({"status":"success","data":{"resultType":"scalar","result":[1]}})"),
                    parse_error);
    try {
        (void)decode_response(200, R"({"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"1"],[2,"x"]]}]}})");
        FAIL("no exception");
    } catch (const parse_error& e) {
        CHECK(e.field() == "data.result[0].values[1][1]");
    }
    try {
        (void)decode_response(200, "garbage");
        FAIL("no exception");
    } catch (const parse_error& e) {
        CHECK(e.field().empty());
        CHECK(std::string(e.what()).find("not JSON") != std::string::npos);
    }
    // The body's text in the message has its control bytes escaped: a line
    // break there must not start a line of its own in a log.
    for (const std::string& body : {std::string("gar\r\nbage"), std::string("gar\r\nbage\0{}", 12)}) {
        try {
            (void)decode_response(200, body);
            FAIL("no exception");
        } catch (const parse_error& e) {
            const std::string what = e.what();
            CHECK(what.find("\"gar\\x0d\\x0abage") != std::string::npos);
            CHECK(what.find_first_of("\r\n") == std::string::npos);
        }
    }
}

TEST_CASE("response: an error's message escapes the control bytes of the texts it quotes, its accessors keep them") {
    const auto no_controls = [](const std::string& text) {
        for (const char c : text) {
            if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return false;
        }
        return true;
    };
    // A proxy's page with line breaks and a NUL: not JSON, so an http_error.
    const std::string page("<h1>Bad\r\nGateway</h1>\0x", 23);
    try {
        (void)decode_response(502, page);
        FAIL("no exception");
    } catch (const http_error& e) {
        CHECK(e.body() == page);
        CHECK(std::string(e.what()) == "prometheus: HTTP 502: <h1>Bad\\x0d\\x0aGateway</h1>\\x00x");
        CHECK(no_controls(e.what()));
    }
    // The envelope's texts as sent: a line break there must not start a
    // line of its own in a log.
    try {
        (void)decode_response(422, R"({"status":"error","errorType":"execu\ntion","error":"bad\nrlscale: OK \u001b[32m"})");
        FAIL("no exception");
    } catch (const api_error& e) {
        CHECK(e.error_type() == "execu\ntion");
        CHECK(e.message() == "bad\nrlscale: OK \x1b[32m");
        CHECK(std::string(e.what()) == "prometheus: HTTP 422, errorType execu\\x0ation: bad\\x0arlscale: OK \\x1b[32m");
        CHECK(no_controls(e.what()));
    }
}

TEST_CASE("response: warnings or isPartial in a shape not documented are refused, naming the field and the value") {
    const std::string head = R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"1"]}]})";
    const auto refused = [&head](const std::string& tail, const std::string& field, const std::string& value) {
        CAPTURE(tail);
        try {
            (void)decode_response(200, head + tail + "}");
            FAIL("accepted");
        } catch (const parse_error& e) {
            CHECK(e.field() == field);
            CHECK(std::string(e.what()).find("got " + value) != std::string::npos);
        }
    };
    // A server saying the answer is partial in another shape is not saying
    // nothing: the answer is refused, not read as whole.
    refused(R"(,"warnings":"partial response")", "warnings", R"("partial response")");
    refused(R"(,"warnings":{"msg":"partial response"})", "warnings", "an object of 1 fields");
    refused(R"(,"warnings":true)", "warnings", "true");
    refused(R"(,"warnings":[{"msg":"x"}])", "warnings[0]", "an object of 1 fields");
    refused(R"(,"warnings":["ok",3])", "warnings[1]", "3");
    refused(R"(,"isPartial":"true")", "isPartial", R"("true")");
    refused(R"(,"isPartial":1)", "isPartial", "1");
    refused(R"(,"isPartial":[true])", "isPartial", "an array of 1");
    // The documented shapes, and null, which is taken as absent.
    auto r = decode_response(200, head + R"(,"warnings":["partial response"],"isPartial":true})");
    REQUIRE(r.warnings.size() == 1);
    CHECK(r.warnings[0] == "partial response");
    CHECK(r.partial);
    r = decode_response(200, head + R"(,"warnings":[],"isPartial":false})");
    CHECK(r.warnings.empty());
    CHECK_FALSE(r.partial);
    r = decode_response(200, head + R"(,"warnings":null,"isPartial":null})");
    CHECK(r.warnings.empty());
    CHECK_FALSE(r.partial);
    CHECK(r.vector.size() == 1);
}

TEST_CASE("response: an error quotes a huge or deep value by its size, never whole") {
    const std::string huge(1 << 20, 'x');
    try {
        (void)decode_response(200, R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,")" + huge + R"("]}]}})");
        FAIL("no exception");
    } catch (const parse_error& e) {
        CHECK(e.field() == "data.result[0].value[1]");
        CHECK(std::string(e.what()).size() < 300);
    }
    try {
        std::string items = "[";
        for (int i = 0; i < 100000; ++i) items += (i ? ",1" : "1");
        items += "]";
        (void)decode_response(200, R"({"status":"success","data":{"resultType":"vector","result":{"many":)" + items + "}}}");
        FAIL("no exception");
    } catch (const parse_error& e) {
        CHECK(std::string(e.what()).find("an object of 1 fields") != std::string::npos);
        CHECK(std::string(e.what()).size() < 300);
    }
    try {
        (void)decode_response(422, R"({"status":"error","errorType":"bad_data","error":")" + huge + R"("})");
        FAIL("no exception");
    } catch (const api_error& e) {
        CHECK(std::string(e.what()).size() < 1200);
    }
}

TEST_CASE("response: a proxy's non-UTF-8 error page becomes an http_error whose text goes into JSON") {
    // Latin-1 "é", and a UTF-8 "é" cut in half at the end.
    const std::string page = std::string("<h1>Passerelle d\xe9") + "faillante</h1>" + std::string(600, 'x') + "\xc3";
    try {
        (void)decode_response(502, page);
        FAIL("no exception");
    } catch (const http_error& e) {
        CHECK(e.http_status() == 502);
        CHECK(rlscale::is_valid_utf8(e.what()));
        CHECK(rlscale::is_valid_utf8(e.body()));
        CHECK(e.body().size() <= 512 + 3);
        CHECK_NOTHROW((void)nlohmann::json{{"error", e.what()}}.dump());
    }
    try {
        (void)decode_response(200, "\xff\xfe not json");
        FAIL("no exception");
    } catch (const parse_error& e) {
        CHECK(rlscale::is_valid_utf8(e.what()));
    }
}

TEST_CASE("response: a body nested 100,000 levels deep is refused before it is built") {
    const std::string deep = std::string(100000, '[') + std::string(100000, ']');
    CHECK_THROWS_WITH_AS((void)decode_response(200, deep), doctest::Contains("nested deeper than 64"), parse_error);
    CHECK_THROWS_AS((void)decode_response(503, deep), http_error);
    const std::string object = R"({"status":"success","data":{"resultType":"vector","result":)" + std::string(100000, '[');
    CHECK_THROWS_AS((void)decode_response(200, object), parse_error);
    // Brackets inside strings do not count.
    const std::string text = R"({"status":"success","data":{"resultType":"string","result":[1700000000,")" + std::string(1000, '[') + R"("]}})";
    CHECK(decode_response(200, text).type == result_type::string);
}

TEST_CASE("response: a body of more JSON values than the bound is refused before it is built") {
    // {}, {}, … : three bytes a value on the wire, tens of bytes each parsed.
    // 4.4 million of them (13.2 MB) pass the default bound of 8 Mi values.
    std::string many = R"({"status":"success","data":{"resultType":"vector","result":[)";
    for (int i = 0; i < 4'400'000; ++i) many += "{},";
    many += "{}]}}";
    CHECK_THROWS_WITH_AS((void)decode_response(200, many), doctest::Contains("max_response_values (8388608)"), parse_error);
    CHECK_THROWS_AS((void)decode_response(503, many), http_error);
    // The bound as given: a one-sample answer is 11 values by the count.
    const std::string one = R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"2"]}]}})";
    CHECK(rlscale::json_value_bound(one) == 11);
    CHECK(decode_response(200, one, 11).vector.at(0).point.value == 2);
    CHECK_THROWS_WITH_AS((void)decode_response(200, one, 10), doctest::Contains("max_response_values (10)"), parse_error);
    CHECK_THROWS_AS((void)decode_response(502, one, 10), http_error);
}

TEST_CASE("response: a range answer meets the default byte bound before the default value bound") {
    // Whole-second points of a short value, the densest ordinary answer:
    // filled to the client's default max_response_bytes, it holds fewer
    // values than default_max_response_values, so the value bound never
    // refuses an answer the byte bound lets through.
    std::string points;
    for (int i = 0; i < 1000; ++i) points += "[" + std::to_string(1700000000 + 15 * i) + ",\"12.5\"],";
    points.pop_back();
    std::string body = R"({"status":"success","data":{"resultType":"matrix","result":[)";
    for (int k = 0; k < 20; ++k) body += R"({"metric":{"pod":"p)" + std::to_string(k) + R"("},"values":[)" + points + "]},";
    body.pop_back();
    body += "]}}";
    const double values_per_byte = static_cast<double>(rlscale::json_value_bound(body)) / static_cast<double>(body.size());
    const double at_byte_bound = values_per_byte * static_cast<double>(client_config{}.max_response_bytes);
    CAPTURE(at_byte_bound);
    CHECK(at_byte_bound < static_cast<double>(default_max_response_values));
    CHECK(decode_response(200, body).matrix.size() == 20);
}

TEST_CASE("response: native histogram samples are counted and left out, the float series kept") {
    // Prometheus writes a native histogram as `histogram` (vector) or
    // `histograms` (matrix, `values` then optional) instead of a float sample.
    const std::string h = R"({"count":"3","sum":"1.5","buckets":[[0,"0.5","1","3"]]})";
    const auto v = decode_response(200, R"({"status":"success","data":{"resultType":"vector","result":[
        {"metric":{"s":"h"},"histogram":[1700000000,)" + h + R"(]},
        {"metric":{"s":"f"},"value":[1700000000,"4"]}]}})");
    REQUIRE(v.vector.size() == 1);
    CHECK(v.vector[0].metric.at("s") == "f");
    CHECK(v.vector[0].point.value == 4);
    CHECK(v.dropped_histograms == 1);

    const auto m = decode_response(200, R"({"status":"success","data":{"resultType":"matrix","result":[
        {"metric":{"s":"h"},"histograms":[[1,)" + h + "],[2," + h + R"(]]},
        {"metric":{"s":"both"},"values":[[1,"1"]],"histograms":[[2,)" + h + R"(]]},
        {"metric":{"s":"f"},"values":[[1,"5"],[2,"6"]]}]}})");
    REQUIRE(m.matrix.size() == 2);
    CHECK(m.matrix[0].metric.at("s") == "both");
    CHECK(m.matrix[0].points.size() == 1);
    CHECK(m.matrix[1].points.size() == 2);
    CHECK(m.dropped_histograms == 3);
    CHECK(decode_response(200, R"({"status":"success","data":{"resultType":"vector","result":[]}})").dropped_histograms == 0);

    // An element with neither a float nor a histogram sample, or a histogram
    // sample not shaped as one, is still malformed.
    CHECK_THROWS_WITH_AS((void)decode_response(200, R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{}}]}})"),
                         doctest::Contains("data.result[0].value"), parse_error);
    CHECK_THROWS_WITH_AS((void)decode_response(200, R"({"status":"success","data":{"resultType":"matrix","result":[{"metric":{}}]}})"),
                         doctest::Contains("data.result[0].values"), parse_error);
    CHECK_THROWS_WITH_AS((void)decode_response(200, R"({"status":"success","data":{"resultType":"vector","result":[{"histogram":[1,"3"]}]}})"),
                         doctest::Contains("data.result[0].histogram"), parse_error);
    CHECK_THROWS_WITH_AS((void)decode_response(200, R"({"status":"success","data":{"resultType":"matrix","result":[{"histograms":{}}]}})"),
                         doctest::Contains("data.result[0].histograms"), parse_error);
    CHECK_THROWS_WITH_AS((void)decode_response(200, R"({"status":"success","data":{"resultType":"matrix","result":[{"histograms":[[1,)" + h + R"(],[2]]}]}})"),
                         doctest::Contains("data.result[0].histograms[1]"), parse_error);
}

TEST_CASE("response: a body with a NUL byte anywhere is not JSON, named by its offset, never the answer before it") {
    const std::string answer = R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{"job":"a"},"value":[1,"2"]}]}})";
    REQUIRE(decode_response(200, answer).vector.size() == 1);
    // nlohmann's parser stops at a NUL: each of these was the answer before it.
    for (const std::string& tail : {std::string(1, '\0'), std::string("\0\xff junk {{{", 11),
                                    std::string(1, '\0') + R"(,"data":{"resultType":"scalar","result":[1,"9"]}})"}) {
        CAPTURE(tail.size());
        try {
            (void)decode_response(200, answer + tail);
            FAIL("no exception");
        } catch (const parse_error& e) {
            CHECK(e.field().empty());
            const std::string what = e.what();
            CHECK(what.find("the body is not JSON: a NUL byte at offset " + std::to_string(answer.size())) != std::string::npos);
            CHECK(what.find('\0') == std::string::npos);
            CHECK(rlscale::is_valid_utf8(what));
        }
    }
    // Raw inside a string, at its own offset.
    std::string inside = answer;
    const std::size_t job = inside.find("\"a\"") + 1;
    inside[job] = '\0';
    CHECK_THROWS_WITH_AS((void)decode_response(200, inside), doctest::Contains(("a NUL byte at offset " + std::to_string(job)).c_str()),
                         parse_error);
    // An error envelope before a NUL is no envelope: a failure status is an
    // http_error, a 2xx a parse_error.
    const std::string error = R"({"status":"error","errorType":"bad_data","error":"x"})";
    const std::string envelope = error + '\0' + "tail";
    CHECK_THROWS_AS((void)decode_response(422, envelope), http_error);
    CHECK_THROWS_WITH_AS((void)decode_response(200, envelope), doctest::Contains(("a NUL byte at offset " + std::to_string(error.size())).c_str()),
                         parse_error);
    // Written as the escape \u0000 inside a string it is JSON, read as before.
    const auto escaped =
        decode_response(200, R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{"job":"a\u0000b"},"value":[1,"2"]}]}})");
    REQUIRE(escaped.vector.size() == 1);
    CHECK(escaped.vector[0].metric.at("job") == std::string("a\0b", 3));
}

}  // namespace test_prometheus_response
