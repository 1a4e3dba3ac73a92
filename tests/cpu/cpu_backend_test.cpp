#include "cpu/cpu_backend.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>

#include "core/random.h"
#include "cpu/adamw.h"
#include "cpu/attention.h"
#include "cpu/cross_entropy.h"
#include "cpu/elementwise.h"
#include "cpu/embedding.h"
#include "cpu/gelu.h"
#include "cpu/grad_check.h"
#include "cpu/layernorm.h"
#include "cpu/matmul.h"
#include "cpu/position.h"

namespace alibi {
namespace {

// A float tensor backed by a vector the test owns.
struct HostTensor {
  std::vector<float> data;
  Tensor t;
  HostTensor(std::vector<int64_t> shape, uint64_t seed) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    data = test::to_float(test::random_normal(static_cast<size_t>(n), seed));
    t = Tensor(data.data(), std::move(shape), DType::F32, Device::CPU);
  }
};

struct HostTokens {
  std::vector<int32_t> data;
  Tensor t;
  HostTokens(int64_t n, int32_t vocab, uint64_t seed) : data(static_cast<size_t>(n)) {
    Rng rng(seed);
    for (auto& x : data) x = static_cast<int32_t>(rng.below(static_cast<uint64_t>(vocab)));
    t = Tensor(data.data(), {n}, DType::I32, Device::CPU);
  }
};

// Runs the same computation on backends with 1, 2 and 3 threads and expects
// every output bit to agree. 3 threads gives uneven partitions on any machine.
void expect_same_bits_for_any_thread_count(
    const std::function<std::vector<float>(Backend&)>& run, const char* what) {
  auto reference_backend = make_cpu_backend(1);
  const std::vector<float> reference = run(*reference_backend);
  for (int threads : {2, 3}) {
    auto backend = make_cpu_backend(threads);
    const std::vector<float> result = run(*backend);
    ASSERT_EQ(result.size(), reference.size()) << what;
    EXPECT_EQ(std::memcmp(result.data(), reference.data(), result.size() * sizeof(float)), 0)
        << what << " differs between 1 and " << threads << " threads";
  }
}

std::vector<float> concat(std::initializer_list<const std::vector<float>*> parts) {
  std::vector<float> all;
  for (const auto* p : parts) all.insert(all.end(), p->begin(), p->end());
  return all;
}

TEST(CpuBackendDeterminism, MatmulBackward) {
  expect_same_bits_for_any_thread_count([](Backend& be) {
    const int64_t N = 300, C = 48, OC = 80;  // N > one k-block of dweight
    HostTensor inp({N, C}, 1), weight({OC, C}, 2), dout({N, OC}, 3);
    HostTensor dinp({N, C}, 4), dweight({OC, C}, 5), dbias({OC}, 6), out({N, OC}, 7);
    be.matmul_forward(out.t, inp.t, weight.t, dbias.t);
    be.matmul_backward(dinp.t, dweight.t, dbias.t, dout.t, inp.t, weight.t);
    return concat({&out.data, &dinp.data, &dweight.data, &dbias.data});
  }, "matmul");
}

TEST(CpuBackendDeterminism, AttentionBackward) {
  expect_same_bits_for_any_thread_count([](Backend& be) {
    const AttentionShape s{2, 40, 3, 16};
    HostTensor qkv({s.B, s.T, 3, s.H, s.D}, 11), out({s.B, s.T, s.H * s.D}, 12),
        lse({s.B, s.H, s.T}, 13), dout({s.B, s.T, s.H * s.D}, 14), dqkv({s.B, s.T, 3, s.H, s.D}, 15);
    std::vector<float> slope_values = {0.5f, 0.25f, 0.0f};
    const Tensor slopes(slope_values.data(), {3}, DType::F32, Device::CPU);
    be.attention_forward(out.t, lse.t, qkv.t, slopes, s);
    be.attention_backward(dqkv.t, dout.t, qkv.t, out.t, lse.t, slopes, s);
    return concat({&out.data, &lse.data, &dqkv.data});
  }, "attention");
}

TEST(CpuBackendDeterminism, EmbeddingBackward) {
  expect_same_bits_for_any_thread_count([](Backend& be) {
    const int64_t N = 500, V = 13, C = 40;  // many repeats of each token
    HostTokens tokens(N, V, 21);
    HostTensor dwte({V, C}, 22), dout({N, C}, 23);
    be.embedding_backward(dwte.t, dout.t, tokens.t);
    return dwte.data;
  }, "embedding");
}

TEST(CpuBackendDeterminism, LayerNormBackward) {
  expect_same_bits_for_any_thread_count([](Backend& be) {
    const int64_t N = 90, C = 100;
    HostTensor inp({N, C}, 31), weight({C}, 32), bias({C}, 33), out({N, C}, 34), mean({N}, 35),
        rstd({N}, 36), dout({N, C}, 37), dinp({N, C}, 38), dweight({C}, 39), dbias({C}, 40);
    be.layernorm_forward(out.t, mean.t, rstd.t, inp.t, weight.t, bias.t, 1e-5f);
    be.layernorm_backward(dinp.t, dweight.t, dbias.t, dout.t, inp.t, weight.t, mean.t, rstd.t);
    return concat({&out.data, &dinp.data, &dweight.data, &dbias.data});
  }, "layernorm");
}

TEST(CpuBackendDeterminism, SumOfSquares) {
  expect_same_bits_for_any_thread_count([](Backend& be) {
    HostTensor x({100003}, 41);
    const double s = be.sum_of_squares(x.t);
    std::vector<float> bits(2);
    std::memcpy(bits.data(), &s, sizeof s);
    return bits;
  }, "sum_of_squares");
}

// ---- argument checking --------------------------------------------------------

// Expects std::invalid_argument whose message names the op.
void expect_rejected(const std::function<void()>& call, const std::string& op) {
  try {
    call();
    ADD_FAILURE() << op << ": no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find(op), std::string::npos) << e.what();
  }
}

TEST(CpuBackend, ShapeAndDtypeErrorsNameTheOp) {
  auto be = make_cpu_backend(1);
  HostTensor a({4, 8}, 1), w({6, 8}, 2), w_bad({6, 7}, 3), out({4, 6}, 4), bias5({5}, 5);
  HostTokens tokens(4, 6, 6);
  expect_rejected([&] { be->matmul_forward(out.t, a.t, w_bad.t, Tensor()); }, "matmul_forward");
  expect_rejected([&] { be->matmul_forward(out.t, a.t, w.t, bias5.t); }, "matmul_forward");
  expect_rejected([&] { be->matmul_backward(Tensor(), w.t, Tensor(), a.t, a.t, w.t); },
                  "matmul_backward");
  HostTensor float_ids({4}, 10);
  EXPECT_NO_THROW(be->embedding_forward(a.t, tokens.t, w.t));
  expect_rejected([&] { be->embedding_forward(out.t, tokens.t, w.t); }, "embedding_forward");
  expect_rejected([&] { be->embedding_forward(a.t, float_ids.t, w.t); }, "embedding_forward");
  expect_rejected([&] { be->gelu_forward(out.t, a.t); }, "gelu_forward");
  expect_rejected([&] { be->add(out.t, a.t, a.t); }, "add");
  expect_rejected([&] { be->layernorm_forward(a.t, bias5.t, bias5.t, a.t, bias5.t, bias5.t, 1e-5f); },
                  "layernorm_forward");
  expect_rejected([&] { be->cross_entropy(bias5.t, out.t, tokens.t, true, 1.f); }, "cross_entropy");
  expect_rejected([&] { be->dropout_forward(a.t, 1.5f, 1); }, "dropout_forward");
  expect_rejected([&] { be->rotary_forward(a.t, 10000.f); }, "rotary_forward");
  HostTensor qkv({1, 4, 3, 2, 4}, 7), att_out({1, 4, 8}, 8), lse({1, 2, 4}, 9);
  std::vector<float> slope_values = {0.5f, 0.25f, 0.125f};
  const Tensor three_slopes(slope_values.data(), {3}, DType::F32, Device::CPU);
  expect_rejected([&] { be->attention_forward(att_out.t, lse.t, qkv.t, three_slopes, {1, 4, 2, 4}); },
                  "attention_forward");
  expect_rejected([&] { be->attention_forward(att_out.t, lse.t, qkv.t, three_slopes.view({3}), {1, 5, 2, 4}); },
                  "attention_forward");
  AdamWArgs args;
  args.param = a.t;
  args.grad = w.t;
  args.m = a.t;
  args.v = a.t;
  expect_rejected([&] { be->adamw_update(args); }, "adamw_update");
}

TEST(CpuBackend, DescribesItselfAndAllocatesAlignedZeroedMemory) {
  auto be = make_cpu_backend(2);
  EXPECT_EQ(be->device(), Device::CPU);
  EXPECT_EQ(be->name(), "cpu (2 threads)");
  EXPECT_EQ(be->activation_dtype(), DType::F32);
  EXPECT_EQ(be->grad_dtype(), DType::F32);
  auto buf = be->allocate(1000);
  EXPECT_EQ(buf->size(), 1000u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(buf->data()) % 64, 0u);
  const auto* bytes = static_cast<const unsigned char*>(buf->data());
  for (size_t i = 0; i < buf->size(); ++i) ASSERT_EQ(bytes[i], 0) << i;
}

TEST(CpuBackend, OpsWorkOnBackendMemoryAndAcceptBtcShapes) {
  auto be = make_cpu_backend(0);
  const int64_t B = 2, T = 3, C = 4, OC = 5;
  auto buf = be->allocate((B * T * C + OC * C + B * T * OC) * sizeof(float));
  float* base = static_cast<float*>(buf->data());
  const Tensor inp(base, {B, T, C}, DType::F32, Device::CPU);
  const Tensor weight(base + B * T * C, {OC, C}, DType::F32, Device::CPU);
  const Tensor out(base + B * T * C + OC * C, {B, T, OC}, DType::F32, Device::CPU);
  std::vector<float> x(B * T * C), w(OC * C);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 5) - 2;
  for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>(i % 3);
  be->upload(inp, x.data());
  be->upload(weight, w.data());
  be->matmul_forward(out, inp, weight, Tensor());
  std::vector<float> y(B * T * OC);
  be->download(y.data(), out);
  for (int64_t n = 0; n < B * T; ++n)
    for (int64_t o = 0; o < OC; ++o) {
      float ref = 0;
      for (int64_t c = 0; c < C; ++c) ref += x[n * C + c] * w[o * C + c];
      EXPECT_EQ(y[n * OC + o], ref);  // small integers: exact
    }
  be->fill_zero(out);
  be->download(y.data(), out);
  for (float v : y) EXPECT_EQ(v, 0.f);
}

TEST(CpuBackend, AdamWCopiesIntoTheWorkingCopyWhenGiven) {
  auto be = make_cpu_backend(1);
  HostTensor param({10}, 1), grad({10}, 2), m({10}, 3), v({10}, 4), working({10}, 5);
  for (float& x : v.data) x = x * x;  // second moments are non-negative
  AdamWArgs args;
  args.param = param.t;
  args.param_working = working.t;
  args.grad = grad.t;
  args.m = m.t;
  args.v = v.t;
  args.lr = 0.01f;
  const auto before = param.data;
  be->adamw_update(args);
  EXPECT_NE(param.data, before);
  EXPECT_EQ(working.data, param.data);
}

// Decay runs: each range gets its own decay, as separate updates would give.
TEST(CpuBackend, AdamWDecayRunsEqualOneUpdatePerRange) {
  auto be = make_cpu_backend(1);
  HostTensor param({10}, 1), grad({10}, 2), m({10}, 3), v({10}, 4);
  HostTensor param2({10}, 1), m2({10}, 3), v2({10}, 4);  // the same values, updated piece by piece
  for (float& x : v.data) x = x * x;
  for (float& x : v2.data) x = x * x;
  AdamWArgs args;
  args.lr = 0.01f, args.step = 2;
  args.param = param.t, args.grad = grad.t, args.m = m.t, args.v = v.t;
  args.decay_runs = {{3, 0.5f}, {3, 0.7f}, {10, 0.f}};  // an empty run in the middle
  be->adamw_update(args);
  const std::pair<int64_t, float> pieces[] = {{0, 0.5f}, {3, 0.f}};
  for (const auto& [begin, decay] : pieces) {
    const int64_t end = begin == 0 ? 3 : 10;
    AdamWArgs one = args;
    one.decay_runs.clear();
    one.weight_decay = decay;
    one.param = param2.t.range(begin, end), one.grad = grad.t.range(begin, end);
    one.m = m2.t.range(begin, end), one.v = v2.t.range(begin, end);
    be->adamw_update(one);
  }
  EXPECT_EQ(param.data, param2.data);
  EXPECT_EQ(m.data, m2.data);
  args.decay_runs = {{5, 0.1f}, {4, 0.1f}, {10, 0.f}};
  expect_rejected([&] { be->adamw_update(args); }, "adamw_update");  // not ascending
  args.decay_runs = {{5, 0.1f}};
  expect_rejected([&] { be->adamw_update(args); }, "adamw_update");  // short of the end
}

// ---- wiring: each backend method equals the float template it wraps ----------
// (bitwise: same code, same order). Catches swapped or misrouted arguments.

TEST(CpuBackendWiring, EmbeddingAndPositions) {
  auto be = make_cpu_backend(2);
  const int64_t B = 2, T = 5, C = 6, V = 9, T_max = 7;
  HostTokens tokens(B * T, V, 1);
  HostTensor wte({V, C}, 2), wpe({T_max, C}, 3), out({B, T, C}, 4), dwte({V, C}, 5),
      dwpe({T_max, C}, 6);
  auto ref_out = out.data, ref_dwte = dwte.data, ref_dwpe = dwpe.data;
  be->embedding_forward(out.t, tokens.t, wte.t);
  be->learned_position_forward(out.t, wpe.t);
  be->sinusoidal_position_forward(out.t);
  be->embedding_backward(dwte.t, out.t, tokens.t);
  be->learned_position_backward(dwpe.t, out.t);
  cpu::embedding_forward(ref_out.data(), tokens.data.data(), wte.data.data(), B * T, V, C);
  cpu::learned_position_forward(ref_out.data(), wpe.data.data(), B, T, C);
  cpu::sinusoidal_position_forward(ref_out.data(), B, T, C);
  cpu::embedding_backward(ref_dwte.data(), ref_out.data(), tokens.data.data(), B * T, V, C);
  cpu::learned_position_backward(ref_dwpe.data(), ref_out.data(), B, T, C);
  EXPECT_EQ(out.data, ref_out);
  EXPECT_EQ(dwte.data, ref_dwte);
  EXPECT_EQ(dwpe.data, ref_dwpe);
}

TEST(CpuBackendWiring, RotaryLayerNormMatmul) {
  auto be = make_cpu_backend(2);
  const int64_t N = 6, C = 8, OC = 5;
  HostTensor qkv({1, 3, 3, 2, 4}, 1);
  auto ref_qkv = qkv.data;
  be->rotary_forward(qkv.t, 100.f);
  be->rotary_backward(qkv.t, 10.f);
  cpu::rotary_forward(ref_qkv.data(), 1, 3, 2, 4, 100.f);
  cpu::rotary_backward(ref_qkv.data(), 1, 3, 2, 4, 10.f);
  EXPECT_EQ(qkv.data, ref_qkv);

  HostTensor inp({N, C}, 2), w({C}, 3), b({C}, 4), out({N, C}, 5), mean({N}, 6), rstd({N}, 7),
      dout({N, C}, 8), dinp({N, C}, 9), dw({C}, 10), db({C}, 11);
  auto r_out = out.data, r_mean = mean.data, r_rstd = rstd.data, r_dinp = dinp.data,
       r_dw = dw.data, r_db = db.data;
  be->layernorm_forward(out.t, mean.t, rstd.t, inp.t, w.t, b.t, 1e-3f);
  be->layernorm_backward(dinp.t, dw.t, db.t, dout.t, inp.t, w.t, mean.t, rstd.t);
  cpu::layernorm_forward(r_out.data(), r_mean.data(), r_rstd.data(), inp.data.data(),
                         w.data.data(), b.data.data(), N, C, 1e-3f);
  cpu::layernorm_backward(r_dinp.data(), r_dw.data(), r_db.data(), dout.data.data(),
                          inp.data.data(), w.data.data(), r_mean.data(), r_rstd.data(), N, C);
  EXPECT_EQ(out.data, r_out);
  EXPECT_EQ(mean.data, r_mean);
  EXPECT_EQ(rstd.data, r_rstd);
  EXPECT_EQ(dinp.data, r_dinp);
  EXPECT_EQ(dw.data, r_dw);
  EXPECT_EQ(db.data, r_db);
  // dinp_sums += column sums of dinp as written (a bias gradient, summed in
  // matmul_backward's order), checked against sums in double.
  HostTensor sums({C}, 19);
  std::vector<double> want_sums(sums.data.begin(), sums.data.end());
  be->layernorm_backward(dinp.t, dw.t, db.t, dout.t, inp.t, w.t, mean.t, rstd.t, /*add_to_dinp=*/true, sums.t);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c) want_sums[c] += dinp.data[n * C + c];
  for (int64_t c = 0; c < C; ++c) EXPECT_NEAR(sums.data[c], want_sums[c], 1e-5 * (1 + std::fabs(want_sums[c])));

  HostTensor weight({OC, C}, 12), bias({OC}, 13), mout({N, OC}, 14), mdout({N, OC}, 15),
      mdinp({N, C}, 16), mdw({OC, C}, 17), mdb({OC}, 18);
  auto r_mout = mout.data, r_mdinp = mdinp.data, r_mdw = mdw.data, r_mdb = mdb.data;
  be->matmul_forward(mout.t, inp.t, weight.t, bias.t);
  be->matmul_backward(mdinp.t, mdw.t, mdb.t, mdout.t, inp.t, weight.t);
  cpu::matmul_forward(r_mout.data(), inp.data.data(), weight.data.data(), bias.data.data(), N, C, OC);
  cpu::matmul_backward(r_mdinp.data(), r_mdw.data(), r_mdb.data(), mdout.data.data(),
                       inp.data.data(), weight.data.data(), N, C, OC);
  EXPECT_EQ(mout.data, r_mout);
  EXPECT_EQ(mdinp.data, r_mdinp);
  EXPECT_EQ(mdw.data, r_mdw);
  EXPECT_EQ(mdb.data, r_mdb);

  // matmul_gelu_backward: matmul_backward, then GELU's backward through pre;
  // dpre_sums += the column sums of dpre as written, against sums in double.
  HostTensor pre({N, C}, 20), dpre({N, C}, 21), gelu_sums({C}, 22);
  auto r_dpre = dpre.data, r_gdw = mdw.data, r_gdb = mdb.data;
  std::vector<double> want_gelu_sums(gelu_sums.data.begin(), gelu_sums.data.end());
  be->matmul_gelu_backward(dpre.t, mdw.t, mdb.t, mdout.t, inp.t, pre.t, weight.t, gelu_sums.t);
  cpu::matmul_backward(r_dpre.data(), r_gdw.data(), r_gdb.data(), mdout.data.data(), inp.data.data(),
                       weight.data.data(), N, C, OC);
  cpu::gelu_backward(r_dpre.data(), pre.data.data(), r_dpre.data(), N * C);
  EXPECT_EQ(dpre.data, r_dpre);
  EXPECT_EQ(mdw.data, r_gdw);
  EXPECT_EQ(mdb.data, r_gdb);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c) want_gelu_sums[c] += r_dpre[n * C + c];
  for (int64_t c = 0; c < C; ++c)
    EXPECT_NEAR(gelu_sums.data[c], want_gelu_sums[c], 1e-5 * (1 + std::fabs(want_gelu_sums[c])));
}

TEST(CpuBackendWiring, AttentionElementwiseLossOptimizer) {
  auto be = make_cpu_backend(2);
  const AttentionShape s{2, 5, 2, 4};
  HostTensor qkv({s.B, s.T, 3, s.H, s.D}, 1), out({s.B, s.T, s.H * s.D}, 2), lse({s.B, s.H, s.T}, 3),
      dout({s.B, s.T, s.H * s.D}, 4), dqkv({s.B, s.T, 3, s.H, s.D}, 5), slopes({s.H}, 6);
  auto r_out = out.data, r_lse = lse.data, r_dqkv = dqkv.data;
  be->attention_forward(out.t, lse.t, qkv.t, slopes.t, s);
  be->attention_backward(dqkv.t, dout.t, qkv.t, out.t, lse.t, slopes.t, s);
  cpu::attention_forward(r_out.data(), r_lse.data(), qkv.data.data(), slopes.data.data(), s.B, s.T,
                         s.H, s.D);
  cpu::attention_backward(r_dqkv.data(), dout.data.data(), qkv.data.data(), r_out.data(),
                          r_lse.data(), slopes.data.data(), s.B, s.T, s.H, s.D);
  EXPECT_EQ(out.data, r_out);
  EXPECT_EQ(lse.data, r_lse);
  EXPECT_EQ(dqkv.data, r_dqkv);
  // dqkv_sums: the column sums of dqkv, which the attention gives without
  // reading dk or dv (k's exactly 0, v's dout's): against the sums of dqkv
  // itself, in double; added, then written over NaN.
  const int64_t C = s.H * s.D;
  for (GradWrite write : {GradWrite::Accumulate, GradWrite::Overwrite}) {
    HostTensor sums({3 * C}, 11);
    if (write == GradWrite::Overwrite) std::fill(sums.data.begin(), sums.data.end(), std::nanf(""));
    std::vector<double> want(3 * C, 0.0);
    if (write == GradWrite::Accumulate) want.assign(sums.data.begin(), sums.data.end());
    const std::vector<double> k_before(want.begin() + C, want.begin() + 2 * C);
    be->attention_backward(dqkv.t, dout.t, qkv.t, out.t, lse.t, slopes.t, s, sums.t, write);
    for (int64_t row = 0; row < s.B * s.T; ++row)
      for (int64_t i = 0; i < 3 * C; ++i) want[i] += dqkv.data[row * 3 * C + i];
    for (int64_t i = 0; i < 3 * C; ++i)
      EXPECT_NEAR(sums.data[i], want[i], 1e-5 * (1 + std::fabs(want[i]))) << "column " << i;
    for (int64_t i = 0; i < C; ++i) EXPECT_EQ(sums.data[C + i], k_before[i]) << "k's sums: exactly 0 added";
  }

  const int64_t n = 24;
  HostTensor x({4, 6}, 7), y({4, 6}, 8), g({4, 6}, 9), sum({4, 6}, 10);
  auto r_y = y.data, r_g = g.data, r_sum = sum.data;
  be->gelu_forward(y.t, x.t);
  be->gelu_backward(g.t, x.t, y.t);
  be->add(sum.t, x.t, g.t);
  be->dropout_forward(sum.t, 0.4f, 77);
  be->dropout_backward(g.t, 0.3f, 78);
  cpu::gelu_forward(r_y.data(), x.data.data(), n);
  cpu::gelu_backward(r_g.data(), x.data.data(), r_y.data(), n);
  cpu::add(r_sum.data(), x.data.data(), r_g.data(), n);
  cpu::dropout_forward(r_sum.data(), n, 0.4f, 77);
  cpu::dropout_backward(r_g.data(), n, 0.3f, 78);
  EXPECT_EQ(y.data, r_y);
  EXPECT_EQ(g.data, r_g);
  EXPECT_EQ(sum.data, r_sum);

  HostTensor logits({4, 6}, 11), losses({4}, 12);
  HostTokens targets(4, 6, 13);
  targets.data[2] = -1;
  auto r_logits = logits.data, r_losses = losses.data;
  be->cross_entropy(losses.t, logits.t, targets.t, true, 0.25f);
  cpu::cross_entropy(r_losses.data(), r_logits.data(), targets.data.data(), 4, 6, true, 0.25f);
  EXPECT_EQ(losses.data, r_losses);
  EXPECT_EQ(logits.data, r_logits);
  EXPECT_EQ(be->sum_of_squares(x.t), static_cast<float>(cpu::sum_of_squares(x.data.data(), n)));

  HostTensor param({n}, 14), grad({n}, 15), m({n}, 16), v({n}, 17);
  for (float& e : v.data) e = e * e;
  auto r_param = param.data, r_m = m.data, r_v = v.data;
  AdamWArgs args;
  args.param = param.t;
  args.grad = grad.t;
  args.m = m.t;
  args.v = v.t;
  args.lr = 0.01f;
  args.beta1 = 0.8f;
  args.beta2 = 0.9f;
  args.eps = 1e-6f;
  args.weight_decay = 0.1f;
  args.grad_scale = 0.5f;
  args.step = 3;
  be->adamw_update(args);
  cpu::AdamWHyper hp{0.01f, 0.8f, 0.9f, 1e-6f, 0.1f, 0.5f, 3};
  cpu::adamw_update(r_param.data(), grad.data.data(), r_m.data(), r_v.data(), n, hp);
  EXPECT_EQ(param.data, r_param);
  EXPECT_EQ(m.data, r_m);
  EXPECT_EQ(v.data, r_v);
}

}  // namespace
}  // namespace alibi
