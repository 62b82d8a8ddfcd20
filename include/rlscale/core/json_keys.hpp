#pragma once

/// A JSON parser callback that refuses a key repeated in one object. Files
/// read by rlscale (a controller configuration, a checkpoint) are parsed
/// with it: nlohmann::json keeps the last of two values for one key, so a
/// file whose reader sees `"dry_run": true` at the top could act on a
/// `"dry_run": false` further down, and a checkpoint could carry two
/// `serving` objects of which a reviewer reads the first.
///
/// And first_nul_byte, which every parse of outside JSON text (a request
/// body, an API answer, a file) checks before parsing: nlohmann::json takes
/// a NUL byte as the end of its input.

#include <rlscale/core/text.hpp>

#include <nlohmann/json.hpp>

#include <cstddef>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace rlscale::detail {

/// The offset of the first NUL byte in `text`, or std::string_view::npos
/// if it has none; a text with one is not JSON. JSON text never holds a raw
/// NUL (not inside a string either, where it is written \u0000), but
/// nlohmann::json 3.11's lexer reads one as the end of its input: a valid
/// document followed by a NUL and anything at all parses as that document,
/// the rest unread, where any other reader refuses the whole text (and a
/// proxy or log in between may read another document than the one acted
/// on). A caller refuses such a text as malformed JSON, naming the offset,
/// before parsing it.
[[nodiscard]] constexpr std::size_t first_nul_byte(std::string_view text) noexcept { return text.find('\0'); }

/// Pass to nlohmann::json::parse as its callback: throws `Error(path,
/// "appears twice")` at the second occurrence of a key in one object, the
/// path naming it from the document's root (e.g.
/// "functions[0].max_replicas", "serving.guard.max_step_up"), cut to 256
/// bytes of valid UTF-8. `Error` is constructed from (field, detail), as
/// config_error and checkpoint_error are. Keeps every value (never
/// discards), so the parsed document is the one parsing without it gives.
template <typename Error>
class duplicate_keys {
public:
    bool operator()(int /*depth*/, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
        using event_t = nlohmann::json::parse_event_t;
        switch (event) {
            case event_t::object_start: frames_.push_back({.array = false}); break;
            case event_t::array_start: frames_.push_back({.array = true}); break;
            case event_t::key: {
                std::string key = parsed.get<std::string>();
                if (!frames_.back().keys.insert(key).second) throw Error(escape_controls(valid_utf8(path_to(key), 256)), "appears twice");
                frames_.back().key = std::move(key);
                break;
            }
            case event_t::object_end:
            case event_t::array_end:
                frames_.pop_back();
                next_element();
                break;
            case event_t::value: next_element(); break;
        }
        return true;
    }

private:
    struct frame {
        bool array = false;
        std::size_t index = 0;       ///< array: the element being read
        std::set<std::string> keys;  ///< object: the keys read so far
        std::string key;             ///< object: the last key read
    };
    std::vector<frame> frames_;

    void next_element() {
        if (!frames_.empty() && frames_.back().array) ++frames_.back().index;
    }
    /// `key` in the innermost object: each enclosing frame contributes the
    /// key or index it is reading.
    [[nodiscard]] std::string path_to(const std::string& key) const {
        std::string path;
        for (std::size_t k = 0; k + 1 < frames_.size(); ++k) {
            if (frames_[k].array) {
                path += "[" + std::to_string(frames_[k].index) + "]";
            } else {
                path += (path.empty() ? "" : ".") + frames_[k].key;
            }
        }
        return path.empty() ? key : path + "." + key;
    }
};

}  // namespace rlscale::detail
