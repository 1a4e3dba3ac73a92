// GPU attention against the fp32 CPU reference on the same bf16 inputs.
// Tolerances (bf16 storage of out/dqkv, bf16 P and dS inside the tensor-core
// kernels): out relative L2 <= 2e-2, max |error| <= 4e-2 * max|ref|;
// lse (fp32) max |error| <= 2e-2 absolute; gradients relative L2 <= 5e-2,
// max |error| <= 1e-1 * max|ref|. Outputs are poisoned (all bits set: NaN)
// first, so an element a kernel never writes fails the comparison.
#include "kernels/attention.cuh"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "core/random.h"
#include "cpu/attention.h"
#include "model/alibi_slopes.h"
#include "support/attention_reference.h"
#include "tests/cuda/kernel_test_util.h"

namespace alibi::cuda {
namespace {

using test::bf16;
using test::DeviceArray;
using test::expect_close;
using test::from_bf16;
using test::random_bf16_values;
using test::round_bf16;
using test::to_bf16;

struct Case {
  int64_t B, T, H, D;
  bool alibi;  // ALiBi slopes, else all slopes 0 (plain causal attention)
  std::string name() const {
    return "B=" + std::to_string(B) + " T=" + std::to_string(T) + " H=" + std::to_string(H) +
           " D=" + std::to_string(D) + (alibi ? " alibi" : " slope0");
  }
  AttentionDims dims() const { return {B, T, H, D}; }
  int64_t qkv_size() const { return B * T * 3 * H * D; }
  int64_t out_size() const { return B * T * H * D; }
  int64_t lse_size() const { return B * H * T; }
  std::vector<float> slopes() const {
    return alibi ? alibi_slopes(static_cast<int>(H)) : std::vector<float>(H, 0.f);
  }
};

// Splits dqkv [B,T,3,H,D] into its q, k and v parts, each [B,T,H,D].
std::vector<float> part_of(const std::vector<float>& dqkv, const Case& c, int which) {
  std::vector<float> part;
  part.reserve(c.out_size());
  const int64_t HD = c.H * c.D;
  for (int64_t bt = 0; bt < c.B * c.T; ++bt)
    part.insert(part.end(), dqkv.begin() + (bt * 3 + which) * HD,
                dqkv.begin() + (bt * 3 + which + 1) * HD);
  return part;
}

// One problem: inputs on host and device, CPU reference results.
struct Problem {
  Case c;
  std::vector<float> qkv, slopes, dout, ref_out, ref_lse;
  DeviceArray<uint16_t> d_qkv, d_dout;
  DeviceArray<float> d_slopes;
  explicit Problem(const Case& c, uint64_t seed)
      : c(c),
        qkv(random_bf16_values(c.qkv_size(), seed)),
        slopes(c.slopes()),
        dout(random_bf16_values(c.out_size(), seed + 1)),
        ref_out(c.out_size()),
        ref_lse(c.lse_size()),
        d_qkv(qkv.size()),
        d_dout(dout.size()),
        d_slopes(slopes.size()) {
    d_qkv.upload(to_bf16(qkv));
    d_dout.upload(to_bf16(dout));
    d_slopes.upload(slopes);
    cpu::attention_forward(ref_out.data(), ref_lse.data(), qkv.data(), slopes.data(), c.B, c.T,
                           c.H, c.D);
  }
};

// The forward kernels to check on this device: always the portable one, and
// the Hopper one where it applies (compute capability 9.0, D = 64, 80, 96 or 128).
std::vector<AttentionForwardKernel> forward_kernels(const AttentionDims& dims) {
  std::vector<AttentionForwardKernel> kernels{AttentionForwardKernel::portable};
  if (attention_forward_sm90_applies(dims)) kernels.push_back(AttentionForwardKernel::sm90);
  return kernels;
}

const char* kernel_name(AttentionForwardKernel k) {
  return k == AttentionForwardKernel::sm90 ? "sm90" : "portable";
}

// On a failure, where: the first few elements of out [B,T,H*D] off by more
// than tol, as (b, t, h, d) got / want.
void print_first_mismatches(const std::vector<float>& got, const std::vector<float>& want,
                            const Case& c, double tol) {
  int shown = 0;
  for (size_t n = 0; n < want.size() && shown < 6; ++n) {
    const double d = std::fabs(double(got[n]) - double(want[n]));
    if (d <= tol) continue;
    const int64_t col = int64_t(n) % (c.H * c.D), bt = int64_t(n) / (c.H * c.D);
    std::printf("  mismatch b=%lld t=%lld h=%lld d=%lld: got %g want %g\n",
                (long long)(bt / c.T), (long long)(bt % c.T), (long long)(col / c.D),
                (long long)(col % c.D), got[n], want[n]);
    ++shown;
  }
}

// One forward's raw results (out's bf16 bits; lse's floats, empty without
// it), both poisoned before the kernel runs.
struct RawForward {
  std::vector<uint16_t> out;
  std::vector<float> lse;
};
RawForward run_forward(const Problem& p, AttentionForwardKernel kernel, bool with_lse,
                       const AttentionTuning& tuning) {
  const Case& c = p.c;
  DeviceArray<uint16_t> d_out(c.out_size());
  DeviceArray<float> d_lse(c.lse_size());
  d_out.poison();
  d_lse.poison();
  attention_forward_using(kernel, bf16(d_out), with_lse ? d_lse.get() : nullptr, bf16(p.d_qkv),
                          p.d_slopes.get(), c.dims(), nullptr, nullptr, tuning);
  test::cuda_check(cudaDeviceSynchronize(), "attention_forward");
  return {d_out.download(), with_lse ? d_lse.download() : std::vector<float>{}};
}

void check_forward_with(const Problem& p, AttentionForwardKernel kernel, bool with_lse,
                        const AttentionTuning& tuning = {}) {
  SCOPED_TRACE(std::string(kernel_name(kernel)) + (with_lse ? "" : " lse=null"));
  const RawForward raw = run_forward(p, kernel, with_lse, tuning);
  const std::vector<float> out = from_bf16(raw.out);
  expect_close(out, p.ref_out, 2e-2, 4e-2, "out");
  if (::testing::Test::HasFailure()) print_first_mismatches(out, p.ref_out, p.c, 4e-2);
  if (with_lse) {
    EXPECT_LE(test::max_abs_error(raw.lse, p.ref_lse), 2e-2) << "lse";
  }
}

void check_forward(const Problem& p, bool with_lse = true) {
  for (AttentionForwardKernel k : forward_kernels(p.c.dims())) check_forward_with(p, k, with_lse);
}

// Runs the GPU backward on the reference forward's out (rounded to bf16, as
// the GPU forward would store it) and lse; returns dqkv as floats.
// kernel: which backward (automatic: the fused Hopper backward where it
// applies, else the portable one).
std::vector<float> gpu_backward(const Problem& p, const std::vector<float>& out_bf16,
                                AttentionBackwardKernel kernel = AttentionBackwardKernel::automatic,
                                const AttentionTuning& tuning = {}) {
  const Case& c = p.c;
  DeviceArray<uint16_t> d_out(c.out_size()), d_dqkv(c.qkv_size());
  DeviceArray<float> d_lse(c.lse_size());
  DeviceArray<char> workspace(attention_backward_workspace_bytes(c.dims()));
  d_out.upload(to_bf16(out_bf16));
  d_lse.upload(p.ref_lse);
  d_dqkv.poison();
  workspace.poison();  // NaN: the backward must write its statistics and zero its dQ accumulator
  attention_backward_using(kernel, bf16(d_dqkv), bf16(p.d_dout), bf16(p.d_qkv), bf16(d_out),
                           d_lse.get(), p.d_slopes.get(), c.dims(), workspace.get(), nullptr, tuning);
  test::cuda_check(cudaDeviceSynchronize(), "attention_backward");
  return from_bf16(d_dqkv.download());
}

std::vector<float> rounded_to_bf16(std::vector<float> x) {
  for (float& v : x) v = round_bf16(v);
  return x;
}

// The CPU reference backward on the reference forward's out (rounded to bf16) and lse.
std::vector<float> cpu_backward(const Problem& p, const std::vector<float>& out_bf16) {
  const Case& c = p.c;
  std::vector<float> want(c.qkv_size());
  cpu::attention_backward(want.data(), p.dout.data(), p.qkv.data(), out_bf16.data(),
                          p.ref_lse.data(), p.slopes.data(), c.B, c.T, c.H, c.D);
  return want;
}

void expect_gradients_close(const std::vector<float>& got, const std::vector<float>& want,
                            const Case& c, double rel_l2, double max_rel) {
  const char* names[] = {"dq", "dk", "dv"};
  for (int which = 0; which < 3; ++which)
    expect_close(part_of(got, c, which), part_of(want, c, which), rel_l2, max_rel, names[which]);
}

// On a failure, where: the first few elements of dqkv [B,T,3,H,D] that are
// NaN (never written) or off by more than 1e-1 * max|want| of their part.
void print_first_dqkv_mismatches(const std::vector<float>& got, const std::vector<float>& want,
                                 const Case& c) {
  const char* names[] = {"dq", "dk", "dv"};
  const int64_t HD = c.H * c.D;
  double max_want[3] = {0, 0, 0};
  for (size_t n = 0; n < want.size(); ++n) {
    const int which = int((int64_t(n) / HD) % 3);
    max_want[which] = std::max(max_want[which], std::fabs(double(want[n])));
  }
  int shown = 0;
  for (size_t n = 0; n < want.size() && shown < 8; ++n) {
    const int64_t col = int64_t(n) % HD, which = (int64_t(n) / HD) % 3, bt = int64_t(n) / (3 * HD);
    const double d = std::fabs(double(got[n]) - double(want[n]));
    if (!std::isnan(got[n]) && d <= 1e-1 * max_want[which]) continue;
    std::printf("  mismatch %s b=%lld t=%lld h=%lld d=%lld: got %g want %g\n", names[which],
                (long long)(bt / c.T), (long long)(bt % c.T), (long long)(col / c.D),
                (long long)(col % c.D), got[n], want[n]);
    ++shown;
  }
}

void check_backward(const Problem& p,
                    AttentionBackwardKernel kernel = AttentionBackwardKernel::automatic,
                    const AttentionTuning& tuning = {}) {
  const std::vector<float> out = rounded_to_bf16(p.ref_out);
  const std::vector<float> got = gpu_backward(p, out, kernel, tuning), want = cpu_backward(p, out);
  expect_gradients_close(got, want, p.c, 5e-2, 1e-1);
  if (::testing::Test::HasFailure()) print_first_dqkv_mismatches(got, want, p.c);
}

void check_case(const Case& c, bool backward, uint64_t seed) {
  SCOPED_TRACE(c.name());
  const Problem p(c, seed);
  check_forward(p);
  if (backward) check_backward(p);
}

const int kHeadDims[] = {32, 64, 80, 96, 128};

TEST(CudaAttention, SmallShapesEveryHeadDim) {
  ALIBI_SKIP_WITHOUT_GPU();
  uint64_t seed = 100;
  for (int D : kHeadDims)
    for (int64_t T : {1, 7, 63, 64, 65}) {
      check_case({2, T, 3, D, false}, true, seed++);
      check_case({1, T, 8, D, true}, true, seed++);
      check_case({1, T, 12, D, true}, true, seed++);
    }
}

TEST(CudaAttention, LongSequenceEveryHeadDim) {
  ALIBI_SKIP_WITHOUT_GPU();
  uint64_t seed = 200;
  for (int D : kHeadDims) check_case({1, 1000, 12, D, true}, true, seed++);
  check_case({2, 1000, 3, 64, false}, true, seed++);
  check_case({1, 1000, 8, 128, true}, true, seed++);
}

TEST(CudaAttention, ForwardLongerThanFourThousand) {
  ALIBI_SKIP_WITHOUT_GPU();
  check_case({1, 4097, 2, 64, true}, false, 300);
  check_case({1, 4097, 2, 128, false}, false, 301);
}

TEST(CudaAttention, ForwardWithoutLse) {
  ALIBI_SKIP_WITHOUT_GPU();
  uint64_t seed = 400;
  for (int D : {64, 128})
    for (const Case& c : {Case{2, 65, 3, D, true}, Case{1, 129, 12, D, true}}) {
      SCOPED_TRACE(c.name());
      check_forward(Problem(c, seed++), /*with_lse=*/false);
    }
}

// ---- long sequences: the forward on sampled rows against a direct fp64 sum ------

// At 16k and 64k tokens the forward (automatic choice: the Hopper kernel on
// compute capability 9.0) against the fp64 definition (attention_reference.h)
// on sampled rows: the first and last rows, the tile edges near them, and
// random rows, every head. Bounds for bf16 inputs and output: relative L2 error of the sampled
// rows' outputs <= 1e-2, max |error| <= 4e-2 * max |ref|; lse within 1e-2.
// The output is poisoned first and must be finite everywhere.
TEST(CudaAttention, ForwardAtLongLengthsOnSampledRows) {
  ALIBI_SKIP_WITHOUT_GPU();
  uint64_t seed = 1300;
  for (const Case& c : {Case{1, 16384, 8, 128, true}, Case{1, 16384, 12, 64, true},
                        Case{1, 65536, 2, 128, true}, Case{1, 65536, 3, 64, false}}) {
    SCOPED_TRACE(c.name());
    const std::vector<float> qkv = random_bf16_values(c.qkv_size(), seed++);
    const std::vector<float> slopes = c.slopes();
    DeviceArray<uint16_t> d_qkv(c.qkv_size()), d_out(c.out_size());
    DeviceArray<float> d_slopes(c.H), d_lse(c.lse_size());
    d_qkv.upload(to_bf16(qkv));
    d_slopes.upload(slopes);
    d_out.poison();
    d_lse.poison();
    attention_forward(bf16(d_out), d_lse.get(), bf16(d_qkv), d_slopes.get(), c.dims(), nullptr);
    test::cuda_check(cudaDeviceSynchronize(), "attention_forward");
    const std::vector<float> out = from_bf16(d_out.download());
    const std::vector<float> lse = d_lse.download();
    const int64_t not_finite = std::count_if(out.begin(), out.end(), [](float x) { return !std::isfinite(x); });
    EXPECT_EQ(not_finite, 0) << "elements of out never written (poison) or not finite";

    std::vector<int64_t> rows = {0, 1, 63, 64, 127, 128, c.T / 2, c.T - 129, c.T - 2, c.T - 1};
    Rng rng(seed);
    for (int n = 0; n < 6; ++n) rows.push_back(int64_t(rng.uniform() * double(c.T - 1)));
    std::vector<float> got, want;
    double max_lse_error = 0;
    std::vector<double> ref;
    for (int64_t h = 0; h < c.H; ++h)
      for (int64_t i : rows) {
        double ref_lse = 0;
        alibi::testing::direct_attention_row(qkv.data(), c.T, c.H, c.D, 0, h, i, slopes[h], ref,
                                             ref_lse);
        for (int64_t d = 0; d < c.D; ++d) {
          got.push_back(out[i * c.H * c.D + h * c.D + d]);
          want.push_back(float(ref[d]));
        }
        max_lse_error = std::max(max_lse_error, std::fabs(double(lse[h * c.T + i]) - ref_lse));
      }
    expect_close(got, want, 1e-2, 4e-2, "sampled rows of out");
    EXPECT_LE(max_lse_error, 1e-2) << "lse of the sampled rows";
  }
}

// The lengths around the Hopper kernel's 128-row blocks and 128-key tiles,
// both head counts, both biases (each case runs every applicable kernel).
TEST(CudaAttention, ForwardTileBoundaries) {
  ALIBI_SKIP_WITHOUT_GPU();
  uint64_t seed = 600;
  for (int D : {64, 80, 96, 128})
    for (int64_t T : {1, 7, 63, 64, 65, 127, 128, 129, 255, 257})
      for (int64_t H : {8, 12}) {
        check_case({1, T, H, D, true}, false, seed++);
        check_case({2, T, H, D, false}, false, seed++);
      }
  for (int D : {64, 128}) {
    check_case({1, 1000, 12, D, true}, false, seed++);
    check_case({2, 1000, 8, D, false}, false, seed++);
    check_case({1, 4097, 2, D, true}, false, seed++);
  }
}

// The Hopper and the portable forward compute the same function: on random
// inputs they agree within bf16 rounding of P and of the output (each rounds
// P differently), and their fp32 lse agree closely.
TEST(CudaAttention, Sm90ForwardMatchesPortable) {
  ALIBI_SKIP_WITHOUT_GPU();
  uint64_t seed = 700;
  for (const Case& c : {Case{2, 1000, 12, 64, true}, Case{2, 1000, 12, 128, true},
                        Case{1, 4097, 8, 128, true}, Case{3, 333, 12, 128, false},
                        Case{1, 2048, 8, 64, false}, Case{2, 1000, 12, 80, true},
                        Case{3, 333, 12, 96, false}, Case{1, 2048, 20, 96, true}}) {
    SCOPED_TRACE(c.name());
    if (!attention_forward_sm90_applies(c.dims())) GTEST_SKIP() << "not a compute capability 9.0 device";
    DeviceArray<uint16_t> qkv(c.qkv_size());
    DeviceArray<float> slopes(c.H);
    qkv.upload(to_bf16(random_bf16_values(c.qkv_size(), seed++)));
    slopes.upload(c.slopes());
    std::vector<float> outs[2], lses[2];
    const AttentionForwardKernel kernels[2] = {AttentionForwardKernel::portable,
                                               AttentionForwardKernel::sm90};
    for (int k = 0; k < 2; ++k) {
      DeviceArray<uint16_t> out(c.out_size());
      DeviceArray<float> lse(c.lse_size());
      out.poison();
      lse.poison();
      attention_forward_using(kernels[k], bf16(out), lse.get(), bf16(qkv), slopes.get(), c.dims(),
                              nullptr);
      test::cuda_check(cudaDeviceSynchronize(), "attention_forward");
      outs[k] = from_bf16(out.download());
      lses[k] = lse.download();
    }
    expect_close(outs[1], outs[0], 1e-2, 4e-2, "out sm90 vs portable");
    if (::testing::Test::HasFailure()) print_first_mismatches(outs[1], outs[0], c, 4e-2);
    EXPECT_LE(test::max_abs_error(lses[1], lses[0]), 2e-3) << "lse sm90 vs portable";
  }
}

// The Hopper forward at D = 64 with each consumer count
// (AttentionTuning::forward_consumers_d64): three warpgroups (the default from 2048
// tokens: 192-row query blocks over 128-key tiles, so blocks and tiles are
// not square and a warp may meet tiles whose keys all follow its rows) and
// two (128-row blocks). The lengths around both block sizes, both head
// counts, both biases, B = 1 and 2 (B = 1 at 4097 tokens, for the CPU
// reference's time), against the CPU reference with the forward's
// tolerances; out and lse poisoned first.
TEST(CudaAttention, Sm90ForwardTileBoundariesAtEachConsumerCount) {
  ALIBI_SKIP_WITHOUT_GPU();
  if (!attention_forward_sm90_applies(AttentionDims{1, 64, 8, 64}))
    GTEST_SKIP() << "not a compute capability 9.0 device";
  uint64_t seed = 1500;
  for (int consumers : {3, 2}) {
    AttentionTuning tuning;
    tuning.forward_consumers_d64 = consumers;
    for (int64_t T : {1, 7, 63, 64, 65, 127, 128, 129, 191, 192, 193, 1000, 4097})
      for (int64_t H : {8, 12})
        for (const Case& c : {Case{1, T, H, 64, true}, Case{T > 1000 ? 1 : 2, T, H, 64, false}}) {
          SCOPED_TRACE(c.name() + ", consumers " + std::to_string(consumers));
          check_forward_with(Problem(c, seed++), AttentionForwardKernel::sm90, /*with_lse=*/true, tuning);
          if (::testing::Test::HasFailure()) return;  // the first failing shape is the clue
        }
  }
}

// The persistent grid (AttentionTuning::forward_persistent: a CTA an SM
// that takes query blocks in turn, its K/V and Q rings running on from one
// to the next) computes every query block as the grid of a CTA a block
// does, to the bit: more blocks than SMs and fewer, every head dim and
// consumer count, both orders of the blocks, the consumers taking turns or
// not. And it is within the reference's bounds (out and lse poisoned first).
TEST(CudaAttention, Sm90PersistentForwardEqualsACtaAQueryBlock) {
  ALIBI_SKIP_WITHOUT_GPU();
  if (!attention_forward_sm90_applies(AttentionDims{1, 64, 8, 64}))
    GTEST_SKIP() << "not a compute capability 9.0 device";
  uint64_t seed = 1700;
  for (int64_t D : {64, 80, 96, 128})
    for (const Case& c : {Case{2, 2000, 12, D, true}, Case{3, 1000, 5, D, true}, Case{1, 65, 3, D, false}}) {
      const Problem p(c, seed++);
      for (int consumers : D == 64 ? std::vector<int>{2, 3} : std::vector<int>{2})
        for (bool blocks_major : {true, false})
          for (bool pingpong : {true, false}) {
            SCOPED_TRACE(c.name() + ", consumers " + std::to_string(consumers) +
                         (blocks_major ? ", blocks major" : ", heads major") + (pingpong ? ", turns" : ""));
            AttentionTuning tuning;
            tuning.forward_consumers_d64 = consumers;
            tuning.blocks_major = blocks_major;
            tuning.pingpong = pingpong;
            tuning.forward_persistent = false;
            const RawForward per_block = run_forward(p, AttentionForwardKernel::sm90, true, tuning);
            tuning.forward_persistent = true;
            const RawForward persistent = run_forward(p, AttentionForwardKernel::sm90, true, tuning);
            EXPECT_TRUE(persistent.out == per_block.out) << "out differs";
            EXPECT_EQ(0, std::memcmp(persistent.lse.data(), per_block.lse.data(),
                                     persistent.lse.size() * sizeof(float)))
                << "lse differs";
            if (blocks_major && pingpong) check_forward_with(p, AttentionForwardKernel::sm90, true, tuning);
            if (::testing::Test::HasFailure()) return;
          }
    }
}

TEST(CudaAttention, PortableBackwardIsDeterministic) {
  ALIBI_SKIP_WITHOUT_GPU();
  const Case c{2, 1000, 8, 64, true};
  const Problem p(c, 500);
  const std::vector<float> out = rounded_to_bf16(p.ref_out);
  const std::vector<float> first = gpu_backward(p, out, AttentionBackwardKernel::portable);
  const std::vector<float> second = gpu_backward(p, out, AttentionBackwardKernel::portable);
  ASSERT_EQ(first.size(), second.size());
  EXPECT_EQ(0, std::memcmp(first.data(), second.data(), first.size() * sizeof(float)));
}

// ---- Hopper backward (attention_backward_sm90.cuh) -----------------------------
// Both variants: fused (dQ by unordered reductions) and deterministic (a dQ kernel).
// These tests skip unless the device is compute capability 9.0.

const AttentionBackwardKernel kSm90Backwards[] = {AttentionBackwardKernel::sm90,
                                                  AttentionBackwardKernel::sm90_deterministic};

const char* backward_name(AttentionBackwardKernel k) {
  return k == AttentionBackwardKernel::sm90 ? "sm90 fused" : "sm90 deterministic";
}

bool sm90_backward_available() {
  return attention_backward_sm90_applies(AttentionDims{1, 64, 8, 128});
}

// The lengths around the 128-row owned blocks and 64-row streamed tiles of
// both Hopper backward kernels, both head counts, both biases, B = 1 and 2,
// against the CPU reference (same tolerances as the portable backward;
// dqkv poisoned first).
TEST(CudaAttention, Sm90BackwardTileBoundaries) {
  ALIBI_SKIP_WITHOUT_GPU();
  if (!sm90_backward_available()) GTEST_SKIP() << "not a compute capability 9.0 device";
  uint64_t seed = 900;
  for (int D : {64, 80, 96, 128}) {
    for (int64_t T : {1, 7, 63, 64, 65, 127, 128, 129, 257, 1000})
      for (int64_t H : {8, 12})
        for (const Case& c : {Case{1, T, H, D, true}, Case{2, T, H, D, false}}) {
          SCOPED_TRACE(c.name());
          const Problem p(c, seed++);
          for (AttentionBackwardKernel k : kSm90Backwards) {
            SCOPED_TRACE(backward_name(k));
            check_backward(p, k);
            if (::testing::Test::HasFailure()) return;  // the first failing shape is the clue
          }
        }
    if (D == 80 || D == 96) continue;  // their tiles are D = 128's, whose long cases follow
    for (const Case& c : {Case{1, 4097, 8, D, true}, Case{1, 4097, 12, D, false}}) {
      SCOPED_TRACE(c.name());
      const Problem p(c, seed++);
      for (AttentionBackwardKernel k : kSm90Backwards) {
        SCOPED_TRACE(backward_name(k));
        check_backward(p, k);
      }
    }
  }
}

// The Hopper backwards' CTA order (AttentionTuning::backward_heads_per_group): one head
// a group, groups of 5 over 24 heads (the last group of 4), and all heads
// in one group (block-major); each order gives the reference's gradients.
TEST(CudaAttention, Sm90BackwardEveryCtaOrder) {
  ALIBI_SKIP_WITHOUT_GPU();
  if (!sm90_backward_available()) GTEST_SKIP() << "not a compute capability 9.0 device";
  uint64_t seed = 1600;
  for (int heads_per_group : {1, 5, 1000}) {
    AttentionTuning tuning;
    tuning.backward_heads_per_group = heads_per_group;
    for (int D : {64, 96, 128})
      for (const Case& c : {Case{2, 257, 12, D, true}, Case{3, 130, 8, D, false}}) {
        SCOPED_TRACE(c.name() + ", heads per group " + std::to_string(heads_per_group));
        const Problem p(c, seed++);
        for (AttentionBackwardKernel k : kSm90Backwards) {
          SCOPED_TRACE(backward_name(k));
          check_backward(p, k, tuning);
          if (::testing::Test::HasFailure()) return;
        }
      }
  }
}

// The Hopper and the portable backward compute the same function: on random
// inputs their gradients agree more closely than either agrees with the fp32
// reference (both round P and dS to bf16; they differ in exp2 rounding and
// summation order): relative L2 <= 2e-2, max |difference| <= 5e-2 * max|portable|.
TEST(CudaAttention, Sm90BackwardMatchesPortable) {
  ALIBI_SKIP_WITHOUT_GPU();
  if (!sm90_backward_available()) GTEST_SKIP() << "not a compute capability 9.0 device";
  uint64_t seed = 1000;
  for (const Case& c : {Case{2, 1000, 12, 64, true}, Case{2, 1000, 12, 128, true},
                        Case{1, 4097, 8, 128, true}, Case{3, 333, 12, 128, false},
                        Case{1, 2048, 8, 64, false}, Case{2, 1000, 12, 80, true},
                        Case{3, 333, 12, 96, false}, Case{1, 2048, 20, 96, true}}) {
    SCOPED_TRACE(c.name());
    const Problem p(c, seed++);
    const std::vector<float> out = rounded_to_bf16(p.ref_out);
    const std::vector<float> portable = gpu_backward(p, out, AttentionBackwardKernel::portable);
    for (AttentionBackwardKernel k : kSm90Backwards) {
      SCOPED_TRACE(backward_name(k));
      const std::vector<float> sm90 = gpu_backward(p, out, k);
      expect_gradients_close(sm90, portable, c, 2e-2, 5e-2);
      if (::testing::Test::HasFailure()) print_first_dqkv_mismatches(sm90, portable, c);
    }
  }
}

// The deterministic variant is bitwise reproducible, like the portable
// backward (no atomics).
TEST(CudaAttention, Sm90DeterministicBackwardIsDeterministic) {
  ALIBI_SKIP_WITHOUT_GPU();
  if (!sm90_backward_available()) GTEST_SKIP() << "not a compute capability 9.0 device";
  for (const Case& c : {Case{2, 1000, 8, 64, true}, Case{2, 1000, 12, 128, true}, Case{1, 700, 12, 96, true}}) {
    SCOPED_TRACE(c.name());
    const Problem p(c, 1100);
    const std::vector<float> out = rounded_to_bf16(p.ref_out);
    const std::vector<float> first = gpu_backward(p, out, AttentionBackwardKernel::sm90_deterministic);
    const std::vector<float> second = gpu_backward(p, out, AttentionBackwardKernel::sm90_deterministic);
    ASSERT_EQ(first.size(), second.size());
    EXPECT_EQ(0, std::memcmp(first.data(), second.data(), first.size() * sizeof(float)));
  }
}

// The automatic choice (attention_backward_choice): the fused Hopper backward,
// except where the deterministic pair is asked for or faster (D = 80 to 128,
// T <= 1024); the portable backward for other head dims (32).
// attention_backward runs the chosen kernels, bit for bit (compared on
// shapes whose choice is a deterministic backward). The config keys'
// choices: attention_choice_test.cpp.
TEST(CudaAttention, AutomaticBackwardChoice) {
  ALIBI_SKIP_WITHOUT_GPU();
  if (!sm90_backward_available()) GTEST_SKIP() << "not a compute capability 9.0 device";
  using K = AttentionBackwardKernel;
  EXPECT_EQ(attention_backward_choice({1, 300, 8, 128}, false), K::sm90_deterministic);
  EXPECT_EQ(attention_backward_choice({1, 1024, 8, 128}, false), K::sm90_deterministic);
  EXPECT_EQ(attention_backward_choice({1, 1025, 8, 128}, false), K::sm90);
  EXPECT_EQ(attention_backward_choice({1, 300, 8, 64}, false), K::sm90);
  EXPECT_EQ(attention_backward_choice({1, 5000, 8, 64}, true), K::sm90_deterministic);
  EXPECT_EQ(attention_backward_choice({1, 300, 8, 96}, false), K::sm90_deterministic);  // 128-column tiles
  EXPECT_EQ(attention_backward_choice({1, 2000, 8, 80}, false), K::sm90);
  EXPECT_EQ(attention_backward_choice({1, 300, 8, 32}, false), K::portable);

  const Case c{1, 300, 8, 64, true};
  const Problem p(c, 1200);
  const std::vector<float> out = rounded_to_bf16(p.ref_out);
  auto bits = [](const std::vector<float>& v) {
    std::vector<uint32_t> b(v.size());
    std::memcpy(b.data(), v.data(), v.size() * sizeof(float));
    return b;
  };
  auto run = [&](bool deterministic) {
    DeviceArray<uint16_t> d_out(c.out_size()), d_dqkv(c.qkv_size());
    DeviceArray<float> d_lse(c.lse_size());
    DeviceArray<char> workspace(attention_backward_workspace_bytes(c.dims()));
    d_out.upload(to_bf16(out));
    d_lse.upload(p.ref_lse);
    d_dqkv.poison();
    attention_backward(bf16(d_dqkv), bf16(p.d_dout), bf16(p.d_qkv), bf16(d_out), d_lse.get(),
                       p.d_slopes.get(), c.dims(), deterministic, workspace.get(), nullptr);
    test::cuda_check(cudaDeviceSynchronize(), "attention_backward");
    return from_bf16(d_dqkv.download());
  };
  const std::vector<float> chosen_fast = run(false), chosen_deterministic = run(true);
  EXPECT_EQ(bits(chosen_deterministic), bits(gpu_backward(p, out, K::sm90_deterministic)));
  // The fused backward's dQ may differ in its last bits from run to run.
  expect_gradients_close(chosen_fast, gpu_backward(p, out, K::sm90), c, 1e-3, 1e-2);
}

const char* kernel_name(AttentionBackwardKernel k) {
  if (k == AttentionBackwardKernel::sm90) return "sm90 backward";
  return k == AttentionBackwardKernel::sm90_deterministic ? "sm90 deterministic backward" : "portable backward";
}

// dqkv_sums, the qkv bias gradient: q's the column sums of the dq the
// device stored, k's exactly 0 (added to random sums, or written over NaN),
// v's the column sums of dout; against sums in double on the host. On every
// backward: the fused Hopper one takes q's and v's from its own kernels,
// the deterministic one v's, the portable one neither; odd lengths (rows
// past the last whole chunk of rows), head counts that are not powers of two.
TEST(CudaAttention, BackwardTakesTheQkvBiasGradient) {
  ALIBI_SKIP_WITHOUT_GPU();
  using K = AttentionBackwardKernel;
  std::vector<std::pair<Case, K>> runs = {{Case{2, 300, 3, 32, true}, K::portable},
                                          {Case{2, 1000, 12, 64, true}, K::portable}};
  if (sm90_backward_available())
    for (const Case& c : {Case{2, 1000, 12, 64, true}, Case{3, 77, 5, 128, true}, Case{1, 700, 6, 96, true},
                          Case{2, 129, 3, 80, true}})
      for (K k : {K::sm90, K::sm90_deterministic}) runs.push_back({c, k});
  for (const auto& [c, kernel] : runs) {
    const Problem p(c, 1300);
    const std::vector<float> out = rounded_to_bf16(p.ref_out);
    const int64_t C = c.H * c.D, N = c.B * c.T;
    for (bool accumulate : {true, false}) {
      SCOPED_TRACE(c.name() + ", " + kernel_name(kernel) + (accumulate ? ", added" : ", written"));
      const std::vector<float> sums0 = accumulate ? random_bf16_values(3 * C, 1301)
                                                  : std::vector<float>(3 * C, std::nanf(""));
      DeviceArray<uint16_t> d_out(c.out_size()), d_dqkv(c.qkv_size());
      DeviceArray<float> d_lse(c.lse_size()), d_sums(3 * C);
      DeviceArray<char> workspace(attention_backward_workspace_bytes(c.dims()));
      d_out.upload(to_bf16(out));
      d_lse.upload(p.ref_lse);
      d_sums.upload(sums0);
      d_dqkv.poison();
      workspace.poison();  // every partial must be written before it is added
      attention_backward_using(kernel, bf16(d_dqkv), bf16(p.d_dout), bf16(p.d_qkv), bf16(d_out), d_lse.get(),
                               p.d_slopes.get(), c.dims(), workspace.get(), nullptr, {}, d_sums.get(), accumulate);
      test::cuda_check(cudaDeviceSynchronize(), "attention_backward with dqkv_sums");
      const std::vector<float> dqkv = from_bf16(d_dqkv.download()), got = d_sums.download();
      std::vector<double> q(C), v(C);
      for (int64_t i = 0; i < C; ++i) q[i] = accumulate ? sums0[i] : 0, v[i] = accumulate ? sums0[2 * C + i] : 0;
      for (int64_t n = 0; n < N; ++n)
        for (int64_t i = 0; i < C; ++i) q[i] += dqkv[n * 3 * C + i], v[i] += p.dout[n * C + i];
      expect_close(std::vector<float>(got.begin(), got.begin() + C), std::vector<float>(q.begin(), q.end()), 1e-4,
                   1e-4, "q: dq's column sums");
      expect_close(std::vector<float>(got.begin() + 2 * C, got.end()), std::vector<float>(v.begin(), v.end()), 1e-4,
                   1e-4, "v: dout's column sums");
      for (int64_t i = 0; i < C; ++i)
        ASSERT_EQ(got[C + i], accumulate ? sums0[C + i] : 0.f) << "k's sums are exactly 0, column " << i;
    }
  }
}

TEST(CudaAttention, RejectsUnsupportedHeadDim) {
  ALIBI_SKIP_WITHOUT_GPU();
  EXPECT_THROW(attention_forward(nullptr, nullptr, nullptr, nullptr, {1, 8, 2, 48}, nullptr),
               std::runtime_error);
}

// ---- timing (run explicitly: --gtest_also_run_disabled_tests
//      --gtest_filter='CudaAttention.DISABLED_Timing') --------------------------

// Median milliseconds of reps launches of f, after warm-up.
template <typename F>
float median_ms(F&& f, int reps = 20) {
  for (int i = 0; i < 3; ++i) f();
  cudaEvent_t start, stop;
  cudaEventCreate(&start);
  cudaEventCreate(&stop);
  std::vector<float> times;
  for (int i = 0; i < reps; ++i) {
    cudaEventRecord(start);
    f();
    cudaEventRecord(stop);
    cudaEventSynchronize(stop);
    float ms = 0;
    cudaEventElapsedTime(&ms, start, stop);
    times.push_back(ms);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  std::nth_element(times.begin(), times.begin() + reps / 2, times.end());
  return times[reps / 2];
}

void time_case(const Case& c) {
  DeviceArray<uint16_t> qkv(c.qkv_size()), out(c.out_size()), dout(c.out_size()),
      dqkv(c.qkv_size());
  DeviceArray<float> lse(c.lse_size()), slopes(c.H);
  DeviceArray<char> workspace(attention_backward_workspace_bytes(c.dims()));
  qkv.upload(to_bf16(random_bf16_values(c.qkv_size(), 1)));
  dout.upload(to_bf16(random_bf16_values(c.out_size(), 2)));
  slopes.upload(c.slopes());
  const float fwd = median_ms([&] {
    attention_forward(bf16(out), lse.get(), bf16(qkv), slopes.get(), c.dims(), nullptr);
  });
  const float bwd = median_ms([&] {
    attention_backward(bf16(dqkv), bf16(dout), bf16(qkv), bf16(out), lse.get(), slopes.get(),
                       c.dims(), /*deterministic=*/false, workspace.get(), nullptr);
  });
  test::cuda_check(cudaDeviceSynchronize(), "timing");
  const double fwd_flops = 4.0 * c.B * c.H * double(c.T) * c.T * c.D / 2;
  const double bwd_flops = 2.5 * fwd_flops;
  std::printf("%s: forward %.3f ms %.1f TFLOP/s, backward %.3f ms %.1f TFLOP/s, "
              "fwd+bwd %.1f TFLOP/s\n",
              c.name().c_str(), fwd, fwd_flops / fwd / 1e9, bwd, bwd_flops / bwd / 1e9,
              (fwd_flops + bwd_flops) / (fwd + bwd) / 1e9);
  if (!attention_backward_sm90_applies(c.dims())) return;
  for (AttentionBackwardKernel k : {AttentionBackwardKernel::sm90_deterministic, AttentionBackwardKernel::portable}) {
    const float ms = median_ms([&] {
      attention_backward_using(k, bf16(dqkv), bf16(dout), bf16(qkv), bf16(out), lse.get(),
                               slopes.get(), c.dims(), workspace.get(), nullptr);
    });
    test::cuda_check(cudaDeviceSynchronize(), "timing");
    std::printf("%s: %s %.3f ms %.1f TFLOP/s, fwd+bwd %.1f TFLOP/s\n", c.name().c_str(), kernel_name(k), ms,
                bwd_flops / ms / 1e9, (fwd_flops + bwd_flops) / (fwd + ms) / 1e9);
  }
}

TEST(CudaAttention, DISABLED_Timing) {
  ALIBI_SKIP_WITHOUT_GPU();
  time_case({16, 1024, 12, 64, true});
  time_case({4, 4096, 8, 128, true});
}

}  // namespace
}  // namespace alibi::cuda
