// Attention over a key/value cache against the fp64 definition of causal
// attention: the cached query of a row equals the last query of its
// sequence attended in full, whatever the cache holds past the row's length.
#include "cpu/attention_decode.h"

#include <gtest/gtest.h>

#include <cmath>

#include "cpu/cpu_backend.h"
#include "cpu/grad_check.h"
#include "model/alibi_slopes.h"
#include "support/attention_reference.h"

namespace alibi::cpu {
namespace {

struct Case {
  int64_t B, T, H, L, D;
  std::vector<int32_t> lengths;  // per row, <= T
};

void expect_decode_matches_full_attention(const Case& c) {
  const std::vector<double> qkv = test::random_normal(c.B * c.T * 3 * c.H * c.D, 7);
  std::vector<double> slopes;
  for (float s : alibi_slopes(static_cast<int>(c.H))) slopes.push_back(s);
  // Keys and values of every token, in two writes (a prompt, then the rest).
  std::vector<double> k_cache(c.B * c.H * c.L * c.D, NAN), v_cache(k_cache.size(), NAN);
  const int64_t first = c.T / 2;
  std::vector<double> part1, part2;
  for (int64_t b = 0; b < c.B; ++b)
    for (int64_t t = 0; t < c.T; ++t) {
      auto row = qkv.begin() + (b * c.T + t) * 3 * c.H * c.D;
      (t < first ? part1 : part2).insert((t < first ? part1 : part2).end(), row, row + 3 * c.H * c.D);
    }
  const std::vector<int32_t> zeros(c.B, 0), after_first(c.B, static_cast<int32_t>(first));
  kv_cache_write(k_cache.data(), v_cache.data(), part1.data(), zeros.data(), c.B, first, c.H, c.L, c.D);
  kv_cache_write(k_cache.data(), v_cache.data(), part2.data(), after_first.data(), c.B, c.T - first, c.H, c.L,
                 c.D);
  // Each row's query is its token lengths[b] - 1.
  std::vector<double> query(c.B * 3 * c.H * c.D);
  for (int64_t b = 0; b < c.B; ++b) {
    auto row = qkv.begin() + (b * c.T + c.lengths[b] - 1) * 3 * c.H * c.D;
    std::copy(row, row + 3 * c.H * c.D, query.begin() + b * 3 * c.H * c.D);
  }
  std::vector<double> out(c.B * c.H * c.D, NAN);
  attention_decode(out.data(), query.data(), k_cache.data(), v_cache.data(), c.lengths.data(), slopes.data(), c.B,
                   c.H, c.L, c.D);
  std::vector<double> want;
  double lse;
  for (int64_t b = 0; b < c.B; ++b)
    for (int64_t h = 0; h < c.H; ++h) {
      testing::direct_attention_row(qkv.data(), c.T, c.H, c.D, b, h, c.lengths[b] - 1, slopes[h], want, lse);
      for (int64_t d = 0; d < c.D; ++d)
        ASSERT_NEAR(out[(b * c.H + h) * c.D + d], want[d], 1e-12) << "b " << b << " h " << h << " d " << d;
    }
}

TEST(AttentionDecode, EqualsTheLastQueryOfFullAttention) {
  // 3 heads (not a power of two), rows of different lengths, a cache longer
  // than any row (NaN past the written positions: they must not be read).
  expect_decode_matches_full_attention({3, 37, 3, 50, 24, {37, 1, 20}});
}

TEST(AttentionDecode, AFullCache) { expect_decode_matches_full_attention({2, 16, 4, 16, 8, {16, 9}}); }

TEST(KvCacheAdvance, AddsToEveryRowAndTheBackendRefusesBadArguments) {
  std::vector<int32_t> lengths = {0, 7, 1024};
  kv_cache_advance(lengths.data(), 3, 2);
  EXPECT_EQ(lengths, (std::vector<int32_t>{2, 9, 1026}));
  auto backend = make_cpu_backend(1);
  const Tensor t(lengths.data(), {3}, DType::I32, Device::CPU);
  backend->kv_cache_advance(t, 1);
  EXPECT_EQ(lengths, (std::vector<int32_t>{3, 10, 1027}));
  EXPECT_THROW(backend->kv_cache_advance(t, 0), std::invalid_argument);
  std::vector<float> f32(3);
  EXPECT_THROW(backend->kv_cache_advance(Tensor(f32.data(), {3}, DType::F32, Device::CPU), 1), std::invalid_argument);
  EXPECT_EQ(lengths, (std::vector<int32_t>{3, 10, 1027}));  // refused: nothing written
}

}  // namespace
}  // namespace alibi::cpu
