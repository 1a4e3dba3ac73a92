// The CUDA key/value cache and decode attention against the CPU reference:
// bf16 caches, rows of different lengths across several key splits, head
// counts that are not a power of two and head dims of 32 to 128.
#include "model/alibi_slopes.h"
#include "tests/cuda/cuda_test_util.h"

namespace alibi::cudatest {
namespace {

struct DecodeCase {
  int64_t B, H, L, D;
  std::vector<int32_t> lengths;
};

void expect_decode_matches_cpu(const DecodeCase& c) {
  Backends be;
  const KvCacheShape s{c.B, c.H, c.L, c.D};
  // The whole cache written at once from a sequence of L tokens, then one
  // query per row.
  const auto sequence = round_bf16(random_values(c.B * c.L * 3 * c.H * c.D, 21));
  const auto query = round_bf16(random_values(c.B * 3 * c.H * c.D, 22));
  const std::vector<float> slopes = alibi_slopes(static_cast<int>(c.H));
  const std::vector<int32_t> zeros(c.B, 0);
  const int64_t cache_numel = c.B * c.H * c.L * c.D;

  Owned cseq = be.to_cpu(sequence, {c.B, c.L, 3, c.H, c.D}), cq = be.to_cpu(query, {c.B, 1, 3, c.H, c.D});
  Owned ck = allocate(*be.cpu, {cache_numel}, DType::F32), cv = allocate(*be.cpu, {cache_numel}, DType::F32);
  Owned cout = allocate(*be.cpu, {c.B, c.H * c.D}, DType::F32), cslopes = be.to_cpu(slopes, {c.H});
  Owned cstarts = be.to_cpu_i32(zeros), clengths = be.to_cpu_i32(c.lengths);
  be.cpu->kv_cache_write(ck.t, cv.t, cseq.t, cstarts.t, c.L, s);
  be.cpu->attention_decode(cout.t, cq.t, ck.t, cv.t, clengths.t, cslopes.t, s);
  const std::vector<float> want = be.download_cpu(cout.t);

  Owned gseq = be.to_gpu(sequence, {c.B, c.L, 3, c.H, c.D}, DType::BF16);
  Owned gq = be.to_gpu(query, {c.B, 1, 3, c.H, c.D}, DType::BF16);
  Owned gk = allocate(*be.gpu, {cache_numel}, DType::BF16), gv = allocate(*be.gpu, {cache_numel}, DType::BF16);
  Owned gout = allocate(*be.gpu, {c.B, c.H * c.D}, DType::BF16), gslopes = be.to_gpu(slopes, {c.H}, DType::F32);
  Owned gstarts = be.to_gpu_i32(zeros), glengths = be.to_gpu_i32(c.lengths);
  be.poison(gout.t);
  be.gpu->kv_cache_write(gk.t, gv.t, gseq.t, gstarts.t, c.L, s);
  be.gpu->attention_decode(gout.t, gq.t, gk.t, gv.t, glengths.t, gslopes.t, s);
  // The caches hold the bf16 inputs exactly.
  EXPECT_TRUE(same_bits(be.download(gk.t), be.download_cpu(ck.t)));
  EXPECT_TRUE(same_bits(be.download(gv.t), be.download_cpu(cv.t)));
  EXPECT_TRUE(close(be.download(gout.t), want, kBf16Tol));
}

TEST(CudaAttentionDecode, MatchesTheCpuAcrossSplitsAndHeadDims) {
  ALIBI_REQUIRE_GPU();
  for (int64_t D : {32, 64, 80, 96, 128}) {
    SCOPED_TRACE("D " + std::to_string(D));
    // 600 positions: several key splits, the last partial; rows of 600, 1,
    // 333 and 2 keys.
    expect_decode_matches_cpu({4, 3, 600, D, {600, 1, 333, 2}});
  }
  expect_decode_matches_cpu({1, 12, 4100, 64, {4097}});   // one row, many splits
  expect_decode_matches_cpu({2, 5, 20000, 128, {19999, 70}});  // long splits, a short row
  expect_decode_matches_cpu({4, 12, 12000, 64, {11999, 12000, 70, 1025}});  // splits of the largest size (1024 keys)
}

// More rows than a block of the kernel has threads; the same sums as the CPU.
TEST(CudaKvCacheAdvance, MatchesTheCpu) {
  ALIBI_REQUIRE_GPU();
  Backends be;
  std::vector<int32_t> lengths(300);
  Rng rng(3);
  for (int32_t& n : lengths) n = static_cast<int32_t>(rng.below(5000));
  Owned gpu = be.to_gpu_i32(lengths), cpu = be.to_cpu_i32(lengths);
  for (int64_t added : {1, 3}) {
    be.gpu->kv_cache_advance(gpu.t, added);
    be.cpu->kv_cache_advance(cpu.t, added);
  }
  std::vector<int32_t> got(lengths.size()), want(lengths.size());
  be.gpu->download(got.data(), gpu.t);
  be.cpu->download(want.data(), cpu.t);
  EXPECT_EQ(got, want);
  EXPECT_EQ(got[7], lengths[7] + 4);
}

}  // namespace
}  // namespace alibi::cudatest
