// CUDA LayerNorm against the CPU; parameter gradients are deterministic.
#include "tests/cuda/cuda_test_util.h"

namespace alibi::cudatest {
namespace {

struct LnData {
  std::vector<float> inp, weight, bias, dout, dweight0, dbias0;
};

LnData make_data(int64_t N, int64_t C) {
  LnData d;
  d.inp = random_values(N * C, 41, 2.f);
  for (int64_t n = 0; n < N; ++n)  // a per-row offset: the two-pass variance matters
    for (int64_t c = 0; c < C; ++c) d.inp[n * C + c] += static_cast<float>(n % 5);
  d.inp = round_bf16(d.inp);
  d.weight = round_bf16(random_values(C, 42));
  d.bias = round_bf16(random_values(C, 43));
  d.dout = round_bf16(random_values(N * C, 44));
  d.dweight0 = random_values(C, 45);
  d.dbias0 = random_values(C, 46);
  return d;
}

void check_layernorm(int64_t N, int64_t C) {
  SCOPED_TRACE("N=" + std::to_string(N) + " C=" + std::to_string(C));
  Backends be;
  const LnData d = make_data(N, C);
  const float eps = 1e-5f;

  // CPU reference on the bf16-rounded inputs.
  Owned ci = be.to_cpu(d.inp, {N, C}), cw = be.to_cpu(d.weight, {C}), cb = be.to_cpu(d.bias, {C});
  Owned co = allocate(*be.cpu, {N, C}, DType::F32), cm = allocate(*be.cpu, {N}, DType::F32),
        cr = allocate(*be.cpu, {N}, DType::F32);
  be.cpu->layernorm_forward(co.t, cm.t, cr.t, ci.t, cw.t, cb.t, eps);
  Owned cdo = be.to_cpu(d.dout, {N, C}), cdi = allocate(*be.cpu, {N, C}, DType::F32);
  Owned cdw = be.to_cpu(d.dweight0, {C}), cdb = be.to_cpu(d.dbias0, {C});
  be.cpu->layernorm_backward(cdi.t, cdw.t, cdb.t, cdo.t, ci.t, cw.t, cm.t, cr.t);

  Owned gi = be.to_gpu(d.inp, {N, C}, DType::BF16), gw = be.to_gpu(d.weight, {C}, DType::BF16),
        gb = be.to_gpu(d.bias, {C}, DType::BF16);
  Owned go = allocate(*be.gpu, {N, C}, DType::BF16), gm = allocate(*be.gpu, {N}, DType::F32),
        gr = allocate(*be.gpu, {N}, DType::F32);
  be.poison(go.t);
  be.poison(gm.t);
  be.poison(gr.t);
  be.gpu->layernorm_forward(go.t, gm.t, gr.t, gi.t, gw.t, gb.t, eps);
  EXPECT_TRUE(close(be.download(go.t), be.download_cpu(co.t), kBf16Tol));
  EXPECT_TRUE(close(be.download(gm.t), be.download_cpu(cm.t), kF32Tol));
  EXPECT_TRUE(close(be.download(gr.t), be.download_cpu(cr.t), kF32Tol));

  Owned gdo = be.to_gpu(d.dout, {N, C}, DType::BF16);
  std::vector<float> first_dw, first_db, first_di;
  for (int run = 0; run < 2; ++run) {
    Owned gdi = allocate(*be.gpu, {N, C}, DType::BF16);
    be.poison(gdi.t);
    Owned gdw = be.to_gpu(d.dweight0, {C}, DType::F32), gdb = be.to_gpu(d.dbias0, {C}, DType::F32);
    be.gpu->layernorm_backward(gdi.t, gdw.t, gdb.t, gdo.t, gi.t, gw.t, gm.t, gr.t);
    const auto di = be.download(gdi.t), dw = be.download(gdw.t), db = be.download(gdb.t);
    EXPECT_TRUE(close(di, be.download_cpu(cdi.t), kBf16Tol));
    // fp32 sums over N rows in another order: a looser fp32 tolerance.
    EXPECT_TRUE(close(dw, be.download_cpu(cdw.t), 1e-4));
    EXPECT_TRUE(close(db, be.download_cpu(cdb.t), 1e-4));
    if (run == 0) {
      first_dw = dw, first_db = db, first_di = di;
    } else {
      EXPECT_TRUE(same_bits(dw, first_dw) && same_bits(db, first_db) && same_bits(di, first_di))
          << "backward is not deterministic";
    }
  }

  // dinp may alias dout.
  Owned alias = be.to_gpu(d.dout, {N, C}, DType::BF16);
  Owned gdw = be.to_gpu(d.dweight0, {C}, DType::F32), gdb = be.to_gpu(d.dbias0, {C}, DType::F32);
  be.gpu->layernorm_backward(alias.t, gdw.t, gdb.t, alias.t, gi.t, gw.t, gm.t, gr.t);
  EXPECT_TRUE(same_bits(be.download(alias.t), first_di));
  EXPECT_TRUE(same_bits(be.download(gdw.t), first_dw));

  // add_to_dinp: a residual gradient already in dinp gets LayerNorm's share added.
  const std::vector<float> residual = round_bf16(random_values(N * C, 47));
  Owned acc = be.to_gpu(residual, {N, C}, DType::BF16);
  be.gpu->layernorm_backward(acc.t, gdw.t, gdb.t, gdo.t, gi.t, gw.t, gm.t, gr.t, /*add_to_dinp=*/true);
  std::vector<float> expected = be.download_cpu(cdi.t);
  for (size_t i = 0; i < expected.size(); ++i) expected[i] += residual[i];
  EXPECT_TRUE(close(be.download(acc.t), expected, kBf16Tol));

  // dinp_sums: the column sums of dinp as stored (the bias gradient of the
  // layer that wrote the residual stream), added to what it holds; checked
  // against sums in double of the dinp that came back, overwritten and
  // accumulated, twice for the same bits.
  const std::vector<float> sums0 = random_values(C, 48);
  for (const bool add : {false, true}) {
    SCOPED_TRACE(add ? "dinp_sums, add_to_dinp" : "dinp_sums");
    std::vector<float> first_sums;
    for (int run = 0; run < 2; ++run) {
      Owned di = add ? be.to_gpu(residual, {N, C}, DType::BF16) : allocate(*be.gpu, {N, C}, DType::BF16);
      if (!add) be.poison(di.t);
      Owned sums = be.to_gpu(sums0, {C}, DType::F32);
      be.gpu->layernorm_backward(di.t, gdw.t, gdb.t, gdo.t, gi.t, gw.t, gm.t, gr.t, add, sums.t);
      const std::vector<float> got_di = be.download(di.t), got = be.download(sums.t);
      EXPECT_TRUE(close(got_di, add ? expected : be.download_cpu(cdi.t), kBf16Tol));
      std::vector<double> want_sums(sums0.begin(), sums0.end());
      for (int64_t n = 0; n < N; ++n)
        for (int64_t c = 0; c < C; ++c) want_sums[c] += got_di[n * C + c];
      EXPECT_TRUE(close(got, std::vector<float>(want_sums.begin(), want_sums.end()), 1e-5));
      if (run == 0) first_sums = got;
      else EXPECT_TRUE(same_bits(got, first_sums)) << "dinp sums are not deterministic";
    }
  }
}

TEST(CudaLayerNorm, MatchesCpuWithOddSizes) {
  ALIBI_REQUIRE_GPU();
  check_layernorm(1000, 80);
  check_layernorm(1000, 200);
  check_layernorm(130, 520);
  check_layernorm(777, 768);   // one-pass backward, a last block of 9 rows
  check_layernorm(5000, 768);  // one-pass backward, 79 blocks
  check_layernorm(100, 256);   // one-pass backward, one pack a lane
  check_layernorm(1, 768);     // one-pass backward, seven idle warps
  check_layernorm(70, 512);    // one-pass backward, two packs a lane
  check_layernorm(300, 1024);  // one-pass backward, four packs a lane (one block an SM)
  check_layernorm(300, 1000);
  check_layernorm(200, 2560);  // 2.7B's width
  check_layernorm(1, 200);
  check_layernorm(65, 36);     // not a multiple of 8: the scalar path
}

}  // namespace
}  // namespace alibi::cudatest
