#include "cpu/embedding.h"

#include <gtest/gtest.h>

#include "cpu/grad_check.h"

namespace alibi::cpu {
namespace {

using test::random_normal;

TEST(Embedding, ForwardCopiesRows) {
  const int64_t V = 5, C = 3;
  const auto wte = random_normal(V * C, 31);
  const std::vector<int32_t> tokens = {4, 0, 4, 2};
  std::vector<double> out(tokens.size() * C);
  embedding_forward(out.data(), tokens.data(), wte.data(), 4, V, C);
  for (size_t n = 0; n < tokens.size(); ++n)
    for (int64_t c = 0; c < C; ++c) EXPECT_EQ(out[n * C + c], wte[tokens[n] * C + c]);
}

TEST(Embedding, BackwardMatchesFiniteDifferences) {
  // Repeated tokens (3 appears three times) must sum their gradients.
  const int64_t V = 7, C = 37, N = 6;
  auto wte = random_normal(V * C, 32);
  const std::vector<int32_t> tokens = {3, 1, 3, 6, 0, 3};
  const auto dout = random_normal(N * C, 33);
  std::vector<double> out(N * C);
  auto loss = [&] {
    embedding_forward(out.data(), tokens.data(), wte.data(), N, V, C);
    return test::dot(out, dout);
  };
  const auto dwte0 = random_normal(V * C, 34);  // accumulated onto
  auto dwte = dwte0;
  embedding_backward(dwte.data(), dout.data(), tokens.data(), N, V, C);
  test::expect_grad_near(test::minus(dwte, dwte0), test::numeric_grad(wte, loss), "dwte");
  // Rows of tokens that never occur are untouched.
  for (int64_t c = 0; c < C; ++c) EXPECT_EQ(dwte[2 * C + c], dwte0[2 * C + c]);
}

TEST(Embedding, RejectsTokensOutsideTheVocabulary) {
  const std::vector<double> wte(6);
  std::vector<double> out(3);
  const int32_t too_big = 2, negative = -1;
  EXPECT_THROW(embedding_forward(out.data(), &too_big, wte.data(), 1, 2, 3), std::out_of_range);
  EXPECT_THROW(embedding_forward(out.data(), &negative, wte.data(), 1, 2, 3), std::out_of_range);
}

}  // namespace
}  // namespace alibi::cpu
