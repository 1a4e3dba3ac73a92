// Forward-only attention that leaves out the keys ALiBi makes negligible
// (kernels/attention_key_skip.cuh), against the CPU reference that computes
// every key. Where the Hopper kernel does not apply, the workspace is
// ignored and these tests check the plain forward. The Hopper forward runs
// with each of its consumer counts (AttentionTuning::forward_consumers_d64: 128- or
// 192-row query blocks, each skipping by the bound of its own rows).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "cpu/attention.h"
#include "kernels/attention.cuh"
#include "model/alibi_slopes.h"
#include "tests/cuda/kernel_test_util.h"

namespace alibi::cuda {
namespace {

using test::DeviceArray;
using test::expect_close;
using test::from_bf16;
using test::random_bf16_values;
using test::to_bf16;

struct SkipCase {
  int64_t B, T, H, D;
  std::string name() const {
    return "B=" + std::to_string(B) + " T=" + std::to_string(T) + " H=" + std::to_string(H) +
           " D=" + std::to_string(D);
  }
  AttentionDims dims() const { return {B, T, H, D}; }
  int64_t out_size() const { return B * T * H * D; }
  float& at(std::vector<float>& qkv, int64_t b, int64_t t, int which, int64_t h, int64_t d) const {
    return qkv[(((b * T + t) * 3 + which) * H + h) * D + d];
  }
};

// The Hopper forward's consumer warpgroups per CTA that head dim D can
// select (3 only at D = 64); a CTA owns 64 query rows per consumer.
std::vector<int> consumer_counts(int64_t D) {
  return D == 64 ? std::vector<int>{2, 3} : std::vector<int>{2};
}

// The GPU forward without lse, skipping negligible keys, with `consumers`
// consumer warpgroups in the Hopper kernel, on its persistent grid or a CTA a
// query block; out poisoned first.
std::vector<float> skipping_forward(const SkipCase& c, const std::vector<float>& qkv,
                                    const std::vector<float>& slopes, int consumers, bool persistent = false) {
  AttentionTuning tuning;
  tuning.forward_consumers_d64 = consumers;
  tuning.forward_persistent = persistent;
  DeviceArray<uint16_t> d_qkv(qkv.size()), d_out(c.out_size());
  DeviceArray<float> d_slopes(slopes.size());
  DeviceArray<uint8_t> workspace(attention_key_skip_workspace_bytes(c.dims()));
  d_qkv.upload(to_bf16(qkv));
  d_slopes.upload(slopes);
  d_out.poison();
  workspace.poison();  // the bounds must be computed, not found
  attention_forward(reinterpret_cast<__nv_bfloat16*>(d_out.get()), nullptr,
                    reinterpret_cast<const __nv_bfloat16*>(d_qkv.get()), d_slopes.get(), c.dims(),
                    nullptr, workspace.get(), tuning);
  test::cuda_check(cudaDeviceSynchronize(), "attention_forward");
  return from_bf16(d_out.download());
}

std::vector<float> reference_forward(const SkipCase& c, const std::vector<float>& qkv,
                                     const std::vector<float>& slopes) {
  std::vector<float> out(c.out_size()), lse(c.B * c.H * c.T);
  cpu::attention_forward(out.data(), lse.data(), qkv.data(), slopes.data(), c.B, c.T, c.H, c.D);
  return out;
}

double norm(const SkipCase& c, const std::vector<float>& qkv, int64_t b, int64_t t, int which,
            int64_t h) {
  double sum = 0;
  for (int64_t d = 0; d < c.D; ++d) {
    const double x = qkv[(((b * c.T + t) * 3 + which) * c.H + h) * c.D + d];
    sum += x * x;
  }
  return std::sqrt(sum);
}

// Whether keys 0..127 weigh less than 2^-40 of every row of the query
// block of `rows` rows from m0 of head (b, h), derived here from the scores'
// bound: s_ij <= |q_i| |k_j| / sqrt(D), and a row's total is at least its
// diagonal term exp(s_ii) >= exp(-|q_i| |k_i| / sqrt(D)).
bool first_keys_negligible(const SkipCase& c, const std::vector<float>& qkv, float slope,
                           int64_t b, int64_t h, int64_t m0, int64_t rows) {
  double qmax = 0, kmax = 0;
  for (int64_t t = 0; t < c.T; ++t) kmax = std::max(kmax, norm(c, qkv, b, t, 1, h));
  for (int64_t i = m0; i < std::min(c.T, m0 + rows); ++i)
    qmax = std::max(qmax, norm(c, qkv, b, i, 0, h));
  const double distance = double(m0) - 127;  // first query - key 127
  return slope * distance > 2 * qmax * kmax / std::sqrt(double(c.D)) + 40 * std::log(2.0);
}

// On random inputs with ALiBi slopes, and with slopes 0 (nothing to skip),
// the skipping forward matches the reference at the usual bf16 bounds
// (relative L2 <= 2e-2, max |error| <= 4e-2 * max |ref|), with each
// consumer count, on either grid.
TEST(CudaAttentionKeySkip, MatchesTheFullReference) {
  ALIBI_SKIP_WITHOUT_GPU();
  uint64_t seed = 2100;
  for (const SkipCase& c : {SkipCase{2, 4097, 12, 64}, SkipCase{1, 4097, 8, 128},
                            SkipCase{1, 1000, 12, 128}, SkipCase{2, 129, 8, 64},
                            SkipCase{2, 193, 8, 64}})
    for (bool alibi : {true, false}) {
      SCOPED_TRACE(c.name() + (alibi ? " alibi" : " slope0"));
      const std::vector<float> qkv = random_bf16_values(size_t(c.B * c.T * 3 * c.H * c.D), seed++);
      const std::vector<float> slopes =
          alibi ? alibi_slopes(int(c.H)) : std::vector<float>(size_t(c.H), 0.f);
      const std::vector<float> want = reference_forward(c, qkv, slopes);
      for (int consumers : consumer_counts(c.D))
        for (bool persistent : {false, true}) {
          SCOPED_TRACE("consumers=" + std::to_string(consumers) + (persistent ? " persistent" : ""));
          expect_close(skipping_forward(c, qkv, slopes, consumers, persistent), want, 2e-2, 4e-2, "out");
        }
    }
}

// The kernel does leave the negligible keys out: V of keys 0..127 is NaN, so
// every row that reads them comes out NaN. The rows of the query blocks (64
// rows per consumer warpgroup) for which this test's own bound proves those
// keys negligible must come out finite and equal to the reference computed
// with the true V (whose keys 0..127 move those rows by under 2^-33 of
// their mass).
TEST(CudaAttentionKeySkip, LeavesOutTheKeysTheBoundProvesNegligible) {
  ALIBI_SKIP_WITHOUT_GPU();
  uint64_t seed = 2200;
  for (int64_t D : {64, 128}) {
    const SkipCase c{1, 2048, 12, D};
    SCOPED_TRACE(c.name());
    if (!attention_forward_sm90_applies(c.dims())) GTEST_SKIP() << "only the Hopper kernel skips keys";
    std::vector<float> qkv = random_bf16_values(size_t(c.B * c.T * 3 * c.H * c.D), seed++);
    const std::vector<float> slopes = alibi_slopes(int(c.H));
    const std::vector<float> want = reference_forward(c, qkv, slopes);
    std::vector<float> poisoned = qkv;
    for (int64_t t = 0; t < 128; ++t)
      for (int64_t h = 0; h < c.H; ++h)
        for (int64_t d = 0; d < c.D; ++d) c.at(poisoned, 0, t, 2, h, d) = NAN;
    for (int consumers : consumer_counts(D)) {
      SCOPED_TRACE("consumers=" + std::to_string(consumers));
      const int64_t rows = 64 * consumers;  // the kernel's query block
      const std::vector<float> got = skipping_forward(c, poisoned, slopes, consumers);
      std::vector<float> got_rows, want_rows;
      int64_t blocks_checked = 0;
      for (int64_t h = 0; h < c.H; ++h)
        for (int64_t m0 = 0; m0 < c.T; m0 += rows) {
          if (!first_keys_negligible(c, qkv, slopes[h], 0, h, m0, rows)) continue;
          ++blocks_checked;
          for (int64_t i = m0; i < std::min(c.T, m0 + rows); ++i)
            for (int64_t d = 0; d < c.D; ++d) {
              got_rows.push_back(got[(i * c.H + h) * c.D + d]);
              want_rows.push_back(want[(i * c.H + h) * c.D + d]);
            }
        }
      ASSERT_GT(blocks_checked, 0) << "no query block whose keys 0..127 are provably negligible";
      expect_close(got_rows, want_rows, 2e-2, 4e-2, "rows whose keys 0..127 are negligible");
    }
  }
}

// Scores can outweigh any distance: here key 0 matches every query of the
// last 128 rows (the last query block at either consumer count: 2048 =
// 10 * 192 + 128) so strongly (q . k / sqrt(D) ~ 1800 against an ALiBi bias
// of about -0.71 * 2000 in head 0) that it dominates those rows. The norms'
// bound keeps it; skipping by distance alone would lose it.
TEST(CudaAttentionKeySkip, KeepsFarKeysThatDominate) {
  ALIBI_SKIP_WITHOUT_GPU();
  const SkipCase c{1, 2048, 12, 64};
  std::vector<float> qkv = random_bf16_values(size_t(c.B * c.T * 3 * c.H * c.D), 2300);
  for (int64_t d = 0; d < c.D; ++d) {
    c.at(qkv, 0, 0, 1, 0, d) = 15.f;  // k_0 of head 0
    for (int64_t i = c.T - 128; i < c.T; ++i) c.at(qkv, 0, i, 0, 0, d) = 15.f;  // q of the last block
  }
  const std::vector<float> slopes = alibi_slopes(int(c.H));
  const std::vector<float> want = reference_forward(c, qkv, slopes);
  for (int consumers : consumer_counts(c.D)) {
    SCOPED_TRACE("consumers=" + std::to_string(consumers));
    expect_close(skipping_forward(c, qkv, slopes, consumers), want, 2e-2, 4e-2, "out");
  }
}

}  // namespace
}  // namespace alibi::cuda
