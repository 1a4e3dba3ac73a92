#include "eval/lengths.h"

#include <charconv>
#include <cmath>
#include <sstream>
#include <stdexcept>

namespace alibi {

namespace {

LengthArg parse_one(const std::string& item) {
  auto bad = [&](const std::string& why) {
    return std::invalid_argument("--lengths: '" + item + "' " + why);
  };
  LengthArg arg;
  arg.text = item;
  if (item.empty()) throw bad("is empty (a stray comma?)");
  const bool relative = item.back() == 'x' || item.back() == 'X';
  const std::string number = relative ? item.substr(0, item.size() - 1) : item;
  const char* begin = number.data();
  const char* end = begin + number.size();
  if (relative) {
    double multiple = 0;
    const auto [ptr, ec] = std::from_chars(begin, end, multiple);
    if (ec != std::errc() || ptr != end || number.empty()) throw bad("is not a length (e.g. 512 or 2x)");
    if (!(multiple > 0)) throw bad("must be a positive multiple of the training length");
    arg.multiple = multiple;
  } else {
    int64_t tokens = 0;
    const auto [ptr, ec] = std::from_chars(begin, end, tokens);
    if (ec != std::errc() || ptr != end || number.empty()) throw bad("is not a length (e.g. 512 or 2x)");
    if (tokens < 1) throw bad("must be at least 1 token");
    arg.tokens = tokens;
  }
  return arg;
}

}  // namespace

std::vector<LengthArg> parse_lengths(const std::string& list) {
  std::vector<LengthArg> out;
  std::stringstream in(list);
  for (std::string item; std::getline(in, item, ',');) out.push_back(parse_one(item));
  if (out.empty() || (!list.empty() && list.back() == ','))
    throw std::invalid_argument("--lengths: '" + list + "' names no length (e.g. 512,1024 or 1x,2x)");
  return out;
}

int64_t resolve_length(const LengthArg& arg, int64_t train_seq_len) {
  if (arg.multiple == 0.0) return arg.tokens;
  const double tokens = arg.multiple * static_cast<double>(train_seq_len);
  if (tokens < 1 || std::abs(tokens - std::round(tokens)) > 1e-9)
    throw std::invalid_argument("--lengths: " + arg.text + " of the training length " + std::to_string(train_seq_len) +
                                " is not a whole number of tokens");
  return static_cast<int64_t>(std::llround(tokens));
}

}  // namespace alibi
