// Line and word counting on raw text, shared by the corpus readers, the
// encoder and the statistics in meta.json (docs/data.md defines the counts).
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace alibi {

// ASCII whitespace: space, \t, \n, \v, \f, \r.
bool is_space_char(char c);
// True when the line holds nothing but whitespace.
bool is_blank_line(std::string_view line);
// Lines without their '\n' (and without a trailing '\r'); a final line without '\n' counts.
std::vector<std::string_view> split_lines(std::string_view text);

struct TextStats {
  int64_t words = 0;  // maximal runs of non-whitespace characters
  int64_t lines = 0;  // lines that are not blank
  TextStats& operator+=(const TextStats& other) {
    words += other.words;
    lines += other.lines;
    return *this;
  }
};

int64_t count_words(std::string_view text);
TextStats count_text(std::string_view text);

}  // namespace alibi
