// CUDA learned, sinusoidal and rotary positions against the CPU.
#include "tests/cuda/cuda_test_util.h"

namespace alibi::cudatest {
namespace {

constexpr int64_t B = 3, T = 37, C = 80, Tmax = 50;

TEST(CudaPosition, LearnedForwardAndDeterministicBackward) {
  ALIBI_REQUIRE_GPU();
  Backends be;
  const auto x = round_bf16(random_values(B * T * C, 31)), wpe = round_bf16(random_values(Tmax * C, 32));
  const auto dout = round_bf16(random_values(B * T * C, 33)), dwpe0 = random_values(Tmax * C, 34);
  Owned cx = be.to_cpu(x, {B, T, C}), cw = be.to_cpu(wpe, {Tmax, C});
  Owned cdw = be.to_cpu(dwpe0, {Tmax, C}), cdout = be.to_cpu(dout, {B, T, C});
  be.cpu->learned_position_forward(cx.t, cw.t);
  be.cpu->learned_position_backward(cdw.t, cdout.t);

  Owned gx = be.to_gpu(x, {B, T, C}, DType::BF16), gw = be.to_gpu(wpe, {Tmax, C}, DType::BF16);
  be.gpu->learned_position_forward(gx.t, gw.t);
  EXPECT_TRUE(close(be.download(gx.t), be.download_cpu(cx.t), kBf16Tol));

  Owned gdout = be.to_gpu(dout, {B, T, C}, DType::BF16);
  std::vector<float> first;
  for (int run = 0; run < 2; ++run) {
    Owned gdw = be.to_gpu(dwpe0, {Tmax, C}, DType::F32);
    be.gpu->learned_position_backward(gdw.t, gdout.t);
    const auto got = be.download(gdw.t);
    EXPECT_TRUE(close(got, be.download_cpu(cdw.t), 1e-6));  // same order of fp32 additions
    if (run == 0) first = got;
    else EXPECT_TRUE(same_bits(got, first));
  }
}

TEST(CudaPosition, SinusoidalMatchesCpu) {
  ALIBI_REQUIRE_GPU();
  Backends be;
  const int64_t c = 200, t = 1025;  // long enough that angles reach 1000+ radians
  const auto x = round_bf16(random_values(2 * t * c, 35));
  Owned cx = be.to_cpu(x, {2, t, c});
  be.cpu->sinusoidal_position_forward(cx.t);
  Owned gx = be.to_gpu(x, {2, t, c}, DType::BF16);
  be.gpu->sinusoidal_position_forward(gx.t);
  EXPECT_TRUE(close(be.download(gx.t), be.download_cpu(cx.t), kBf16Tol));
}

TEST(CudaPosition, RotaryForwardAndBackwardMatchCpu) {
  ALIBI_REQUIRE_GPU();
  Backends be;
  const int64_t b = 2, t = 33, h = 3, d = 64;  // H not a power of two
  const std::vector<int64_t> shape = {b, t, 3, h, d};
  const auto qkv = round_bf16(random_values(numel_of(shape), 36));
  for (bool forward : {true, false}) {
    Owned cq = be.to_cpu(qkv, shape);
    Owned gq = be.to_gpu(qkv, shape, DType::BF16);
    if (forward) {
      be.cpu->rotary_forward(cq.t, 10000.f);
      be.gpu->rotary_forward(gq.t, 10000.f);
    } else {
      be.cpu->rotary_backward(cq.t, 10000.f);
      be.gpu->rotary_backward(gq.t, 10000.f);
    }
    EXPECT_TRUE(close(be.download(gq.t), be.download_cpu(cq.t), kBf16Tol)) << (forward ? "forward" : "backward");
  }
}

}  // namespace
}  // namespace alibi::cudatest
