#include "data/text.h"

namespace alibi {

bool is_space_char(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

bool is_blank_line(std::string_view line) {
  for (char c : line)
    if (!is_space_char(c)) return false;
  return true;
}

std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);  // tolerate CRLF files
    lines.push_back(line);
    start = end + 1;
  }
  return lines;
}

int64_t count_words(std::string_view text) {
  int64_t words = 0;
  bool in_word = false;
  for (char c : text) {
    bool space = is_space_char(c);
    if (!space && !in_word) ++words;
    in_word = !space;
  }
  return words;
}

TextStats count_text(std::string_view text) {
  TextStats stats;
  for (std::string_view line : split_lines(text)) {
    int64_t words = count_words(line);
    stats.words += words;
    stats.lines += words > 0 ? 1 : 0;  // a non-blank line always has a word
  }
  return stats;
}

}  // namespace alibi
