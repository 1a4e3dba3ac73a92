#include "core/hash.h"

#include <gtest/gtest.h>

#include <string>

namespace alibi {

// Published FNV-1a 64 test vectors.
TEST(Hash, MatchesKnownFnv1a64Vectors) {
  EXPECT_EQ(fnv1a64("", 0), 0xcbf29ce484222325ULL);
  EXPECT_EQ(fnv1a64("a", 1), 0xaf63dc4c8601ec8cULL);
  EXPECT_EQ(fnv1a64("foobar", 6), 0x85944171f73967e8ULL);
}

TEST(Hash, StreamingEqualsOneShot) {
  std::string text = "attention with linear biases";
  uint64_t head = fnv1a64(text.data(), 10);
  EXPECT_EQ(fnv1a64(text.data() + 10, text.size() - 10, head), fnv1a64(text.data(), text.size()));
  EXPECT_EQ(hex64(0xabcULL), "0000000000000abc");
}

}  // namespace alibi
